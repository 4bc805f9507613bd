/**
 * HTTP contract of the real server on ephemeral loopback ports with mutual TLS
 * (docs/authnz-webhook.md#authnz-listeners, #authnz-wire, #authnz-http, #authnz-body-limits, #authnz-rejections,
 * #authnz-tls): status codes and Status JSON, v1/v1beta1, limits, TLS client checks, probes, metrics, hot reload,
 * standalone mode (no cluster: no grants, no access API), a property-based fuzz of request bodies, and a token-free log
 * check. The access API runs against the real AccessRequest CRD in test/access-api.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { createLogger } from '@kubeaws/runtime';
import { type ClusterPki, freePorts, generatePki } from '@kubeaws/testenv';
import fc from 'fast-check';
import { type TestKey, TestIssuer, TestTokeninfo, configYaml, makeKey, until } from '../test/helpers';
import { type RunningWebhook, startWebhook } from '../test/start';
import type { AuthnzWebhook } from './app';
import { ClusterAccessRequired } from './cluster-access';

let pki: ClusterPki;
let otherPki: ClusterPki;
let dir: string;
let issuer: TestIssuer;
let key: TestKey;
let tokeninfo: TestTokeninfo;
let rc: RunningWebhook;
let app: AuthnzWebhook;
let base: string;
const logLines: string[] = [];
const tokensSeen: string[] = [];
let agent: https.Agent;

/** The test configuration with emergency access disabled: the app runs standalone (no cluster). */
const standaloneConfig = () =>
  configYaml({ issuerUrl: issuer.url, jwksURL: issuer.jwksURL, tokeninfoUrl: tokeninfo.url, emergencyAccess: false });

const files = () => ({
  ca: path.join(dir, 'ca.crt'),
  cert: path.join(dir, 'server.crt'),
  key: path.join(dir, 'server.key'),
  config: path.join(dir, 'config.yaml'),
});

beforeAll(async () => {
  [pki, otherPki, key] = await Promise.all([generatePki(), generatePki(), makeKey('k1')]);
  issuer = await TestIssuer.start([key]);
  tokeninfo = await TestTokeninfo.start();
  dir = mkdtempSync(path.join(tmpdir(), 'authnz-contract-'));
  const f = files();
  writeFileSync(f.ca, pki.ca.cert);
  writeFileSync(f.cert, pki.apiserver.cert);
  writeFileSync(f.key, pki.apiserver.key);
  writeFileSync(f.config, standaloneConfig());
  const logger = createLogger({
    component: 'authnz-webhook',
    level: 'debug',
    destination: { write: (s: string) => void logLines.push(s) },
  });
  rc = await startWebhook(
    [
      `--config=${f.config}`,
      '--webhook-bind-address=127.0.0.1:0',
      `--tls-cert-file=${f.cert}`,
      `--tls-private-key-file=${f.key}`,
      `--client-ca-file=${f.ca}`,
      '--allowed-client-names=kubeaws-admin',
      '--metrics-bind-address=127.0.0.1:0',
      '--health-probe-bind-address=127.0.0.1:0',
      `--max-request-bytes=${64 * 1024}`,
      '--shutdown-delay=0s',
    ],
    { logger, config: { reloadIntervalMs: 3_600_000 } },
  );
  app = rc.handle;
  base = `https://127.0.0.1:${app.addresses.webhook.port}`;
  agent = new https.Agent({
    keepAlive: true,
    ca: pki.ca.cert,
    cert: pki.admin.cert,
    key: pki.admin.key,
    maxSockets: 8,
  });
  await until(() => app.authenticator.readinessProblems().length === 0, 'issuer keys');
});

afterAll(async () => {
  agent.destroy();
  await rc.stop();
  await issuer.stop();
  await tokeninfo.stop();
  rmSync(dir, { recursive: true, force: true });
  // No token and no part of one is ever logged (docs/authnz-webhook.md#authnz-no-token-leaks).
  const all = logLines.join('');
  for (const t of tokensSeen) {
    expect(all.includes(t)).toBe(false);
    const parts = t.split('.');
    if (parts.length === 3 && parts[2]!.length >= 16) expect(all.includes(parts[2]!)).toBe(false);
  }
});

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  text: string;
}

