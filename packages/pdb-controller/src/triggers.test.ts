import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import { pdbEventTargets } from './triggers';

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

describe('pdbEventTargets (spec §3.6.2, §3.7)', () => {
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
