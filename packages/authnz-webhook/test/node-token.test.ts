/**
 * Node tokens (`k8s-aws-v1.`) against moto STS and EC2: the token is presigned with @smithy/signature-v4 from
 * credentials moto's AssumeRole issued for the worker role (or another role), and the Authenticator reviews it
 * exactly as the webhook does.
 *
 * moto answers GetCallerIdentity only for credentials it can read from an `Authorization` header, not from a
 * presigned query, so a small proxy in front of real moto records every request (method, query, `x-k8s-aws-id`)
 * and hands the presigned credential to moto in an `Authorization` header; everything else is moto's.
 */
import { createHash, createHmac } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { FakeClock, silentLogger } from '@kubeaws/runtime';
import { type MotoServer, startMoto } from '@kubeaws/testenv';
import { SignatureV4 } from '@smithy/signature-v4';
import { Authenticator } from '../src/authenticator';
import { parseConfig } from '../src/config';
import { StaticGrants } from '../src/grants';
import { WebhookMetrics } from '../src/metrics';
import { NODE_TOKEN_PREFIX } from '../src/node-token';

const REGION = 'eu-central-1';
const ACCOUNT = '123456789012';
const CLUSTER = 'kube-1';
const WORKER_ROLE = `arn:aws:iam::${ACCOUNT}:role/kubeaws/${CLUSTER}-worker`;

/** Data SignatureV4 hashes (its `SourceData`). */
type SourceData = string | ArrayBuffer | ArrayBufferView;

function bytes(d: SourceData): string | Buffer {
  if (typeof d === 'string') return d;
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  return Buffer.from(d);
}

/** SHA-256 / HMAC-SHA256 for SignatureV4 (its `ChecksumConstructor`), on node:crypto. */
class Sha256 {
  private h: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(private readonly secret?: SourceData) {
    this.h = this.fresh();
  }
  private fresh() {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret));
  }
  update(data: SourceData): void {
    this.h.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
  reset(): void {
    this.h = this.fresh();
  }
}

interface Recorded {
  method: string;
  url: string;
  clusterId: string | undefined;
}

let moto: MotoServer;
let proxy: http.Server;
let proxyPort: number;
const recorded: Recorded[] = [];
let ec2: EC2Client;
let sts: STSClient;
let auth: Authenticator;
let clock: FakeClock;
let metrics: WebhookMetrics;
const AWS_ENV = ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;
const savedEnv = Object.fromEntries(AWS_ENV.map((k) => [k, process.env[k]]));

