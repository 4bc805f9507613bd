import type { V1LabelSelector, V1ManagedFieldsEntry, V1PodDisruptionBudget } from '@kubernetes/client-node';
import {
  type Action,
  type DecideSettings,
  type Decision,
  type InvalidInput,
  type OwnerInCache,
  type RequestOutcome,
  type WriteError,
  badInputRows,
  decide,
  decideOrphan,
  eventSignature,
  findOrphans,
  firstObservations,
  inputSignature,
  orphanSubject,
  rolloutsAvailability,
  rolloutsUnavailable,
  writeEventAction,
  writeFailure,
} from './decide';
import { buildDesiredPdb } from './desired';
import { formatTimestamp } from './grammar';
import type { Workload } from './workload';

const NOW = Date.UTC(2025, 2, 1, 12, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;
const S: DecideSettings = {
  maxUnavailable: 1,
  nonReadyTtlMs: 0,
  minReplicas: 2,
  unhealthyPodEvictionPolicy: 'AlwaysAllow',
  pdbNameSuffix: 'pdb',
  excludeNamespaces: [],
  fieldManager: 'kubeaws-pdb-controller',
};

function wl(over: Partial<Workload> = {}): Workload {
  return {
    kind: 'Deployment',
    namespace: 'ns',
    name: 'web',
    uid: 'w-uid',
    labels: { app: 'web', team: 'x' },
    annotations: {},
    replicas: 3,
    fullyReady: true,
    templateLabels: { app: 'web', team: 'x' },
    selector: { matchLabels: { app: 'web' } },
    deleting: false,
    ...over,
  };
}

/** A managed PDB as the controller would have created it for `w`. */
function managed(
  w: Workload,
  opts: {
    name?: string;
    since?: string;
    created?: string;
    rv?: string;
    uid?: string;
    fields?: V1ManagedFieldsEntry[];
  } = {},
): V1PodDisruptionBudget {
  const p = buildDesiredPdb(w, {
    name: opts.name ?? `${w.name}-${w.kind.toLowerCase()}-pdb`,
    maxUnavailable: 1,
    unhealthyPodEvictionPolicy: 'AlwaysAllow',
    nonReadySince: opts.since,
  });
  p.metadata!.uid = opts.uid ?? `pdb-uid-${p.metadata!.name}`;
  p.metadata!.resourceVersion = opts.rv ?? '100';
  p.metadata!.creationTimestamp = new Date(opts.created ?? '2025-01-01T00:00:00Z');
  if (opts.fields) p.metadata!.managedFields = opts.fields;
  return p;
}

function user(name: string, selector: V1LabelSelector | undefined, namespace = 'ns'): V1PodDisruptionBudget {
  return {
    metadata: { name, namespace, uid: `u-${name}`, resourceVersion: '5', labels: {} },
    spec: { selector, maxUnavailable: 1 },
  };
}

function legacy(
  name: string,
  ownerUid: string,
  extra: Partial<{ annotations: Record<string, string>; minAvailable: number; controller: boolean }> = {},
): V1PodDisruptionBudget {
  return {
    metadata: {
      name,
      namespace: 'ns',
      uid: `l-${name}`,
      resourceVersion: '7',
      creationTimestamp: new Date('2024-01-01T00:00:00Z'),
      labels: { heritage: 'pdb-controller', app: 'web' },
      annotations: extra.annotations,
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: ownerUid, controller: extra.controller },
      ],
    },
    spec: { selector: { matchLabels: { app: 'web', stale: 'x' } }, minAvailable: extra.minAvailable ?? 1 },
  };
}

function applyEntry(
  fields: object,
  operation: 'Apply' | 'Update' = 'Apply',
  manager = S.fieldManager,
): V1ManagedFieldsEntry {
  return { manager, operation, apiVersion: 'policy/v1', fieldsType: 'FieldsV1', fieldsV1: fields };
}

function run(
  w: Workload,
  pdbs: V1PodDisruptionBudget[] = [],
  opts: { others?: Workload[]; settings?: Partial<DecideSettings>; now?: number } = {},
): Decision {
  return decide({
    workload: w,
    pdbs,
    others: opts.others ?? [],
    settings: { ...S, ...opts.settings },
    now: opts.now ?? NOW,
  });
}

const summary = (d: Decision) =>
  d.actions.map((a) => `${a.type}${a.type === 'patch' ? `:${a.purpose}` : ''} ${a.name}`);
const reasons = (d: Decision) => d.events.map((e) => e.reason);

describe('eligibility rows (PDB-STATES)', () => {
  const w = wl();
  const pdb = managed(w);

  test.each<
    [string, Workload, V1PodDisruptionBudget[], Parameters<typeof run>[2], Decision['state'], string[], string[]]
  >([
    [
      'a deleting: untouched',
      wl({ deleting: true, annotations: { 'kubeaws.io/default-pdb': 'false' } }),
      [pdb],
      {},
      'deleting',
      [],
      [],
    ],
    [
      'b excluded: deleted',
      w,
      [pdb],
      { settings: { excludeNamespaces: [/^n.$/] } },
      'excluded',
      ['delete web-deployment-pdb'],
      [],
    ],
    ['b excluded: full match only', w, [pdb], { settings: { excludeNamespaces: [/^(?:n)$/] } }, 'protected', [], []],
    [
      'c opted out: deleted',
      wl({ annotations: { 'kubeaws.io/default-pdb': 'false' } }),
      [pdb],
      {},
      'opted_out',
      ['delete web-deployment-pdb'],
      [],
    ],
    [
      'c default-pdb true: protected',
      wl({ annotations: { 'kubeaws.io/default-pdb': 'true' } }),
      [pdb],
      {},
      'protected',
      [],
      [],
    ],
    [
      'd below min replicas: deleted',
      wl({ replicas: 1 }),
      [pdb],
      {},
      'below_min_replicas',
      ['delete web-deployment-pdb'],
      [],
    ],
    [
      'd min replicas 3',
      wl({ replicas: 2 }),
      [pdb],
      { settings: { minReplicas: 3 } },
      'below_min_replicas',
      ['delete web-deployment-pdb'],
      [],
    ],
    ['d exactly min replicas', wl({ replicas: 2 }), [pdb], {}, 'protected', [], []],
    [
      'e covered: deleted',
      w,
      [pdb, user('team', { matchLabels: { app: 'web' } })],
      {},
      'covered',
      ['delete web-deployment-pdb'],
      [],
    ],
    ['e empty selector covers', w, [user('all', {})], {}, 'covered', [], []],
    [
      'e other namespace does not cover',
      w,
      [pdb, user('team', { matchLabels: { app: 'web' } }, 'other')],
      {},
      'protected',
      [],
      [],
    ],
    [
      'e per-pod-only selector does not cover',
      w,
      [pdb, user('team', { matchLabels: { 'pod-template-hash': 'h' } })],
      {},
      'protected',
      [],
      [],
    ],
    ['h protected, no PDB: create', w, [], {}, 'protected', ['create web-deployment-pdb'], []],
    ['h protected, PDB up to date: nothing', w, [pdb], {}, 'protected', [], []],
    [
      'i not ready, no PDB: none created',
      wl({ fullyReady: false }),
      [],
      { settings: { nonReadyTtlMs: HOUR } },
      'not_ready',
      [],
      [],
    ],
    [
      'i not ready with PDB and a TTL: since set',
      wl({ fullyReady: false }),
      [pdb],
      { settings: { nonReadyTtlMs: HOUR } },
      'not_ready',
      ['apply web-deployment-pdb'],
      [],
    ],
    ['i not ready with PDB, TTL off: nothing written', wl({ fullyReady: false }), [pdb], {}, 'not_ready', [], []],
    [
      'i ttl expired',
      wl({ fullyReady: false }),
      [managed(w, { since: formatTimestamp(NOW - HOUR) })],
      { settings: { nonReadyTtlMs: HOUR } },
      'ttl_expired',
      ['delete web-deployment-pdb'],
      [],
    ],
  ])('%s', (_n, workload, pdbs, opts, state, actions, events) => {
    const d = run(workload, pdbs, opts);
    expect(d.state).toBe(state);
    expect(summary(d)).toEqual(actions);
    expect(reasons(d)).toEqual(events);
    expect(d.key).toBe(`Deployment/ns/${workload.name}`);
  });

  test('delete actions carry preconditions and a PDBDeleted event with the reason', () => {
    const d = run(w, [pdb, user('team', { matchLabels: { app: 'web' } })]);
    expect(d.actions).toEqual([
      {
        type: 'delete',
        name: 'web-deployment-pdb',
        namespace: 'ns',
        uid: 'pdb-uid-web-deployment-pdb',
        resourceVersion: '100',
        reason: 'covered by ns/team',
        events: [
          expect.objectContaining({
            type: 'Normal',
            reason: 'PDBDeleted',
            note: 'Deleted PodDisruptionBudget web-deployment-pdb: covered by ns/team',
          }),
        ],
      },
    ]);
  });

  test.each<[string, Workload, string]>([
    ['excluded', w, 'namespace ns is excluded'],
    [
      'opted out',
      wl({ annotations: { 'kubeaws.io/default-pdb': 'false' } }),
      'opted out (kubeaws.io/default-pdb: "false")',
    ],
    ['below min', wl({ replicas: 1 }), 'below min replicas (1 < 2)'],
  ])('PDBDeleted reason: %s', (_n, workload, reason) => {
    const d = run(workload, [pdb], { settings: { excludeNamespaces: _n === 'excluded' ? [/^ns$/] : [] } });
    expect(d.actions[0]).toMatchObject({ type: 'delete', reason });
  });

  test('deletes every PDB of W (managed duplicates and legacy) in rows b–f', () => {
    const d = run(wl({ replicas: 1 }), [pdb, managed(w, { name: 'web-old' }), legacy('web-pdb-controller', 'w-uid')]);
    expect(summary(d)).toEqual(['delete web-deployment-pdb', 'delete web-old', 'delete web-pdb-controller']);
  });

  test('never touches PDBs of other workloads or user PDBs', () => {
    const other = managed(wl({ name: 'api', uid: 'api-uid' }));
    const d = run(wl({ replicas: 1 }), [other, user('x', { matchLabels: { app: 'zzz' } })]);
    expect(d.actions).toEqual([]);
  });

  test('excluded namespaces get no annotation events', () => {
    const d = run(wl({ annotations: { 'kubeaws.io/max-unavailable': '0' } }), [], {
      settings: { excludeNamespaces: [/^ns$/] },
    });
    expect(d.events).toEqual([]);
    expect(d.invalidInputs).toEqual([]);
  });
});

