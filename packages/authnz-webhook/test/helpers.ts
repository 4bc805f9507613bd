/**
 * Test fixtures shared by the unit, HTTP-contract and end-to-end suites: a loopback OIDC issuer with a
 * controllable JWKS endpoint, a loopback tokeninfo server, and configuration builders.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, type JWK, SignJWT, exportJWK, generateKeyPair } from 'jose';

/** One signing key of a test issuer. */
export interface TestKey {
  kid: string;
  alg: 'RS256' | 'ES256' | 'EdDSA' | 'PS256';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** Generates a key pair (RS256 2048-bit, ES256, EdDSA). */
export async function makeKey(kid: string, alg: TestKey['alg'] = 'RS256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'RS256' || alg === 'PS256' ? { modulusLength: 2048 } : {}),
  });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

/** JWKS server behaviour. */
export type JwksMode = 'ok' | 'fail500' | 'hang' | 'notjson' | 'nokeys';

/**
 * A loopback OIDC issuer: discovery + JWKS over plain HTTP on 127.0.0.1 (allowed for loopback,
 * docs/authnz-webhook.md#authnz-idp-fetch).
 */
export class TestIssuer {
  server!: http.Server;
  url!: string;
  keys: TestKey[] = [];
  /** Keys published in the JWKS (default: all of `keys`). */
  published?: TestKey[];
  mode: JwksMode = 'ok';
  jwksFetches = 0;
  discoveryFetches = 0;
  extraJwksMembers: unknown[] = [];

  static async start(keys: TestKey[]): Promise<TestIssuer> {
    const t = new TestIssuer();
    t.keys = keys;
    t.server = http.createServer((req, res) => t.handle(req, res));
    await new Promise<void>((r) => t.server.listen(0, '127.0.0.1', r));
    t.url = `http://127.0.0.1:${(t.server.address() as AddressInfo).port}`;
    return t;
  }

  get jwksURL(): string {
    return `${this.url}/keys`;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.url === '/.well-known/openid-configuration') {
      this.discoveryFetches++;
      res
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ issuer: this.url, jwks_uri: this.jwksURL }));
      return;
    }
    if (req.url === '/keys') {
      this.jwksFetches++;
      switch (this.mode) {
        case 'fail500':
          res.writeHead(500).end('boom');
          return;
        case 'hang':
          return; // never answers; the client's fetchTimeout fires
        case 'notjson':
          res.writeHead(200, { 'Content-Type': 'application/json' }).end('<html>');
          return;
        case 'nokeys':
          res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"nokeys":[]}');
          return;
        default:
          res
            .writeHead(200, { 'Content-Type': 'application/json' })
            .end(
              JSON.stringify({
                keys: [...(this.published ?? this.keys).map((k) => k.publicJwk), ...this.extraJwksMembers],
              }),
            );
          return;
      }
    }
    res.writeHead(404).end();
  }

  /**
   * Signs a token with `key` (default the first key). Claims default to a valid token for audience
   * `kubernetes`, subject `jdoe`, issued now, expiring in 10 minutes.
   */
  async sign(
    claims: Record<string, unknown> = {},
    opts: { key?: TestKey; header?: Record<string, unknown>; nowS?: number } = {},
  ): Promise<string> {
    const key = opts.key ?? this.keys[0]!;
    const now = opts.nowS ?? Math.floor(Date.now() / 1000);
    const payload: Record<string, unknown> = {
      iss: this.url,
      aud: 'kubernetes',
      sub: 'jdoe',
      iat: now,
      exp: now + 600,
      groups: [],
      ...claims,
    };
    for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
    return new SignJWT(payload as never)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...opts.header } as never)
      .sign(key.privateKey);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Tokeninfo server behaviour: a status code, a body, or `hang`. */
export interface TokeninfoReply {
  status: number;
  body?: unknown;
  hang?: boolean;
}

/** A loopback tokeninfo endpoint; `tokens` maps a bearer token to its reply. */
export class TestTokeninfo {
  server!: http.Server;
  url!: string;
  tokens = new Map<string, TokeninfoReply>();
  requests: Array<{ method?: string; url?: string; authorization?: string }> = [];