beforeAll(async () => {
  moto = await startMoto();
  // the webhook's EC2 client finds moto through the SDK's own endpoint setting
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  });
  const sdk = {
    endpoint: moto.endpoint,
    region: REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
  ec2 = new EC2Client(sdk);
  sts = new STSClient(sdk);
  const target = new URL(moto.endpoint);
  proxy = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://proxy');
    const id = req.headers['x-k8s-aws-id'];
    recorded.push({ method: req.method ?? '', url: u.search, clusterId: typeof id === 'string' ? id : undefined });
    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: target.host };
    const cred = u.searchParams.get('X-Amz-Credential');
    if (cred) {
      headers.authorization = `AWS4-HMAC-SHA256 Credential=${cred}, SignedHeaders=${u.searchParams.get('X-Amz-SignedHeaders')}, Signature=${u.searchParams.get('X-Amz-Signature')}`;
    }
    const up = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyPort = (proxy.address() as AddressInfo).port;
  const cfg = parseConfig(
    [
      'apiVersion: authnz.kubeaws.io/v1alpha1',
      'kind: AuthnzConfiguration',
      'authentication:',
      '  nodes:',
      `    clusterID: ${CLUSTER}`,
      `    workerRoleARN: ${WORKER_ROLE}`,
      `    regions: [${REGION}]`,
      '',
    ].join('\n'),
  );
  clock = new FakeClock(Date.now());
  metrics = new WebhookMetrics();
  auth = new Authenticator({
    config: cfg,
    clock,
    logger: silentLogger(),
    metrics,
    grants: new StaticGrants([]),
    startKeyStores: false,
    env: { AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${proxyPort}` },
  });
}, 120_000);

afterAll(async () => {
  auth?.stop();
  ec2?.destroy();
  sts?.destroy();
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  await moto?.stop();
  for (const k of AWS_ENV) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

async function instance(): Promise<{ id: string; dns: string }> {
  const images = await ec2.send(new DescribeImagesCommand({}));
  const r = await ec2.send(
    new RunInstancesCommand({
      ImageId: images.Images![0]!.ImageId!,
      MinCount: 1,
      MaxCount: 1,
      InstanceType: 't3.micro',
    }),
  );
  return { id: r.Instances![0]!.InstanceId!, dns: r.Instances![0]!.PrivateDnsName! };
}

/** A `k8s-aws-v1.` token as aws-iam-authenticator builds it, for credentials of `roleArn` with session `session`. */
async function nodeToken(roleArn: string, session: string, signingDate = new Date()): Promise<string> {
  const assumed = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: session }));
  const c = assumed.Credentials!;
  const signer = new SignatureV4({
    service: 'sts',
    region: REGION,
    sha256: Sha256,
    credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken },
  });
  const signed = await signer.presign(
    {
      method: 'GET',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: proxyPort,
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: `127.0.0.1:${proxyPort}`, 'x-k8s-aws-id': CLUSTER },
    },
    { expiresIn: 60, signingDate },
  );
  const q = Object.entries(signed.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return NODE_TOKEN_PREFIX + Buffer.from(`http://127.0.0.1:${proxyPort}/?${q}`).toString('base64url');
}

function stsCalls(): Recorded[] {
  return recorded.filter((r) => r.url.includes('GetCallerIdentity'));
}

describe('node tokens against moto STS and EC2', () => {
  it('maps the worker role to system:node:<private DNS name> in system:nodes', async () => {
    const { id, dns } = await instance();
    expect(dns).toMatch(/\.internal$/);
    const token = await nodeToken(WORKER_ROLE, id);
    const before = stsCalls().length;
    await clock.set(Date.now());
    const out = await auth.review(token, []);
    expect(out.error).toBeUndefined();
    expect(out.authenticated).toBe(true);
    expect(out.source).toBe('node');
    expect(out.user).toEqual({
      username: `system:node:${dns}`,
      uid: expect.stringMatching(new RegExp(`^aws-iam-authenticator:${ACCOUNT}:`)),
      groups: ['system:nodes'],
      extra: { 'kubeaws.io/authenticator': ['aws-iam/nodes'] },
    });
    const calls = stsCalls().slice(before);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.method).toBe('GET');
    expect(calls[0]!.clusterId).toBe(CLUSTER);
    const upstream = await metrics.base.registry.getSingleMetricAsString(
      'kubeaws_authnz_webhook_upstream_requests_total',
    );
    expect(upstream).toContain('upstream="sts",name="nodes",result="ok"');
    expect(upstream).toContain('upstream="ec2",name="nodes",result="ok"');
  });

  it('refuses a foreign role after STS names it', async () => {
    const { id } = await instance();
    const token = await nodeToken(`arn:aws:iam::${ACCOUNT}:role/${CLUSTER}-master`, id);
    const before = stsCalls().length;
    await clock.set(Date.now());
    const out = await auth.review(token, []);
    expect(out).toMatchObject({ authenticated: false, error: 'node role not accepted', source: 'node' });
    expect(stsCalls().length - before).toBe(1);
  });

  it('refuses a worker session that names no instance', async () => {
    const token = await nodeToken(WORKER_ROLE, 'i-0123456789abcdef0');
    await clock.set(Date.now());
    const out = await auth.review(token, []);
    expect(out).toMatchObject({ authenticated: false, error: 'node instance not found' });
  });

  it('refuses an expired token before any outbound call', async () => {
    const { id } = await instance();
    const token = await nodeToken(WORKER_ROLE, id, new Date(Date.now() - 16 * 60_000));
    const before = recorded.length;
    await clock.set(Date.now());
    const out = await auth.review(token, []);
    expect(out).toMatchObject({ authenticated: false, error: 'node token expired', source: 'node' });
    expect(recorded.length).toBe(before);
  });

  it('refuses a token for a host outside the allow-list before any outbound call', async () => {
    const { id } = await instance();
    const token = await nodeToken(WORKER_ROLE, id);
    const url = Buffer.from(token.slice(NODE_TOKEN_PREFIX.length), 'base64url').toString('utf8');
    const moved = url.replace(`http://127.0.0.1:${proxyPort}/`, moto.endpoint + '/');
    const before = recorded.length;
    const out = await auth.review(NODE_TOKEN_PREFIX + Buffer.from(moved).toString('base64url'), []);
    expect(out).toMatchObject({ authenticated: false, error: 'malformed node token: STS host not allowed' });
    expect(recorded.length).toBe(before);
  });
});