describe('unsupported Rollouts (PDB-STATES)', () => {
  const ro = wl({
    kind: 'Rollout',
    name: 'ro',
    templateLabels: {},
    workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
  });
  test('workloadRef: no PDB, Normal Unsupported', () => {
    const d = run(ro);
    expect(d.state).toBe('unsupported');
    expect(d.actions).toEqual([]);
    expect(d.events).toEqual([{ type: 'Normal', reason: 'Unsupported', note: expect.stringContaining('workloadRef') }]);
  });
  test('an existing managed PDB is deleted', () => {
    const d = run(ro, [managed(wl({ kind: 'Rollout', name: 'ro' }))]);
    expect(summary(d)).toEqual(['delete ro-rollout-pdb']);
  });
  test('deleting wins over unsupported', () => {
    expect(run({ ...ro, deleting: true }).state).toBe('deleting');
  });
});

describe('overlap (PDB-STATES, PDB-OVERLAP)', () => {
  const w = wl();
  const twin = wl({ name: 'web2', uid: 'w2-uid' });
  test.each<[string, Workload, Decision['state']]>([
    ['other passes a–e', twin, 'overlapping'],
    ['other is deleting', { ...twin, deleting: true }, 'protected'],
    ['other is opted out', { ...twin, annotations: { 'kubeaws.io/default-pdb': 'false' } }, 'protected'],
    [
      'other with invalid default-pdb counts as protected',
      { ...twin, annotations: { 'kubeaws.io/default-pdb': 'no' } },
      'overlapping',
    ],
    ['other below min replicas', { ...twin, replicas: 1 }, 'protected'],
    ['other unsupported', { ...twin, kind: 'Rollout', workloadRef: { name: 'x' } }, 'protected'],
    ['other not ready still counts', { ...twin, fullyReady: false }, 'overlapping'],
    [
      'disjoint',
      wl({ name: 'api', uid: 'api-uid', templateLabels: { app: 'api' }, selector: { matchLabels: { app: 'api' } } }),
      'protected',
    ],
    ['the workload itself in others', w, 'protected'],
  ])('%s', (_n, other, state) => {
    expect(run(w, [], { others: [other] }).state).toBe(state);
  });

  test('other covered by a user PDB that does not cover W', () => {
    const other = wl({ name: 'web2', uid: 'w2-uid', templateLabels: { app: 'web', team: 'x', extra: 'y' } });
    const d = run(w, [user('team', { matchLabels: { extra: 'y' } })], { others: [other] });
    expect(d.state).toBe('protected');
  });

  test('deletes the managed PDB and warns naming each other workload', () => {
    const sts = wl({ kind: 'StatefulSet', name: 'db', uid: 's-uid' });
    const d = run(w, [managed(w)], { others: [twin, sts] });
    expect(d.state).toBe('overlapping');
    expect(summary(d)).toEqual(['delete web-deployment-pdb']);
    expect(d.events).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'OverlappingSelectors',
        note: expect.stringContaining('Deployment ns/web2'),
        related: expect.objectContaining({ name: 'web2' }),
      }),
      expect.objectContaining({
        type: 'Warning',
        reason: 'OverlappingSelectors',
        note: expect.stringContaining('StatefulSet ns/db'),
      }),
    ]);
  });

  test('symmetric: the other workload gets the Warning naming W', () => {
    const d = run(twin, [], { others: [w] });
    expect(d.state).toBe('overlapping');
    expect(d.events[0].note).toContain('Deployment ns/web;');
  });
});

describe('name conflict (PDB-STATES, PDB-BAD-INPUT)', () => {
  const w = wl();
  test('user PDB with the generated name that does not cover W', () => {
    const holder = user('web-deployment-pdb', { matchLabels: { app: 'other' } });
    const d = run(w, [holder]);
    expect(d.state).toBe('name_conflict');
    expect(d.actions).toEqual([]);
    expect(d.events).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'PDBNameConflict',
        related: expect.objectContaining({ name: 'web-deployment-pdb' }),
      }),
    ]);
  });
  test('not ready workload with a held name is name_conflict too', () => {
    expect(run(wl({ fullyReady: false }), [user('web-deployment-pdb', { matchLabels: { app: 'other' } })]).state).toBe(
      'name_conflict',
    );
  });
  test('an existing managed PDB under another name means no conflict', () => {
    const d = run(w, [
      user('web-deployment-pdb', { matchLabels: { app: 'other' } }),
      managed(w, { name: 'web-custom' }),
    ]);
    expect(d.state).toBe('protected');
    expect(d.actions).toEqual([]);
    expect(d.managedPdb).toBe('web-custom');
  });
  test('a managed PDB of a previous owner UID holds the name: no Warning, no create', () => {
    const d = run(w, [managed(wl({ uid: 'old-uid' }))]);
    expect(d.state).toBe('name_conflict');
    expect(d.actions).toEqual([]);
    expect(d.events).toEqual([]);
  });
  test('a terminating holder: wait without create or Warning', () => {
    const holder = user('web-deployment-pdb', { matchLabels: { app: 'other' } });
    holder.metadata!.deletionTimestamp = new Date(NOW);
    const d = run(w, [holder]);
    expect(d.state).toBe('protected');
    expect(d.actions).toEqual([]);
    expect(d.events).toEqual([]);
  });
});