function request(
  url: string,
  opts: { method?: string; body?: string | Buffer; headers?: Record<string, string>; agent?: https.Agent } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: opts.method ?? 'POST',
        agent: opts.agent ?? agent,
        headers: { 'Content-Type': 'application/json', ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let body: any;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode!, headers: res.headers, body, text });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const post = (p: string, body: unknown, headers?: Record<string, string>) =>
  request(base + p, { body: typeof body === 'string' ? body : JSON.stringify(body), headers });

function tokenReview(token: string, apiVersion = 'authentication.k8s.io/v1', extra: Record<string, unknown> = {}) {
  tokensSeen.push(token);
  return post('/authenticate', { apiVersion, kind: 'TokenReview', spec: { token, ...extra } });
}

function sar(spec: Record<string, unknown>, apiVersion = 'authorization.k8s.io/v1') {
  return post('/authorize', { apiVersion, kind: 'SubjectAccessReview', spec });
}

describe('TokenReview endpoint', () => {
  it.each([['authentication.k8s.io/v1'], ['authentication.k8s.io/v1beta1']])(
    'answers %s with the request version and never echoes spec',
    async (v) => {
      const token = await issuer.sign({ sub: 'jdoe', groups: ['k8s-poweruser'] });
      const r = await tokenReview(token, v);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.body).toEqual({
        apiVersion: v,
        kind: 'TokenReview',
        status: {
          authenticated: true,
          user: {
            username: 'oidc:jdoe',
            uid: 'corp/jdoe',
            groups: ['PowerUser', 'oidc:k8s-poweruser'],
            extra: { 'kubeaws.io/authenticator': ['oidc/corp'] },
          },
        },
      });
      expect(r.text.includes(token)).toBe(false);
    },
  );

  it('answers invalid tokens with 200 and status.error', async () => {
    const r = await tokenReview('not-a-jwt.at.all');
    expect(r.status).toBe(200);
    expect(r.body.status).toEqual({ authenticated: false, error: 'malformed token' });
  });

  it('answers 503 for an upstream outage, without Retry-After', async () => {
    tokeninfo.tokens.set('opaque-outage', { status: 502 });
    const r = await tokenReview('opaque-outage');
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ kind: 'Status', code: 503, reason: 'ServiceUnavailable' });
    expect(r.headers['retry-after']).toBeUndefined();
  });
});

