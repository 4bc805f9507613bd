/**
 * Node authentication with `k8s-aws-v1.` tokens (docs/authnz-webhook.md#authnz-node-tokens), the format of
 * aws-iam-authenticator (kubernetes-sigs/aws-iam-authenticator, pkg/token/token.go): the token is
 * `k8s-aws-v1.` + base64url(a presigned STS `GetCallerIdentity` URL) whose signed headers include
 * `x-k8s-aws-id`, the cluster id.
 *
 * {@link checkNodeToken} is the pure format check that runs before any outbound call; {@link NodeAuthenticator}
 * then GETs the URL from STS with `x-k8s-aws-id: <clusterID>` (STS verifies the signature, so a token signed
 * for another cluster id fails there), accepts only the cluster's worker role and maps the EC2 instance named
 * by the role session to `system:node:<private DNS name>` in `system:nodes`, as aws-iam-authenticator's
 * `{{EC2PrivateDNSName}}` mapping does (pkg/server/server.go: the session name must be an instance id, the
 * name comes from EC2 `DescribeInstances`).
 */
import { awsErrorCode } from '@kubeaws/runtime';
import { TokenRejected, Unavailable } from './errors.js';
import { FetchError, boundedGet, statusResult } from './fetch.js';
import type { WebhookMetrics } from './metrics.js';

/** The token prefix of aws-iam-authenticator's v1 tokens. */
export const NODE_TOKEN_PREFIX = 'k8s-aws-v1.';

/** Largest age of a node token (X-Amz-Date to now), in ms: 15 minutes, as aws-iam-authenticator. */
export const NODE_TOKEN_MAX_AGE_MS = 15 * 60 * 1000;

/** Largest accepted `X-Amz-Expires`, in seconds (15 minutes). */
export const NODE_TOKEN_MAX_EXPIRES_S = 900;

/** Largest STS response read, in bytes. */
export const MAX_STS_BYTES = 64 * 1024;

/** Query parameters a presigned GetCallerIdentity URL may carry (aws-iam-authenticator's allow-list). */
const ALLOWED_PARAMS = new Set([
  'action',
  'version',
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-security-token',
  'x-amz-signature',
  'x-amz-signedheaders',
]);

/** EC2 instance ids as aws-iam-authenticator accepts them in a session name. */
const INSTANCE_ID = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;

/** The `nodes:` section of the configuration (docs/authnz-webhook.md#authnz-node-tokens). */
export interface NodesConfig {
  /** The cluster id nodes sign as `x-k8s-aws-id`. */
  clusterID: string;
  /** ARN of the worker IAM role, `arn:<partition>:iam::<account>:role/[<path>/]<name>`. */
  workerRoleARN: string;
  /** Regions whose STS endpoints are accepted (`sts.<region>.amazonaws.com`), plus the global `sts.amazonaws.com`. */
  regions: string[];
  /** Size cap of a node token in bytes (default 4096). */
  tokenMaxBytes: number;
  /** Deadline of each STS and EC2 call, in ms (default 5 s). */
  timeoutMs: number;
  hash: string;
}

/** A node token that passed the format check. */
export interface CheckedNodeToken {
  /** The presigned URL to GET. */
  url: string;
  /** Signing region from the credential scope. */
  region: string;
  /** X-Amz-Date in ms since the epoch. */
  signedAtMs: number;
}

/** Inputs of {@link checkNodeToken}. */
export interface NodeTokenCheck {
  nowMs: number;
  /** Accepted origins (`https://sts.eu-central-1.amazonaws.com`, or the configured SDK endpoint). */
  allowedOrigins: ReadonlySet<string>;
  maxBytes: number;
  /** Tolerance for an X-Amz-Date in the future, in ms. */
  clockToleranceMs: number;
}

/**
 * The accepted STS origins: `https://sts.amazonaws.com`, `https://sts.<region>.amazonaws.com` per region, and the
 * SDK's own endpoint setting when present (`AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`; AWS SDK "service-specific
 * endpoints"), so a configured private or local STS endpoint is accepted like the public ones.
 */
