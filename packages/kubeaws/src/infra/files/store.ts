/**
 * The cluster files in S3 (docs/infra.md#infra-cluster-files): read every object of the layout that exists,
 * plan, generate what is missing and write it SSE-KMS with the cluster key. Contents are never logged; the
 * summary names object keys and actions only. The SDK endpoint comes from `AWS_ENDPOINT_URL` (moto in tests).
 */
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { awsClientConfig } from '@kubeaws/runtime';
import type { ResolvedCluster } from '../config/load';
import { generateClusterFiles } from './generate';
import { clusterFileItems, itemObjects } from './layout';
import { type FilesPlan, planClusterFiles } from './plan';

/** Where the files live: the etcd stack's `FilesBucket` and `KmsKeyArn` outputs. */
export interface FilesTarget {
  bucket: string;
  kmsKeyArn: string;
}

/** An S3 client for the cluster's region (path-style addressing, which moto and real S3 both serve). */
export function filesS3Client(region: string, extra: S3ClientConfig = {}): S3Client {
  return new S3Client({ ...awsClientConfig({ component: 'kubeaws', region }), forcePathStyle: true, ...extra });
}

/** Every object under `prefixes` of `bucket`: key → content (UTF-8). */
export async function readObjects(s3: S3Client, bucket: string, keys: string[]): Promise<Map<string, string>> {
  const wanted = new Set(keys);
  const present: string[] = [];
  for (const prefix of [...new Set(keys.map((k) => k.split('/')[0] + '/'))]) {
    let token: string | undefined;
    do {
      const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of r.Contents ?? []) if (o.Key && wanted.has(o.Key)) present.push(o.Key);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }
  const out = new Map<string, string>();
  for (const key of present.sort()) {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    out.set(key, await r.Body!.transformToString('utf8'));
  }
  return out;
}

/** Outcome of {@link syncClusterFiles}. */
export interface SyncResult {
  plan: FilesPlan;
  /** Object keys written (empty on a dry run or when nothing changed). */
  written: string[];
}

/** Options of {@link syncClusterFiles}. */
export interface SyncOptions {
  /** Items to regenerate although they exist. */
  rotate?: ReadonlySet<string>;
  /** Plan only; write nothing. */
  dryRun?: boolean;
  now?: Date;
}

/**
 * Reads the cluster files of `c` from `target`, plans, and (unless `dryRun`) writes the created, updated and
 * rotated objects with `ServerSideEncryption: aws:kms` and the cluster key. A second run writes nothing.
 * @throws Error listing the plan's errors (before any write) or an S3 error
 */
export async function syncClusterFiles(
  s3: S3Client,
  c: ResolvedCluster,
  target: FilesTarget,
  o: SyncOptions = {},
): Promise<SyncResult> {
  const items = clusterFileItems(c);
  const existing = await readObjects(s3, target.bucket, items.flatMap(itemObjects));
  const plan = planClusterFiles({ items, existing, rotate: o.rotate, now: o.now ?? new Date() });
  if (o.dryRun || plan.errors.length > 0) return { plan, written: [] };
  const writes = await generateClusterFiles(items, plan, existing);
  const written: string[] = [];
  for (const [key, content] of [...writes].sort(([a], [b]) => (a < b ? -1 : 1))) {
    await s3.send(
      new PutObjectCommand({
        Bucket: target.bucket,
        Key: key,
        Body: content,
        ContentType: 'application/octet-stream',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: target.kmsKeyArn,
      }),
    );
    written.push(key);
  }
  return { plan, written };
}

/** The plan as lines `<action> <id>: <keys>` plus one `warning:`/`error:` line per finding; no contents. */
export function formatPlan(plan: FilesPlan): string[] {
  const lines = plan.items.map((i) => `${i.action.padEnd(6)} ${i.id}: ${i.objects.join(', ')}`);
  for (const i of plan.items) for (const w of i.warnings) lines.push(`warning: ${w}`);
  for (const e of plan.errors) lines.push(`error: ${e}`);
  return lines;
}