describe('SubjectAccessReview endpoint', () => {
  it('accepts groups under v1 and group under v1beta1, and answers denials with denied:true', async () => {
    const attrs = { resourceAttributes: { namespace: 'kube-system', verb: 'get', resource: 'secrets', name: 'x' } };
    const v1 = await sar({ user: 'oidc:jdoe', groups: ['PowerUser'], ...attrs });
    expect(v1.status).toBe(200);
    expect(v1.body).toEqual({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      status: {
        allowed: false,
        denied: true,
        reason:
          'deny rule=protected-secrets role=PowerUser user=oidc:jdoe: secrets in protected namespace "kube-system" are for Administrators only; ask an Administrator',
      },
    });
    const beta = await sar({ user: 'oidc:jdoe', group: ['PowerUser'], ...attrs }, 'authorization.k8s.io/v1beta1');
    expect(beta.body.apiVersion).toBe('authorization.k8s.io/v1beta1');
    expect(beta.body.status.denied).toBe(true);
    const crossed = await sar({ user: 'oidc:jdoe', group: ['PowerUser'], ...attrs });
    expect(crossed.body.status.denied).toBe(true);
  });

  it('answers allow and no opinion', async () => {
    const allow = await sar({
      user: 'oidc:a',
      groups: ['ReadOnly'],
      resourceAttributes: { namespace: 'team-a', verb: 'list', resource: 'pods' },
    });
    expect(allow.body.status).toMatchObject({ allowed: true });
    expect(allow.body.status.denied).toBeUndefined();
    const none = await sar({
      user: 'oidc:a',
      groups: ['ReadOnly'],
      resourceAttributes: { namespace: 'team-a', verb: 'create', resource: 'pods' },
    });
    expect(none.body.status).toEqual({
      allowed: false,
      reason: expect.stringMatching(/^no-opinion rule=no-matching-rule role=ReadOnly /),
    });
  });

  it('a SAR with no user and no groups is a principal with no role; selectors never change a decision', async () => {
    const r = await sar({
      resourceAttributes: {
        namespace: 'team-a',
        verb: 'list',
        resource: 'pods',
        fieldSelector: { requirements: [{ key: 'x', operator: 'In', values: ['y'] }] },
      },
    });
    expect(r.status).toBe(200);
    expect(r.body.status).toMatchObject({ allowed: false, reason: expect.stringContaining('role=none') });
  });

  it('__proto__, constructor, duplicate keys and unknown fields give a normal decision and pollute nothing', async () => {
    const text =
      '{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"oidc:x","groups":["ReadOnly"],' +
      '"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"extra":{"__proto__":["x"]},' +
      '"resourceAttributes":{"namespace":"a","verb":"get","resource":"pods","resource":"secrets"},"authorizationOptions":{"x":1},"newField":[1]}}';
    const r = await post('/authorize', text);
    expect(r.status).toBe(200);
    expect(r.body.status).toMatchObject({
      allowed: false,
      denied: true,
      reason: expect.stringContaining('rule=readonly-secrets'),
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('status codes and Status JSON (AUTHNZ-HTTP)', () => {
  const cases: Array<[string, string, string | Buffer, number, RegExp]> = [
    ['malformed JSON', '/authenticate', '{"kind":', 400, /^body: not valid JSON/],
    ['body not an object', '/authenticate', '[1,2]', 400, /^body: expected a JSON object, got array/],
    ['JSON deeper than 32', '/authorize', `{"a":${'['.repeat(40)}${']'.repeat(40)}}`, 400, /nesting deeper than 32/],
    [
      'wrong kind for the path',
      '/authenticate',
      JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SubjectAccessReview', spec: {} }),
      400,
      /^kind: expected "TokenReview"/,
    ],
    [
      'unsupported apiVersion',
      '/authenticate',
      JSON.stringify({ apiVersion: 'authentication.k8s.io/v2', kind: 'TokenReview', spec: { token: 'x' } }),
      400,
      /expected one of authentication\.k8s\.io\/v1, authentication\.k8s\.io\/v1beta1/,
    ],
    [
      'missing spec',
      '/authenticate',
      JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview' }),
      400,
      /^spec: expected object, got nothing/,
    ],
    [
      'spec.token not a string',
      '/authenticate',
      JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 5 } }),
      400,
      /^spec\.token: expected string, got number$/,
    ],
    [
      'SAR with both attribute sets',
      '/authorize',
      JSON.stringify({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { resourceAttributes: {}, nonResourceAttributes: {} },
      }),
      400,
      /got both/,
    ],
    [
      'SAR with neither attribute set',
      '/authorize',
      JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: 'x' } }),
      400,
      /got neither/,
    ],
    [
      'both group and groups',
      '/authorize',
      JSON.stringify({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { group: [], groups: [], nonResourceAttributes: {} },
      }),
      400,
      /got both/,
    ],
    [
      'wrong field type in resourceAttributes',
      '/authorize',
      JSON.stringify({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { resourceAttributes: { verb: 1 } },
      }),
      400,
      /spec\.resourceAttributes\.verb: expected string, got number/,
    ],
  ];
  it.each(cases)('%s: %s → %i', async (_n, p, body, code, msg) => {
    const r = await post(p, body);
    expect(r.status).toBe(code);
    expect(r.body).toMatchObject({ apiVersion: 'v1', kind: 'Status', status: 'Failure', code, reason: 'BadRequest' });
    expect(r.body.message).toMatch(msg);
  });

  it('413 above --max-request-bytes, and the connection is closed', async () => {
    const big = JSON.stringify({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token: 'x'.repeat(70 * 1024) },
    });
    const r = await request(`${base}/authenticate`, {
      body: big,
      agent: new https.Agent({ ca: pki.ca.cert, cert: pki.admin.cert, key: pki.admin.key }),
    });
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ kind: 'Status', code: 413, reason: 'RequestEntityTooLarge' });
    expect(r.headers.connection).toBe('close');
  });

  it('415 for a non-JSON Content-Type (parameters allowed for JSON)', async () => {
    const r = await post('/authenticate', '{}', { 'Content-Type': 'text/plain' });
    expect(r.status).toBe(415);
    expect(r.body.reason).toBe('UnsupportedMediaType');
    const ok = await post(
      '/authenticate',
      JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: '' } }),
      { 'Content-Type': 'application/json; charset=utf-8' },
    );
    expect(ok.status).toBe(200);
  });

  it('405 with Allow for GET on a webhook path, 404 for unknown paths', async () => {
    const r = await request(`${base}/authenticate`, { method: 'GET' });
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('POST');
    expect(r.body.kind).toBe('Status');
    const nf = await post('/tokenreview', {});
    expect(nf.status).toBe(404);
    expect(nf.body).toMatchObject({ kind: 'Status', code: 404, reason: 'NotFound' });
  });

  it('never answers 500, 504 or 429 to fuzzed bodies (property-based)', async () => {
    const bodies = fc.oneof(
      fc.json(),
      fc.string(),
      fc
        .record({
          apiVersion: fc.constantFrom(
            'authentication.k8s.io/v1',
            'authentication.k8s.io/v1beta1',
            'authorization.k8s.io/v1',
            'authorization.k8s.io/v1beta1',
            'x',
          ),
          kind: fc.constantFrom('TokenReview', 'SubjectAccessReview', 'Other'),
          spec: fc.oneof(
            fc.anything(),
            fc.record(
              { token: fc.oneof(fc.string(), fc.integer(), fc.constant(null)), audiences: fc.anything() },
              { requiredKeys: [] },
            ),
            fc.record(
              {
                user: fc.anything(),
                groups: fc.anything(),
                group: fc.anything(),
                extra: fc.anything(),
                resourceAttributes: fc.anything(),
                nonResourceAttributes: fc.anything(),
              },
              { requiredKeys: [] },
            ),
          ),
        })
        .map((o) => JSON.stringify(o)),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/authenticate', '/authorize'), bodies, async (p, body) => {
        const r = await post(p, body);
        return r.status === 200 || (r.status >= 400 && r.status < 500 && r.status !== 429);
      }),
      { numRuns: 300 },
    );
  });
});

