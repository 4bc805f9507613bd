/**
 * Coverage, overlap, naming and ownership against the real control plane (controller in-process under
 * its shipped ServiceAccount): user PDBs cover only in their namespace and with full selector
 * semantics, overlapping workloads get none, name conflicts are reported, kind-qualified names,
 * drift is reverted while foreign labels stay, hand-over by label removal, legacy adoption (including
 * the upstream non-ready-since) and orphan cleanup.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { FakeClock } from '@kubeaws/runtime';
import { formatTimestamp } from '../src/index';
import { Cluster, type TestController, startTestController, waitFor, workloadPath } from './support';

const MANAGED = 'kubeaws.io/managed-by';
const pdbPath = (ns: string, name: string) => `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/${name}`;

describe('pdb-controller coverage and ownership', () => {
  const cluster = new Cluster();
  const clock = new FakeClock(Date.now());
  let saKc: KubeConfig;
  let ctl: TestController;

  beforeAll(async () => {
    saKc = await cluster.controllerKubeConfig();
    ctl = await startTestController(saKc, { clock });
  });

  afterAll(async () => {
    await ctl?.stop();
    await cluster.cleanup();
  });

  it('is covered only by user PDBs of its own namespace whose full selector matches', async () => {
    const ns = await cluster.namespace('cover');
    const other = await cluster.namespace('cover-other');
    await cluster.deployment(ns, 'web', { labels: { app: 'web', team: 'x' } });
    await cluster.statefulSet(ns, 'db', { labels: { app: 'db' } });
    await cluster.ready('Deployment', ns, 'web');
    await cluster.ready('StatefulSet', ns, 'db');
    await cluster.waitPdb(ns, 'web-deployment-pdb');
    await cluster.waitPdb(ns, 'db-statefulset-pdb');
    const web = `Deployment/${ns}/web`;
    const db = `StatefulSet/${ns}/db`;

    // another namespace, a key absent from the template, and a per-pod key alone: no coverage
    await cluster.createPdb(other, 'web', { maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } });
    await cluster.createPdb(ns, 'web-db', { maxUnavailable: 1, selector: { matchLabels: { app: 'web', tier: 'db' } } });
    await cluster.createPdb(ns, 'pin', {
      maxUnavailable: 1,
      selector: { matchLabels: { 'statefulset.kubernetes.io/pod-name': 'db-0' } },
    });
    await ctl.idle();
    expect(ctl.controller.stateOf(web)).toBe('protected');
    expect(ctl.controller.stateOf(db)).toBe('protected');
    expect(await cluster.pdb(ns, 'web-deployment-pdb')).toBeDefined();

    // matchExpressions In: covered, the managed PDB goes
    await cluster.createPdb(ns, 'expr', {
      maxUnavailable: 1,
      selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] },
    });
    await cluster.waitNoPdb(ns, 'web-deployment-pdb');
    await cluster.waitEvent(ns, 'PDBDeleted', 'web', new RegExp(`covered by ${ns}/expr`));
    expect(ctl.controller.stateOf(web)).toBe('covered');

    // a per-pod key next to a template key: covered
    await cluster.createPdb(ns, 'pin-db', {
      maxUnavailable: 1,
      selector: { matchLabels: { app: 'db', 'statefulset.kubernetes.io/pod-name': 'db-0' } },
    });
    await cluster.waitNoPdb(ns, 'db-statefulset-pdb');
    expect(ctl.controller.stateOf(db)).toBe('covered');

    // user PDB deleted: protected again
    await cluster.delete(pdbPath(ns, 'expr'));
    await cluster.waitPdb(ns, 'web-deployment-pdb');
    expect(ctl.controller.stateOf(web)).toBe('protected');

    // the empty selector covers every workload of its namespace
    await cluster.createPdb(ns, 'all', { maxUnavailable: 1, selector: {} });
    await cluster.waitNoPdb(ns, 'web-deployment-pdb');
    await waitFor(() => ctl.controller.stateOf(web) === 'covered' && ctl.controller.stateOf(db) === 'covered', {
      description: 'both covered by the empty selector',
    });
    // user PDBs are never touched
    expect((await cluster.pdbs(ns)).map((p) => p.metadata.name).sort()).toEqual(['all', 'pin', 'pin-db', 'web-db']);
  });

  it('reports overlapping selectors and name conflicts, and qualifies names by kind', async () => {
    const ns = await cluster.namespace('overlap');
    await cluster.deployment(ns, 'a', {
      templateLabels: { app: 'shared', v: 'a' },
      selector: { matchLabels: { app: 'shared' } },
    });
    await cluster.deployment(ns, 'b', { templateLabels: { app: 'shared', v: 'b' } });
    await cluster.createPdb(ns, 'c-deployment-pdb', { maxUnavailable: 1, selector: { matchLabels: { app: 'other' } } });
    await cluster.deployment(ns, 'c', { labels: { app: 'c' } });
    await cluster.deployment(ns, 'same', { labels: { app: 'same-d' } });
    await cluster.statefulSet(ns, 'same', { labels: { app: 'same-s' } });
    for (const n of ['a', 'b', 'c', 'same']) await cluster.ready('Deployment', ns, n);
    await cluster.ready('StatefulSet', ns, 'same');

    // overlap: neither gets a PDB, both get a Warning naming the other
    const [ea] = await cluster.waitEvent(ns, 'OverlappingSelectors', 'a', /Deployment .*\/b/);
    const [eb] = await cluster.waitEvent(ns, 'OverlappingSelectors', 'b', /Deployment .*\/a/);
    expect(ea).toMatchObject({ type: 'Warning', related: { kind: 'Deployment', name: 'b' } });
    expect(eb).toMatchObject({ type: 'Warning', related: { kind: 'Deployment', name: 'a' } });
    expect(ctl.controller.stateOf(`Deployment/${ns}/a`)).toBe('overlapping');
    expect(ctl.controller.stateOf(`Deployment/${ns}/b`)).toBe('overlapping');

    // name conflict: reported, the user's PDB left as it is
    await cluster.waitEvent(ns, 'PDBNameConflict', 'c');
    expect(ctl.controller.stateOf(`Deployment/${ns}/c`)).toBe('name_conflict');
    expect((await cluster.pdb(ns, 'c-deployment-pdb'))?.spec.selector).toEqual({ matchLabels: { app: 'other' } });

    // a Deployment and a StatefulSet with one name: two PDBs
    const d = await cluster.waitPdb(ns, 'same-deployment-pdb');
    const s = await cluster.waitPdb(ns, 'same-statefulset-pdb');
    expect(d.metadata.ownerReferences[0].kind).toBe('Deployment');
    expect(s.metadata.ownerReferences[0].kind).toBe('StatefulSet');

    // the overlap ends when one of them goes: the other gets its PDB
    await cluster.delete(workloadPath('Deployment', ns, 'b'));
    await cluster.waitPdb(ns, 'a-deployment-pdb');
    expect(await cluster.pdbs(ns)).toHaveLength(4);
    expect(await cluster.pdb(ns, 'b-deployment-pdb')).toBeUndefined();
  });

  it('reverts drift, keeps foreign labels and hands the PDB over when our label is removed', async () => {
    const ns = await cluster.namespace('drift');
    await cluster.deployment(ns, 'own', { labels: { app: 'own' } });
    await cluster.ready('Deployment', ns, 'own');
    const before = await cluster.waitPdb(ns, 'own-deployment-pdb');

    await cluster.patch(pdbPath(ns, 'own-deployment-pdb'), {
      metadata: { labels: { team: 'ops' }, annotations: { note: 'kept' } },
      spec: { maxUnavailable: 0 },
    });
    const reverted = await cluster.waitPdb(ns, 'own-deployment-pdb', (p) => p.spec.maxUnavailable === 1);
    expect(reverted.metadata.labels).toMatchObject({ team: 'ops', app: 'own', [MANAGED]: 'pdb-controller' });
    expect(reverted.metadata.annotations).toMatchObject({ note: 'kept' });
    expect(reverted.metadata.uid).toBe(before.metadata.uid);
    await cluster.waitEvent(ns, 'PDBUpdated', 'own', /spec\.maxUnavailable/);

    // hand-over: without our label the PDB is the user's; it now covers the workload and is never written
    await cluster.patch(pdbPath(ns, 'own-deployment-pdb'), { metadata: { labels: { [MANAGED]: null } } });
    const key = `Deployment/${ns}/own`;
    await waitFor(() => ctl.controller.stateOf(key) === 'covered', { description: 'covered by the handed-over PDB' });
    const writes = await ctl.metric('kubeaws_pdb_controller_pdb_writes_total', {
      operation: 'apply',
      result: 'success',
    });
    await cluster.patch(workloadPath('Deployment', ns, 'own'), {
      metadata: { annotations: { 'kubeaws.io/max-unavailable': '50%' } },
    });
    await waitFor(
      async () =>
        (await cluster.get(workloadPath('Deployment', ns, 'own'))).metadata.annotations?.[
          'kubeaws.io/max-unavailable'
        ] === '50%',
      { description: 'annotation written' },
    );
    await ctl.idle();
    const handed = await cluster.pdb(ns, 'own-deployment-pdb');
    expect(handed?.spec.maxUnavailable).toBe(1);
    expect(handed?.metadata.labels[MANAGED]).toBeUndefined();
    expect(ctl.controller.stateOf(key)).toBe('covered');
    expect(await ctl.metric('kubeaws_pdb_controller_pdb_writes_total', { operation: 'apply', result: 'success' })).toBe(
      writes,
    );
  });

  it('adopts upstream PDBs with their non-ready-since and deletes orphans', async () => {
    const ns = await cluster.namespace('adopt');
    const dep = await cluster.deployment(ns, 'legacy', {
      labels: { app: 'legacy' },
      unschedulable: true,
      annotations: { 'pdb-controller.zalando.org/non-ready-ttl': '1h' },
    });
    const since = Math.floor(clock.now() / 1000) * 1000 - 10 * 60_000;
    await cluster.createPdb(
      ns,
      'legacy-pdb-controller',
      { minAvailable: 1, selector: { matchLabels: { app: 'legacy' } } },
      {
        labels: { heritage: 'pdb-controller', app: 'legacy' },
        annotations: {
          'pdb-controller.zalando.org/non-ready-since': new Date(since).toISOString().replace('.000Z', '+00:00'),
        },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'legacy', uid: dep.metadata.uid }],
      },
    );
    const adopted = await cluster.waitPdb(
      ns,
      'legacy-pdb-controller',
      (p) => p.metadata.labels?.[MANAGED] === 'pdb-controller',
    );
    expect(adopted.metadata.labels).toEqual({
      app: 'legacy',
      [MANAGED]: 'pdb-controller',
      'kubeaws.io/workload-kind': 'Deployment',
    });
    expect(adopted.metadata.annotations).toEqual({ 'kubeaws.io/non-ready-since': formatTimestamp(since) });
    expect(adopted.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'legacy',
        uid: dep.metadata.uid,
        controller: true,
        blockOwnerDeletion: false,
      },
    ]);
    expect(adopted.spec).toEqual({
      selector: { matchLabels: { app: 'legacy' } },
      maxUnavailable: 1,
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    });
    await cluster.waitEvent(ns, 'PDBAdopted', 'legacy');
    // no second PDB for the same workload
    expect(await cluster.pdb(ns, 'legacy-deployment-pdb')).toBeUndefined();

    // the TTL clock carried over: expiry 1h after the upstream timestamp, not after the adoption
    await ctl.idle();
    await clock.set(since + 60 * 60_000);
    await cluster.waitNoPdb(ns, 'legacy-pdb-controller');
    await cluster.waitEvent(ns, 'NonReadyTTLExpired', 'legacy');

    // orphans: ours without an owner, and upstream ones whose owner is gone; Rollout ones are left
    // alone while Rollouts are not watched
    const orphan = await cluster.createPdb(
      ns,
      'ghost-deployment-pdb',
      { maxUnavailable: 1, selector: { matchLabels: { app: 'ghost' } } },
      { labels: { [MANAGED]: 'pdb-controller', 'kubeaws.io/workload-kind': 'Deployment' } },
    );
    await cluster.createPdb(
      ns,
      'gone-pdb-controller',
      { minAvailable: 1, selector: { matchLabels: { app: 'gone' } } },
      {
        labels: { heritage: 'pdb-controller' },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'Deployment', name: 'gone', uid: '00000000-0000-0000-0000-000000000001' },
        ],
      },
    );
    await cluster.createPdb(
      ns,
      'ro-rollout-pdb',
      { maxUnavailable: 1, selector: { matchLabels: { app: 'ro' } } },
      { labels: { [MANAGED]: 'pdb-controller', 'kubeaws.io/workload-kind': 'Rollout' } },
    );
    await cluster.waitNoPdb(ns, 'ghost-deployment-pdb');
    await cluster.waitNoPdb(ns, 'gone-pdb-controller');
    const [ev] = await cluster.waitEvent(ns, 'PDBDeleted', 'ghost-deployment-pdb', /orphaned/);
    expect(ev.regarding).toMatchObject({ kind: 'PodDisruptionBudget', uid: orphan.metadata.uid });
    // their log lines name the PDB, the state and the gone owner (docs/pdb-controller.md#pdb-logs); a
    // delete may first conflict with the disruption controller's status update, then succeed. The
    // upstream orphan names an owner UID that does not exist, so the garbage collector may delete it
    // first (our delete then conflicts, or is not tried)
    const lines = (pdb: string) =>
      ctl.logs.find((l) => l.key === `PodDisruptionBudget/${ns}/${pdb}` && l.action === 'delete');
    const deleted = (pdb: string) =>
      waitFor(() => lines(pdb).find((l) => l.msg === 'deleted PodDisruptionBudget'), {
        description: `log line of the delete of ${pdb}`,
      });
    expect(await deleted('ghost-deployment-pdb')).toMatchObject({
      level: 'info',
      kind: 'PodDisruptionBudget',
      namespace: ns,
      name: 'ghost-deployment-pdb',
      uid: orphan.metadata.uid,
      pdb: 'ghost-deployment-pdb',
      state: 'orphaned',
      owner: { kind: 'Deployment' },
      reason: 'orphaned (no Deployment owner reference)',
    });
    for (const l of lines('ghost-deployment-pdb')) {
      expect(l).toMatchObject({ state: 'orphaned', name: 'ghost-deployment-pdb', kind: 'PodDisruptionBudget' });
    }
    for (const l of lines('gone-pdb-controller')) {
      expect(l).toMatchObject({
        kind: 'PodDisruptionBudget',
        name: 'gone-pdb-controller',
        state: 'orphaned',
        owner: { kind: 'Deployment', name: 'gone', uid: '00000000-0000-0000-0000-000000000001' },
      });
    }
    await ctl.idle();
    expect(await cluster.pdb(ns, 'ro-rollout-pdb')).toBeDefined();
  });
});
