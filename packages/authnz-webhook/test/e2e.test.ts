/**
 * End to end through a real kube-apiserver: kube-apiserver runs with the files of
 * docs/authnz-webhook.md#authnz-apiserver (authentication-webhook kubeconfig, structured AuthorizationConfiguration
 * with failurePolicy Deny and system: match conditions, mutual TLS); a loopback OIDC issuer signs the tokens;
 * the webhook runs under the shipped RBAC with the shipped CRD. Shows the role matrix, 401/403 answers,
 * can-i, a four-eyes Manual grant that works until it expires, and a stopped webhook that blocks people
 * but not the control plane.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ApiError, KubeClient, createLogger } from '@kubeaws/runtime';
import { type Cluster, attachCluster, freePorts, startCluster } from '@kubeaws/testenv';
import { KubeConfig } from '@kubernetes/client-node';
import type { AuthnzWebhook } from '../src/app';
import { adminClient, installAccessManifests, webhookKubeConfig } from './cluster';
import { TestIssuer, configYaml, makeKey, until } from './helpers';
import { type RunningWebhook, startWebhook } from './start';
import { type WebhookWiring, prepareWebhookWiring, wiringFromEnv } from './wiring';

const NS = 'team-e2e';

let dir: string;
let cluster: Cluster;
/** True when this suite started the cluster (the shared one lacks the wiring) and must stop it. */
let ownCluster = false;
let wiring: WebhookWiring;
let issuer: TestIssuer;
let rc: RunningWebhook | undefined;
let app: AuthnzWebhook | undefined;
let admin: KubeClient;
/** CA of the webhook's serving certificate. */
let caPem: string;
let accessPort: number;

function tokenClient(token: string): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: 'e2e', server: cluster.server, caData: Buffer.from(readFileSync(cluster.caCertPath)).toString('base64') },
    ],
    users: [{ name: 'user', token }],
    contexts: [{ name: 'user', cluster: 'e2e', user: 'user' }],
    currentContext: 'user',
  });
  return new KubeClient({ kubeConfig: kc, component: 'authnz-e2e' });
}

/** Runs a request and returns the HTTP status (and the error message for failures). */
async function attempt(
  c: KubeClient,
  method: 'GET' | 'POST',
  p: string,
  body?: unknown,
): Promise<{ code: number; message: string }> {
  try {
    await c.request({ method, path: p, body });
    return { code: method === 'POST' ? 201 : 200, message: '' };
  } catch (e) {
    if (e instanceof ApiError) return { code: e.statusCode, message: e.message };
    throw e;
  }
}

function access(method: string, p: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `https://127.0.0.1:${accessPort}${p}`,
      { method, ca: caPem, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: 'b' } });
let seq = 0;
const unique = (p: string) => `${p}-${Date.now().toString(36)}-${seq++}`;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'authnz-e2e-'));
  const key = await makeKey('e2e-1');
  issuer = await TestIssuer.start([key]);
  [accessPort] = await freePorts(1);
  const shared = wiringFromEnv();
  if (shared) {
    wiring = shared;
    cluster = attachCluster();
  } else {
    // a reused cluster (testenv up) runs without the webhook flags: start one with them
    wiring = await prepareWebhookWiring(dir);
    cluster = await startCluster({ nodes: 1, apiserverExtraArgs: wiring.apiserverArgs, timeoutMs: 240_000 });
    ownCluster = true;
  }
  caPem = readFileSync(wiring.files.ca, 'utf8');
  const f = (n: string) => path.join(dir, n);
  writeFileSync(f('config.yaml'), configYaml({ issuerUrl: issuer.url, jwksURL: issuer.jwksURL, manualMax: '8h' }));
  admin = adminClient(cluster.kubeConfig());
  await installAccessManifests(admin);
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  await admin.create(`/api/v1/namespaces/${NS}/secrets`, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's1' },
    stringData: { k: 'v' },
  });
  const saKc = await webhookKubeConfig(cluster.kubeConfig());
  rc = await startWebhook(
    [
      `--config=${f('config.yaml')}`,
      `--webhook-bind-address=127.0.0.1:${wiring.webhookPort}`,
      `--tls-cert-file=${wiring.files.cert}`,
      `--tls-private-key-file=${wiring.files.key}`,
      `--client-ca-file=${wiring.files.ca}`,
      '--allowed-client-names=kubeaws-admin',
      `--access-api-bind-address=127.0.0.1:${accessPort}`,
      '--metrics-bind-address=0',
      '--health-probe-bind-address=127.0.0.1:0',
      `--max-request-bytes=${1 << 20}`,
      '--shutdown-delay=0s',
      '--leader-elect=true',
    ],
    {
      kubeConfig: saKc,
      identity: 'authnz-e2e',
      logger: createLogger({ component: 'authnz-webhook', level: 'warn' }),
      config: { housekeepingIntervalMs: 1000 },
    },
  );
  app = rc.handle;
  await until(
    async () => (await fetch(`${app!.addresses.health}/readyz`)).status === 200,
    'webhook ready',
    60_000,
    200,
  );
}, 360_000);