describe('mutual TLS (AUTHNZ-TLS)', () => {
  function handshake(opts: tls.ConnectionOptions): Promise<'closed' | 'http'> {
    return new Promise((resolve) => {
      const s = tls.connect(
        { host: '127.0.0.1', port: app.addresses.webhook.port, ca: pki.ca.cert, servername: 'localhost', ...opts },
        () => {
          s.write(
            'POST /authorize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
          );
        },
      );
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('error', () => resolve('closed'));
      s.on('close', () => resolve(got.startsWith('HTTP/1.1') ? 'http' : 'closed'));
      // Deadline for an idle connection: a refused or answered handshake closes long before.
      s.setTimeout(3000, () => s.destroy());
    });
  }

  it('refuses clients without a certificate, with one from another CA, or with a CN not allowed', async () => {
    expect(await handshake({})).toBe('closed');
    expect(await handshake({ cert: otherPki.admin.cert, key: otherPki.admin.key })).toBe('closed');
    expect(await handshake({ cert: pki.controllerManager.cert, key: pki.controllerManager.key })).toBe('closed');
    expect(await handshake({ cert: pki.admin.cert, key: pki.admin.key })).toBe('http');
  });
});

describe('probes, metrics and hot reload', () => {
  it('serves /healthz, /readyz and /metrics with the documented names (AUTHNZ-LISTENERS, AUTHNZ-METRICS)', async () => {
    expect((await fetch(`${app.addresses.health}/healthz`)).status).toBe(200);
    expect((await fetch(`${app.addresses.health}/readyz`)).status).toBe(200);
    const m = await (await fetch(`${app.addresses.metrics}/metrics`)).text();
    for (const name of [
      'kubeaws_authnz_webhook_http_requests_total',
      'kubeaws_authnz_webhook_http_request_duration_seconds_bucket',
      'kubeaws_authnz_webhook_tokenreviews_total',
      'kubeaws_authnz_webhook_tokenreview_failures_total{reason="malformed_token"}',
      'kubeaws_authnz_webhook_subjectaccessreviews_total',
      'kubeaws_authnz_webhook_upstream_requests_total',
      'kubeaws_authnz_webhook_jwks_usable{issuer="corp"} 1',
      'kubeaws_authnz_webhook_token_cache_lookups_total',
      'kubeaws_authnz_webhook_config_reloads_total',
      'process_resident_memory_bytes',
    ])
      expect(m).toContain(name);
    expect(m).not.toMatch(/oidc:jdoe/);
  });

  it('swaps a valid file in and rejects an invalid one, keeping the old configuration', async () => {
    const f = files();
    const attrs = {
      user: 'oidc:x',
      groups: ['PowerUser'],
      resourceAttributes: { namespace: 'team-b', verb: 'create', resource: 'pods' },
    };
    expect((await sar(attrs)).body.status.allowed).toBe(true);
    writeFileSync(
      f.config,
      standaloneConfig().replace(
        'protectedNamespaces: [team-platform]',
        'protectedNamespaces: [team-platform, team-b]',
      ),
    );
    expect(await app.reload()).toBe('reloaded');
    expect((await sar(attrs)).body.status).toMatchObject({
      denied: true,
      reason: expect.stringContaining('rule=protected-namespace-write'),
    });
    writeFileSync(
      f.config,
      'apiVersion: authnz.kubeaws.io/v1alpha1\nkind: AuthnzConfiguration\nauthentication: {clockToleranceSeconds: 600}\n',
    );
    expect(await app.reload()).toBe('rejected');
    expect((await sar(attrs)).body.status.denied).toBe(true);
    const m = await (await fetch(`${app.addresses.metrics}/metrics`)).text();
    expect(m).toMatch(/kubeaws_authnz_webhook_config_reloads_total\{result="failure"\} 1/);
    writeFileSync(f.config, standaloneConfig());
    expect(await app.reload()).toBe('reloaded');
    // the same content again: nothing swapped, no success counted, no line logged
    const lines = logLines.length;
    expect(await app.reload()).toBe('unchanged');
    expect(logLines.length).toBe(lines);
    const after = await (await fetch(`${app.addresses.metrics}/metrics`)).text();
    expect(after).toMatch(/kubeaws_authnz_webhook_config_reloads_total\{result="success"\} 3/);
    expect(after).toMatch(/kubeaws_authnz_webhook_config_reloads_total\{result="failure"\} 1/);
  });

  it('SIGHUP forces a reload, and the reload Runnable polls the file (AUTHNZ-RELOAD)', async () => {
    const reloads = () => logLines.filter((l) => l.includes('"msg":"configuration reloaded"')).length;
    const before = reloads();
    process.emit('SIGHUP', 'SIGHUP');
    await until(() => reloads() === before + 1, 'the reload SIGHUP forced (same content)');
    const polled = path.join(dir, 'polled.yaml');
    writeFileSync(polled, standaloneConfig());
    const second = await startWebhook(
      [
        `--config=${polled}`,
        '--insecure-loopback-webhook',
        '--webhook-bind-address=127.0.0.1:0',
        '--access-api-bind-address=',
        '--metrics-bind-address=0',
        '--health-probe-bind-address=0',
        '--shutdown-delay=0s',
      ],
      { logger: createLogger({ component: 'authnz-webhook', level: 'silent' }), config: { reloadIntervalMs: 50 } },
    );
    try {
      const hash = second.handle.config.contentHash;
      writeFileSync(
        polled,
        standaloneConfig().replace(
          'protectedNamespaces: [team-platform]',
          'protectedNamespaces: [team-platform, team-c]',
        ),
      );
      await until(() => second.handle.config.contentHash !== hash, 'the polled reload');
      expect(second.handle.config.protectedNamespaces).toContain('team-c');
    } finally {
      await second.stop();
    }
  });
});