describe('desired PDB (PDB-NAME, PDB-CONTENT)', () => {
  test('create body', () => {
    const w = wl({
      labels: { app: 'web', 'kubeaws.io/managed-by': 'me', 'kubeaws.io/workload-kind': 'x' },
      selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'team', operator: 'In', values: ['x'] }] },
    });
    const d = run(w);
    expect(d.actions).toEqual([
      {
        type: 'create',
        name: 'web-deployment-pdb',
        pdb: {
          apiVersion: 'policy/v1',
          kind: 'PodDisruptionBudget',
          metadata: {
            name: 'web-deployment-pdb',
            namespace: 'ns',
            labels: { app: 'web', 'kubeaws.io/managed-by': 'pdb-controller', 'kubeaws.io/workload-kind': 'Deployment' },
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: 'Deployment',
                name: 'web',
                uid: 'w-uid',
                controller: true,
                blockOwnerDeletion: false,
              },
            ],
          },
          spec: {
            selector: {
              matchLabels: { app: 'web' },
              matchExpressions: [{ key: 'team', operator: 'In', values: ['x'] }],
            },
            maxUnavailable: 1,
            unhealthyPodEvictionPolicy: 'AlwaysAllow',
          },
        },
        events: [
          expect.objectContaining({
            type: 'Normal',
            reason: 'PDBCreated',
            note: 'Created PodDisruptionBudget web-deployment-pdb (maxUnavailable: 1)',
          }),
        ],
      },
    ]);
    expect(d.managedPdb).toBe('web-deployment-pdb');
  });

  test.each<[string, Record<string, string>, Partial<DecideSettings>, unknown, string[]]>([
    ['annotation percentage', { 'kubeaws.io/max-unavailable': '50%' }, {}, '50%', []],
    ['annotation integer', { 'kubeaws.io/max-unavailable': '2' }, {}, 2, []],
    ['flag percentage', {}, { maxUnavailable: '25%' }, '25%', []],
    ['annotation 0 → flag', { 'kubeaws.io/max-unavailable': '0' }, { maxUnavailable: 3 }, 3, ['InvalidAnnotation']],
    ['annotation 0% → flag', { 'kubeaws.io/max-unavailable': '0%' }, {}, 1, ['InvalidAnnotation']],
    ['annotation garbage → flag', { 'kubeaws.io/max-unavailable': 'half' }, {}, 1, ['InvalidAnnotation']],
  ])('maxUnavailable: %s', (_n, annotations, settings, value, events) => {
    const d = run(wl({ annotations }), [], { settings });
    const a = d.actions[0];
    expect(a.type === 'create' && a.pdb.spec?.maxUnavailable).toBe(value);
    expect(reasons(d)).toEqual(events);
  });

  test('unhealthyPodEvictionPolicy "" leaves the field unset', () => {
    const a = run(wl(), [], { settings: { unhealthyPodEvictionPolicy: '' } }).actions[0];
    expect(a.type === 'create' && 'unhealthyPodEvictionPolicy' in a.pdb.spec!).toBe(false);
  });

  test('IfHealthyBudget', () => {
    const a = run(wl(), [], { settings: { unhealthyPodEvictionPolicy: 'IfHealthyBudget' } }).actions[0];
    expect(a.type === 'create' && a.pdb.spec?.unhealthyPodEvictionPolicy).toBe('IfHealthyBudget');
  });

  test('empty suffix', () => {
    expect(summary(run(wl(), [], { settings: { pdbNameSuffix: '' } }))).toEqual(['create web-deployment']);
  });

  test('Deployment and StatefulSet with one name do not collide', () => {
    const dep = wl();
    const sts = wl({
      kind: 'StatefulSet',
      uid: 's-uid',
      templateLabels: { app: 'db' },
      selector: { matchLabels: { app: 'db' } },
    });
    const d = run(sts, [managed(dep)]);
    expect(summary(d)).toEqual(['create web-statefulset-pdb']);
  });
});

describe('convergence of a managed PDB (PDB-APPLY, PDB-REPAIR)', () => {
  const w = wl();
  const drift = (mut: (p: V1PodDisruptionBudget) => void, fields?: V1ManagedFieldsEntry[]) => {
    const p = managed(w, { fields });
    mut(p);
    return run(w, [p]);
  };

  test.each<[string, (p: V1PodDisruptionBudget) => void, string[]]>([
    ['maxUnavailable 0 reverted', (p) => (p.spec!.maxUnavailable = 0), ['spec.maxUnavailable']],
    ['maxUnavailable "1" (string) reverted', (p) => (p.spec!.maxUnavailable = '1'), ['spec.maxUnavailable']],
    ['selector edited', (p) => (p.spec!.selector = { matchLabels: { app: 'web', x: 'y' } }), ['spec.selector']],
    [
      'policy edited',
      (p) => (p.spec!.unhealthyPodEvictionPolicy = 'IfHealthyBudget'),
      ['spec.unhealthyPodEvictionPolicy'],
    ],
    [
      'our label removed',
      (p) => delete p.metadata!.labels!['kubeaws.io/workload-kind'],
      ['metadata.labels[kubeaws.io/workload-kind]'],
    ],
    ['copied label edited', (p) => (p.metadata!.labels!.team = 'y'), ['metadata.labels[team]']],
    [
      'blockOwnerDeletion edited',
      (p) => (p.metadata!.ownerReferences![0].blockOwnerDeletion = true),
      ['metadata.ownerReferences'],
    ],
  ])('%s → apply with PDBUpdated', (_n, mut, fields) => {
    const d = drift(mut);
    expect(d.actions).toEqual([
      {
        type: 'apply',
        name: 'web-deployment-pdb',
        body: buildDesiredPdb(w, {
          name: 'web-deployment-pdb',
          maxUnavailable: 1,
          unhealthyPodEvictionPolicy: 'AlwaysAllow',
          nonReadySince: undefined,
        }),
        changedFields: fields,
        events: [
          expect.objectContaining({
            type: 'Normal',
            reason: 'PDBUpdated',
            note: `Updated PodDisruptionBudget web-deployment-pdb: ${fields.join(', ')}`,
          }),
        ],
      },
    ]);
  });

  test.each<[string, (p: V1PodDisruptionBudget) => void]>([
    ['foreign label', (p) => (p.metadata!.labels!.owner = 'sre')],
    ['foreign annotation', (p) => (p.metadata!.annotations = { note: 'x' })],
    [
      'foreign ownerReference',
      (p) => p.metadata!.ownerReferences!.push({ apiVersion: 'v1', kind: 'ConfigMap', name: 'c', uid: 'c' }),
    ],
    [
      'status change',
      (p) => (p.status = { disruptionsAllowed: 1, currentHealthy: 3, desiredHealthy: 2, expectedPods: 3 }),
    ],
    ['empty matchExpressions', (p) => (p.spec!.selector!.matchExpressions = [])],
  ])('no write for %s', (_n, mut) => {
    const p = managed(w);
    mut(p);
    expect(run(w, [p]).actions).toEqual([]);
  });

  test('no write when our policy is "" and another manager owns the field', () => {
    const p = managed(w, {
      fields: [applyEntry({ 'f:spec': { 'f:unhealthyPodEvictionPolicy': {} } }, 'Apply', 'kubectl')],
    });
    expect(run(w, [p], { settings: { unhealthyPodEvictionPolicy: '' } }).actions).toEqual([]);
  });

  test('minAvailable added by anyone → repair merge patch', () => {
    const d = drift((p) => (p.spec!.minAvailable = 2));
    expect(d.actions).toEqual([
      expect.objectContaining({
        type: 'patch',
        purpose: 'repair',
        resourceVersion: '100',
        patch: { metadata: { resourceVersion: '100' }, spec: { minAvailable: null } },
        changedFields: ['spec.minAvailable'],
      }),
    ]);
  });

  test('minAvailable plus other drift → one patch doing both', () => {
    const d = drift((p) => {
      p.spec!.minAvailable = 2;
      delete p.spec!.maxUnavailable;
    });
    expect(d.actions).toHaveLength(1);
    expect(d.actions[0]).toMatchObject({ type: 'patch', patch: { spec: { minAvailable: null, maxUnavailable: 1 } } });
  });

  test('stale copied label owned by our apply → apply (removal by omission)', () => {
    const d = drift(
      (p) => (p.metadata!.labels!.old = 'x'),
      [applyEntry({ 'f:metadata': { 'f:labels': { 'f:old': {} } } })],
    );
    expect(d.actions).toEqual([expect.objectContaining({ type: 'apply', changedFields: ['metadata.labels[old]'] })]);
  });

  test('stale copied label written by our POST → patch with null', () => {
    const d = drift(
      (p) => (p.metadata!.labels!.old = 'x'),
      [applyEntry({ 'f:metadata': { 'f:labels': { 'f:old': {} } } }, 'Update')],
    );
    expect(d.actions).toEqual([
      expect.objectContaining({
        type: 'patch',
        purpose: 'repair',
        patch: { metadata: { resourceVersion: '100', labels: { old: null } } },
      }),
    ]);
  });

  test('label owned by another manager is kept', () => {
    const d = drift(
      (p) => (p.metadata!.labels!.old = 'x'),
      [applyEntry({ 'f:metadata': { 'f:labels': { 'f:old': {} } } }, 'Apply', 'kubectl')],
    );
    expect(d.actions).toEqual([]);
  });

  test('policy "" and our apply owns the field → removed by apply', () => {
    const p = managed(w, { fields: [applyEntry({ 'f:spec': { 'f:unhealthyPodEvictionPolicy': {} } })] });
    const d = run(w, [p], { settings: { unhealthyPodEvictionPolicy: '' } });
    expect(d.actions).toEqual([
      expect.objectContaining({ type: 'apply', changedFields: ['spec.unhealthyPodEvictionPolicy'] }),
    ]);
    const a = d.actions[0];
    expect(a.type === 'apply' && a.body.spec).not.toHaveProperty('unhealthyPodEvictionPolicy');
  });

  test('workload label change is copied', () => {
    const p = managed(w);
    const d = run(wl({ labels: { app: 'web', team: 'y', env: 'prod' } }), [p]);
    expect(d.actions).toEqual([
      expect.objectContaining({ type: 'apply', changedFields: ['metadata.labels[team]', 'metadata.labels[env]'] }),
    ]);
  });
});