afterAll(async () => {
  await rc?.stop();
  if (ownCluster) await cluster?.stop();
  await issuer?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('role matrix through kube-apiserver', () => {
  const ops: Array<{
    name: string;
    method: 'GET' | 'POST';
    path: string;
    body?: () => unknown;
    want: Record<string, number>;
    rule?: Record<string, string>;
  }> = [
    {
      name: 'list pods in a team namespace',
      method: 'GET',
      path: `/api/v1/namespaces/${NS}/pods`,
      want: { ro: 200, pu: 200, admin: 200, none: 403 },
    },
    {
      name: 'list pods in kube-system',
      method: 'GET',
      path: '/api/v1/namespaces/kube-system/pods',
      want: { ro: 200, pu: 200, admin: 200, none: 403 },
    },
    {
      name: 'read a secret in a team namespace',
      method: 'GET',
      path: `/api/v1/namespaces/${NS}/secrets/s1`,
      want: { ro: 403, pu: 200, admin: 200, none: 403 },
      rule: { ro: 'readonly-secrets' },
    },
    {
      name: 'list secrets in kube-system',
      method: 'GET',
      path: '/api/v1/namespaces/kube-system/secrets',
      want: { ro: 403, pu: 403, admin: 200, none: 403 },
      rule: { pu: 'protected-secrets', none: 'protected-secrets' },
    },
    {
      name: 'create a configmap in a team namespace',
      method: 'POST',
      path: `/api/v1/namespaces/${NS}/configmaps`,
      body: () => cm(unique('cm')),
      want: { ro: 403, pu: 201, admin: 201, none: 403 },
    },
    {
      name: 'create a configmap in kube-system',
      method: 'POST',
      path: '/api/v1/namespaces/kube-system/configmaps',
      body: () => cm(unique('cm')),
      want: { ro: 403, pu: 403, admin: 201, none: 403 },
      rule: { pu: 'protected-namespace-write' },
    },
    {
      name: 'create a DaemonSet in a team namespace',
      method: 'POST',
      path: `/apis/apps/v1/namespaces/${NS}/daemonsets`,
      body: () => {
        const n = unique('ds');
        return {
          apiVersion: 'apps/v1',
          kind: 'DaemonSet',
          metadata: { name: n },
          spec: {
            selector: { matchLabels: { app: n } },
            template: { metadata: { labels: { app: n } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
          },
        };
      },
      want: { ro: 403, pu: 403, admin: 201, none: 403 },
      rule: { pu: 'daemonset-write' },
    },
  ];
  let tokens: Record<string, string>;

  beforeAll(async () => {
    tokens = {
      ro: await issuer.sign({ sub: 'ro-user', groups: ['k8s-readonly'] }),
      pu: await issuer.sign({ sub: 'pu-user', groups: ['k8s-poweruser'] }),
      admin: await issuer.sign({ sub: 'admin-user', groups: ['k8s-admin'] }),
      none: await issuer.sign({ sub: 'nobody', groups: ['team-a'] }),
    };
  });

  it.each(ops.map((o) => [o.name, o] as const))('%s', async (_n, op) => {
    for (const who of ['ro', 'pu', 'admin', 'none']) {
      const r = await attempt(tokenClient(tokens[who]!), op.method, op.path, op.body?.());
      expect({ who, code: r.code }).toEqual({ who, code: op.want[who] });
      const rule = op.rule?.[who];
      if (rule) expect(r.message).toContain(`deny rule=${rule} `);
    }
  });

  it('answers 401 for invalid and expired tokens', async () => {
    const expired = await issuer.sign({
      sub: 'late',
      exp: Math.floor(Date.now() / 1000) - 120,
      iat: Math.floor(Date.now() / 1000) - 600,
    });
    for (const t of ['garbage', expired])
      expect((await attempt(tokenClient(t), 'GET', `/api/v1/namespaces/${NS}/pods`)).code).toBe(401);
  });

  it('can-i (SelfSubjectAccessReview) reflects the webhook decision and reason', async () => {
    const ssar = (token: string, ra: Record<string, string>) =>
      tokenClient(token).request<any>({
        method: 'POST',
        path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: { resourceAttributes: ra },
        },
      });
    const ds = await ssar(tokens.pu!, { namespace: NS, verb: 'create', group: 'apps', resource: 'daemonsets' });
    expect(ds.status).toMatchObject({
      allowed: false,
      denied: true,
      reason: expect.stringContaining('rule=daemonset-write'),
    });
    const sec = await ssar(tokens.pu!, { namespace: NS, verb: 'get', resource: 'secrets' });
    expect(sec.status.allowed).toBe(true);
  });
});

describe('Manual access with four eyes', () => {
  it('a grant approved by a second person works until it expires, then stops', async () => {
    const alice = await issuer.sign({ sub: 'alice', groups: ['oncall', 'k8s-readonly'] });
    const bob = await issuer.sign({ sub: 'bob', groups: ['oncall'] });
    const alicec = tokenClient(alice);
    const write = () => attempt(alicec, 'POST', `/api/v1/namespaces/${NS}/configmaps`, cm(unique('alice')));
    expect((await write()).code).toBe(403);
    const created = await access('POST', '/access/v1/requests', alice, {
      type: 'Manual',
      reason: 'restart the stuck payment worker',
      duration: '20s',
    });
    expect(created.status).toBe(201);
    const name = created.body.metadata.name as string;
    expect((await access('POST', `/access/v1/requests/${name}/approve`, alice)).status).toBe(403);
    await until(
      () => app!.repo!.list().some((ar) => ar.metadata.name === name),
      'informer sees the request',
      10_000,
      100,
    );
    const approved = await access('POST', `/access/v1/requests/${name}/approve`, bob);
    expect(approved.status).toBe(200);
    expect(approved.body.status).toMatchObject({ phase: 'Active', approvedBy: 'oidc:bob' });
    const stored = await admin.get<any>(
      `/apis/authnz.kubeaws.io/v1alpha1/namespaces/kubeaws-access/accessrequests/${name}`,
    );
    expect(stored.status).toMatchObject({ phase: 'Active', approvedBy: 'oidc:bob' });
    await until(async () => (await write()).code === 201, 'Manual grant allows writes', 15_000, 250);
    const expiresAt = Date.parse(approved.body.status.expiresAt);
    await until(async () => (await write()).code === 403, 'writes denied again after expiry', 40_000, 500);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
    await until(
      async () =>
        (await admin.get<any>(`/apis/authnz.kubeaws.io/v1alpha1/namespaces/kubeaws-access/accessrequests/${name}`))
          .status?.phase === 'Expired',
      'housekeeping records Expired',
      20_000,
      250,
    );
    await until(
      async () => {
        const events = await admin.list<any>('/apis/events.k8s.io/v1/namespaces/kubeaws-access/events');
        const reasons = new Set(events.items.filter((e: any) => e.regarding?.name === name).map((e: any) => e.reason));
        return ['AccessRequested', 'AccessApproved', 'AccessExpired'].every((r) => reasons.has(r));
      },
      'AccessRequested, AccessApproved and AccessExpired Events',
      20_000,
      250,
    );
  }, 120_000);
});

describe('webhook down', () => {
  it('blocks people (fail closed) but not the control plane', async () => {
    const pu = tokenClient(await issuer.sign({ sub: 'pu-down', groups: ['k8s-poweruser'] }));
    expect((await attempt(pu, 'GET', `/api/v1/namespaces/${NS}/pods`)).code).toBe(200);
    await rc!.stop();
    rc = undefined;
    app = undefined;
    await until(
      async () => [401, 403].includes((await attempt(pu, 'GET', `/api/v1/namespaces/${NS}/pods`)).code),
      'people blocked',
      20_000,
      250,
    );
    const name = unique('web');
    await admin.create(`/apis/apps/v1/namespaces/${NS}/deployments`, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      },
    });
    await until(
      async () =>
        ((await admin.get<any>(`/apis/apps/v1/namespaces/${NS}/deployments/${name}`)).status?.readyReplicas ?? 0) === 1,
      'controllers, scheduler and kubelet stand-in keep working',
      90_000,
      500,
    );
  }, 150_000);
});
