/**
 * Lifecycle of managed PDBs against the real control plane, with the controller running in-process
 * under its shipped ServiceAccount and RBAC: creation once fully ready, scaling across
 * --min-replicas, readiness lost and regained, the non-ready TTL on an injected clock (also across a
 * restart), deletion by the garbage collector, the real disruption controller and Eviction API, the
 * steady state (no writes), and the RBAC actually used.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { FakeClock } from '@kubeaws/runtime';
import { formatTimestamp } from '../src/index';
import {
  AuditLog,
  Cluster,
  SA_USER,
  type TestController,
  deniedAccesses,
  httpGet,
  startTestController,
  totalWrites,
  waitFor,
  workloadPath,
} from './support';

const MANAGED = 'kubeaws.io/managed-by';
const SINCE = 'kubeaws.io/non-ready-since';

describe('pdb-controller lifecycle', () => {
  const cluster = new Cluster();
  const clock = new FakeClock(Date.now());
  let saKc: KubeConfig;
  let ctl: TestController;

  beforeAll(async () => {
    saKc = await cluster.controllerKubeConfig();
    ctl = await startTestController(saKc, { clock, settings: { resyncPeriodMs: 3_000 } });
  });

  afterAll(async () => {
    await ctl?.stop();
    await cluster.cleanup();
  });

  it('creates the PDB once fully ready, follows scaling across --min-replicas and readiness', async () => {
    const ns = await cluster.namespace('life');
    await cluster.deployment(ns, 'web', { replicas: 3, labels: { app: 'web', team: 'a' } });
    const dep = await cluster.ready('Deployment', ns, 'web');

    const pdb = await cluster.waitPdb(ns, 'web-deployment-pdb');
    expect(pdb.metadata.labels).toEqual({
      app: 'web',
      team: 'a',
      [MANAGED]: 'pdb-controller',
      'kubeaws.io/workload-kind': 'Deployment',
    });
    expect(pdb.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'web',
        uid: dep.metadata.uid,
        controller: true,
        blockOwnerDeletion: false,
      },
    ]);
    expect(pdb.metadata.annotations?.[SINCE]).toBeUndefined();
    expect(pdb.spec).toEqual({
      selector: { matchLabels: { app: 'web', team: 'a' } },
      maxUnavailable: 1,
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    });
    const created = await cluster.waitEvent(ns, 'PDBCreated', 'web');
    expect(created[0]).toMatchObject({
      type: 'Normal',
      reportingController: 'kubeaws.io/pdb-controller',
      regarding: { kind: 'Deployment', name: 'web', uid: dep.metadata.uid },
      related: { kind: 'PodDisruptionBudget', name: 'web-deployment-pdb' },
    });
    const key = `Deployment/${ns}/web`;
    const line = ctl.logs.find((l) => l.key === key && l.action === 'create')[0];
    expect(line).toMatchObject({
      level: 'info',
      component: 'pdb-controller',
      kind: 'Deployment',
      namespace: ns,
      name: 'web',
      uid: dep.metadata.uid,
      pdb: 'web-deployment-pdb',
      state: 'protected',
    });
    expect(typeof line.durationMs).toBe('number');
    expect(typeof line.time).toBe('string');
    expect(
      await ctl.metric('kubeaws_pdb_controller_workloads', { kind: 'Deployment', state: 'protected' }),
    ).toBeGreaterThanOrEqual(1);
    expect(await ctl.metric('kubeaws_pdb_controller_managed_pdbs', { kind: 'Deployment' })).toBeGreaterThanOrEqual(1);

    // below --min-replicas (2): deleted with a reason
    await cluster.scale('Deployment', ns, 'web', 1);
    await cluster.waitNoPdb(ns, 'web-deployment-pdb');
    await cluster.waitEvent(ns, 'PDBDeleted', 'web', /below min replicas \(1 < 2\)/);
    await waitFor(() => ctl.controller.stateOf(key) === 'below_min_replicas', {
      description: 'state below_min_replicas',
    });

    // back above: created again once fully ready
    await cluster.scale('Deployment', ns, 'web', 3);
    await cluster.ready('Deployment', ns, 'web');
    const again = await cluster.waitPdb(ns, 'web-deployment-pdb');
    expect(again.metadata.uid).not.toBe(pdb.metadata.uid);

    // readiness lost without a TTL (--non-ready-ttl 0, no annotation): the PDB stays as it is; nothing
    // would read non-ready-since, so it is not written
    const [pod] = await cluster.pods(ns, { app: 'web' });
    const writes = await totalWrites(ctl);
    await cluster.setPodReady(ns, pod.metadata.name, false);
    await waitFor(() => ctl.controller.stateOf(key) === 'not_ready', { description: 'state not_ready' });
    await ctl.idle();
    expect((await cluster.pdb(ns, 'web-deployment-pdb'))?.metadata.annotations?.[SINCE]).toBeUndefined();
    expect(await totalWrites(ctl)).toBe(writes);

    // with a TTL, readiness lost records when (on the injected clock)
    await cluster.patch(workloadPath('Deployment', ns, 'web'), {
      metadata: { annotations: { 'kubeaws.io/non-ready-ttl': '1h' } },
    });
    const marked = await cluster.waitPdb(
      ns,
      'web-deployment-pdb',
      (p) => p.metadata.annotations?.[SINCE] !== undefined,
    );
    expect(marked.metadata.annotations[SINCE]).toBe(formatTimestamp(clock.now()));
    expect(ctl.controller.stateOf(key)).toBe('not_ready');

    // readiness regained: the annotation goes away
    await cluster.setPodReady(ns, pod.metadata.name, true);
    await cluster.waitPdb(ns, 'web-deployment-pdb', (p) => p.metadata.annotations?.[SINCE] === undefined);
    await waitFor(() => ctl.controller.stateOf(key) === 'protected', { description: 'state protected' });
  });

  it('reads the upstream alias as upstream does: "0" drops the PDB as soon as the workload is not ready', async () => {
    const ns = await cluster.namespace('alias');
    await cluster.deployment(ns, 'old', {
      replicas: 2,
      annotations: { 'pdb-controller.zalando.org/non-ready-ttl': '0' },
    });
    await cluster.ready('Deployment', ns, 'old');
    await cluster.waitPdb(ns, 'old-deployment-pdb');
    const [pod] = await cluster.pods(ns, { app: 'old' });
    await cluster.setPodReady(ns, pod.metadata.name, false);
    await cluster.waitNoPdb(ns, 'old-deployment-pdb');
    await cluster.waitEvent(ns, 'NonReadyTTLExpired', 'old', /TTL 0 \(at once\)/);
    await waitFor(() => ctl.controller.stateOf(`Deployment/${ns}/old`) === 'ttl_expired', {
      description: 'state ttl_expired',
    });
  });

  it('expires the PDB after the non-ready TTL on the injected clock, also across a restart', async () => {
    const ns = await cluster.namespace('ttl');
    await cluster.deployment(ns, 'slow', { replicas: 2, annotations: { 'kubeaws.io/non-ready-ttl': '1h' } });
    await cluster.deployment(ns, 'never', { replicas: 2, unschedulable: true });
    await cluster.ready('Deployment', ns, 'slow');
    await cluster.waitPdb(ns, 'slow-deployment-pdb');
    const key = `Deployment/${ns}/slow`;

    const pods = await cluster.pods(ns, { app: 'slow' });
    await cluster.setPodReady(ns, pods[0].metadata.name, false);
    const t0 = clock.now();
    await cluster.waitPdb(ns, 'slow-deployment-pdb', (p) => p.metadata.annotations?.[SINCE] === formatTimestamp(t0));

    await clock.advance(30 * 60_000);
    await ctl.idle();
    expect(await cluster.pdb(ns, 'slow-deployment-pdb')).toBeDefined();

    // restart: the timestamp lives on the PDB, the new instance re-arms the timer from it
    await ctl.stop();
    ctl = await startTestController(saKc, { clock, settings: { resyncPeriodMs: 3_000 } });
    await waitFor(() => ctl.controller.stateOf(key) === 'not_ready', {
      description: 'restarted instance decided slow',
    });
    await ctl.idle();
    const kept = await cluster.pdb(ns, 'slow-deployment-pdb');
    expect(kept?.metadata.annotations?.[SINCE]).toBe(formatTimestamp(t0));

    await clock.advance(30 * 60_000 - 1_000);
    await ctl.idle();
    expect(await cluster.pdb(ns, 'slow-deployment-pdb')).toBeDefined();
    await clock.advance(1_000); // exactly since + TTL: boundary inclusive
    await cluster.waitNoPdb(ns, 'slow-deployment-pdb');
    await cluster.waitEvent(ns, 'NonReadyTTLExpired', 'slow');
    await waitFor(() => ctl.controller.stateOf(key) === 'ttl_expired', { description: 'state ttl_expired' });
    expect(await ctl.metric('kubeaws_pdb_controller_ttl_expirations_total', { kind: 'Deployment' })).toBe(1);
    expect(await ctl.metric('kubeaws_pdb_controller_workloads', { kind: 'Deployment', state: 'ttl_expired' })).toBe(1);

    // a workload that was never fully ready gets none
    expect(ctl.controller.stateOf(`Deployment/${ns}/never`)).toBe('not_ready');
    expect(await cluster.pdb(ns, 'never-deployment-pdb')).toBeUndefined();

    // fully ready again: a fresh PDB without the annotation (the clock restarts)
    await cluster.setPodReady(ns, pods[0].metadata.name, true);
    const fresh = await cluster.waitPdb(ns, 'slow-deployment-pdb');
    expect(fresh.metadata.annotations?.[SINCE]).toBeUndefined();
    await waitFor(() => ctl.controller.stateOf(key) === 'protected', { description: 'state protected' });
  });

  it('leaves deletion to the garbage collector when the workload goes away', async () => {
    const ns = await cluster.namespace('gc');
    await cluster.statefulSet(ns, 'db', { replicas: 2 });
    await cluster.ready('StatefulSet', ns, 'db');
    await cluster.waitPdb(ns, 'db-statefulset-pdb');
    await cluster.delete(workloadPath('StatefulSet', ns, 'db'));
    await cluster.waitNoPdb(ns, 'db-statefulset-pdb');
    await waitFor(() => ctl.controller.stateOf(`StatefulSet/${ns}/db`) === undefined, {
      description: 'state forgotten',
    });
  });

  it('gives the disruption controller a budget that the Eviction API enforces', async () => {
    const ns = await cluster.namespace('evict');
    await cluster.deployment(ns, 'api', { replicas: 3 });
    await cluster.ready('Deployment', ns, 'api');
    await cluster.waitPdb(
      ns,
      'api-deployment-pdb',
      (p) => p.status?.expectedPods === 3 && p.status?.currentHealthy === 3 && p.status?.disruptionsAllowed === 1,
    );

    // one disruption fits the budget
    const [first] = await cluster.pods(ns, { app: 'api' });
    expect(await cluster.evict(ns, first.metadata.name)).toBe(201);
    await cluster.ready('Deployment', ns, 'api');
    await cluster.waitPdb(
      ns,
      'api-deployment-pdb',
      (p) => p.status?.currentHealthy === 3 && p.status?.disruptionsAllowed === 1,
    );

    // with one pod unhealthy the budget is used up: a healthy pod cannot be evicted ...
    const pods = await cluster.pods(ns, { app: 'api' });
    const [sick, healthy] = pods;
    await cluster.setPodReady(ns, sick.metadata.name, false);
    await cluster.waitPdb(
      ns,
      'api-deployment-pdb',
      (p) => p.status?.currentHealthy === 2 && p.status?.disruptionsAllowed === 0,
    );
    expect(await cluster.evict(ns, healthy.metadata.name)).toBe(429);
    // ... but the unhealthy one can (unhealthyPodEvictionPolicy: AlwaysAllow)
    expect(await cluster.evict(ns, sick.metadata.name)).toBe(201);
  });

  it('makes no writes in the steady state and uses only the shipped RBAC', async () => {
    const audit = new AuditLog();
    // converge: queue idle and no write for a while
    let last = -1;
    await waitFor(
      async () => {
        await ctl.idle();
        const w = await totalWrites(ctl);
        const stable = w === last;
        last = w;
        return stable;
      },
      { timeoutMs: 60_000, intervalMs: 2_000, description: 'no more writes' },
    );
    audit.mark();
    const writesBefore = await totalWrites(ctl);
    const reconcilesBefore = await ctl.metric('kubeaws_pdb_controller_reconcile_total', { result: 'success' });
    // a window with resyncs (every 3 s) and nothing to change
    const until = Date.now() + 8_000;
    await waitFor(() => Date.now() >= until, {
      timeoutMs: 10_000,
      intervalMs: 500,
      description: 'steady-state window',
    });
    await ctl.idle();
    expect(await totalWrites(ctl)).toBe(writesBefore);
    expect(await ctl.metric('kubeaws_pdb_controller_reconcile_total', { result: 'success' })).toBeGreaterThan(
      reconcilesBefore,
    );
    const writes = (await audit.since()).filter((e) => e.user?.username === SA_USER);
    expect(writes.map((e) => `${e.verb} ${e.requestURI}`)).toEqual([]);

    // every request was one the shipped rules allow, and none was refused
    expect(deniedAccesses(ctl.manager.client.accesses())).toEqual([]);
    expect(await ctl.metric('kubeaws_pdb_controller_api_requests_total', { code: '403' })).toBe(0);
    expect((await httpGet(`${ctl.addresses.health!.url}/readyz`)).status).toBe(200);
    expect((await httpGet(`${ctl.addresses.health!.url}/healthz`)).status).toBe(200);
  });
});
