import type { V1LabelSelector, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { covers, matchesLabels, overlaps, selectsTemplate } from './selectors';
import type { Workload, WorkloadKind } from './workload';

const expr = (key: string, operator: string, values?: string[]) => ({ key, operator, values });

describe('matchesLabels (LabelSelector semantics, k8s.io/apimachinery)', () => {
  const labels = { app: 'web', team: 'x' };
  test.each<[string, V1LabelSelector | null | undefined, boolean]>([
    ['null selects nothing', null, false],
    ['undefined selects nothing', undefined, false],
    ['{} selects everything', {}, true],
    ['empty matchLabels and matchExpressions select everything', { matchLabels: {}, matchExpressions: [] }, true],
    ['matchLabels hit', { matchLabels: { app: 'web' } }, true],
    ['matchLabels all hit', { matchLabels: { app: 'web', team: 'x' } }, true],
    ['matchLabels wrong value', { matchLabels: { app: 'api' } }, false],
    ['matchLabels absent key', { matchLabels: { tier: 'db' } }, false],
    ['In hit', { matchExpressions: [expr('app', 'In', ['api', 'web'])] }, true],
    ['In miss', { matchExpressions: [expr('app', 'In', ['api'])] }, false],
    ['In absent key', { matchExpressions: [expr('tier', 'In', ['db'])] }, false],
    ['In without values is invalid', { matchExpressions: [expr('app', 'In', [])] }, false],
    ['NotIn hit', { matchExpressions: [expr('app', 'NotIn', ['api'])] }, true],
    ['NotIn miss', { matchExpressions: [expr('app', 'NotIn', ['web'])] }, false],
    ['NotIn absent key holds', { matchExpressions: [expr('tier', 'NotIn', ['db'])] }, true],
    ['Exists hit', { matchExpressions: [expr('team', 'Exists')] }, true],
    ['Exists miss', { matchExpressions: [expr('tier', 'Exists')] }, false],
    ['Exists with values is invalid', { matchExpressions: [expr('team', 'Exists', ['x'])] }, false],
    ['DoesNotExist hit', { matchExpressions: [expr('tier', 'DoesNotExist')] }, true],
    ['DoesNotExist miss', { matchExpressions: [expr('app', 'DoesNotExist')] }, false],
    ['unknown operator is invalid', { matchExpressions: [expr('app', 'Equals', ['web'])] }, false],
    [
      'matchLabels and matchExpressions are ANDed',
      { matchLabels: { app: 'web' }, matchExpressions: [expr('team', 'In', ['y'])] },
      false,
    ],
  ])('%s', (_n, sel, want) => expect(matchesLabels(sel, labels)).toBe(want));
});

describe('selectsTemplate per-pod-key rule (PDB-COVERAGE)', () => {
  const tmpl = { app: 'web', team: 'x' };
  test.each<[string, WorkloadKind, V1LabelSelector, boolean]>([
    [
      'Deployment: pod-template-hash absent holds',
      'Deployment',
      { matchLabels: { app: 'web', 'pod-template-hash': 'abc' } },
      true,
    ],
    [
      'Deployment: only per-pod key does not cover',
      'Deployment',
      { matchLabels: { 'pod-template-hash': 'abc' } },
      false,
    ],
    [
      'Deployment: StatefulSet keys are not per-pod',
      'Deployment',
      { matchLabels: { app: 'web', 'controller-revision-hash': 'a' } },
      false,
    ],
    [
      'StatefulSet: controller-revision-hash',
      'StatefulSet',
      { matchLabels: { app: 'web', 'controller-revision-hash': 'a' } },
      true,
    ],
    [
      'StatefulSet: pod-name',
      'StatefulSet',
      { matchLabels: { app: 'web', 'statefulset.kubernetes.io/pod-name': 'db-0' } },
      true,
    ],
    [
      'StatefulSet: pod-index via In',
      'StatefulSet',
      { matchLabels: { app: 'web' }, matchExpressions: [expr('apps.kubernetes.io/pod-index', 'In', ['0'])] },
      true,
    ],
    [
      'StatefulSet: pod-name alone does not cover (PDB-COVERAGE)',
      'StatefulSet',
      { matchLabels: { 'statefulset.kubernetes.io/pod-name': 'db-0' } },
      false,
    ],
    [
      'StatefulSet: pod-template-hash is not per-pod',
      'StatefulSet',
      { matchLabels: { app: 'web', 'pod-template-hash': 'a' } },
      false,
    ],
    [
      'Rollout: rollouts-pod-template-hash',
      'Rollout',
      { matchLabels: { app: 'web', 'rollouts-pod-template-hash': 'a' } },
      true,
    ],
    [
      'Rollout: pod-template-hash is not per-pod',
      'Rollout',
      { matchLabels: { app: 'web', 'pod-template-hash': 'a' } },
      false,
    ],
    [
      'per-pod DoesNotExist absent holds',
      'Deployment',
      { matchLabels: { app: 'web' }, matchExpressions: [expr('pod-template-hash', 'DoesNotExist')] },
      true,
    ],
    [
      'per-pod Exists absent holds by assumption',
      'Deployment',
      { matchLabels: { app: 'web' }, matchExpressions: [expr('pod-template-hash', 'Exists')] },
      true,
    ],
    [
      'non-per-pod requirement still must hold',
      'Deployment',
      { matchLabels: { app: 'api', 'pod-template-hash': 'a' } },
      false,
    ],
    ['empty selector selects', 'StatefulSet', {}, true],
  ])('%s', (_n, kind, sel, want) => expect(selectsTemplate(sel, tmpl, kind)).toBe(want));

  test('per-pod key present in the template is evaluated normally', () => {
    const t = { app: 'web', 'pod-template-hash': 'abc' };
    expect(selectsTemplate({ matchLabels: { app: 'web', 'pod-template-hash': 'abc' } }, t, 'Deployment')).toBe(true);
    expect(selectsTemplate({ matchLabels: { app: 'web', 'pod-template-hash': 'zzz' } }, t, 'Deployment')).toBe(false);
  });
});

function wl(
  kind: WorkloadKind,
  name: string,
  templateLabels: Record<string, string>,
  selector: V1LabelSelector | undefined,
  namespace = 'ns',
): Workload {
  return {
    kind,
    namespace,
    name,
    uid: `uid-${kind}-${name}`,
    labels: {},
    annotations: {},
    replicas: 2,
    fullyReady: true,
    templateLabels,
    selector,
    deleting: false,
  };
}

function pdb(
  selector: V1LabelSelector | undefined,
  labels: Record<string, string> = {},
  namespace = 'ns',
): V1PodDisruptionBudget {
  return { metadata: { name: 'p', namespace, labels }, spec: { selector, maxUnavailable: 1 } };
}

describe('covers (PDB-COVERAGE)', () => {
  const web = wl('Deployment', 'web', { app: 'web', team: 'x' }, { matchLabels: { app: 'web' } });
  test.each<[string, V1PodDisruptionBudget, boolean]>([
    ['{app: web}', pdb({ matchLabels: { app: 'web' } }), true],
    ['app In (web)', pdb({ matchExpressions: [expr('app', 'In', ['web'])] }), true],
    ['{app: web, tier: db}: tier absent from template', pdb({ matchLabels: { app: 'web', tier: 'db' } }), false],
    ['empty selector covers every workload of the namespace', pdb({}), true],
    ['null selector covers nothing', pdb(undefined), false],
    ['other namespace', pdb({ matchLabels: { app: 'web' } }, {}, 'other'), false],
    [
      'managed PDB is not a user PDB',
      pdb({ matchLabels: { app: 'web' } }, { 'kubeaws.io/managed-by': 'pdb-controller' }),
      false,
    ],
    [
      'legacy heritage PDB is not a user PDB',
      pdb({ matchLabels: { app: 'web' } }, { heritage: 'pdb-controller' }),
      false,
    ],
    [
      'handed-over PDB (other label value) is a user PDB',
      pdb({ matchLabels: { app: 'web' } }, { 'kubeaws.io/managed-by': 'someone' }),
      true,
    ],
    ['pod-template-hash plus app', pdb({ matchLabels: { app: 'web', 'pod-template-hash': 'h' } }), true],
    ['pod-template-hash only', pdb({ matchLabels: { 'pod-template-hash': 'h' } }), false],
  ])('%s', (_n, p, want) => expect(covers(p, web)).toBe(want));
});

describe('overlaps (PDB-OVERLAP)', () => {
  const a = wl('Deployment', 'a', { app: 'web', track: 'stable' }, { matchLabels: { app: 'web', track: 'stable' } });
  test.each<[string, Workload, boolean]>([
    [
      'same selector',
      wl('Deployment', 'b', { app: 'web', track: 'stable' }, { matchLabels: { app: 'web', track: 'stable' } }),
      true,
    ],
    [
      'b selector broader than a (b selects a)',
      wl('Deployment', 'b', { app: 'web', track: 'canary' }, { matchLabels: { app: 'web' } }),
      true,
    ],
    [
      'a selects b (b narrower but template matches a)',
      wl('StatefulSet', 'b', { app: 'web', track: 'stable', x: '1' }, { matchLabels: { x: '1' } }),
      true,
    ],
    ['disjoint', wl('Deployment', 'b', { app: 'api' }, { matchLabels: { app: 'api' } }), false],
    [
      'other namespace',
      wl('Deployment', 'b', { app: 'web', track: 'stable' }, { matchLabels: { app: 'web' } }, 'other'),
      false,
    ],
    ['itself', a, false],
    [
      'b selects a only through its per-pod key',
      wl('StatefulSet', 'b', { app: 'db' }, { matchLabels: { 'statefulset.kubernetes.io/pod-name': 'x' } }),
      false,
    ],
    ['b without selector, a does not select b', wl('Rollout', 'b', { app: 'db' }, undefined), false],
    [
      'b selector via NotIn',
      wl(
        'Deployment',
        'b',
        { app: 'web', track: 'canary' },
        { matchExpressions: [expr('track', 'NotIn', ['canary']), expr('app', 'In', ['web'])] },
      ),
      true,
    ],
  ])('%s', (_n, b, want) => {
    expect(overlaps(a, b)).toBe(want);
    expect(overlaps(b, a)).toBe(want);
  });

  test('per-pod keys of the selected workload kind apply', () => {
    const sts = wl('StatefulSet', 's', { app: 'db' }, { matchLabels: { app: 'db' } });
    const dep = wl(
      'Deployment',
      'd',
      { app: 'db', role: 'r' },
      { matchLabels: { app: 'db', 'controller-revision-hash': 'h' } },
    );
    // dep's selector against sts's template: controller-revision-hash is per-pod for StatefulSet → holds.
    expect(overlaps(dep, sts)).toBe(true);
  });
});