describe('identity and duplicates (PDB-IDENTITY)', () => {
  const w = wl();
  test('generated name wins over older', () => {
    const gen = managed(w, { created: '2025-02-01T00:00:00Z' });
    const old = managed(w, { name: 'web-a', created: '2024-01-01T00:00:00Z' });
    const d = run(w, [old, gen]);
    expect(summary(d)).toEqual(['delete web-a']);
    expect(d.actions[0]).toMatchObject({ reason: 'duplicate of PodDisruptionBudget web-deployment-pdb' });
    expect(d.managedPdb).toBe('web-deployment-pdb');
  });
  test('else the oldest', () => {
    const d = run(w, [
      managed(w, { name: 'web-b', created: '2025-01-02T00:00:00Z' }),
      managed(w, { name: 'web-a', created: '2025-01-01T00:00:00Z' }),
    ]);
    expect(summary(d)).toEqual(['delete web-b']);
    expect(d.managedPdb).toBe('web-a');
  });
  test('ownership label required', () => {
    const p = managed(w);
    delete p.metadata!.labels!['kubeaws.io/managed-by'];
    // Handed over (docs/pdb-controller.md#pdb-handover): a user PDB now, and it covers W.
    expect(run(w, [p]).state).toBe('covered');
    expect(run(w, [p]).actions).toEqual([]);
  });
  test('non-controller ownerReference is not identity', () => {
    const p = managed(w);
    p.metadata!.ownerReferences![0].controller = false;
    const d = run(w, [p]);
    // The PDB with our label but no controller reference holds the generated name.
    expect(d.state).toBe('name_conflict');
    expect(d.events).toEqual([]);
  });
  test('terminating managed PDB is ignored', () => {
    const p = managed(w, { name: 'web-x' });
    p.metadata!.deletionTimestamp = new Date(NOW);
    expect(summary(run(w, [p]))).toEqual(['create web-deployment-pdb']);
  });
});

describe('adoption of legacy PDBs (PDB-ADOPTION)', () => {
  const w = wl();
  test('adoption patch', () => {
    const d = run(w, [legacy('web-pdb-controller', 'w-uid')]);
    expect(d.state).toBe('protected');
    expect(d.managedPdb).toBe('web-pdb-controller');
    expect(d.actions).toEqual([
      {
        type: 'patch',
        purpose: 'adopt',
        name: 'web-pdb-controller',
        resourceVersion: '7',
        patch: {
          metadata: {
            resourceVersion: '7',
            labels: {
              heritage: null,
              app: 'web',
              team: 'x',
              'kubeaws.io/managed-by': 'pdb-controller',
              'kubeaws.io/workload-kind': 'Deployment',
            },
            annotations: { 'pdb-controller.zalando.org/non-ready-since': null, 'kubeaws.io/non-ready-since': null },
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: 'Deployment',
                name: 'web',
                uid: 'w-uid',
                controller: true,
                blockOwnerDeletion: false,
              },
            ],
          },
          spec: {
            selector: { matchLabels: { stale: null } },
            maxUnavailable: 1,
            minAvailable: null,
            unhealthyPodEvictionPolicy: 'AlwaysAllow',
          },
        },
        changedFields: expect.arrayContaining(['metadata.labels', 'spec.minAvailable']),
        events: [expect.objectContaining({ type: 'Normal', reason: 'PDBAdopted' })],
      },
    ]);
  });

  test('upstream non-ready-since carries over when not ready', () => {
    const since = '2025-03-01T11:30:00Z';
    const d = run(
      wl({ fullyReady: false }),
      [legacy('web-pdb-controller', 'w-uid', { annotations: { 'pdb-controller.zalando.org/non-ready-since': since } })],
      {
        settings: { nonReadyTtlMs: HOUR },
      },
    );
    expect(d.state).toBe('not_ready');
    expect(d.requeueAfterMs).toBe(30 * MIN);
    const a = d.actions[0];
    expect(a.type === 'patch' && (a.patch.metadata as { annotations: unknown }).annotations).toEqual({
      'pdb-controller.zalando.org/non-ready-since': null,
      'kubeaws.io/non-ready-since': since,
    });
  });

  test('upstream non-ready-since already expired → delete instead of adopt', () => {
    const d = run(
      wl({ fullyReady: false }),
      [
        legacy('web-pdb-controller', 'w-uid', {
          annotations: { 'pdb-controller.zalando.org/non-ready-since': '2025-03-01T10:00:00Z' },
        }),
      ],
      {
        settings: { nonReadyTtlMs: HOUR },
      },
    );
    expect(d.state).toBe('ttl_expired');
    expect(summary(d)).toEqual(['delete web-pdb-controller']);
  });

  test('legacy PDB of another workload is left alone', () => {
    expect(summary(run(w, [legacy('api-pdb-controller', 'api-uid')]))).toEqual(['create web-deployment-pdb']);
  });

  test('legacy PDB with another controller is not adoptable', () => {
    const l = legacy('web-pdb-controller', 'w-uid');
    l.metadata!.ownerReferences!.push({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      name: 'r',
      uid: 'r',
      controller: true,
    });
    expect(summary(run(w, [l]))).toEqual(['create web-deployment-pdb']);
  });

  test('managed PDB and legacy PDB: keep managed, delete legacy', () => {
    expect(summary(run(w, [legacy('web-pdb-controller', 'w-uid'), managed(w)]))).toEqual(['delete web-pdb-controller']);
  });
});

