/**
 * The test tables of the upstream controller, mikkeloscar/pdb-controller (`TestController`,
 * `TestLabelsIntersect`, `TestContainLabels` in controller_test.go; `TestRolloutGetsPDB`,
 * `TestSingleReplicaRolloutGetsNoPDB` in rollout_test.go), run through {@link decide} with upstream's
 * fixtures: the same workloads, the same upstream PDBs (`heritage=pdb-controller`, a non-controller
 * ownerReference, `pdb-controller.zalando.org/non-ready-since`), `--non-ready-ttl=1h` and
 * `--pdb-name-suffix=pdb-controller`. Every row agrees with upstream's expectation except where
 * docs/pdb-controller.md#pdb-upstream states the difference; such rows name it in `difference` and assert
 * our documented outcome instead.
 */
import { createHash } from 'node:crypto';
import type { V1Deployment, V1LabelSelector, V1PodDisruptionBudget, V1StatefulSet } from '@kubernetes/client-node';
import { type DecideSettings, type Decision, decide } from './decide';
import { formatTimestamp } from './grammar';
import { type Rollout, type Workload, fromDeployment, fromRollout, fromStatefulSet } from './workload';

const NOW = Date.UTC(2025, 2, 1, 12, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;
const NS = 'default';

/** Upstream's `NewPDBController(0, client, nil, "pdb-controller", time.Hour, hash, 1)`. */
const SETTINGS: DecideSettings = {
  maxUnavailable: 1,
  nonReadyTtlMs: HOUR,
  minReplicas: 2,
  unhealthyPodEvictionPolicy: 'AlwaysAllow',
  pdbNameSuffix: 'pdb-controller',
  excludeNamespaces: [],
  fieldManager: 'kubeaws-pdb-controller',
};

/** Upstream's `resourceHash(kind, name)`: hex SHA-1 of `<kind>-<name>`. */
function resourceHash(kind: string, name: string): string {
  return createHash('sha1').update(`${kind}-${name}`).digest('hex');
}

/**
 * Upstream's `makePDB`: with owner references it carries `heritage=pdb-controller`;
 * `pdb-controller.zalando.org/non-ready-since` is `now - lastReady` when `lastReady > 0`.
 */
function makePdb(
  name: string,
  selector: Record<string, string>,
  owner: { kind: string; name: string; uid: string } | undefined,
  maxUnavailable: number,
  lastReadyMs: number,
): V1PodDisruptionBudget {
  const pdb: V1PodDisruptionBudget = {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name,
      namespace: NS,
      uid: name,
      resourceVersion: '10',
      creationTimestamp: new Date(NOW - 24 * HOUR),
      annotations: {},
    },
    spec: { selector: { matchLabels: selector }, maxUnavailable },
  };
  if (owner) {
    pdb.metadata!.labels = { heritage: 'pdb-controller' };
    pdb.metadata!.ownerReferences = [{ apiVersion: 'apps/v1', ...owner }];
  }
  if (lastReadyMs > 0) {
    pdb.metadata!.annotations!['pdb-controller.zalando.org/non-ready-since'] = formatTimestamp(NOW - lastReadyMs);
  }
  return pdb;
}

/**
 * How the workload's status reads. `upstream`: exactly upstream's fixture (only `readyReplicas`; Go's
 * fake client serves no `observedGeneration`); `served`: as a real API server serves it once the
 * workload controller has seen the current generation (`generation: 1`, `observedGeneration: 1`).
 */
type Status = 'upstream' | 'served';

/** Upstream's `makeDeployment` / `makeStatefulset`, normalised as our caches do. */
function makeWorkload(
  kind: 'Deployment' | 'StatefulSet',
  name: string,
  selector: Record<string, string>,
  replicas: number,
  readyReplicas: number,
  nonReadyTtl: string,
  status: Status,
): Workload {
  const obj = {
    apiVersion: 'apps/v1',
    kind,
    metadata: {
      name,
      namespace: NS,
      uid: `${kind.toLowerCase()}-uid-${name}`,
      annotations: nonReadyTtl ? { 'pdb-controller.zalando.org/non-ready-ttl': nonReadyTtl } : {},
      ...(status === 'served' ? { generation: 1 } : {}),
    },
    spec: {
      selector: { matchLabels: selector },
      replicas,
      template: { metadata: { labels: selector } },
    },
    status: { readyReplicas, ...(status === 'served' ? { observedGeneration: 1 } : {}) },
  };
  return kind === 'Deployment' ? fromDeployment(obj as V1Deployment) : fromStatefulSet(obj as V1StatefulSet);
}

