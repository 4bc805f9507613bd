import { type CachedConfigMap, inputConfigMapPaths, trimInputConfigMap } from './component';

describe('inputConfigMapPaths (docs/static-egress-controller.md#seg-input)', () => {
  it.each<[string[], string[]]>([
    [[], ['/api/v1/configmaps']],
    [['team-a'], ['/api/v1/namespaces/team-a/configmaps']],
    [['team-a', 'team-b', 'team-a'], ['/api/v1/namespaces/team-a/configmaps', '/api/v1/namespaces/team-b/configmaps']],
  ])('%j -> %j', (namespaces, paths) => expect(inputConfigMapPaths(namespaces)).toEqual(paths));
});

describe('trimInputConfigMap', () => {
  const full = (): CachedConfigMap =>
    ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'p', namespace: 'checkout', uid: 'u-1', resourceVersion: '42', labels: { egress: 'static' }, creationTimestamp: '2026-01-01T00:00:00Z',
        annotations: { 'kubeaws.io/egress-ips': '3.64.1.10', 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"a":"203.0.113.0/24"}}' },
        managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:data': { 'f:a': {} } } }],
      },
      data: { a: '203.0.113.0/24' },
      binaryData: { blob: 'A'.repeat(4096) },
    }) as never;

  it('keeps what the controller reads and drops the rest', () => {
    expect(trimInputConfigMap(full())).toEqual({
      metadata: { name: 'p', namespace: 'checkout', uid: 'u-1', resourceVersion: '42', annotations: { 'kubeaws.io/egress-ips': '3.64.1.10' } },
      data: { a: '203.0.113.0/24' },
      binaryData: { blob: '' },
    });
  });

  it('leaves out absent parts', () => {
    expect(trimInputConfigMap({ metadata: { name: 'q', namespace: 'n', uid: 'u-2', resourceVersion: '7' } } as never)).toEqual({
      metadata: { name: 'q', namespace: 'n', uid: 'u-2', resourceVersion: '7' },
    });
  });
});