describe('non-ready TTL (PDB-TTL)', () => {
  const notReady = (annotations: Record<string, string> = {}) => wl({ fullyReady: false, annotations });
  const SINCE = NOW - 30 * MIN;

  test('since is set once to now (seconds) and a timer is requested', () => {
    const d = run(notReady(), [managed(wl())], { settings: { nonReadyTtlMs: HOUR }, now: NOW + 500 });
    expect(d.state).toBe('not_ready');
    const a = d.actions[0];
    expect(a.type).toBe('apply');
    expect(a.type === 'apply' && a.body.metadata?.annotations).toEqual({
      'kubeaws.io/non-ready-since': '2025-03-01T12:00:00Z',
    });
    expect(a.type === 'apply' && a.changedFields).toEqual(['metadata.annotations[kubeaws.io/non-ready-since]']);
    expect(a.events).toEqual([]);
    expect(d.requeueAfterMs).toBe(HOUR - 500);
  });

  test('TTL 0: an existing since is left as it is, no timer, never expires', () => {
    const d = run(notReady(), [managed(wl(), { since: formatTimestamp(NOW - 400 * 24 * HOUR) })]);
    expect(d.state).toBe('not_ready');
    expect(d.actions).toEqual([]);
    expect(d.requeueAfterMs).toBeUndefined();
  });

  test.each<[string, Record<string, string>, Partial<DecideSettings>]>([
    ['flag 0, no annotation', {}, {}],
    ['ours 0 over a flag TTL', { 'kubeaws.io/non-ready-ttl': '0' }, { nonReadyTtlMs: HOUR }],
    ['ours 0s', { 'kubeaws.io/non-ready-ttl': '0s' }, {}],
    ['flag 0, invalid ours falls back to the flag', { 'kubeaws.io/non-ready-ttl': 'never' }, {}],
  ])('no TTL applies (%s): non-ready-since is not written', (_n, annotations, settings) => {
    const d = run(notReady(annotations), [managed(wl())], { settings });
    expect(d.state).toBe('not_ready');
    expect(d.actions).toEqual([]);
    expect(d.requeueAfterMs).toBeUndefined();
  });

  test('no TTL applies: an invalid since on our PDB is neither rewritten nor reported', () => {
    const d = run(notReady(), [managed(wl(), { since: 'yesterday' })]);
    expect(d.actions).toEqual([]);
    expect(d.invalidInputs).toEqual([]);
  });

  test('no TTL applies: adoption drops the upstream since instead of converting it', () => {
    const since = '2025-03-01T11:00:00+00:00';
    const d = run(notReady(), [
      legacy('web-pdb-controller', 'w-uid', { annotations: { 'pdb-controller.zalando.org/non-ready-since': since } }),
    ]);
    expect(d.actions).toEqual([
      expect.objectContaining({
        type: 'patch',
        purpose: 'adopt',
        patch: expect.objectContaining({
          metadata: expect.objectContaining({
            annotations: { 'pdb-controller.zalando.org/non-ready-since': null, 'kubeaws.io/non-ready-since': null },
          }),
        }),
      }),
    ]);
  });

  test('a TTL set later starts from the first reconcile under it', () => {
    const p = managed(wl());
    expect(run(notReady(), [p]).actions).toEqual([]);
    const d = run(notReady({ 'kubeaws.io/non-ready-ttl': '1h' }), [p], { now: NOW + 10 * MIN });
    expect(d.actions).toEqual([
      expect.objectContaining({ type: 'apply', changedFields: ['metadata.annotations[kubeaws.io/non-ready-since]'] }),
    ]);
    expect(d.requeueAfterMs).toBe(HOUR);
  });

  test('never moved forward: existing since kept, no write', () => {
    const d = run(notReady(), [managed(wl(), { since: formatTimestamp(SINCE) })], {
      settings: { nonReadyTtlMs: HOUR },
    });
    expect(d.actions).toEqual([]);
    expect(d.requeueAfterMs).toBe(30 * MIN);
  });

  test.each<[string, number, Decision['state'], number | undefined]>([
    ['1 ms before expiry', NOW + 30 * MIN - 1, 'not_ready', 1],
    ['exactly at expiry (inclusive)', NOW + 30 * MIN, 'ttl_expired', undefined],
    ['after expiry', NOW + 2 * HOUR, 'ttl_expired', undefined],
  ])('boundary: %s', (_n, now, state, requeue) => {
    const d = run(notReady(), [managed(wl(), { since: formatTimestamp(SINCE) })], {
      settings: { nonReadyTtlMs: HOUR },
      now,
    });
    expect(d.state).toBe(state);
    expect(d.requeueAfterMs).toBe(requeue);
    if (state === 'ttl_expired') {
      expect(d.actions).toEqual([
        expect.objectContaining({
          type: 'delete',
          reason: 'non-ready TTL expired',
          events: [
            expect.objectContaining({
              type: 'Warning',
              reason: 'NonReadyTTLExpired',
              note: expect.stringContaining('since 2025-03-01T11:30:00Z (TTL 1h)'),
            }),
          ],
        }),
      ]);
    }
  });

  test('fully ready again: annotation removed by apply when our apply owns it', () => {
    const p = managed(wl(), {
      since: formatTimestamp(SINCE),
      fields: [applyEntry({ 'f:metadata': { 'f:annotations': { 'f:kubeaws.io/non-ready-since': {} } } })],
    });
    const d = run(wl(), [p], { settings: { nonReadyTtlMs: HOUR } });
    expect(d.state).toBe('protected');
    expect(d.actions).toEqual([
      expect.objectContaining({
        type: 'apply',
        changedFields: ['metadata.annotations[kubeaws.io/non-ready-since]'],
        events: [],
      }),
    ]);
    const a = d.actions[0];
    expect(a.type === 'apply' && a.body.metadata?.annotations).toBeUndefined();
    expect(d.requeueAfterMs).toBeUndefined();
  });

  test('fully ready again: annotation written by a patch is removed by patch', () => {
    const p = managed(wl(), { since: formatTimestamp(SINCE) });
    const d = run(wl(), [p]);
    expect(d.actions).toEqual([
      expect.objectContaining({
        type: 'patch',
        purpose: 'repair',
        patch: { metadata: { resourceVersion: '100', annotations: { 'kubeaws.io/non-ready-since': null } } },
      }),
    ]);
  });

  test.each<[string, Record<string, string>, number, string[]]>([
    ['flag', {}, 2 * HOUR, []],
    ['ours', { 'kubeaws.io/non-ready-ttl': '1h' }, HOUR, []],
    ['alias', { 'pdb-controller.zalando.org/non-ready-ttl': '45m' }, 45 * MIN, []],
    [
      'ours wins over alias, with a conflict warning',
      { 'kubeaws.io/non-ready-ttl': '1h', 'pdb-controller.zalando.org/non-ready-ttl': '45m' },
      HOUR,
      ['ConflictingAnnotations'],
    ],
    [
      'both equal: no warning',
      { 'kubeaws.io/non-ready-ttl': '1h', 'pdb-controller.zalando.org/non-ready-ttl': '60m' },
      HOUR,
      [],
    ],
    [
      'ours invalid → alias',
      { 'kubeaws.io/non-ready-ttl': '1 hour', 'pdb-controller.zalando.org/non-ready-ttl': '45m' },
      45 * MIN,
      ['InvalidAnnotation'],
    ],
    ['ours invalid → flag', { 'kubeaws.io/non-ready-ttl': 'bogus' }, 2 * HOUR, ['InvalidAnnotation']],
    ['alias invalid → flag', { 'pdb-controller.zalando.org/non-ready-ttl': '5min' }, 2 * HOUR, ['InvalidAnnotation']],
    ['alias in Go grammar only', { 'pdb-controller.zalando.org/non-ready-ttl': '.5h' }, 30 * MIN, []],
    ['alias with a plus sign', { 'pdb-controller.zalando.org/non-ready-ttl': '+30m' }, 30 * MIN, []],
    [
      'alias in microseconds, rounded up to a whole ms',
      { 'pdb-controller.zalando.org/non-ready-ttl': '1500us' },
      2,
      [],
    ],
    [
      'alias above 365d (Go has no such limit)',
      { 'pdb-controller.zalando.org/non-ready-ttl': '8784h' },
      366 * 24 * HOUR,
      [],
    ],
    ['alias d is not Go → flag', { 'pdb-controller.zalando.org/non-ready-ttl': '1d' }, 2 * HOUR, ['InvalidAnnotation']],
    [
      'alias bare seconds are not Go → flag',
      { 'pdb-controller.zalando.org/non-ready-ttl': '90' },
      2 * HOUR,
      ['InvalidAnnotation'],
    ],
    [
      'both invalid → flag',
      { 'kubeaws.io/non-ready-ttl': 'x', 'pdb-controller.zalando.org/non-ready-ttl': 'y' },
      2 * HOUR,
      ['InvalidAnnotation', 'InvalidAnnotation'],
    ],
    ['above 365d is invalid → flag', { 'kubeaws.io/non-ready-ttl': '366d' }, 2 * HOUR, ['InvalidAnnotation']],
  ])('effective TTL: %s', (_n, annotations, ttl, events) => {
    const d = run(notReady(annotations), [managed(wl(), { since: formatTimestamp(NOW) })], {
      settings: { nonReadyTtlMs: 2 * HOUR },
    });
    expect(d.requeueAfterMs).toBe(ttl);
    expect(reasons(d)).toEqual(events);
  });

  test('ours 0 disables expiry even with a flag TTL', () => {
    const d = run(
      notReady({ 'kubeaws.io/non-ready-ttl': '0' }),
      [managed(wl(), { since: formatTimestamp(NOW - 10 * HOUR) })],
      { settings: { nonReadyTtlMs: HOUR } },
    );
    expect(d.state).toBe('not_ready');
    expect(d.requeueAfterMs).toBeUndefined();
  });

  // mikkeloscar/pdb-controller overrideNonReadyTTL (controller.go): the PDB goes once non-ready-since is
  // before now - duration, so 0 and negative durations drop it at once.
  test.each<[string, string, string | undefined]>([
    ['0, first seen not ready', '0', undefined],
    ['0, since recorded earlier', '0', formatTimestamp(NOW - 5 * MIN)],
    ['-0', '-0', undefined],
    ['+0', '+0', undefined],
    ['negative', '-5m', undefined],
    ['negative fraction', '-.5h', undefined],
    ['0s', '0s', undefined],
    ['0.0h', '0.0h', undefined],
  ])('alias %s: the PDB is dropped at once, as upstream does', (_n, raw, since) => {
    const d = run(notReady({ 'pdb-controller.zalando.org/non-ready-ttl': raw }), [managed(wl(), { since })], {
      settings: { nonReadyTtlMs: 2 * HOUR },
      now: NOW + 300,
    });
    expect(d.state).toBe('ttl_expired');
    expect(d.invalidInputs).toEqual([]);
    expect(d.actions).toEqual([
      expect.objectContaining({
        type: 'delete',
        ttlExpiry: true,
        events: [
          expect.objectContaining({ reason: 'NonReadyTTLExpired', note: expect.stringContaining('(TTL 0 (at once))') }),
        ],
      }),
    ]);
  });

  test('alias 0 on an upstream PDB: deleted instead of adopted', () => {
    const d = run(notReady({ 'pdb-controller.zalando.org/non-ready-ttl': '0' }), [
      legacy('web-pdb-controller', 'w-uid'),
    ]);
    expect(summary(d)).toEqual(['delete web-pdb-controller']);
    expect(d.state).toBe('ttl_expired');
  });

  test('alias 0 never touches a fully ready workload', () => {
    const d = run(wl({ annotations: { 'pdb-controller.zalando.org/non-ready-ttl': '0' } }), [managed(wl())]);
    expect(d.state).toBe('protected');
    expect(d.actions).toEqual([]);
  });

  test('ours 0 (never) and alias 0 (at once) differ: ConflictingAnnotations, ours wins', () => {
    const d = run(notReady({ 'kubeaws.io/non-ready-ttl': '0', 'pdb-controller.zalando.org/non-ready-ttl': '0' }), [
      managed(wl()),
    ]);
    expect(d.state).toBe('not_ready');
    expect(d.actions).toEqual([]);
    expect(d.events).toEqual([
      expect.objectContaining({
        reason: 'ConflictingAnnotations',
        note: expect.stringContaining('using 0 from kubeaws.io/non-ready-ttl'),
      }),
    ]);
  });

  test('ours invalid, alias 0: falls back to the alias, named as at once', () => {
    const d = run(notReady({ 'kubeaws.io/non-ready-ttl': 'soon', 'pdb-controller.zalando.org/non-ready-ttl': '0' }), [
      managed(wl()),
    ]);
    expect(d.invalidInputs).toEqual([
      expect.objectContaining({
        field: 'kubeaws.io/non-ready-ttl',
        fallback: '0 (at once) from pdb-controller.zalando.org/non-ready-ttl',
      }),
    ]);
    expect(d.state).toBe('ttl_expired');
  });

  test('an invalid annotation never disables the TTL', () => {
    const d = run(
      notReady({ 'kubeaws.io/non-ready-ttl': 'never' }),
      [managed(wl(), { since: formatTimestamp(NOW - 2 * HOUR) })],
      { settings: { nonReadyTtlMs: HOUR } },
    );
    expect(d.state).toBe('ttl_expired');
  });

  test.each<[string, string, boolean]>([
    ['unparsable', 'yesterday', true],
    ['more than 5 min in the future', formatTimestamp(NOW + 5 * MIN + 1000), true],
    ['exactly 5 min in the future is tolerated', formatTimestamp(NOW + 5 * MIN), false],
    ['offset form is accepted', '2025-03-01T13:00:00+01:00', false],
  ])('non-ready-since %s', (_n, raw, reset) => {
    const d = run(notReady(), [managed(wl(), { since: raw })], { settings: { nonReadyTtlMs: HOUR } });
    if (reset) {
      expect(d.invalidInputs).toEqual([
        {
          field: 'kubeaws.io/non-ready-since',
          value: raw,
          expected: expect.stringContaining('RFC 3339'),
          fallback: 'now (the TTL clock restarts)',
        },
      ]);
      expect(reasons(d)).toEqual(['InvalidAnnotation']);
      expect(d.requeueAfterMs).toBe(HOUR);
      const a = d.actions[0];
      expect(a.type === 'patch' || a.type === 'apply').toBe(true);
      expect(a.type === 'apply' && a.body.metadata?.annotations).toEqual({
        'kubeaws.io/non-ready-since': '2025-03-01T12:00:00Z',
      });
    } else {
      expect(d.invalidInputs).toEqual([]);
    }
  });
});

