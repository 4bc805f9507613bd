import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import { orphanCheckKey, ownedPdbKeys, pdbEventTargets, pdbKeysOfKind, selectionChanged } from './triggers';
import type { Workload } from './workload';

function pdb(labels: Record<string, string>, extra: Partial<V1PodDisruptionBudget> = {}): V1PodDisruptionBudget {
  return {
    metadata: {
      name: 'p',
      namespace: 'ns',
      labels,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'w-uid', controller: true }],
    },
    spec: { selector: { matchLabels: { app: 'web' } }, maxUnavailable: 1 },
    ...extra,
  };
}

const MANAGED = { 'kubeaws.io/managed-by': 'pdb-controller' };
const LEGACY = { heritage: 'pdb-controller' };
const owner = { keys: ['Deployment/ns/web'], namespaces: [] };
const ns = { keys: [], namespaces: ['ns'] };
const nothing = { keys: [], namespaces: [] };
const withStatus = (p: V1PodDisruptionBudget, reason: string): V1PodDisruptionBudget => ({
  ...p,
  status: {
    disruptionsAllowed: 0,
    currentHealthy: 0,
    desiredHealthy: 0,
    expectedPods: 0,
    conditions: [{ type: 'DisruptionAllowed', status: 'False', reason, message: 'm', lastTransitionTime: new Date(0) }],
  },
});

describe('pdbEventTargets (PDB-TRIGGERS, PDB-SYNC-FAILED)', () => {
  test.each<
    [
      string,
      V1PodDisruptionBudget | undefined,
      V1PodDisruptionBudget | undefined,
      { keys: string[]; namespaces: string[] },
    ]
  >([
    ['managed add → owner', undefined, pdb(MANAGED), owner],
    ['managed delete → owner', pdb(MANAGED), undefined, owner],
    [
      'managed spec change → owner',
      pdb(MANAGED),
      pdb(MANAGED, { spec: { maxUnavailable: 0, selector: { matchLabels: { app: 'web' } } } }),
      owner,
    ],
    ['managed status-only change → ignored', pdb(MANAGED), withStatus(pdb(MANAGED), 'SufficientPods'), nothing],
    [
      'managed SyncFailed transition → owner',
      withStatus(pdb(MANAGED), 'SufficientPods'),
      withStatus(pdb(MANAGED), 'SyncFailed'),
      owner,
    ],
    [
      'managed SyncFailed cleared → owner',
      withStatus(pdb(MANAGED), 'SyncFailed'),
      withStatus(pdb(MANAGED), 'InsufficientPods'),
      owner,
    ],
    [
      'managed without controller ref → nothing',
      undefined,
      pdb(MANAGED, { metadata: { name: 'p', namespace: 'ns', labels: MANAGED } }),
      nothing,
    ],
    ['legacy add → owner (adoption)', undefined, pdb(LEGACY), owner],
    ['user add → namespace', undefined, pdb({}), ns],
    ['user delete → namespace', pdb({}), undefined, ns],
    ['user selector change → namespace', pdb({}), pdb({}, { spec: { selector: { matchLabels: { app: 'x' } } } }), ns],
    ['user label change → namespace', pdb({}), pdb({ a: 'b' }), ns],
    [
      'user maxUnavailable change → ignored',
      pdb({}),
      pdb({}, { spec: { selector: { matchLabels: { app: 'web' } }, maxUnavailable: 2 } }),
      nothing,
    ],
    ['user status change → ignored', pdb({}), withStatus(pdb({}), 'SyncFailed'), nothing],
    [
      'hand-over (label removed) → owner and namespace',
      pdb(MANAGED),
      pdb({}),
      { keys: ['Deployment/ns/web'], namespaces: ['ns'] },
    ],
    [
      'adopted (legacy → managed) → owner',
      pdb(LEGACY),
      pdb(MANAGED),
      { keys: ['Deployment/ns/web'], namespaces: ['ns'] },
    ],
  ])('%s', (_n, old, cur, want) => expect(pdbEventTargets(old, cur)).toEqual(want));

  test('Rollout owner key', () => {
    const p = pdb(MANAGED);
    p.metadata!.ownerReferences = [
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'ro', uid: 'r', controller: true },
    ];
    expect(pdbEventTargets(undefined, p)).toEqual({ keys: ['Rollout/ns/ro'], namespaces: [] });
  });
});

