/**
 * End to end: people's kubectl-style requests go through the authnz webhook while the other components work on the
 * same objects. kube-apiserver runs with the webhook's authentication kubeconfig and structured
 * AuthorizationConfiguration (`failurePolicy: Deny`, match conditions that keep `system:` identities off the webhook;
 * docs/authnz-webhook.md#authnz-apiserver), wired by the suite's global setup; a loopback OIDC issuer signs the
 * people's tokens. The webhook, the pdb-controller and the downscaler each run in-process under their shipped RBAC.
 * A power user deploys a workload and the pdb-controller protects it; the same person asks for a downtime and the
 * downscaler scales it down and back up; a read-only person and a person without a role are refused, with the rule that
 * decided; the components' ServiceAccounts never reach the webhook.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiError, KubeClient, type RunningComponent, createLogger, startComponent } from '@kubeaws/runtime';
import { TEST_ENV, createTestNamespace, deleteNamespace, waitFor } from '@kubeaws/testenv';
import { downscaler } from '@kubeaws/downscaler';
import { pdbController } from '@kubeaws/pdb-controller';
import { installAccessManifests, webhookKubeConfig } from '@kubeaws/authnz-webhook/test/cluster';
import { TestIssuer, configYaml, makeKey } from '@kubeaws/authnz-webhook/test/helpers';
import { type RunningWebhook, startWebhook } from '@kubeaws/authnz-webhook/test/start';
import { wiringFromEnv } from '@kubeaws/authnz-webhook/test/wiring';
import { admin, auditOffset, auditSince, componentKubeConfig, saUser } from './support';

let dir: string;
let issuer: TestIssuer;
let webhook: RunningWebhook | undefined;
let pdb: RunningComponent<any, any>;
let ds: RunningComponent<any, any>;
let kc: KubeConfig;
let kube: KubeClient;
let ns: string;

/** A client that authenticates with a bearer token only, as kubectl with an OIDC token does. */
function person(token: string): KubeClient {
  const c = new KubeConfig();
  c.loadFromOptions({
    clusters: [{ name: 'e2e', server: process.env[TEST_ENV.server]!, caData: readFileSync(process.env[TEST_ENV.caCert]!).toString('base64') }],
    users: [{ name: 'person', token }],
    contexts: [{ name: 'person', cluster: 'e2e', user: 'person' }],
    currentContext: 'person',
  });
  return new KubeClient({ kubeConfig: c, component: 'e2e-kubectl' });
}

/** The HTTP status of a request and the message of a refusal. */
async function attempt(fn: () => Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await fn();
    return { code: 200, message: '' };
  } catch (e) {
    if (e instanceof ApiError) return { code: e.statusCode, message: e.message };
    throw e;
  }
}

const pdbPath = () => `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/shop-deployment-pdb`;
const shopPath = () => `/apis/apps/v1/namespaces/${ns}/deployments/shop`;

beforeAll(async () => {
  const wiring = wiringFromEnv();
  if (!wiring) throw new Error('the e2e global setup did not wire the webhook into kube-apiserver ($KUBEAWS_AUTHNZ_TEST_WIRING unset)');
  ({ kc, kube } = admin());
  dir = mkdtempSync(path.join(tmpdir(), 'e2e-authnz-'));
  issuer = await TestIssuer.start([await makeKey('e2e-1')]);
  writeFileSync(path.join(dir, 'config.yaml'), configYaml({ issuerUrl: issuer.url, jwksURL: issuer.jwksURL }));
  await installAccessManifests(kube);
  webhook = await startWebhook(
    [
      `--config=${path.join(dir, 'config.yaml')}`,
      `--webhook-bind-address=127.0.0.1:${wiring.webhookPort}`,
      `--tls-cert-file=${wiring.files.cert}`,
      `--tls-private-key-file=${wiring.files.key}`,
      `--client-ca-file=${wiring.files.ca}`,
      '--allowed-client-names=kubeaws-admin',
      '--access-api-bind-address=127.0.0.1:0',
      '--metrics-bind-address=0',
      '--health-probe-bind-address=127.0.0.1:0',
      '--shutdown-delay=0s',
      '--leader-elect=false',
    ],
    { kubeConfig: await webhookKubeConfig(kc), identity: 'e2e-authnz', logger: createLogger({ component: 'authnz-webhook', level: 'warn' }) },
  );
  await waitFor(async () => (await fetch(`${webhook!.handle.addresses.health}/readyz`)).status === 200 || undefined, { timeoutMs: 60_000, description: 'webhook ready' });
  ns = await createTestNamespace(kc, 'team-e2e');
  const shared = { leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'warn' as const };
  pdb = await startComponent(pdbController, {
    kubeConfig: await componentKubeConfig(kc, kube, 'pdb-controller', ['/apis/policy/v1/poddisruptionbudgets', '/apis/apps/v1/deployments']),
    env: {}, argv: ['--resync-period=1m'], config: shared, processMetrics: false,
  });
  ds = await startComponent(downscaler, {
    kubeConfig: await componentKubeConfig(kc, kube, 'downscaler', ['/apis/apps/v1/deployments']),
    env: {}, argv: [`--namespace=${ns}`, '--grace-period=0s', '--interval=2s'], config: shared, processMetrics: false,
  });
  await Promise.all([pdb.synced(), ds.synced()]);
}, 240_000);

