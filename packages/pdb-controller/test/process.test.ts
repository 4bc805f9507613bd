/**
 * The controller as a process and as a replica among others, against the real control plane: the
 * built entry point exits with code 2 on invalid flags before any API call; two replicas elect a
 * leader on the shipped Lease and only the leader writes, the other takes over once the holder is
 * killed; a dry run neither writes nor takes a Lease; Argo Rollouts are picked up when the CRD and the
 * RBAC appear later, and dropped again when the CRD goes.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { freePorts, startCountingApiServer } from '@kubeaws/testenv';
import {
  AuditLog,
  Cluster,
  REPO_ROOT,
  SA,
  SA_USER,
  type TestController,
  deniedAccesses,
  httpGet,
  manifest,
  startTestController,
  totalWrites,
  waitFor,
} from './support';

const MAIN_JS = path.join(REPO_ROOT, 'dist/packages/pdb-controller/lib/main.js');
const LEASE = `/apis/coordination.k8s.io/v1/namespaces/${SA.namespace}/leases/kubeaws-pdb-controller`;

/** Runs the built entry point; resolves with exit code, stdout and stderr. */
function runMain(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnMain(args, env);
    let out = '';
    let err = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (err += c));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

function spawnMain(args: string[], env: Record<string, string>): ChildProcess {
  const { NODE_OPTIONS: _ignored, ...parent } = process.env;
  return spawn(process.execPath, [MAIN_JS, ...args], {
    env: { ...parent, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('pdb-controller process, replicas and Rollouts', () => {
  const cluster = new Cluster();
  let saKc: KubeConfig;
  let tmp: string;
  let kubeconfigFile: string;

  beforeAll(async () => {
    // the entry point is run as built by `nx build` (tsc -b; a no-op when up to date)
    execFileSync(
      process.execPath,
      [require.resolve('typescript/bin/tsc'), '-b', 'packages/pdb-controller/tsconfig.json'],
      {
        cwd: REPO_ROOT,
        stdio: 'inherit',
      },
    );
    saKc = await cluster.controllerKubeConfig();
    tmp = mkdtempSync(path.join(tmpdir(), 'pdb-controller-test-'));
    kubeconfigFile = path.join(tmp, 'kubeconfig');
    writeFileSync(kubeconfigFile, saKc.exportConfig());
  }, 180_000);

  afterAll(async () => {
    await cluster.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('exits with code 2 and a message naming flag, value and expected form, before any API call', async () => {
    const api = await startCountingApiServer(path.join(tmp, 'counting-kubeconfig'));
    const kc = api.kubeconfigPath;
    try {
      const base = [`--kubeconfig=${kc}`, '--metrics-bind-address=0', '--health-probe-bind-address=0'];
      const cases: Array<{ args: string[]; env?: Record<string, string>; says: string[] }> = [
        { args: ['--min-replicas=1'], says: ['--min-replicas', '"1"', 'an integer ≥ 2'] },
        { args: [], env: { MAX_UNAVAILABLE: '0%' }, says: ['MAX_UNAVAILABLE', '"0%"', 'a percentage 1%..100%'] },
        { args: ['--resync-period=30s'], says: ['--resync-period', '"30s"', 'at least 1m'] },
        { args: ['--non-ready-ttl=366d'], says: ['--non-ready-ttl', '"366d"', 'at most 365d'] },
        {
          args: ['--exclude-namespaces=kube-(system'],
          says: ['--exclude-namespaces', 'kube-(system', 'regular expressions'],
        },
        { args: ['--enable-rollouts=yes'], says: ['--enable-rollouts', '"yes"', '"true" or "false"'] },
        { args: ['--no-such-flag'], says: ['--no-such-flag'] },
      ];
      for (const c of cases) {
        const r = await runMain([...base, ...c.args], c.env);
        expect({ args: c.args, code: r.code }).toEqual({ args: c.args, code: 2 });
        for (const s of c.says) expect(r.err).toContain(s);
      }
      expect(api.connections()).toBe(0);
    } finally {
      await api.close();
    }
  }, 120_000);

  it('elects one leader that alone writes; the other replica takes over when it is killed', async () => {
    const ns = await cluster.namespace('leader');
    const [metricsPort, probePort] = await freePorts(2);
    const a = spawnMain(
      [
        `--kubeconfig=${kubeconfigFile}`,
        `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        `--health-probe-bind-address=127.0.0.1:${probePort}`,
      ],
      { POD_NAME: 'pdb-a', POD_NAMESPACE: SA.namespace, POD_UID: '00000000-0000-0000-0000-00000000000a' },
    );
    let aLog = '';
    a.stdout!.on('data', (c) => (aLog += c));
    a.stderr!.on('data', (c) => (aLog += c));
    let b: TestController | undefined;
    try {
      await waitFor(async () => (await cluster.tryGet(LEASE))?.spec?.holderIdentity === 'pdb-a', {
        timeoutMs: 30_000,
        description: `replica pdb-a holding the Lease (log: ${aLog.slice(-500)})`,
      });
      b = await startTestController(saKc, {
        identity: 'pdb-b',
        shared: { leaderElect: true, leaseNamespace: SA.namespace },
      });
      expect(b.isLeader()).toBe(false);

      await cluster.deployment(ns, 'first');
      await cluster.ready('Deployment', ns, 'first');
      await cluster.waitPdb(ns, 'first-deployment-pdb');
      const aMetrics = (await httpGet(`http://127.0.0.1:${metricsPort}/metrics`)).body;
      expect(aMetrics).toMatch(/kubeaws_pdb_controller_pdb_writes_total\{operation="create",result="success"\} [1-9]/);
      expect(aMetrics).toMatch(/kubeaws_pdb_controller_leader_election_is_leader\{lease="kubeaws-pdb-controller"\} 1/);
      expect((await httpGet(`http://127.0.0.1:${probePort}/readyz`)).status).toBe(200);
      // the standby watches (ready for a fast takeover) but does not write
      expect(b.controller.informer('Deployment')!.cache.getByName(ns, 'first')).toBeDefined();
      expect(await totalWrites(b)).toBe(0);
      expect(await b.metric('kubeaws_pdb_controller_leader_election_is_leader')).toBe(0);
      expect((await httpGet(`${b.addresses.health!.url}/readyz`)).status).toBe(200);

      // kill the leader without a chance to release the Lease
      a.kill('SIGKILL');
      await cluster.deployment(ns, 'second');
      await cluster.ready('Deployment', ns, 'second');
      await waitFor(() => b!.isLeader(), { timeoutMs: 40_000, description: 'pdb-b leading after the Lease expired' });
      await cluster.waitPdb(ns, 'second-deployment-pdb');
      expect((await cluster.get(LEASE)).spec.holderIdentity).toBe('pdb-b');
      expect(
        await b.metric('kubeaws_pdb_controller_pdb_writes_total', { operation: 'create', result: 'success' }),
      ).toBeGreaterThanOrEqual(1);
      expect(deniedAccesses(b.manager.client.accesses())).toEqual([]);

      // a graceful stop releases the Lease
      await b.stop();
      b = undefined;
      expect((await cluster.get(LEASE)).spec.holderIdentity ?? '').toBe('');
    } finally {
      if (a.exitCode === null && a.signalCode === null) a.kill('SIGKILL');
      await b?.stop();
    }
  }, 120_000);

  it('decides and logs only in a dry run: no writes, no Events, no Lease', async () => {
    const ns = await cluster.namespace('dry');
    const audit = new AuditLog();
    audit.mark();
    const lease = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/dry-run`;
    const c = await startTestController(saKc, {
      settings: { dryRun: true },
      shared: { leaderElect: true, leaseNamespace: ns, leaseName: 'dry-run' },
    });
    try {
      await cluster.deployment(ns, 'web');
      await cluster.ready('Deployment', ns, 'web');
      await waitFor(
        () => c.logs.find((l) => l.namespace === ns && l.dryRun === true && l.action === 'create').length > 0,
        {
          description: 'dry-run create logged',
        },
      );
      const line = c.logs.find((l) => l.namespace === ns && l.dryRun === true && l.action === 'create')[0];
      expect(line).toMatchObject({
        level: 'info',
        pdb: 'web-deployment-pdb',
        state: 'protected',
        msg: 'dry run: would create PodDisruptionBudget',
      });
      await c.idle();
      expect(await cluster.pdb(ns, 'web-deployment-pdb')).toBeUndefined();
      expect((await cluster.events(ns)).filter((e) => e.reportingController === 'kubeaws.io/pdb-controller')).toEqual(
        [],
      );
      expect(await cluster.tryGet(lease)).toBeUndefined();
      expect(await totalWrites(c)).toBe(0);
      const writes = (await audit.since()).filter((e) => e.user?.username === SA_USER);
      expect(writes.map((e) => `${e.verb} ${e.requestURI}`)).toEqual([]);
    } finally {
      await c.stop();
    }
  });

  it('picks Rollouts up once the CRD and its RBAC exist, and drops them when the CRD goes', async () => {
    const ns = await cluster.namespace('rollouts');
    const pod = { name: 'pdb-controller-test', namespace: ns, uid: '00000000-0000-0000-0000-0000000000ff' };
    const crdPath = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/rollouts.argoproj.io';
    const c = await startTestController(saKc, {
      settings: { enableRollouts: true, rolloutsDiscoveryPeriodMs: 1_000 },
      pod,
    });
    try {
      // CRD absent: a Warning on the controller's own Pod; Deployments unaffected; ready without Rollouts
      const [missing] = await cluster.waitEvent(ns, 'RolloutsUnavailable', pod.name, /not installed/);
      expect(missing).toMatchObject({ type: 'Warning', regarding: { kind: 'Pod', name: pod.name, uid: pod.uid } });
      expect(await c.metric('kubeaws_pdb_controller_rollouts_enabled')).toBe(0);
      expect(await c.metric('kubeaws_pdb_controller_invalid_input_total', { field: 'enable-rollouts' })).toBe(1);
      expect(c.logs.find((l) => l.msg === 'invalid input' && l.field === 'enable-rollouts')[0]).toMatchObject({
        kind: 'Pod',
        namespace: ns,
        name: pod.name,
        value: 'true',
      });
      await cluster.deployment(ns, 'web');
      await cluster.ready('Deployment', ns, 'web');
      await cluster.waitPdb(ns, 'web-deployment-pdb');
      expect((await httpGet(`${c.addresses.health!.url}/readyz`)).status).toBe(200);

      // CRD installed, but the Rollout rule is not shipped by default: forbidden
      await cluster.apply([ROLLOUT_CRD]);
      await waitFor(
        async () =>
          (await cluster.get(crdPath)).status?.conditions?.some(
            (x: { type: string; status: string }) => x.type === 'Established' && x.status === 'True',
          ),
        {
          description: 'CRD established',
        },
      );
      await cluster.waitEvent(ns, 'RolloutsUnavailable', pod.name, /forbidden/);
      expect(await c.metric('kubeaws_pdb_controller_rollouts_enabled')).toBe(0);

      // rbac-rollouts.yaml applied: the Rollout informer starts
      await cluster.apply(manifest('rbac-rollouts.yaml'));
      await waitFor(async () => (await c.metric('kubeaws_pdb_controller_rollouts_enabled')) === 1, {
        timeoutMs: 30_000,
        description: 'Rollout informer running',
      });
      const ro = await cluster.create(`/apis/argoproj.io/v1alpha1/namespaces/${ns}/rollouts`, {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Rollout',
        metadata: { name: 'canary', labels: { app: 'canary' } },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'canary' } },
          template: {
            metadata: { labels: { app: 'canary' } },
            spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] },
          },
        },
      });
      await cluster.patch(`/apis/argoproj.io/v1alpha1/namespaces/${ns}/rollouts/canary/status`, {
        status: { observedGeneration: String(ro.metadata.generation), replicas: 2, readyReplicas: 2 },
      });
      const pdb = await cluster.waitPdb(ns, 'canary-rollout-pdb');
      expect(pdb.metadata.labels['kubeaws.io/workload-kind']).toBe('Rollout');
      expect(pdb.metadata.ownerReferences[0]).toMatchObject({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Rollout',
        uid: ro.metadata.uid,
        controller: true,
      });

      // workloadRef Rollouts are unsupported; Rollout orphans are judged now that the kind is watched
      await cluster.create(`/apis/argoproj.io/v1alpha1/namespaces/${ns}/rollouts`, {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Rollout',
        metadata: { name: 'ref' },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'ref' } },
          workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
        },
      });
      await cluster.waitEvent(ns, 'Unsupported', 'ref', /workloadRef/);
      expect(c.controller.stateOf(`Rollout/${ns}/ref`)).toBe('unsupported');
      await cluster.createPdb(
        ns,
        'ghost-rollout-pdb',
        { maxUnavailable: 1, selector: { matchLabels: { app: 'ghost' } } },
        { labels: { 'kubeaws.io/managed-by': 'pdb-controller', 'kubeaws.io/workload-kind': 'Rollout' } },
      );
      await cluster.waitNoPdb(ns, 'ghost-rollout-pdb');
      expect(deniedAccesses(c.manager.client.accesses(), ['rbac.yaml', 'rbac-rollouts.yaml'])).toEqual([]);

      // the CRD goes: the informer stops, the condition is reported again
      await cluster.delete(crdPath);
      await waitFor(async () => (await c.metric('kubeaws_pdb_controller_rollouts_enabled')) === 0, {
        timeoutMs: 60_000,
        description: 'Rollout informer stopped',
      });
      expect(await c.metric('kubeaws_pdb_controller_invalid_input_total', { field: 'enable-rollouts' })).toBe(3);
      expect(c.controller.stateOf(`Rollout/${ns}/canary`)).toBeUndefined();
      expect((await httpGet(`${c.addresses.health!.url}/readyz`)).status).toBe(200);
    } finally {
      await c.stop();
      await cluster.delete(crdPath).catch(() => undefined);
      for (const o of manifest('rbac-rollouts.yaml')) {
        const kind = o.kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings';
        await cluster.delete(`/apis/rbac.authorization.k8s.io/v1/${kind}/${o.metadata.name}`).catch(() => undefined);
      }
    }
  }, 120_000);
});

/** A minimal `rollouts.argoproj.io` CRD (schema-less, status and scale subresources as upstream). */
const ROLLOUT_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'rollouts.argoproj.io' },
  spec: {
    group: 'argoproj.io',
    scope: 'Namespaced',
    names: { kind: 'Rollout', listKind: 'RolloutList', plural: 'rollouts', singular: 'rollout', shortNames: ['ro'] },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        subresources: {
          status: {},
          scale: {
            specReplicasPath: '.spec.replicas',
            statusReplicasPath: '.status.replicas',
            labelSelectorPath: '.status.selector',
          },
        },
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
};