describe('workload changes that re-evaluate overlapping workloads (PDB-OVERLAP)', () => {
  const w: Workload = {
    kind: 'Deployment',
    namespace: 'ns',
    name: 'web',
    uid: 'u',
    labels: {},
    annotations: {},
    replicas: 2,
    fullyReady: true,
    templateLabels: { app: 'web' },
    selector: { matchLabels: { app: 'web' } },
    deleting: false,
  };
  test.each<[string, Partial<Workload>, boolean]>([
    ['status only (readiness)', { fullyReady: false }, false],
    ['labels of the workload itself', { labels: { team: 'x' } }, false],
    ['another annotation', { annotations: { note: 'x' } }, false],
    ['selector', { selector: { matchLabels: { app: 'api' } } }, true],
    ['template labels', { templateLabels: { app: 'web', v: '2' } }, true],
    ['replicas (min-replicas row)', { replicas: 1 }, true],
    ['opt-out annotation', { annotations: { 'kubeaws.io/default-pdb': 'false' } }, true],
    ['deletion started', { deleting: true }, true],
  ])('%s → %s', (_n, change, want) => expect(selectionChanged(w, { ...w, ...change })).toBe(want));
});

describe('orphan-check keys (PDB-ORPHANS)', () => {
  const ro = pdb(MANAGED);
  ro.metadata!.name = 'ro-pdb';
  ro.metadata!.ownerReferences = [
    { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'ro', uid: 'r', controller: true },
  ];
  const labelled = pdb({ ...MANAGED, 'kubeaws.io/workload-kind': 'Rollout' });
  labelled.metadata!.name = 'ghost';
  labelled.metadata!.ownerReferences = [];
  const legacy = pdb(LEGACY, {});
  legacy.metadata!.name = 'old';
  const userPdb = pdb({});
  userPdb.metadata!.name = 'team';

  test('PDBs that name a workload as owner', () => {
    expect(ownedPdbKeys([pdb(MANAGED), legacy, userPdb, ro], 'Deployment', 'web')).toEqual([
      'PodDisruptionBudget/ns/p',
      'PodDisruptionBudget/ns/old',
    ]);
    expect(ownedPdbKeys([pdb(MANAGED)], 'StatefulSet', 'web')).toEqual([]);
  });

  test('managed and legacy PDBs of a kind, by reference or label', () => {
    expect(pdbKeysOfKind([pdb(MANAGED), ro, labelled, userPdb], 'Rollout')).toEqual([
      'PodDisruptionBudget/ns/ro-pdb',
      'PodDisruptionBudget/ns/ghost',
    ]);
  });

  const moved = pdb(MANAGED);
  moved.metadata!.ownerReferences = [
    { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'other', controller: true },
  ];
  const managedPdb = pdb(MANAGED);
  test.each<[string, V1PodDisruptionBudget | undefined, V1PodDisruptionBudget | undefined, boolean]>([
    ['managed PDB added', undefined, managedPdb, true],
    ['periodic resync of a managed PDB', managedPdb, managedPdb, true],
    ['managed PDB, spec changed only', managedPdb, pdb(MANAGED, { spec: { maxUnavailable: 2 } }), false],
    ['managed PDB, owner changed', managedPdb, moved, true],
    ['user PDB labelled as ours', pdb({}), pdb(MANAGED), true],
    ['legacy PDB added', undefined, legacy, true],
    ['user PDB', undefined, userPdb, false],
    ['deleted', managedPdb, undefined, false],
  ])('%s → %s', (_n, old, cur, want) => {
    expect(orphanCheckKey(old, cur)).toBe(want ? `PodDisruptionBudget/ns/${cur!.metadata!.name}` : undefined);
  });
});
