import type { V1Deployment, V1StatefulSet } from '@kubernetes/client-node';
import { type Rollout, fromDeployment, fromRollout, fromStatefulSet, supportedKind, workloadKey } from './workload';

function dep(
  replicas: number | undefined,
  generation: number,
  observed: number | undefined,
  ready: number | undefined,
): V1Deployment {
  return {
    metadata: { name: 'web', namespace: 'ns', uid: 'u1', generation, labels: { app: 'web' } },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web', team: 'x' } } },
    },
    status: { observedGeneration: observed, readyReplicas: ready },
  };
}

describe('fully ready (PDB-READY)', () => {
  test.each<[string, number | undefined, number, number | undefined, number | undefined, number, boolean]>([
    ['ready', 3, 2, 2, 3, 3, true],
    ['more ready than desired', 2, 2, 2, 3, 2, true],
    ['one not ready', 3, 2, 2, 2, 3, false],
    ['observedGeneration behind', 3, 3, 2, 3, 3, false],
    ['observedGeneration ahead', 3, 2, 3, 3, 3, true],
    ['observedGeneration absent', 3, 1, undefined, 3, 3, false],
    ['readyReplicas absent', 3, 1, 1, undefined, 3, false],
    ['replicas absent = 1', undefined, 1, 1, 1, 1, true],
    ['replicas 0', 0, 1, 1, undefined, 0, true],
  ])('%s', (_n, replicas, gen, observed, ready, r, want) => {
    const w = fromDeployment(dep(replicas, gen, observed, ready));
    expect(w.replicas).toBe(r);
    expect(w.fullyReady).toBe(want);
  });
});

describe('normalisation', () => {
  test('Deployment', () => {
    const d = dep(2, 1, 1, 2);
    d.metadata!.deletionTimestamp = new Date();
    expect(fromDeployment(d)).toEqual({
      kind: 'Deployment',
      namespace: 'ns',
      name: 'web',
      uid: 'u1',
      labels: { app: 'web' },
      annotations: {},
      replicas: 2,
      fullyReady: true,
      templateLabels: { app: 'web', team: 'x' },
      selector: { matchLabels: { app: 'web' } },
      deleting: true,
    });
    expect(workloadKey(fromDeployment(d))).toBe('Deployment/ns/web');
  });

  test('StatefulSet', () => {
    const s: V1StatefulSet = {
      metadata: { name: 'db', namespace: 'ns', uid: 'u2', generation: 4 },
      spec: {
        serviceName: 'db',
        selector: { matchLabels: { app: 'db' } },
        template: { metadata: { labels: { app: 'db' } } },
      },
      status: { replicas: 1, observedGeneration: 4, readyReplicas: 1 },
    };
    expect(fromStatefulSet(s)).toMatchObject({
      kind: 'StatefulSet',
      replicas: 1,
      fullyReady: true,
      deleting: false,
      templateLabels: { app: 'db' },
    });
  });

  test.each<[string, Rollout['status'], boolean]>([
    ['string observedGeneration', { observedGeneration: '3', readyReplicas: 2 }, true],
    ['numeric observedGeneration', { observedGeneration: 3, readyReplicas: 2 }, true],
    ['hash observedGeneration (old Argo)', { observedGeneration: '7d8f9c', readyReplicas: 2 }, false],
    ['behind', { observedGeneration: '2', readyReplicas: 2 }, false],
  ])('Rollout %s', (_n, status, ready) => {
    const r: Rollout = {
      metadata: { name: 'ro', namespace: 'ns', uid: 'u3', generation: 3 },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'ro' } },
        template: { metadata: { labels: { app: 'ro' } } },
      },
      status,
    };
    expect(fromRollout(r)).toMatchObject({ kind: 'Rollout', fullyReady: ready });
    expect(fromRollout(r).workloadRef).toBeUndefined();
  });

  test('Rollout with workloadRef', () => {
    const r: Rollout = {
      metadata: { name: 'ro', namespace: 'ns', uid: 'u3', generation: 1 },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'ro' } },
        workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      },
    };
    expect(fromRollout(r)).toMatchObject({
      templateLabels: {},
      workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    });
  });
});

describe('supportedKind', () => {
  test.each<[string | undefined, string | undefined, string | undefined]>([
    ['apps/v1', 'Deployment', 'Deployment'],
    ['apps/v1beta2', 'StatefulSet', 'StatefulSet'],
    ['argoproj.io/v1alpha1', 'Rollout', 'Rollout'],
    ['extensions/v1beta1', 'Deployment', undefined],
    ['v1', 'ReplicationController', undefined],
    ['apps/v1', 'ReplicaSet', undefined],
    ['apps/v1', 'Rollout', undefined],
    [undefined, 'Deployment', undefined],
  ])('%s %s', (apiVersion, kind, want) => expect(supportedKind(apiVersion, kind)).toBe(want));
});
