import { LAST_APPLIED_ANNOTATION, trimPdb, trimWorkload } from './transform';

const managedFields = [{ manager: 'kubectl', operation: 'Update', fieldsV1: {} }];

describe('informer transforms (PDB-TRIGGERS)', () => {
  test('workloads keep only what the decision reads', () => {
    const d = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'web',
        namespace: 'ns',
        uid: 'u',
        generation: 3,
        labels: { app: 'web' },
        annotations: { [LAST_APPLIED_ANNOTATION]: '{"big":true}', 'kubeaws.io/max-unavailable': '2' },
        managedFields,
      },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        strategy: { type: 'RollingUpdate' },
        template: {
          metadata: { labels: { app: 'web' }, annotations: { x: 'y' } },
          spec: { containers: [{ name: 'c' }] },
        },
      },
      status: { observedGeneration: 3, readyReplicas: 3, replicas: 3, conditions: [{ type: 'Available' }] },
    };
    expect(trimWorkload(d)).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'web',
        namespace: 'ns',
        uid: 'u',
        generation: 3,
        labels: { app: 'web' },
        annotations: { 'kubeaws.io/max-unavailable': '2' },
      },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } } },
      },
      status: { observedGeneration: 3, readyReplicas: 3 },
    });
  });

  test('a Rollout keeps its workloadRef; absent fields stay absent', () => {
    const ro = { metadata: { name: 'r' }, spec: { workloadRef: { kind: 'Deployment', name: 'd' } } };
    expect(trimWorkload(ro)).toEqual({
      metadata: { name: 'r' },
      spec: { workloadRef: { kind: 'Deployment', name: 'd' } },
      status: {},
    });
  });

  test('managedFields are kept on our PDBs only; last-applied is always dropped', () => {
    const pdb = (labels: Record<string, string>) => ({
      metadata: { name: 'p', labels, managedFields, annotations: { [LAST_APPLIED_ANNOTATION]: '{}' } },
      spec: { maxUnavailable: 1 },
      status: { disruptionsAllowed: 1 },
    });
    const ours = trimPdb(pdb({ 'kubeaws.io/managed-by': 'pdb-controller' }));
    expect(ours.metadata?.managedFields).toEqual(managedFields);
    expect(ours.metadata?.annotations).toEqual({});
    expect(ours.status).toEqual({ disruptionsAllowed: 1 });
    const users = trimPdb(pdb({ team: 'x' }));
    expect(users.metadata?.managedFields).toBeUndefined();
    const legacy = trimPdb(pdb({ heritage: 'pdb-controller' }));
    expect(legacy.metadata?.managedFields).toBeUndefined();
  });
});