/** RFC 7386: the object a JSON merge patch leaves (the API server's `application/merge-patch+json`). */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * The PDBs of the namespace once the decision's writes are done, by name: deletes remove, a create
 * adds its body, a patch merges into the PDB, an apply replaces our fields.
 */
function afterWrites(pdbs: readonly V1PodDisruptionBudget[], d: Decision): Map<string, V1PodDisruptionBudget> {
  const out = new Map(pdbs.map((p) => [p.metadata!.name!, structuredClone(p)]));
  for (const a of d.actions) {
    if (a.type === 'delete') out.delete(a.name);
    else if (a.type === 'create') out.set(a.name, a.pdb);
    else if (a.type === 'patch') out.set(a.name, mergePatch(out.get(a.name), a.patch) as V1PodDisruptionBudget);
    else out.set(a.name, { ...out.get(a.name), metadata: a.body.metadata, spec: a.body.spec });
  }
  return out;
}

interface UpstreamRow {
  msg: string;
  replicas: number;
  readyReplicas: number;
  nonReadyTtl: string;
  lastReadyMs: number;
  maxUnavailable: number;
  pdbExists: boolean;
  pdbDeploymentSelector?: Record<string, string>;
  pdbStatefulSetSelector?: Record<string, string>;
  additionalPdbs?: (hashes: { deployment: string; statefulSet: string }) => V1PodDisruptionBudget[];
  overridePdbs?: V1PodDisruptionBudget[];
}

/** `TestController`'s table, verbatim. */
const TEST_CONTROLLER: UpstreamRow[] = [
  {
    msg: 'drop pdb when nonReadyTTL is exceeded',
    replicas: 3,
    readyReplicas: 0,
    nonReadyTtl: '5s',
    lastReadyMs: MIN,
    maxUnavailable: 1,
    pdbExists: false,
  },
  {
    msg: 'keep pdb when nonReadyTTL is not exceeded',
    replicas: 3,
    readyReplicas: 0,
    nonReadyTtl: '15m',
    lastReadyMs: 5 * MIN,
    maxUnavailable: 1,
    pdbExists: true,
  },
  {
    msg: 'drop pdb when default nonReadyTTL is exceeded',
    replicas: 3,
    readyReplicas: 0,
    nonReadyTtl: '',
    lastReadyMs: 60 * MIN,
    maxUnavailable: 1,
    pdbExists: false,
  },
  {
    msg: 'keep pdb when default nonReadyTTL is not exceeded',
    replicas: 3,
    readyReplicas: 0,
    nonReadyTtl: '',
    lastReadyMs: 59 * MIN,
    maxUnavailable: 1,
    pdbExists: true,
  },
  {
    msg: 'keep pdb when replicas are ready',
    replicas: 3,
    readyReplicas: 3,
    nonReadyTtl: '',
    lastReadyMs: 0,
    maxUnavailable: 1,
    pdbExists: true,
  },
  {
    msg: 'keep pdb when first observed not-ready and TTL not exceeded',
    replicas: 3,
    readyReplicas: 0,
    nonReadyTtl: '',
    lastReadyMs: 0,
    maxUnavailable: 1,
    pdbExists: true,
  },
  {
    msg: 'reset nonReadyTTL when replicas are ready',
    replicas: 3,
    readyReplicas: 3,
    nonReadyTtl: '',
    lastReadyMs: 60 * MIN,
    maxUnavailable: 1,
    pdbExists: true,
  },
  {
    msg: 'update owned PDB not matching',
    replicas: 3,
    readyReplicas: 3,
    nonReadyTtl: '',
    lastReadyMs: 0,
    pdbExists: true,
    maxUnavailable: 1,
    pdbDeploymentSelector: { 'not-matching': 'deployment' },
    pdbStatefulSetSelector: { 'not-matching': 'statefulset' },
  },
  {
    msg: 'drop owned PDB if others are matching',
    replicas: 3,
    readyReplicas: 3,
    nonReadyTtl: '',
    lastReadyMs: 0,
    pdbExists: false,
    maxUnavailable: 1,
    additionalPdbs: (h) => [
      makePdb('custom-deployment-pdb', { type: 'deployment', 'parent-resource-hash': h.deployment }, undefined, 1, 0),
      makePdb(
        'custom-statefulset-pdb',
        { type: 'statefulset', 'parent-resource-hash': h.statefulSet },
        undefined,
        1,
        0,
      ),
    ],
  },
  {
    msg: 'drop owned PDB if less than 2 ready replicas',
    replicas: 1,
    readyReplicas: 1,
    nonReadyTtl: '',
    lastReadyMs: 0,
    maxUnavailable: 1,
    pdbExists: false,
  },
  {
    msg: 'add PDB is none exists',
    replicas: 2,
    readyReplicas: 2,
    nonReadyTtl: '',
    lastReadyMs: 0,
    pdbExists: true,
    maxUnavailable: 1,
    overridePdbs: [],
  },
  {
    msg: 'update PDBs if settings are different',
    replicas: 2,
    readyReplicas: 2,
    nonReadyTtl: '',
    lastReadyMs: 0,
    pdbExists: true,
    maxUnavailable: 2,
  },
];

