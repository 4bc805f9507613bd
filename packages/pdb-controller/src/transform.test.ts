import type { V1ManagedFieldsEntry, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { ownedFields } from './desired';
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

  const FM = 'kubeaws-pdb-controller';
  /** managedFields as kube-apiserver serves them for a PDB applied by us and then touched by others. */
  const served: V1ManagedFieldsEntry[] = [
    {
      manager: FM,
      operation: 'Apply',
      apiVersion: 'policy/v1',
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': {
          'f:labels': { 'f:kubeaws.io/managed-by': {}, 'f:app': {} },
          'f:annotations': { 'f:kubeaws.io/non-ready-since': {} },
          'f:ownerReferences': { 'k:{"uid":"u"}': {} },
        },
        'f:spec': { 'f:maxUnavailable': {}, 'f:selector': { 'f:matchLabels': { 'f:app': {} } } },
      },
    },
    {
      manager: FM,
      operation: 'Update',
      apiVersion: 'policy/v1',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:spec': { 'f:unhealthyPodEvictionPolicy': {} } },
    },
    { manager: FM, operation: 'Update', subresource: 'status', fieldsV1: { 'f:status': { 'f:currentHealthy': {} } } },
    { manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:team': {} } } } },
    { manager: 'kube-controller-manager', operation: 'Update', subresource: 'status', fieldsV1: { 'f:status': {} } },
  ];

  test('managedFields are kept on our PDBs only, reduced to our own field names; last-applied is always dropped', () => {
    const pdb = (labels: Record<string, string>, mf: V1ManagedFieldsEntry[] = managedFields): V1PodDisruptionBudget => ({
      metadata: { name: 'p', labels, managedFields: mf, annotations: { [LAST_APPLIED_ANNOTATION]: '{}' } },
      spec: { maxUnavailable: 1 },
      status: { disruptionsAllowed: 1 },
    });
    const ours = trimPdb(pdb({ 'kubeaws.io/managed-by': 'pdb-controller' }, served), FM);
    expect(ours.metadata?.managedFields).toEqual([
      {
        manager: FM,
        operation: 'Apply',
        fieldsV1: {
          'f:metadata': {
            'f:labels': { 'f:kubeaws.io/managed-by': {}, 'f:app': {} },
            'f:annotations': { 'f:kubeaws.io/non-ready-since': {} },
          },
          'f:spec': { 'f:maxUnavailable': {}, 'f:selector': {} },
        },
      },
      { manager: FM, operation: 'Update', fieldsV1: { 'f:spec': { 'f:unhealthyPodEvictionPolicy': {} } } },
    ]);
    expect(ours.metadata?.annotations).toEqual({});
    expect(ours.status).toEqual({ disruptionsAllowed: 1 });
    // only other managers' entries: none kept
    expect(trimPdb(pdb({ 'kubeaws.io/managed-by': 'pdb-controller' }), FM).metadata?.managedFields).toBeUndefined();
    const users = trimPdb(pdb({ team: 'x' }, served), FM);
    expect(users.metadata?.managedFields).toBeUndefined();
    const legacy = trimPdb(pdb({ heritage: 'pdb-controller' }, served), FM);
    expect(legacy.metadata?.managedFields).toBeUndefined();
  });

  test('the trimmed managedFields tell our fields apart exactly as the served ones do', () => {
    const pdb: V1PodDisruptionBudget = {
      metadata: { name: 'p', labels: { 'kubeaws.io/managed-by': 'pdb-controller' }, managedFields: served },
      spec: { maxUnavailable: 1 },
    };
    expect(ownedFields(trimPdb(pdb, FM), FM)).toEqual(ownedFields(pdb, FM));
    expect(ownedFields(trimPdb(pdb, FM), FM).apply).toEqual(
      new Set(['labels:kubeaws.io/managed-by', 'labels:app', 'annotations:kubeaws.io/non-ready-since', 'spec:maxUnavailable', 'spec:selector']),
    );
  });
});