export function stsOrigins(regions: readonly string[], env: NodeJS.ProcessEnv): Set<string> {
  const out = new Set<string>(['https://sts.amazonaws.com']);
  for (const r of regions) out.add(`https://sts.${r}.amazonaws.com`);
  const configured = env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL;
  if (configured) {
    try {
      out.add(new URL(configured).origin);
    } catch {
      // an unparsable SDK endpoint is the SDK's error to report; it adds nothing here
    }
  }
  return out;
}

function reject(reason: string): never {
  throw new TokenRejected(`malformed node token: ${reason}`);
}

/** Parses `YYYYMMDDTHHMMSSZ` (SigV4 X-Amz-Date) to ms, or NaN. */
function amzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return Number.NaN;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  const back = new Date(ms);
  return back.getUTCDate() === +m[3]! && back.getUTCHours() === +m[4]! ? ms : Number.NaN;
}

/**
 * Checks a `k8s-aws-v1.` token's form without any outbound call (docs/authnz-webhook.md#authnz-node-tokens).
 * @throws TokenRejected with one of: `node token too large`; `malformed node token: <reason>` for base64url, URL,
 *   host, path, parameter, action, algorithm, signed-header, date or expiry problems; `node token expired`.
 */
export function checkNodeToken(token: string, c: NodeTokenCheck): CheckedNodeToken {
  if (Buffer.byteLength(token, 'utf8') > c.maxBytes) throw new TokenRejected('node token too large');
  if (!token.startsWith(NODE_TOKEN_PREFIX)) reject('missing k8s-aws-v1. prefix');
  const enc = token.slice(NODE_TOKEN_PREFIX.length);
  if (enc === '' || !/^[A-Za-z0-9_-]+={0,2}$/.test(enc)) reject('not base64url');
  const raw = Buffer.from(enc.replace(/=+$/, ''), 'base64url').toString('utf8');
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return reject('not a URL');
  }
  if (u.username || u.password || u.hash) reject('not a URL');
  if (!c.allowedOrigins.has(u.origin)) reject('STS host not allowed');
  if (u.pathname !== '/') reject('path is not /');
  const params = new Map<string, string>();
  for (const [k, v] of u.searchParams) {
    const lk = k.toLowerCase();
    if (!ALLOWED_PARAMS.has(lk)) reject('unexpected query parameter');
    if (params.has(lk)) reject('duplicate query parameter');
    params.set(lk, v);
  }
  if (params.get('action') !== 'GetCallerIdentity') reject('action is not GetCallerIdentity');
  if (params.get('x-amz-algorithm') !== 'AWS4-HMAC-SHA256') reject('X-Amz-Algorithm is not AWS4-HMAC-SHA256');
  if (!params.get('x-amz-signature')) reject('X-Amz-Signature missing');
  const signed = (params.get('x-amz-signedheaders') ?? '').toLowerCase().split(';');
  if (!signed.includes('x-k8s-aws-id')) reject('x-k8s-aws-id is not a signed header');
  const scope = (params.get('x-amz-credential') ?? '').split('/');
  if (scope.length !== 5 || scope[3] !== 'sts' || scope[4] !== 'aws4_request' || !scope[2])
    reject('X-Amz-Credential is not an STS credential scope');
  const signedAtMs = amzDate(params.get('x-amz-date') ?? '');
  if (Number.isNaN(signedAtMs)) reject('X-Amz-Date is not YYYYMMDDTHHMMSSZ');
  const expires = params.get('x-amz-expires') ?? '';
  if (!/^[0-9]{1,4}$/.test(expires) || +expires < 1 || +expires > NODE_TOKEN_MAX_EXPIRES_S)
    reject(`X-Amz-Expires is not 1-${NODE_TOKEN_MAX_EXPIRES_S}`);
  if (signedAtMs > c.nowMs + c.clockToleranceMs) reject('X-Amz-Date is in the future');
  if (c.nowMs - signedAtMs > NODE_TOKEN_MAX_AGE_MS) throw new TokenRejected('node token expired');
  return { url: u.toString(), region: scope[2]!, signedAtMs };
}