describe('bad input rows (PDB-BAD-INPUT)', () => {
  test.each<[string, Workload, V1PodDisruptionBudget[], string, string]>([
    [
      'max-unavailable',
      wl({ annotations: { 'kubeaws.io/max-unavailable': '0' } }),
      [],
      'kubeaws.io/max-unavailable',
      '1 from --max-unavailable',
    ],
    [
      'non-ready-ttl',
      wl({ annotations: { 'kubeaws.io/non-ready-ttl': '5 min' } }),
      [],
      'kubeaws.io/non-ready-ttl',
      '0 from --non-ready-ttl',
    ],
    [
      'alias ttl',
      wl({ annotations: { 'pdb-controller.zalando.org/non-ready-ttl': 'x' } }),
      [],
      'pdb-controller.zalando.org/non-ready-ttl',
      '0 from --non-ready-ttl',
    ],
    [
      'default-pdb',
      wl({ annotations: { 'kubeaws.io/default-pdb': 'False' } }),
      [],
      'kubeaws.io/default-pdb',
      '"true" (protected)',
    ],
  ])('%s: Warning InvalidAnnotation + invalid input', (_n, w, pdbs, field, fallback) => {
    const d = run(w, pdbs);
    expect(d.invalidInputs).toEqual([{ field, value: w.annotations[field], expected: expect.any(String), fallback }]);
    expect(d.events).toEqual([
      {
        type: 'Warning',
        reason: 'InvalidAnnotation',
        note: expect.stringContaining(`${field}=${JSON.stringify(w.annotations[field])} is invalid`),
      },
    ]);
    expect(d.state).toBe('protected');
    expect(summary(d)).toEqual(['create web-deployment-pdb']);
  });

  test('InvalidAnnotation note names value, expected form and fallback', () => {
    const d = run(wl({ annotations: { 'kubeaws.io/max-unavailable': '0%' } }));
    expect(d.events[0].note).toBe(
      'kubeaws.io/max-unavailable="0%" is invalid (expected an integer 1..2147483647 or a percentage 1%..100%); using 1 from --max-unavailable',
    );
  });

  test('alias invalid while ours valid: reported, ours used', () => {
    const d = run(
      wl({ annotations: { 'kubeaws.io/non-ready-ttl': '1h', 'pdb-controller.zalando.org/non-ready-ttl': 'x' } }),
    );
    expect(d.invalidInputs).toEqual([
      expect.objectContaining({
        field: 'pdb-controller.zalando.org/non-ready-ttl',
        fallback: '1h from kubeaws.io/non-ready-ttl',
      }),
    ]);
  });

  test('ConflictingAnnotations carries both values', () => {
    const d = run(
      wl({ annotations: { 'kubeaws.io/non-ready-ttl': '1h', 'pdb-controller.zalando.org/non-ready-ttl': '2h' } }),
    );
    expect(d.events).toEqual([
      { type: 'Warning', reason: 'ConflictingAnnotations', note: expect.stringMatching(/"1h".*"2h".*using 1h/) },
    ]);
    expect(d.invalidInputs).toEqual([]);
  });
});

describe('budget health feedback (PDB-SYNC-FAILED)', () => {
  test('SyncFailed: Warning quoting the message, flag set, no write', () => {
    const p = managed(wl());
    p.status = {
      disruptionsAllowed: 0,
      currentHealthy: 0,
      desiredHealthy: 0,
      expectedPods: 0,
      conditions: [
        {
          type: 'DisruptionAllowed',
          status: 'False',
          reason: 'SyncFailed',
          message: 'found no controllers for pod "job-x"',
          lastTransitionTime: new Date(NOW),
        },
      ],
    };
    const d = run(wl(), [p]);
    expect(d.syncFailed).toBe(true);
    expect(d.actions).toEqual([]);
    expect(d.events).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'PDBSyncFailed',
        note: expect.stringContaining('found no controllers for pod "job-x"'),
      }),
    ]);
  });

  test('SufficientPods: nothing', () => {
    const p = managed(wl());
    p.status = {
      disruptionsAllowed: 1,
      currentHealthy: 3,
      desiredHealthy: 2,
      expectedPods: 3,
      conditions: [
        {
          type: 'DisruptionAllowed',
          status: 'True',
          reason: 'SufficientPods',
          message: '',
          lastTransitionTime: new Date(NOW),
        },
      ],
    };
    const d = run(wl(), [p]);
    expect(d.syncFailed).toBe(false);
    expect(d.events).toEqual([]);
  });
});