/**
 * Where our outcome differs from upstream's expectation for a row (keyed by `msg`), and which bullet
 * of docs/pdb-controller.md#pdb-upstream states it. Rows not listed agree.
 */
const DIFFERENCES: Record<string, { difference: string; exists: boolean }> = {
  // a team PDB must select the workload's pods: `type: deployment` (hash mode) or `parent-resource-hash`
  // (plain mode) is absent from the pod template, so the custom PDBs cover nothing and ours stays
  'drop owned PDB if others are matching': { difference: 'Coverage', exists: true },
};

describe('upstream TestController table (PDB-UPSTREAM)', () => {
  const hashes = {
    deployment: resourceHash('Deployment', 'deployment-x'),
    statefulSet: resourceHash('StatefulSet', 'statefulset-x'),
  };
  const cases = TEST_CONTROLLER.flatMap((row) =>
    // upstream runs every row with and without --use-parent-resource-hash (the selectors change)
    [true, false].map((parentResourceHash) => ({ row, parentResourceHash })),
  );

  test.each(cases)('$row.msg (parent-resource-hash selectors: $parentResourceHash)', ({ row, parentResourceHash }) => {
    const selectors: Record<'Deployment' | 'StatefulSet', Record<string, string>> = parentResourceHash
      ? {
          Deployment: { 'parent-resource-hash': hashes.deployment },
          StatefulSet: { 'parent-resource-hash': hashes.statefulSet },
        }
      : { Deployment: { type: 'deployment' }, StatefulSet: { type: 'statefulset' } };
    let pdbs = [
      makePdb(
        'deployment-x-pdb-controller',
        row.pdbDeploymentSelector ?? selectors.Deployment,
        { kind: 'Deployment', name: 'deployment-x', uid: 'deployment-uid-deployment-x' },
        row.maxUnavailable,
        row.lastReadyMs,
      ),
      makePdb(
        'statefulset-x-pdb-controller',
        row.pdbStatefulSetSelector ?? selectors.StatefulSet,
        { kind: 'StatefulSet', name: 'statefulset-x', uid: 'statefulset-uid-statefulset-x' },
        row.maxUnavailable,
        row.lastReadyMs,
      ),
      ...(row.additionalPdbs?.(hashes) ?? []),
    ];
    if (row.overridePdbs) pdbs = row.overridePdbs;
    const diff = DIFFERENCES[row.msg];

    for (const kind of ['Deployment', 'StatefulSet'] as const) {
      const name = kind === 'Deployment' ? 'deployment-x' : 'statefulset-x';
      const w = makeWorkload(kind, name, selectors[kind], row.replicas, row.readyReplicas, row.nonReadyTtl, 'served');
      const other = makeWorkload(
        kind === 'Deployment' ? 'StatefulSet' : 'Deployment',
        kind === 'Deployment' ? 'statefulset-x' : 'deployment-x',
        kind === 'Deployment' ? selectors.StatefulSet : selectors.Deployment,
        row.replicas,
        row.readyReplicas,
        row.nonReadyTtl,
        'served',
      );
      const d = decide({ workload: w, pdbs, others: [other], settings: SETTINGS, now: NOW });
      const after = afterWrites(pdbs, d);
      const ours = d.managedPdb ? after.get(d.managedPdb) : undefined;
      expect(ours !== undefined).toBe(diff ? diff.exists : row.pdbExists);
      expect(d.invalidInputs).toEqual([]);
      if (!ours) {
        // upstream's PDB is gone
        expect(after.has(`${name}-pdb-controller`)).toBe(false);
        continue;
      }
      // upstream's name is kept when its PDB is adopted; a new one gets ours (`<name>-<kind>-<suffix>`,
      // difference "Names")
      expect(ours.metadata?.name).toBe(
        row.overridePdbs ? `${name}-${kind.toLowerCase()}-pdb-controller` : `${name}-pdb-controller`,
      );
      // upstream's expected spec, plus our --unhealthy-pod-eviction-policy default (difference
      // "unhealthyPodEvictionPolicy")
      expect(ours.spec).toEqual({
        selector: { matchLabels: selectors[kind] },
        maxUnavailable: 1,
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      });
      expect(ours.metadata?.labels?.heritage).toBeUndefined();
      expect(ours.metadata?.ownerReferences).toEqual([
        expect.objectContaining({ kind, name, uid: w.uid, controller: true }),
      ]);
      // the TTL clock carries over from upstream's annotation, and is set when first seen not ready
      const since = ours.metadata?.annotations?.['kubeaws.io/non-ready-since'];
      if (w.fullyReady) expect(since).toBeUndefined();
      else expect(since).toBe(formatTimestamp(NOW - row.lastReadyMs));
      expect(ours.metadata?.annotations?.['pdb-controller.zalando.org/non-ready-since']).toBeUndefined();
    }
  });

  test.each<[string, number, number, boolean, boolean]>([
    // msg, replicas, ready, upstream pdbExists, ours (difference "Readiness needs observedGeneration")
    ['keep pdb when replicas are ready', 3, 3, true, true],
    ['add PDB is none exists', 2, 2, true, false],
  ])('upstream fixture without status.observedGeneration: %s', (msg, replicas, ready, upstreamExists, oursExists) => {
    expect(TEST_CONTROLLER.find((r) => r.msg === msg)?.pdbExists).toBe(upstreamExists);
    const w = makeWorkload('Deployment', 'deployment-x', { type: 'deployment' }, replicas, ready, '', 'upstream');
    expect(w.fullyReady).toBe(false);
    const pdbs =
      msg === 'add PDB is none exists'
        ? []
        : [
            makePdb(
              'deployment-x-pdb-controller',
              { type: 'deployment' },
              { kind: 'Deployment', name: 'deployment-x', uid: w.uid },
              1,
              0,
            ),
          ];
    const d = decide({ workload: w, pdbs, others: [], settings: SETTINGS, now: NOW });
    expect(d.state).toBe('not_ready');
    expect(d.managedPdb !== undefined).toBe(oursExists);
    // an existing PDB is kept (adopted) with the TTL clock started; none is created
    expect(d.actions.map((a) => a.type)).toEqual(oursExists ? ['patch'] : []);
  });
});