describe('certificate rotation (AUTHNZ-TLS)', () => {
  it('swaps the serving pair and client CA when the files change', async () => {
    const f = files();
    writeFileSync(f.ca, otherPki.ca.cert);
    writeFileSync(f.cert, otherPki.apiserver.cert);
    writeFileSync(f.key, otherPki.apiserver.key);
    try {
      app.server.reloadTls();
      const rotated = new https.Agent({ ca: otherPki.ca.cert, cert: otherPki.admin.cert, key: otherPki.admin.key });
      const body = JSON.stringify({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user: 'x', nonResourceAttributes: { path: '/', verb: 'get' } },
      });
      expect((await request(`${base}/authorize`, { agent: rotated, body })).status).toBe(200);
      const old = new https.Agent({ ca: pki.ca.cert, cert: pki.admin.cert, key: pki.admin.key });
      await expect(request(`${base}/authorize`, { agent: old, body })).rejects.toThrow();
    } finally {
      writeFileSync(f.ca, pki.ca.cert);
      writeFileSync(f.cert, pki.apiserver.cert);
      writeFileSync(f.key, pki.apiserver.key);
      app.server.reloadTls();
    }
  });
});

describe('shutdown (AUTHNZ-SHUTDOWN)', () => {
  it('fails readiness at once and keeps serving during the delay', async () => {
    const f = files();
    const secondRc = await startWebhook(
      [
        `--config=${f.config}`,
        '--insecure-loopback-webhook',
        '--webhook-bind-address=127.0.0.1:0',
        '--access-api-bind-address=',
        '--metrics-bind-address=0',
        '--health-probe-bind-address=127.0.0.1:0',
        `--max-request-bytes=${1024 * 1024}`,
        '--shutdown-delay=1500ms',
      ],
      { logger: createLogger({ component: 'authnz-webhook', level: 'silent' }) },
    );
    const second = secondRc.handle;
    const stopping = secondRc.stop();
    expect((await fetch(`${second.addresses.health}/readyz`)).status).toBe(500);
    const r = await fetch(`http://127.0.0.1:${second.addresses.webhook.port}/authorize`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user: 'x', nonResourceAttributes: { path: '/', verb: 'get' } },
      }),
    });
    expect(r.status).toBe(200);
    await stopping;
    await expect(
      fetch(`http://127.0.0.1:${second.addresses.webhook.port}/authorize`, { method: 'POST' }),
    ).rejects.toThrow();
  });
});

