import { intern, INTERN_POOL_MAX, type PdbObject, pdbView, podView, type PodObject, trimPdb, trimPod } from './views';

/** Every object (arrays included) reachable from `root`. */
const objectsOf = (root: unknown, into = new Set<object>()): Set<object> => {
  if (root === null || typeof root !== 'object' || into.has(root)) return into;
  into.add(root);
  for (const v of Object.values(root)) objectsOf(v, into);
  return into;
};

/** Objects of `trimmed` that are also objects of `served`: what a cached view would keep of the served object. */
const shared = (served: unknown, trimmed: unknown) => {
  const fromServed = objectsOf(served);
  return [...objectsOf(trimmed)].filter((o) => fromServed.has(o));
};

const base = (): PodObject =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'web-1',
      namespace: 'app',
      uid: 'u-1',
      resourceVersion: '42',
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { app: 'web', 'pod-template-hash': 'abc' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":true}', 'prometheus.io/scrape': 'true' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-1', controller: true, blockOwnerDeletion: true }],
      managedFields: [{ manager: 'kube-controller-manager', operation: 'Update' }],
    },
    spec: { nodeName: 'n1', terminationGracePeriodSeconds: 45, containers: [{ name: 'app', image: 'x' }] } as PodObject['spec'],
    status: {
      phase: 'Running',
      startTime: '2026-01-01T00:00:05Z',
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Ready', status: 'True' },
      ],
    },
  }) as PodObject;

const variant = (f: (p: PodObject) => void): PodObject => {
  const p = base();
  f(p);
  return p;
};

describe('trimPod keeps exactly what podView reads', () => {
  it.each<[string, PodObject]>([
    ['ReplicaSet pod, Ready', base()],
    ['not Ready', variant((p) => (p.status!.conditions![1].status = 'False'))],
    ['Ready Unknown', variant((p) => (p.status!.conditions![1].status = 'Unknown'))],
    ['no conditions, Pending, no start time', variant((p) => (p.status = { phase: 'Pending' }))],
    ['terminating', variant((p) => (p.metadata!.deletionTimestamp = '2026-01-01T01:00:00Z'))],
    ['mirror pod', variant((p) => (p.metadata!.annotations = { 'kubernetes.io/config.mirror': 'abc' }))],
    ['do-not-disrupt and the Karpenter alias', variant((p) => (p.metadata!.annotations = { 'kubeaws.io/do-not-disrupt': '4h', 'karpenter.sh/do-not-disrupt': 'true' }))],
    ['Karpenter alias only', variant((p) => (p.metadata!.annotations = { 'karpenter.sh/do-not-disrupt': 'true' }))],
    ['DaemonSet', variant((p) => (p.metadata!.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'ds', uid: 'd', controller: true }]))],
    ['Job owner without controller flag', variant((p) => (p.metadata!.ownerReferences = [{ apiVersion: 'batch/v1', kind: 'Job', name: 'j', uid: 'j' }]))],
    ['no owner, no labels', variant((p) => ((p.metadata!.ownerReferences = undefined), (p.metadata!.labels = undefined)))],
    ['critical, default grace period', variant((p) => ((p.spec!.priorityClassName = 'system-node-critical'), (p.spec!.terminationGracePeriodSeconds = undefined)))],
    ['unbound', variant((p) => (p.spec!.nodeName = undefined))],
  ])('%s', (_name, raw) => {
    const trimmed = trimPod(raw);
    expect(podView(trimmed)).toEqual(podView(raw));
    expect(trimmed.metadata?.resourceVersion).toBe(raw.metadata?.resourceVersion);
    const text = JSON.stringify(trimmed);
    for (const dropped of ['managedFields', 'last-applied', 'prometheus.io', 'containers', 'PodScheduled', 'blockOwnerDeletion', 'web-abc', 'rs-1'])
      expect(text).not.toContain(dropped);
  });

  it('holds no object of the served Pod (nothing of the parsed LIST page stays reachable from the cache)', () => {
    const raw = variant((p) => p.metadata!.ownerReferences!.push({ apiVersion: 'batch/v1', kind: 'Job', name: 'j', uid: 'j' }));
    expect(shared(raw, trimPod(raw))).toEqual([]);
  });

  it('labels and owner kinds survive unchanged for PDB selection and Job siblings', () => {
    const t = trimPod(variant((p) => p.metadata!.ownerReferences!.push({ apiVersion: 'batch/v1', kind: 'Job', name: 'j', uid: 'j' })));
    expect(t.metadata?.labels).toEqual({ app: 'web', 'pod-template-hash': 'abc' });
    expect(podView(t).ownerKinds).toEqual(['ReplicaSet', 'Job']);
    expect(podView(t).controllerKind).toBe('ReplicaSet');
  });
});

describe('intern', () => {
  it('returns an equal string and stays usable past its bound', () => {
    expect(intern(undefined)).toBeUndefined();
    const out: string[] = [];
    for (let i = 0; i < INTERN_POOL_MAX + 10; i++) out.push(intern(`v-${i}`));
    expect(out.every((v, i) => v === `v-${i}`)).toBe(true);
    expect(intern('v-1')).toBe('v-1');
  });
});

describe('trimPdb keeps exactly what pdbView reads', () => {
  const served = (): PdbObject =>
    ({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: {
        name: 'web',
        namespace: 'app',
        uid: 'b-1',
        resourceVersion: '7',
        labels: { team: 'a' },
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"policy/v1","kind":"PodDisruptionBudget"}' },
        managedFields: [{ manager: 'kubectl', operation: 'Update' }],
      },
      spec: { minAvailable: '100%', selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a'] }] } },
      status: { currentHealthy: 3, desiredHealthy: 3, disruptionsAllowed: 0, disruptedPods: { 'web-1': '2026-01-01T00:00:00Z' }, conditions: [{ type: 'DisruptionAllowed', status: 'False', message: 'insufficient pods' }] },
    }) as PdbObject;

  it.each<[string, (b: PdbObject) => void]>([
    ['selector with labels and expressions', () => {}],
    ['empty selector (selects every pod)', (b) => (b.spec!.selector = {})],
    ['null selector (selects nothing)', (b) => (b.spec!.selector = null)],
    ['no spec', (b) => (b.spec = undefined)],
  ])('%s', (_name, f) => {
    const raw = served();
    f(raw);
    const trimmed = trimPdb(raw);
    expect(pdbView(trimmed)).toEqual(pdbView(raw));
    expect(trimmed.metadata).toEqual({ name: 'web', namespace: 'app', uid: 'b-1', resourceVersion: '7' });
    const text = JSON.stringify(trimmed);
    for (const dropped of ['status', 'disruptedPods', 'last-applied', 'managedFields', 'minAvailable', 'team']) expect(text).not.toContain(dropped);
    expect(shared(raw, trimmed)).toEqual([]);
  });
});