describe('upstream TestLabelsIntersect / TestContainLabels (PDB-COVERAGE, PDB-UPSTREAM)', () => {
  const w = (templateLabels: Record<string, string>): Workload => ({
    kind: 'Deployment',
    namespace: NS,
    name: 'web',
    uid: 'w-uid',
    labels: {},
    annotations: {},
    replicas: 3,
    fullyReady: true,
    templateLabels,
    selector: { matchLabels: templateLabels },
    deleting: false,
  });
  const team = (matchLabels: Record<string, string>, labels: Record<string, string> = {}): V1PodDisruptionBudget => ({
    metadata: { name: 'team', namespace: NS, uid: 'team-uid', resourceVersion: '3', labels },
    spec: { selector: { matchLabels } as V1LabelSelector, maxUnavailable: 1 },
  });

  // a: the workload's pod-template labels; b: the selector of a PDB that is not upstream's.
  // upstream: labelsIntersect(a, b) means "covered"; ours: docs/pdb-controller.md#pdb-coverage.
  test.each<[string, Record<string, string>, Record<string, string>, boolean, boolean]>([
    ['matching maps should intersect', { foo: 'bar' }, { foo: 'bar' }, true, true],
    // difference "Coverage": `bar` is absent from the template, so the PDB selects none
    // of the workload's pods
    ['partly matching maps should intersect', { foo: 'bar' }, { foo: 'bar', bar: 'foo' }, true, false],
    [
      'maps with matching keys but different values should not inersect',
      { foo: 'bar', bar: 'baz' },
      { foo: 'bar', bar: 'foo' },
      false,
      false,
    ],
  ])('%s', (_msg, a, b, upstreamCovered, oursCovered) => {
    expect(typeof upstreamCovered).toBe('boolean');
    const d = decide({ workload: w(a), pdbs: [team(b)], others: [], settings: SETTINGS, now: NOW });
    expect(d.state).toBe(oursCovered ? 'covered' : 'protected');
  });

  // containLabels(pdb.labels, {heritage: pdb-controller}) decides what upstream manages
  test.each<[string, Record<string, string>, boolean]>([
    ["heritage=pdb-controller is upstream's: adopted", { heritage: 'pdb-controller' }, true],
    ['heritage=other is a team PDB: covers', { heritage: 'other' }, false],
  ])('%s', (_msg, labels, upstreams) => {
    const p = team({ app: 'web' }, labels);
    p.metadata!.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'w-uid' }];
    const d = decide({ workload: w({ app: 'web' }), pdbs: [p], others: [], settings: SETTINGS, now: NOW });
    if (upstreams) {
      expect(d.state).toBe('protected');
      expect(d.actions).toEqual([expect.objectContaining({ type: 'patch', purpose: 'adopt', name: 'team' })]);
    } else {
      expect(d.state).toBe('covered');
      expect(d.actions).toEqual([]);
    }
  });
});