describe('findOrphans (PDB-ADOPTION, PDB-ORPHANS)', () => {
  const dep = managed(wl());
  const ro = managed(wl({ kind: 'Rollout', name: 'ro', uid: 'ro-uid' }));
  const leg = legacy('old-pdb-controller', 'gone-uid');
  const all = new Set(['Deployment', 'StatefulSet', 'Rollout'] as const);

  test.each<
    [string, V1PodDisruptionBudget[], Parameters<typeof findOrphans>[1], Parameters<typeof findOrphans>[2], string[]]
  >([
    ['live owner', [dep], { Deployment: new Set(['w-uid']) }, all, []],
    ['owner gone', [dep], { Deployment: new Set() }, all, ['web-deployment-pdb']],
    ['owner kind not synced', [dep], {}, new Set(['StatefulSet'] as const), []],
    ['Rollouts disabled: left in place', [ro], {}, new Set(['Deployment', 'StatefulSet'] as const), []],
    ['Rollouts enabled, owner gone', [ro], { Rollout: new Set() }, all, ['ro-rollout-pdb']],
    ['legacy owner gone', [leg], { Deployment: new Set(['w-uid']) }, all, ['old-pdb-controller']],
    ['legacy owner live', [legacy('x', 'w-uid')], { Deployment: new Set(['w-uid']) }, all, []],
    ['user PDB never', [user('team', { matchLabels: { app: 'web' } })], {}, all, []],
  ])('%s', (_n, pdbs, live, synced, deleted) => {
    const out = findOrphans(pdbs, live, synced);
    expect(out.map((a) => a.name)).toEqual(deleted);
    for (const a of out) {
      expect(a.uid).toBeDefined();
      expect(a.resourceVersion).toBeDefined();
      expect(a.events[0]).toMatchObject({
        reason: 'PDBDeleted',
        regarding: { kind: 'PodDisruptionBudget', name: a.name },
      });
      expect(a.reason).toMatch(/^orphaned/);
    }
  });

  test('managed PDB without controller reference: kind from label', () => {
    const p = managed(wl());
    p.metadata!.ownerReferences = [];
    expect(findOrphans([p], { Deployment: new Set(['w-uid']) }, all).map((a) => a.name)).toEqual([
      'web-deployment-pdb',
    ]);
    expect(findOrphans([p], {}, new Set(['StatefulSet'] as const))).toEqual([]);
  });

  test('terminating PDBs are skipped', () => {
    const p = managed(wl());
    p.metadata!.deletionTimestamp = new Date(NOW);
    expect(findOrphans([p], {}, all)).toEqual([]);
  });
});

describe('remembered TTL expiry (PDB-TTL, PDB-METRICS)', () => {
  const SINCE = NOW - 2 * HOUR;
  test.each<[string, Partial<Workload>, 'none' | 'managed' | 'expired', boolean, Decision['state'], string[]]>([
    ['not ready, no PDB, remembered: stays ttl_expired', { fullyReady: false }, 'none', true, 'ttl_expired', []],
    ['not ready, no PDB, not remembered: not_ready', { fullyReady: false }, 'none', false, 'not_ready', []],
    ['fully ready again: protected, created anew', {}, 'none', true, 'protected', ['create web-deployment-pdb']],
    ['not ready with a kept PDB: the PDB decides', { fullyReady: false }, 'managed', true, 'not_ready', []],
    [
      'expiry itself: ttl_expired with the delete',
      { fullyReady: false },
      'expired',
      false,
      'ttl_expired',
      ['delete web-deployment-pdb'],
    ],
  ])('%s', (_n, over, pdb, remembered, state, actions) => {
    const w = wl(over);
    const pdbs = pdb === 'none' ? [] : [managed(wl(), { since: formatTimestamp(pdb === 'expired' ? SINCE : NOW) })];
    const d = decide({
      workload: w,
      pdbs,
      others: [],
      settings: { ...S, nonReadyTtlMs: HOUR },
      now: NOW,
      ttlExpiredBefore: remembered,
    });
    expect(d.state).toBe(state);
    expect(summary(d)).toEqual(actions);
  });

  test('only the delete of the TTL is marked as a TTL expiry, not the deletion of a duplicate', () => {
    const w = wl({ fullyReady: false });
    const since = formatTimestamp(SINCE);
    const d = run(w, [managed(w, { since }), managed(w, { name: 'web-old', since, created: '2025-02-01T00:00:00Z' })], {
      settings: { nonReadyTtlMs: HOUR },
    });
    expect(d.state).toBe('ttl_expired');
    expect(d.actions.map((a) => [a.name, a.type === 'delete' && a.ttlExpiry === true])).toEqual([
      ['web-old', false],
      ['web-deployment-pdb', true],
    ]);
  });
});

describe('first observations (PDB-BAD-INPUT)', () => {
  const sig = (s: string) => s;
  test.each<[string, string[], string[], string[], string[]]>([
    ['everything is new after a restart', [], ['a', 'b'], ['a', 'b'], ['a', 'b']],
    ['a persisting condition is not reported again', ['a'], ['a'], [], ['a']],
    ['a new condition next to a persisting one', ['a'], ['a', 'b'], ['b'], ['a', 'b']],
    ['a cleared condition is forgotten', ['a', 'b'], ['b'], [], ['b']],
    ['cleared and back: reported again', [], ['a'], ['a'], ['a']],
    ['nothing observed', ['a'], [], [], []],
  ])('%s', (_n, previous, current, fresh, seen) => {
    const r = firstObservations(new Set(previous), current, sig);
    expect(r.fresh).toEqual(fresh);
    expect([...r.seen]).toEqual(seen);
  });

  test('signatures: an Event by type, reason, note and related object; an input by field, value, expected', () => {
    const ev = {
      type: 'Warning' as const,
      reason: 'R',
      note: 'n',
      related: { apiVersion: 'v1', kind: 'K', namespace: 'ns', name: 'x' },
    };
    expect(eventSignature(ev)).toBe(eventSignature({ ...ev, related: { ...ev.related, uid: 'other' } }));
    expect(eventSignature(ev)).not.toBe(eventSignature({ ...ev, note: 'm' }));
    const i: InvalidInput = { field: 'f', value: 'v', expected: 'e', fallback: 'a' };
    expect(inputSignature(i)).toBe(inputSignature({ ...i, fallback: 'b' }));
    expect(inputSignature(i)).not.toBe(inputSignature({ ...i, value: 'w' }));
  });
});

describe('bad-input rows of a decision (PDB-BAD-INPUT)', () => {
  const TTL = 'kubeaws.io/non-ready-ttl';
  const ALIAS = 'pdb-controller.zalando.org/non-ready-ttl';
  const other = wl({ name: 'api', uid: 'api-uid', templateLabels: { app: 'web', v: '2' } });
  test.each<[string, Workload, V1PodDisruptionBudget[], Workload[], Array<[string, string]>]>([
    ['nothing wrong', wl(), [], [], []],
    [
      'an invalid annotation (from invalidInputs)',
      wl({ annotations: { 'kubeaws.io/max-unavailable': '0' } }),
      [],
      [],
      [['kubeaws.io/max-unavailable', '0']],
    ],
    [
      'the generated name taken by a user PDB',
      wl(),
      [user('web-deployment-pdb', { matchLabels: { app: 'other' } })],
      [],
      [['metadata.name', 'web-deployment-pdb']],
    ],
    [
      'conflicting TTL annotations: the alias',
      wl({ annotations: { [TTL]: '1h', [ALIAS]: '2h' } }),
      [],
      [],
      [[ALIAS, '2h']],
    ],
    ['overlapping selectors', wl(), [], [other], [['spec.selector', '{"matchLabels":{"app":"web"}}']]],
  ])('%s', (_n, w, pdbs, others, rows) => {
    const d = run(w, pdbs, { others });
    expect(badInputRows(d, w).map((r) => [r.field, r.value])).toEqual(rows);
  });

  test('the rows of conditions name what is expected and what is used instead', () => {
    const w = wl({ annotations: { [TTL]: '1h', [ALIAS]: '2h' } });
    expect(badInputRows(run(w), w)).toEqual([
      { field: ALIAS, value: '2h', expected: `absent, or the same duration as ${TTL}`, fallback: `1h from ${TTL}` },
    ]);
    const d = run(wl(), [], { others: [other] });
    expect(badInputRows(d, wl())[0]).toMatchObject({
      expected: 'a selector that does not overlap Deployment ns/api',
      fallback: 'no managed PodDisruptionBudget for either workload',
    });
  });
});

describe('orphanSubject (PDB-LOGS, PDB-ORPHANS)', () => {
  test.each<[string, V1PodDisruptionBudget, object]>([
    [
      'managed PDB: its controller ownerReference',
      managed(wl({ name: 'ghost', uid: 'ghost-uid' }), { uid: 'p-uid' }),
      { kind: 'Deployment', name: 'ghost', uid: 'ghost-uid' },
    ],
    [
      'managed PDB without an ownerReference: the kind label alone',
      (() => {
        const p = managed(wl(), { name: 'ghost-deployment-pdb', uid: 'p-uid' });
        p.metadata!.ownerReferences = [];
        return p;
      })(),
      { kind: 'Deployment' },
    ],
    [
      'upstream PDB: its ownerReference',
      legacy('gone-pdb-controller', 'gone-uid'),
      { kind: 'Deployment', name: 'web', uid: 'gone-uid' },
    ],
  ])('%s', (_n, p, owner) => {
    expect(orphanSubject(p)).toEqual({
      kind: 'PodDisruptionBudget',
      namespace: 'ns',
      name: p.metadata!.name,
      uid: p.metadata!.uid,
      state: 'orphaned',
      owner,
    });
  });
});