describe('standalone mode (no cluster access)', () => {
  const startArgs = (configPath: string, webhookBind = '127.0.0.1:0') => [
    `--config=${configPath}`,
    '--insecure-loopback-webhook',
    `--webhook-bind-address=${webhookBind}`,
    '--access-api-bind-address=',
    '--metrics-bind-address=0',
    '--health-probe-bind-address=0',
    `--max-request-bytes=${1024 * 1024}`,
    '--shutdown-delay=0s',
  ];
  const silent = () => ({ logger: createLogger({ component: 'authnz-webhook', level: 'silent' }) });

  it('logs once at info that grants are disabled, is ready, and never issues a grant role', async () => {
    const standalone = logLines
      .map((l) => JSON.parse(l))
      .filter((l) => typeof l.msg === 'string' && l.msg.startsWith('standalone mode'));
    expect(standalone).toHaveLength(1);
    expect(standalone[0]).toMatchObject({ level: 'info', msg: expect.stringContaining('no grants are issued') });
    expect(app.repo).toBeUndefined();
    expect(app.addresses.access).toBeUndefined();
    expect((await fetch(`${app.addresses.health}/readyz`)).status).toBe(200);
    const oncall = await issuer.sign({ sub: 'oncall-user', groups: ['oncall', 'k8s-readonly'] });
    const r = await tokenReview(oncall);
    expect(r.body.status.user.groups).toEqual(['ReadOnly', 'oidc:k8s-readonly', 'oidc:oncall']);
    expect(r.body.status.user.extra['kubeaws.io/access-request']).toBeUndefined();
  });

  it('refuses to start, before listening, when the configuration enables emergency access', async () => {
    const enabled = path.join(dir, 'emergency-enabled.yaml');
    writeFileSync(enabled, configYaml({ issuerUrl: issuer.url, jwksURL: issuer.jwksURL }));
    const [port] = await freePorts(1);
    const err = await startWebhook(startArgs(enabled, `127.0.0.1:${port}`), silent()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterAccessRequired);
    expect(err).toMatchObject({
      file: enabled,
      settings: ['emergencyAccess.manual.requesterGroups', 'emergencyAccess.emergency.requesterGroups'],
    });
    // nothing listens on the webhook port: it can be bound again
    const probe = net.createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((r) => probe.close(() => r()));
  });

  it('refuses the access API without a cluster', async () => {
    const f = files();
    await expect(
      startWebhook(startArgs(f.config), {
        ...silent(),
        config: { access: { bindAddress: '127.0.0.1:0', tls: { certFile: f.cert, keyFile: f.key } } },
      }),
    ).rejects.toThrow('the access API needs cluster access (kube)');
  });

  it('rejects a reload that enables emergency access and keeps the previous configuration', async () => {
    const f = files();
    const before = app.config.contentHash;
    writeFileSync(
      f.config,
      configYaml({ issuerUrl: issuer.url, jwksURL: issuer.jwksURL, tokeninfoUrl: tokeninfo.url }),
    );
    try {
      expect(await app.reload()).toBe('rejected');
      expect(app.config.contentHash).toBe(before);
      const rejected = logLines
        .map((l) => JSON.parse(l))
        .filter((l) => typeof l.msg === 'string' && l.msg.startsWith('configuration rejected: emergency access'));
      expect(rejected).toEqual([
        expect.objectContaining({
          level: 'error',
          settings: ['emergencyAccess.manual.requesterGroups', 'emergencyAccess.emergency.requesterGroups'],
        }),
      ]);
    } finally {
      writeFileSync(f.config, standaloneConfig());
    }
  });
});
