import { type ApiServiceObject, apiServiceOwnership, OUR_APISERVICES, ownershipText, preflightFlags, preflightVerdict } from './preflight';
import { parseFlags } from '@kubeaws/runtime';

const OURS = 'kube-system/kubeaws-metrics-adapter';
const svc = (namespace: string, name: string, labels?: Record<string, string>): ApiServiceObject => ({
  metadata: { name: 'v1beta1.external.metrics.k8s.io', ...(labels ? { labels } : {}) },
  spec: { service: { namespace, name } },
});

describe('apiServiceOwnership (docs/metrics-adapter.md#ma-preflight)', () => {
  it.each<[string, ApiServiceObject | undefined, string]>([
    ['missing', undefined, 'absent'],
    ['our Service', svc('kube-system', 'kubeaws-metrics-adapter'), 'ours'],
    ['our label, another Service name (renamed install)', svc('monitoring', 'adapter', { 'kubeaws.io/component': 'metrics-adapter' }), 'ours'],
    ['KEDA', svc('keda', 'keda-operator-metrics-apiserver'), 'foreign:keda/keda-operator-metrics-apiserver'],
    ['kube-metrics-adapter', svc('kube-system', 'kube-metrics-adapter'), 'foreign:kube-system/kube-metrics-adapter'],
    ['another label value', svc('x', 'y', { 'kubeaws.io/component': 'other' }), 'foreign:x/y'],
    ['spec.service null', { metadata: { name: 'v1beta1.custom.metrics.k8s.io' }, spec: { service: null } }, 'local'],
    ['no spec', { metadata: { name: 'v1beta1.custom.metrics.k8s.io' } }, 'local'],
  ])('%s', (_n, obj, want) => expect(ownershipText(apiServiceOwnership(obj, OURS))).toBe(want));

  it('honours --service', () => {
    expect(apiServiceOwnership(svc('platform', 'metrics'), 'platform/metrics')).toEqual({ state: 'ours' });
  });
});

describe('preflightVerdict', () => {
  const all = (states: Parameters<typeof preflightVerdict>[0][number]['ownership'][]) =>
    OUR_APISERVICES.map((a, i) => ({ name: a.name, file: a.file, ownership: states[i]! }));

  it('absent or ours everywhere: exit 0, one line per APIService', () => {
    const v = preflightVerdict(all([{ state: 'absent' }, { state: 'ours' }, { state: 'absent' }]), false);
    expect(v).toEqual({
      lines: ['v1beta2.custom.metrics.k8s.io absent', 'v1beta1.custom.metrics.k8s.io ours', 'v1beta1.external.metrics.k8s.io absent'],
      problems: [],
      code: 0,
    });
  });

  it('a foreign external APIService: exit 2 naming the owner and the file to leave out', () => {
    const v = preflightVerdict(all([{ state: 'ours' }, { state: 'ours' }, { state: 'foreign', owner: 'keda/keda-operator-metrics-apiserver' }]), false);
    expect(v.code).toBe(2);
    expect(v.lines[2]).toBe('v1beta1.external.metrics.k8s.io foreign:keda/keda-operator-metrics-apiserver');
    expect(v.problems).toEqual([
      'APIService v1beta1.external.metrics.k8s.io belongs to Service keda/keda-operator-metrics-apiserver: leave manifests/metrics-adapter/apiservice-external.yaml out, or remove that adapter\'s APIService first',
    ]);
  });

  it('a local APIService: exit 2', () => {
    const v = preflightVerdict(all([{ state: 'local' }, { state: 'absent' }, { state: 'absent' }]), false);
    expect(v.code).toBe(2);
    expect(v.problems[0]).toContain('apiservice-custom.yaml');
  });

  it('--allow-takeover: exit 0, the problems still listed', () => {
    const v = preflightVerdict(all([{ state: 'foreign', owner: 'a/b' }, { state: 'local' }, { state: 'ours' }]), true);
    expect(v.code).toBe(0);
    expect(v.problems).toHaveLength(2);
  });
});

describe('preflight flags', () => {
  it('defaults and a bad --service', () => {
    expect(parseFlags(preflightFlags(), { argv: [], env: {} })).toEqual({ kubeconfig: '', service: OURS, allowTakeover: false });
    expect(parseFlags(preflightFlags(), { argv: ['--allow-takeover'], env: {} }).allowTakeover).toBe(true);
    expect(() => parseFlags(preflightFlags(), { argv: ['--service', 'no-slash'], env: {} })).toThrow(/--service/);
  });
});