describe('decideOrphan (PDB-ORPHANS)', () => {
  const p = managed(wl(), { rv: '500' });
  const owner = (o: Partial<OwnerInCache> = {}): OwnerInCache => ({
    kind: 'Deployment',
    name: 'web',
    uid: 'w-uid',
    synced: true,
    cachedUid: undefined,
    cacheResourceVersion: '600',
    ...o,
  });
  const synced = new Set(['Deployment', 'StatefulSet'] as const);
  test.each<[string, V1PodDisruptionBudget, OwnerInCache[], ReadonlySet<'Deployment' | 'StatefulSet'>, string]>([
    ['owner cached with its UID: not an orphan', p, [owner({ cachedUid: 'w-uid' })], synced, 'keep'],
    ['owner gone, cache past the PDB: delete', p, [owner()], synced, 'delete'],
    ['owner gone, cache exactly at the PDB: delete', p, [owner({ cacheResourceVersion: '500' })], synced, 'delete'],
    ['owner gone, cache behind the PDB: recheck', p, [owner({ cacheResourceVersion: '499' })], synced, 'recheck'],
    ['a workload of the same name with another UID: orphan', p, [owner({ cachedUid: 'new-uid' })], synced, 'delete'],
    ['owner kind not synced: left alone', p, [owner({ synced: false })], new Set(['StatefulSet'] as const), 'keep'],
    ['a user PDB: never', user('team', { matchLabels: { app: 'web' } }), [], synced, 'keep'],
  ])('%s', (_n, pdb, owners, kinds, want) => {
    const r = decideOrphan(pdb, owners, kinds);
    const got = r.delete ? 'delete' : r.recheckAfterMs !== undefined ? 'recheck' : 'keep';
    expect(got).toBe(want);
    if (r.recheckAfterMs !== undefined) expect(r.recheckAfterMs).toBe(5_000);
    if (r.delete)
      expect(r.delete).toMatchObject({ name: 'web-deployment-pdb', uid: p.metadata?.uid, resourceVersion: '500' });
  });
});

describe('writeFailure (PDB-WRITES)', () => {
  const create: Action = { type: 'create', name: 'web-deployment-pdb', pdb: {}, events: [] };
  const adopt: Action = {
    type: 'patch',
    purpose: 'adopt',
    name: 'web-pdb-controller',
    resourceVersion: '7',
    patch: {},
    changedFields: [],
    events: [],
  };
  const err = (statusCode: number, reason = '', message = 'm', field?: string): WriteError => ({
    statusCode,
    reason,
    message,
    field,
  });
  test.each<[string, Action, WriteError, string | undefined, string, string, string, boolean]>([
    ['404: stale cache, requeued', create, err(404, 'NotFound'), undefined, 'conflict', 'requeue', 'info', false],
    [
      '409: name taken meanwhile, requeued',
      create,
      err(409, 'AlreadyExists'),
      undefined,
      'conflict',
      'requeue',
      'info',
      false,
    ],
    [
      '403 NamespaceTerminating: not retried',
      create,
      err(403, 'NamespaceTerminating'),
      undefined,
      'error',
      'done',
      'info',
      false,
    ],
    ['403 Forbidden: retried with backoff', create, err(403, 'Forbidden'), undefined, 'error', 'retry', 'error', false],
    [
      '422 first time: reported, retried',
      create,
      err(422, 'Invalid', 'denied'),
      undefined,
      'error',
      'retry',
      'error',
      true,
    ],
    [
      '422 with the message reported last: not again',
      create,
      err(422, 'Invalid', 'denied'),
      'denied',
      'error',
      'retry',
      'error',
      false,
    ],
    [
      '422 with a new message: reported',
      create,
      err(422, 'Invalid', 'other'),
      'denied',
      'error',
      'retry',
      'error',
      true,
    ],
    ['400: reported like 422', create, err(400, 'BadRequest', 'bad'), undefined, 'error', 'retry', 'error', true],
    ['500: retried with backoff', create, err(500, 'InternalError'), undefined, 'error', 'retry', 'error', false],
    ['no response: retried with backoff', create, err(0), undefined, 'error', 'retry', 'error', false],
  ])('%s', (_n, a, e, last, result, next, level, rejected) => {
    const f = writeFailure(a, e, last);
    expect([f.result, f.next, f.level, f.rejection !== undefined]).toEqual([result, next, level, rejected]);
  });

  test('log messages name the operation', () => {
    expect(writeFailure(create, err(409)).message).toBe('create of PodDisruptionBudget conflicted; requeued');
    expect(writeFailure(create, err(403, 'NamespaceTerminating')).message).toBe(
      'create of PodDisruptionBudget refused: namespace is terminating',
    );
    expect(writeFailure(create, err(500)).message).toBe('create of PodDisruptionBudget failed');
  });

  test('a rejection carries the PDBRejected Warning with the API message and the bad-input row', () => {
    expect(
      writeFailure(create, err(422, 'Invalid', 'maxUnavailable 7 is not allowed', 'spec.maxUnavailable')).rejection,
    ).toEqual({
      message: 'maxUnavailable 7 is not allowed',
      action: 'Create',
      event: {
        type: 'Warning',
        reason: 'PDBRejected',
        note: 'The API server rejected PodDisruptionBudget web-deployment-pdb (create): maxUnavailable 7 is not allowed',
      },
      input: {
        field: 'spec.maxUnavailable',
        value: 'web-deployment-pdb',
        expected: 'a PodDisruptionBudget the API server accepts',
        fallback: 'no change; retried with backoff',
      },
    });
    expect(writeFailure(adopt, err(422, 'Invalid', 'x')).rejection).toMatchObject({
      action: 'Update',
      input: { field: 'PodDisruptionBudget', value: 'web-pdb-controller' },
    });
  });

  test.each<[Action, string]>([
    [create, 'Create'],
    [adopt, 'Adopt'],
    [{ ...adopt, purpose: 'repair' } as Action, 'Update'],
    [{ type: 'apply', name: 'x', body: {}, changedFields: [], events: [] }, 'Update'],
    [{ type: 'delete', name: 'x', namespace: 'ns', uid: 'u', resourceVersion: '1', reason: 'r', events: [] }, 'Delete'],
  ])('the Events of a successful %j have action %s', (a, action) => {
    expect(writeEventAction(a)).toBe(action);
  });
});

describe('rolloutsAvailability (PDB-ROLLOUTS)', () => {
  type Doc = { resources?: Array<{ name?: string }> };
  const served: RequestOutcome<Doc> = {
    ok: true,
    body: { resources: [{ name: 'rollouts' }, { name: 'rollouts/status' }] },
  };
  const fail = (statusCode: number, message = 'm'): RequestOutcome<never> => ({ ok: false, statusCode, message });
  test.each<[string, RequestOutcome<Doc>, RequestOutcome<unknown> | undefined, string]>([
    ['served, informer running (no list)', served, undefined, 'available'],
    ['served and listable', served, { ok: true, body: {} }, 'available'],
    [
      'group not served',
      fail(404),
      undefined,
      'the API argoproj.io/v1alpha1 is not served (CRD rollouts.argoproj.io not installed)',
    ],
    ['discovery forbidden', fail(403, 'no'), undefined, 'discovery of argoproj.io/v1alpha1 is forbidden: no'],
    ['discovery failed otherwise', fail(503), undefined, 'unknown'],
    [
      'group served without rollouts',
      { ok: true, body: { resources: [{ name: 'analysisruns' }] } },
      undefined,
      'argoproj.io/v1alpha1 does not serve rollouts (CRD rollouts.argoproj.io not installed)',
    ],
    [
      'list forbidden (RBAC not applied)',
      served,
      fail(403, 'denied'),
      'listing rollouts.argoproj.io is forbidden: denied',
    ],
    ['list 404 (CRD going away)', served, fail(404), 'rollouts.argoproj.io is not served (CRD not installed)'],
    ['list failed otherwise', served, fail(0), 'unknown'],
  ])('%s', (_n, discovery, list, want) => {
    const c = rolloutsAvailability(discovery, list);
    expect(c.kind === 'unavailable' ? c.problem : c.kind).toBe(want);
  });

  test('the report names the problem and the retry period', () => {
    expect(rolloutsUnavailable('CRD missing', 300_000)).toEqual({
      input: {
        field: 'enable-rollouts',
        value: 'true',
        expected: 'argoproj.io/v1alpha1 rollouts served (CRD installed) and readable (list, watch)',
        fallback: 'Rollouts skipped; retrying every 300s',
      },
      event: {
        type: 'Warning',
        reason: 'RolloutsUnavailable',
        note: 'Argo Rollouts are not managed: CRD missing. Deployments and StatefulSets are unaffected; retrying every 300s',
      },
    });
  });
});
