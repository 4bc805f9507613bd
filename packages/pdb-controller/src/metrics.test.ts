import { ApiError, ComponentMetrics } from '@kubeaws/runtime';
import { resourceVersionAtLeast } from './decide';
import { namesKeyObject, parseKey, pdbKey } from './keys';
import { managedPdbKind } from './ownership';
import { PdbMetrics } from './metrics';

async function value(
  m: ComponentMetrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const metric = m.registry.getSingleMetric(`kubeaws_pdb_controller_${name}`);
  const v = (await metric!.get()).values.find((x) =>
    Object.entries(labels).every(([k, val]) => (x.labels as Record<string, unknown>)[k] === val),
  );
  return v?.value;
}

describe('PdbMetrics (PDB-METRICS)', () => {
  test('series exist from the start at 0', async () => {
    const m = new ComponentMetrics('pdb-controller', { processMetrics: false });
    new PdbMetrics(m);
    expect(await value(m, 'workloads', { kind: 'Rollout', state: 'ttl_expired' })).toBe(0);
    expect(await value(m, 'managed_pdbs', { kind: 'StatefulSet' })).toBe(0);
    expect(await value(m, 'pdb_writes_total', { operation: 'delete', result: 'conflict' })).toBe(0);
    expect(await value(m, 'pdb_sync_failed')).toBe(0);
    expect(await value(m, 'rollouts_enabled')).toBe(0);
  });

  test('workload states move between series and are forgotten', async () => {
    const m = new ComponentMetrics('pdb-controller', { processMetrics: false });
    const p = new PdbMetrics(m);
    p.setState('Deployment/a/x', 'Deployment', 'not_ready');
    p.setState('Deployment/a/y', 'Deployment', 'not_ready');
    p.setState('Deployment/a/x', 'Deployment', 'protected');
    p.setState('Deployment/a/x', 'Deployment', 'protected');
    expect(await value(m, 'workloads', { kind: 'Deployment', state: 'not_ready' })).toBe(1);
    expect(await value(m, 'workloads', { kind: 'Deployment', state: 'protected' })).toBe(1);
    expect(p.stateOf('Deployment/a/x')).toBe('protected');
    p.removeState('Deployment/a/x');
    p.removeState('Deployment/a/x');
    expect(await value(m, 'workloads', { kind: 'Deployment', state: 'protected' })).toBe(0);
    expect(p.allStates()).toEqual(new Map([['Deployment/a/y', 'not_ready']]));
  });

  test('managed PDBs and SyncFailed are counted per PDB', async () => {
    const m = new ComponentMetrics('pdb-controller', { processMetrics: false });
    const p = new PdbMetrics(m);
    p.trackPdb('a/x', 'Deployment', false);
    p.trackPdb('a/y', 'Deployment', true);
    p.trackPdb('a/y', 'Deployment', true);
    p.trackPdb('a/z', 'unknown', false);
    expect(await value(m, 'managed_pdbs', { kind: 'Deployment' })).toBe(2);
    expect(await value(m, 'pdb_sync_failed')).toBe(1);
    p.trackPdb('a/y', undefined, true); // handed over to the user
    p.trackPdb('a/x', 'StatefulSet', false);
    expect(await value(m, 'managed_pdbs', { kind: 'Deployment' })).toBe(0);
    expect(await value(m, 'managed_pdbs', { kind: 'StatefulSet' })).toBe(1);
    expect(await value(m, 'pdb_sync_failed')).toBe(0);
  });
});

describe('controller helpers', () => {
  test('work-queue keys split into kind, namespace and name', () => {
    expect(parseKey('Deployment/ns/web')).toEqual({ kind: 'Deployment', namespace: 'ns', name: 'web' });
    expect(parseKey('PodDisruptionBudget/ns/a.b')).toEqual({
      kind: 'PodDisruptionBudget',
      namespace: 'ns',
      name: 'a.b',
    });
  });

  test('resourceVersions compare numerically when both are decimal', () => {
    expect(resourceVersionAtLeast('100', '99')).toBe(true);
    expect(resourceVersionAtLeast('99', '100')).toBe(false);
    expect(resourceVersionAtLeast('12345678901234567890', '12345678901234567889')).toBe(true);
    expect(resourceVersionAtLeast('abc', 'abc')).toBe(true);
    expect(resourceVersionAtLeast('abc', 'abd')).toBe(false);
    expect(resourceVersionAtLeast(undefined, '1')).toBe(false);
  });
});

describe('keys and gauge kinds', () => {
  test('orphan-check keys round-trip', () => {
    expect(parseKey(pdbKey('ns', 'web-deployment-pdb'))).toEqual({
      kind: 'PodDisruptionBudget',
      namespace: 'ns',
      name: 'web-deployment-pdb',
    });
  });

  const notFound = (path?: string) => new ApiError(404, 'NotFound', 'gone', undefined, undefined, 'GET', path);
  test.each<[string, string, string | undefined, boolean]>([
    [
      'the PDB of an orphan check',
      'PodDisruptionBudget/ns/p',
      '/apis/policy/v1/namespaces/ns/poddisruptionbudgets/p',
      true,
    ],
    ['the workload itself', 'Deployment/ns/web', '/apis/apps/v1/namespaces/ns/deployments/web', true],
    ['a PDB of a workload key', 'Deployment/ns/web', '/apis/policy/v1/namespaces/ns/poddisruptionbudgets/web', false],
    ['another kind with the same name', 'StatefulSet/ns/web', '/apis/apps/v1/namespaces/ns/deployments/web', false],
    ['another namespace', 'Deployment/ns/web', '/apis/apps/v1/namespaces/other/deployments/web', false],
    ['no path to tell', 'Deployment/ns/web', undefined, false],
  ])('a 404 of %s names the key object: %s', (_n, key, path, want) => {
    expect(namesKeyObject(key, notFound(path))).toBe(want);
  });

  test.each<[string, Record<string, string>, Array<{ apiVersion: string; kind: string }>, string | undefined]>([
    [
      'managed, controller reference',
      { 'kubeaws.io/managed-by': 'pdb-controller' },
      [{ apiVersion: 'apps/v1', kind: 'StatefulSet' }],
      'StatefulSet',
    ],
    [
      'managed, kind from the label',
      { 'kubeaws.io/managed-by': 'pdb-controller', 'kubeaws.io/workload-kind': 'Rollout' },
      [],
      'Rollout',
    ],
    ['managed, kind unknown', { 'kubeaws.io/managed-by': 'pdb-controller' }, [], 'unknown'],
    ['legacy', { heritage: 'pdb-controller' }, [{ apiVersion: 'apps/v1', kind: 'Deployment' }], undefined],
    ['user', {}, [], undefined],
  ])('managed_pdbs kind: %s', (_n, labels, refs, want) => {
    const ownerReferences = refs.map((r) => ({ ...r, name: 'w', uid: 'u', controller: true }));
    expect(managedPdbKind({ metadata: { labels, ownerReferences } })).toBe(want);
  });
});