/** The fields of a GetCallerIdentity answer. */
export interface CallerIdentity {
  arn: string;
  account: string;
  userId: string;
}

function xmlText(body: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(body);
  if (!m) return undefined;
  return m[1]!
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/**
 * Parses a GetCallerIdentity response body: JSON (`GetCallerIdentityResponse.GetCallerIdentityResult`, what STS
 * sends for `Accept: application/json`) or the query protocol's XML.
 * @returns undefined when a field is missing or not a string.
 */
export function parseCallerIdentity(body: string): CallerIdentity | undefined {
  let arn: unknown;
  let account: unknown;
  let userId: unknown;
  if (body.trimStart().startsWith('{')) {
    try {
      const r = JSON.parse(body)?.GetCallerIdentityResponse?.GetCallerIdentityResult;
      arn = r?.Arn;
      account = r?.Account;
      userId = r?.UserId;
    } catch {
      return undefined;
    }
  } else {
    const result = /<GetCallerIdentityResult>([\s\S]*)<\/GetCallerIdentityResult>/.exec(body)?.[1];
    if (result === undefined) return undefined;
    arn = xmlText(result, 'Arn');
    account = xmlText(result, 'Account');
    userId = xmlText(result, 'UserId');
  }
  if (typeof arn !== 'string' || typeof account !== 'string' || typeof userId !== 'string') return undefined;
  if (!arn || !account || !userId) return undefined;
  return { arn, account, userId };
}

/**
 * Matches a caller ARN against the worker role: it must be `arn:<partition>:sts::<account>:assumed-role/<name>/<session>`
 * with the partition, account and role name (last path segment) of `workerRoleARN`, and `account` must be the ARN's.
 * @returns the session name, or undefined when the caller is not the worker role.
 */
export function workerSession(id: CallerIdentity, workerRoleARN: string): string | undefined {
  const role = /^arn:([a-z-]+):iam::(\d{12}):role\/(?:[^/]+\/)*([^/]+)$/.exec(workerRoleARN);
  const caller = /^arn:([a-z-]+):sts::(\d{12}):assumed-role\/([^/]+)\/([^/]+)$/.exec(id.arn);
  if (!role || !caller) return undefined;
  if (role[1] !== caller[1] || role[2] !== caller[2] || role[3] !== caller[3] || id.account !== caller[2])
    return undefined;
  return caller[4];
}

/** True for an EC2 instance id (`i-` and 8 or 17 hex digits). */
export function isInstanceId(s: string): boolean {
  return INSTANCE_ID.test(s);
}

/** Looks up an instance's private DNS name; undefined when the instance does not exist or has none. */
export interface InstanceDirectory {
  privateDnsName(instanceId: string, region: string): Promise<string | undefined>;
}

/**
 * {@link InstanceDirectory} over EC2 `DescribeInstances` ({@link Ec2InstanceDirectory} of `ec2-instances.ts`), whose
 * module, with the AWS SDK it imports, is loaded on the first lookup rather than at start: a webhook that never sees
 * a node token never holds the SDK in memory (docs/authnz-webhook.md#authnz-node-tokens). A failed load is retried on
 * the next lookup.
 */
export class LazyEc2InstanceDirectory implements InstanceDirectory {
  private loading?: Promise<InstanceDirectory & { destroy(): void }>;
  constructor(private readonly timeoutMs: number) {}

  async privateDnsName(instanceId: string, region: string): Promise<string | undefined> {
    this.loading ??= import('./ec2-instances.js').then(
      (m) => new m.Ec2InstanceDirectory(this.timeoutMs),
      (err: unknown) => {
        this.loading = undefined;
        throw err;
      },
    );
    return (await this.loading).privateDnsName(instanceId, region);
  }

  /** Releases the EC2 clients' sockets, if the module was loaded. */
  destroy(): void {
    void this.loading?.then(
      (d) => d.destroy(),
      () => undefined,
    );
  }
}

/** A node identity, before the TokenReview status. */
export interface NodeIdentity {
  username: string;
  uid: string;
  groups: string[];
  /** When the token stops being valid (X-Amz-Date + 15 min), in ms. */
  expiresAtMs: number;
}

/** Options of {@link NodeAuthenticator}. */
export interface NodeAuthenticatorOptions {
  config: NodesConfig;
  /** Environment read for the SDK endpoint setting (see {@link stsOrigins}). */
  env: NodeJS.ProcessEnv;
  metrics?: WebhookMetrics;
  instances?: InstanceDirectory;
}

/** Authenticates node tokens (module docs). */
export class NodeAuthenticator {
  readonly origins: ReadonlySet<string>;
  private readonly instances: InstanceDirectory;
  constructor(private readonly opts: NodeAuthenticatorOptions) {
    this.origins = stsOrigins(opts.config.regions, opts.env);
    this.instances = opts.instances ?? new LazyEc2InstanceDirectory(opts.config.timeoutMs);
  }

  get config(): NodesConfig {
    return this.opts.config;
  }

  /** Releases AWS clients. */
  stop(): void {
    if (this.instances instanceof LazyEc2InstanceDirectory) this.instances.destroy();
  }

  /**
   * Reviews one node token.
   * @throws TokenRejected for format failures (before any call), a token STS refuses (`node token rejected by
   *   STS`), a caller that is not the worker role (`node role not accepted`), a session name that is not an
   *   instance id or an unknown instance (`node instance not found`); Unavailable when STS or EC2 cannot answer.
   */
  async review(token: string, nowMs: number, clockToleranceMs: number): Promise<NodeIdentity> {
    const cfg = this.opts.config;
    const checked = checkNodeToken(token, {
      nowMs,
      allowedOrigins: this.origins,
      maxBytes: cfg.tokenMaxBytes,
      clockToleranceMs,
    });
    const id = await this.callSts(checked.url);
    const session = workerSession(id, cfg.workerRoleARN);
    if (session === undefined) throw new TokenRejected('node role not accepted');
    if (!isInstanceId(session)) throw new TokenRejected('node session is not an instance id');
    const region = cfg.regions.includes(checked.region) ? checked.region : cfg.regions[0]!;
    const started = performance.now();
    let dns: string | undefined;
    try {
      dns = await this.instances.privateDnsName(session, region);
      this.upstream('ec2', 'ok', started);
    } catch (e) {
      this.upstream('ec2', 'connect_error', started);
      throw new Unavailable(`EC2 DescribeInstances ${session}: ${awsErrorCode(e)}`);
    }
    if (!dns) throw new TokenRejected('node instance not found');
    return {
      username: `system:node:${dns}`,
      uid: `aws-iam-authenticator:${id.account}:${id.userId}`,
      groups: ['system:nodes'],
      expiresAtMs: checked.signedAtMs + NODE_TOKEN_MAX_AGE_MS,
    };
  }

  private upstream(upstream: string, result: string, started: number): void {
    this.opts.metrics?.upstreamRequests.inc({ upstream, name: 'nodes', result });
    this.opts.metrics?.upstreamDuration.observe(
      { upstream, name: 'nodes', result },
      (performance.now() - started) / 1000,
    );
  }

  private async callSts(url: string): Promise<CallerIdentity> {
    const started = performance.now();
    let res;
    try {
      res = await boundedGet(url, {
        timeoutMs: this.opts.config.timeoutMs,
        maxBytes: MAX_STS_BYTES,
        headers: { 'x-k8s-aws-id': this.opts.config.clusterID },
      });
    } catch (e) {
      this.upstream('sts', e instanceof FetchError ? e.result : 'connect_error', started);
      throw new Unavailable(`STS: ${(e as Error).message}`);
    }
    const result = statusResult(res.status);
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      this.upstream('sts', result, started);
      throw new TokenRejected('node token rejected by STS');
    }
    if (res.status !== 200) {
      this.upstream('sts', result, started);
      throw new Unavailable(`STS answered ${res.status}`);
    }
    const id = parseCallerIdentity(res.body.toString('utf8'));
    if (!id) {
      this.upstream('sts', 'invalid_response', started);
      throw new Unavailable('STS answer lacks Arn, Account or UserId');
    }
    this.upstream('sts', 'ok', started);
    return id;
  }
}
