/**
 * Helpers of the bootstrap suites: the bootstrap script of a rendered launch template, HTTPS requests with the
 * cluster's certificates, a presigning proxy in front of moto's STS and `k8s-aws-v1.` node tokens.
 */
import { createHash, createHmac } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { SignatureV4 } from '@smithy/signature-v4';
import { parse } from 'yaml';
import { BOOTSTRAP_PATH } from '../src/infra/userdata';

/**
 * The bootstrap script of the user data of a launch template (`LaunchTemplateData.UserData`) or an instance
 * (`UserData`), as CloudFormation's `Fn::Sub` leaves it: each `${Name}` placeholder replaced by `vars[Name]` (the
 * values the stack resolves, e.g. `FilesBucket`), then `${!x}` → `${x}`.
 */
export function bootstrapOf(
  template: { Resources: Record<string, { Properties?: Record<string, unknown> }> },
  id: string,
  vars: Record<string, string> = {},
): string {
  const p = template.Resources[id]!.Properties!;
  type UserData = { 'Fn::Base64': { 'Fn::Sub': [string] } };
  const userData = ((p.LaunchTemplateData as { UserData?: UserData } | undefined)?.UserData ?? p.UserData) as UserData;
  let ud = userData['Fn::Base64']['Fn::Sub'][0];
  for (const [k, v] of Object.entries(vars)) ud = ud.replaceAll(`\${${k}}`, v);
  const doc = parse(ud.replace(/^#cloud-config\n/, '')) as { write_files: { path: string; content: string }[] };
  return doc.write_files.find((f) => f.path === BOOTSTRAP_PATH)!.content.replaceAll('${!', '${');
}

/** TLS material of a request: the CA to verify the server with and an optional client certificate. */
export interface Tls {
  ca: string;
  cert?: string;
  key?: string;
}

/** Response of {@link request}: status and body text. */
export interface Reply {
  status: number;
  body: string;
}

/**
 * One HTTPS request to `url` verified against `tls.ca` (client certificate when given, bearer `token` when
 * given), with a 5 s deadline.
 */
export function request(
  url: string,
  tls: Tls,
  o: { method?: string; token?: string; body?: unknown } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const body = o.body === undefined ? undefined : JSON.stringify(o.body);
    const req = https.request(
      url,
      {
        method: o.method ?? 'GET',
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        timeout: 5000,
        headers: {
          accept: 'application/json, */*;q=0.8',
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 5 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A presigned STS call the proxy forwarded. */
export interface StsCall {
  query: string;
  /** The `x-k8s-aws-id` header. */
  clusterId: string | undefined;
}

/**
 * A proxy in front of real moto: moto answers `GetCallerIdentity` only for credentials in an `Authorization`
 * header, not in a presigned query, so the proxy copies the presigned credential into that header and records
 * each call; everything else is moto's.
 */
export interface StsProxy {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  calls: StsCall[];
  stop(): Promise<void>;
}

/** Starts an {@link StsProxy} for moto at `motoEndpoint`. */
export async function startStsProxy(motoEndpoint: string): Promise<StsProxy> {
  const target = new URL(motoEndpoint);
  const calls: StsCall[] = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://proxy');
    const id = req.headers['x-k8s-aws-id'];
    if (u.searchParams.get('Action') === 'GetCallerIdentity')
      calls.push({ query: u.search, clusterId: typeof id === 'string' ? id : undefined });
    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: target.host };
    const cred = u.searchParams.get('X-Amz-Credential');
    if (cred) {
      headers.authorization = `AWS4-HMAC-SHA256 Credential=${cred}, SignedHeaders=${u.searchParams.get('X-Amz-SignedHeaders')}, Signature=${u.searchParams.get('X-Amz-Signature')}`;
    }
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

function bytes(d: SourceData): string | Buffer {
  if (typeof d === 'string') return d;
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  return Buffer.from(d);
}

/** SHA-256 / HMAC-SHA256 on node:crypto, the `ChecksumConstructor` SignatureV4 expects. */
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

/**
 * A `k8s-aws-v1.` token as `aws eks get-token` builds it (aws-iam-authenticator pkg/token/token.go): moto STS
 * `AssumeRole` of `roleArn` with session name `session` (the instance id, as EC2 instance profiles name it),
 * then a presigned `GetCallerIdentity` URL at `stsEndpoint` that signs `x-k8s-aws-id: <clusterId>`.
 */
export async function nodeToken(
  sts: STSClient,
  o: { roleArn: string; session: string; clusterId: string; region: string; stsEndpoint: string },
): Promise<string> {
  const c = (await sts.send(new AssumeRoleCommand({ RoleArn: o.roleArn, RoleSessionName: o.session }))).Credentials!;
  const signer = new SignatureV4({
    service: 'sts',
    region: o.region,
    sha256: Sha256,
    credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken },
  });
  const u = new URL(o.stsEndpoint);
  const signed = await signer.presign(
    {
      method: 'GET',
      protocol: u.protocol,
      hostname: u.hostname,
      port: Number(u.port),
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: u.host, 'x-k8s-aws-id': o.clusterId },
    },
    { expiresIn: 60 },
  );
  const q = Object.entries(signed.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return `k8s-aws-v1.${Buffer.from(`${u.origin}/?${q}`).toString('base64url')}`;
}