  static async start(): Promise<TestTokeninfo> {
    const t = new TestTokeninfo();
    t.server = http.createServer((req, res) => {
      t.requests.push({ method: req.method, url: req.url, authorization: req.headers.authorization });
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      const reply = t.tokens.get(token) ?? { status: 401, body: { error: 'invalid_token' } };
      if (reply.hang) return;
      res
        .writeHead(reply.status, { 'Content-Type': 'application/json' })
        .end(reply.body === undefined ? '' : JSON.stringify(reply.body));
    });
    await new Promise<void>((r) => t.server.listen(0, '127.0.0.1', r));
    t.url = `http://127.0.0.1:${(t.server.address() as AddressInfo).port}/oauth2/tokeninfo`;
    return t;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Options of {@link configYaml}. */
export interface ConfigYamlOptions {
  issuerUrl?: string;
  jwksURL?: string;
  tokeninfoUrl?: string;
  algorithms?: string[];
  kubernetesAudiences?: string[];
  keys?: { refreshInterval?: string; staleIfError?: string; refetchCooldown?: string; fetchTimeout?: string };
  extra?: string;
  cache?: string;
  typ?: string;
  usernameClaim?: string;
  approverGroups?: string[];
  manualMax?: string;
  namespace?: string;
  /**
   * false: no requester groups, i.e. emergency access disabled (what standalone mode needs, see
   * docs/authnz-webhook.md#authnz-standalone). Default true.
   */
  emergencyAccess?: boolean;
}

/**
 * A configuration file for tests: issuer `corp` with prefixes `oidc:`, the example mapping of
 * docs/authnz-webhook.md#authnz-config.
 */
export function configYaml(o: ConfigYamlOptions = {}): string {
  const lines = [
    'apiVersion: authnz.kubeaws.io/v1alpha1',
    'kind: AuthnzConfiguration',
    'protectedNamespaces: [team-platform]',
    'authentication:',
    '  clockToleranceSeconds: 30',
  ];
  if (o.cache) lines.push(`  cache: ${o.cache}`);
  if (o.issuerUrl) {
    lines.push(
      '  issuers:',
      '  - name: corp',
      `    issuer: ${o.issuerUrl}`,
      ...(o.jwksURL ? [`    jwksURL: ${o.jwksURL}`] : []),
      '    audiences: [kubernetes]',
      `    kubernetesAudiences: ${JSON.stringify(o.kubernetesAudiences ?? [])}`,
      `    algorithms: ${JSON.stringify(o.algorithms ?? ['RS256', 'ES256', 'EdDSA'])}`,
      ...(o.typ ? [`    typ: ${o.typ}`] : []),
      '    maxTokenAge: 24h',
      `    claims: {username: {claim: ${o.usernameClaim ?? 'sub'}, prefix: "oidc:"}, groups: {claim: groups, prefix: "oidc:"}, uid: {claim: sub}}`,
      `    keys: {refreshInterval: ${o.keys?.refreshInterval ?? '5m'}, staleIfError: ${o.keys?.staleIfError ?? '24h'}, refetchCooldown: ${o.keys?.refetchCooldown ?? '30s'}, fetchTimeout: ${o.keys?.fetchTimeout ?? '2s'}}`,
    );
  }
  if (o.tokeninfoUrl) {
    lines.push(
      '  tokeninfo:',
      '  - name: employees',
      `    url: ${o.tokeninfoUrl}`,
      '    opaque: true',
      '    timeout: 1s',
      '    requiredScopes: [uid]',
      '    realms: {/employees: {usernamePrefix: "", groups: [employees]}, /services: {usernamePrefix: "service:", groups: []}}',
    );
  }
  lines.push(
    'roles:',
    '  mapping:',
    '  - {group: "oidc:k8s-readonly", role: ReadOnly}',
    '  - {group: "oidc:k8s-poweruser", role: PowerUser}',
    '  - {allOf: ["oidc:platform", "oidc:oncall"], role: Administrator}',
    '  - {group: "oidc:k8s-admin", role: Administrator}',
    '  - {user: "service:cluster-lifecycle", role: Administrator}',
    'authorization:',
    '  extraDenyRules:',
    '  - {name: no-karpenter-writes, roles: [ReadOnly, PowerUser], apiGroups: [karpenter.sh], resources: ["*"], verbs: [create, update, patch, delete, deletecollection]}',
    '  systemUsers:',
    '  - {user: "service:credentials-provider", rules: [{apiGroups: [""], resources: [secrets], verbs: [get], namespaces: [kube-system], resourceNames: []}]}',
    'emergencyAccess:',
    `  namespace: ${o.namespace ?? 'kubeaws-access'}`,
    ...(o.emergencyAccess === false
      ? []
      : [
          `  manual: {requesterGroups: ["oidc:oncall"], approverGroups: ${JSON.stringify(o.approverGroups ?? ['oidc:oncall'])}, defaultDuration: 2h, maxDuration: ${o.manualMax ?? '8h'}, approvalTimeout: 1h}`,
          '  emergency: {requesterGroups: ["oidc:oncall"], incidentPattern: "^INC-[0-9]{1,10}$", defaultDuration: 4h, maxDuration: 12h}',
        ]),
    '  retention: 720h',
  );
  if (o.extra) lines.push(o.extra);
  return lines.join('\n') + '\n';
}

/** Polls `fn` until it returns a truthy value or the deadline passes. */
export async function until<T>(
  fn: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
  intervalMs = 20,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