describe('upstream rollout_test.go (PDB-ROLLOUTS, PDB-UPSTREAM)', () => {
  /** Upstream's `rolloutObj`, with the status a running Argo Rollouts controller writes when `served`. */
  const rollout = (name: string, replicas: number, ready: number, status: Status): Workload => {
    const ro: Rollout = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name, namespace: NS, uid: `${name}-uid`, ...(status === 'served' ? { generation: 1 } : {}) },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } } },
      },
      status: { readyReplicas: ready, ...(status === 'served' ? { observedGeneration: '1' } : {}) },
    };
    return fromRollout(ro);
  };

  test('TestRolloutGetsPDB: a healthy multi-replica Rollout gets a PDB owned by the Rollout', () => {
    const d = decide({
      workload: rollout('rollout-x', 2, 2, 'served'),
      pdbs: [],
      others: [],
      settings: SETTINGS,
      now: NOW,
    });
    expect(d.actions).toHaveLength(1);
    const a = d.actions[0];
    if (a.type !== 'create') throw new Error(`expected a create, got ${a.type}`);
    // our name (difference "Names"); upstream: rollout-x-pdb-controller
    expect(a.name).toBe('rollout-x-rollout-pdb-controller');
    expect(a.pdb.spec?.maxUnavailable).toBe(1);
    expect(a.pdb.spec?.selector).toEqual({ matchLabels: { app: 'rollout-x' } });
    expect(a.pdb.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Rollout', apiVersion: 'argoproj.io/v1alpha1' }),
    ]);
  });

  test("TestRolloutGetsPDB with upstream's fixture (no status.observedGeneration): none yet", () => {
    // difference "Readiness needs observedGeneration"
    const d = decide({
      workload: rollout('rollout-x', 2, 2, 'upstream'),
      pdbs: [],
      others: [],
      settings: SETTINGS,
      now: NOW,
    });
    expect(d.state).toBe('not_ready');
    expect(d.actions).toEqual([]);
  });

  test('TestSingleReplicaRolloutGetsNoPDB', () => {
    const d = decide({
      workload: rollout('rollout-solo', 1, 1, 'served'),
      pdbs: [],
      others: [],
      settings: SETTINGS,
      now: NOW,
    });
    expect(d.state).toBe('below_min_replicas');
    expect(d.actions).toEqual([]);
  });
});
