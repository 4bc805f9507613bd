/**
 * The cluster files against moto's S3 and KMS: the first sync creates every object SSE-KMS with the cluster
 * key, the second makes no PutObject and changes nothing, a changed SAN is reported and not rotated, and
 * `--rotate` replaces exactly the named item.
 */
import { GetObjectCommand, HeadObjectCommand, CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { type MotoServer, startMoto } from '@kubeaws/testenv';
import type { ResolvedCluster } from '../src/infra/config/load';
import { clusterFileItems, filesS3Client, itemObjects, syncClusterFiles } from '../src/infra/files';

const cluster = {
  name: 'kube-1',
  hostedZone: 'example.org',
  apiHostname: 'kube-1.example.org',
  clusterId: 'aws:123456789012:us-east-1:kube-1',
  region: 'us-east-1',
} as ResolvedCluster;

/** Creates a KMS key in moto (JSON protocol) and returns its ARN. */
async function createKey(endpoint: string): Promise<string> {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'TrentService.CreateKey',
      authorization: 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: JSON.stringify({ Description: 'cluster files' }),
  });
  if (!res.ok) throw new Error(`CreateKey: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { KeyMetadata: { Arn: string } }).KeyMetadata.Arn;
}

describe('cluster files in S3 (moto)', () => {
  let moto: MotoServer;
  let s3: S3Client;
  let puts: string[];
  let kmsKeyArn: string;
  const bucket = 'kube-1-cluster-files';

  beforeAll(async () => {
    moto = await startMoto();
    process.env.AWS_ACCESS_KEY_ID = 'testing';
    process.env.AWS_SECRET_ACCESS_KEY = 'testing';
    s3 = filesS3Client('us-east-1', { endpoint: moto.endpoint });
    puts = [];
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutObjectCommand') puts.push((args.input as { Key: string }).Key);
        return next(args);
      },
      { step: 'initialize', name: 'recordPuts' },
    );
    kmsKeyArn = await createKey(moto.endpoint);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }, 120_000);
  afterAll(async () => {
    s3?.destroy();
    await moto?.stop();
  });

  it('creates every object encrypted with the cluster key, then reuses them with 0 PutObject', async () => {
    const first = await syncClusterFiles(s3, cluster, { bucket, kmsKeyArn });
    const all = clusterFileItems(cluster).flatMap(itemObjects).sort();
    expect(first.written).toEqual(all);
    expect(puts.sort()).toEqual(all);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'master/pki/sa.key' }));
    expect(head.ServerSideEncryption).toBe('aws:kms');
    expect(head.SSEKMSKeyId).toContain(kmsKeyArn.split('/').pop());
    const before = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'ca/ca.key' }))).Body!.transformToString();

    puts.length = 0;
    const second = await syncClusterFiles(s3, cluster, { bucket, kmsKeyArn });
    expect(second.written).toEqual([]);
    expect(puts).toEqual([]);
    expect(second.plan.items.every((i) => i.action === 'reuse')).toBe(true);
    const after = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'ca/ca.key' }))).Body!.transformToString();
    expect(after).toBe(before);
  });

  it('reports a changed API hostname without rotating; --rotate apiserver replaces just that certificate', async () => {
    puts.length = 0;
    const moved = { ...cluster, apiHostname: 'api.kube-1.example.org' } as ResolvedCluster;
    const reported = await syncClusterFiles(s3, moved, { bucket, kmsKeyArn });
    expect(reported.plan.items.find((i) => i.id === 'apiserver')!.warnings[0]).toMatch(
      /^apiserver: DNS SANs are kube-1\.example\.org,.* want api\.kube-1\.example\.org,.*; rotate it with --rotate apiserver$/,
    );
    expect(puts).toEqual(['worker/kubelet.kubeconfig']);
    puts.length = 0;
    const r2 = await syncClusterFiles(s3, moved, { bucket, kmsKeyArn }, { rotate: new Set(['apiserver']) });
    expect(r2.written).toEqual(['master/pki/apiserver.crt', 'master/pki/apiserver.key']);
    expect(puts).toEqual(['master/pki/apiserver.crt', 'master/pki/apiserver.key']);
  });
});