afterAll(async () => {
  await ds?.stop();
  await pdb?.stop();
  await webhook?.stop();
  if (ns) await deleteNamespace(kc, ns).catch(() => undefined);
  await issuer?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

it('a power user deploys, the pdb-controller protects it, the downscaler takes it down and up on the person\'s request; others are refused by rule', async () => {
  const pat = person(await issuer.sign({ sub: 'pat', groups: ['k8s-poweruser'] }));
  const rita = person(await issuer.sign({ sub: 'rita', groups: ['k8s-readonly'] }));
  const nobody = person(await issuer.sign({ sub: 'nobody', groups: ['team-a'] }));
  const from = await auditOffset();

  // kubectl create deployment shop --replicas=2 (as pat)
  await pat.create(`/apis/apps/v1/namespaces/${ns}/deployments`, {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'shop' },
    spec: {
      replicas: 2, selector: { matchLabels: { app: 'shop' } },
      template: {
        metadata: { labels: { app: 'shop' } },
        spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }], tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }] },
      },
    },
  });
  // kubectl get pdb (as pat): the pdb-controller's PDB, once the Deployment is ready
  const made = await waitFor(async () => (await pat.get<any>(pdbPath()).catch(() => undefined)) ?? undefined, { timeoutMs: 60_000, description: 'pat sees the PDB the pdb-controller made' });
  expect(made.metadata.labels?.['kubeaws.io/managed-by']).toBeDefined();
  expect(made.spec.maxUnavailable).toBe(1);

  // kubectl annotate deployment shop downscaler/force-downtime=true (as pat): the downscaler scales it to 0 and the
  // pdb-controller removes the PDB of a workload below two replicas.
  await pat.mergePatch(shopPath(), { metadata: { annotations: { 'downscaler/force-downtime': 'true' } } });
  await waitFor(async () => ((await pat.get<any>(shopPath())).spec.replicas === 0) || undefined, { timeoutMs: 60_000, description: 'the downscaler scales shop to 0' });
  await waitFor(async () => (await attempt(() => pat.get(pdbPath()))).code === 404 || undefined, { timeoutMs: 60_000, description: 'the PDB removed below two replicas' });

  // rita (read-only) can look but not touch; nobody (no role) cannot even look.
  expect((await attempt(() => rita.get(shopPath()))).code).toBe(200);
  const ritaScale = await attempt(() => rita.mergePatch(shopPath(), { spec: { replicas: 5 } }));
  expect(ritaScale.code).toBe(403);
  const ritaSecrets = await attempt(() => rita.list(`/api/v1/namespaces/${ns}/secrets`));
  expect(ritaSecrets.code).toBe(403);
  expect(ritaSecrets.message).toContain('deny rule=readonly-secrets ');
  expect((await attempt(() => nobody.list(`/api/v1/namespaces/${ns}/pods`))).code).toBe(403);
  expect((await attempt(() => person('not-a-token').list(`/api/v1/namespaces/${ns}/pods`))).code).toBe(401);
  // pat may not write in a protected namespace, nor create DaemonSets: the rules that decided are named.
  const protectedWrite = await attempt(() => pat.create('/api/v1/namespaces/kube-system/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pat' } }));
  expect(protectedWrite.code).toBe(403);
  expect(protectedWrite.message).toContain('deny rule=protected-namespace-write ');
  // kubectl auth can-i create daemonsets (as pat)
  const canI = await pat.request<any>({
    method: 'POST', path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
    body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { namespace: ns, verb: 'create', group: 'apps', resource: 'daemonsets' } } },
  });
  expect(canI.status).toMatchObject({ allowed: false, reason: expect.stringContaining('rule=daemonset-write') });

  // kubectl annotate deployment shop downscaler/force-downtime- (as pat): back to 2, protected again.
  await pat.mergePatch(shopPath(), { metadata: { annotations: { 'downscaler/force-downtime': null } } });
  await waitFor(async () => ((await pat.get<any>(shopPath())).spec.replicas === 2) || undefined, { timeoutMs: 60_000, description: 'the downscaler restores shop to 2' });
  await waitFor(async () => (await pat.get<any>(pdbPath()).catch(() => undefined)) ?? undefined, { timeoutMs: 60_000, description: 'the PDB made again' });

  // Who wrote what: pat as the webhook's `oidc:` identity; the components as their ServiceAccounts.
  const audit = await auditSince(from);
  const ok = (e: (typeof audit)[number]) => (e.responseStatus?.code ?? 0) < 300;
  const writers = (resource: string, sub?: string) =>
    new Set(audit.filter((e) => ok(e) && e.objectRef?.resource === resource && e.objectRef.subresource === sub && e.objectRef.namespace === ns && e.verb !== 'get').map((e) => e.user.username));
  expect([...writers('deployments')]).toContain('oidc:pat');
  expect([...writers('deployments')].filter((u) => u !== 'oidc:pat' && !u.startsWith('system:'))).toEqual([]);
  expect(writers('poddisruptionbudgets')).toEqual(new Set([saUser('pdb-controller')]));
  expect([...writers('deployments')].some((u) => u === saUser('downscaler')) || writers('deployments', 'scale').has(saUser('downscaler'))).toBe(true);
  // rita's attempted write was refused by the webhook before admission.
  expect(audit.filter((e) => e.user.username === 'oidc:rita').map((e) => `${e.verb} ${e.objectRef?.resource} ${e.responseStatus?.code}`)).toEqual(['patch deployments 403']);
}, 300_000);
