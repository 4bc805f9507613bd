import { type AccessRecord, parseApiPath, rbacAllows, resourcePath } from './client';

describe('resourcePath / parseApiPath', () => {
  it.each([
    ['/apis/apps/v1/deployments', { group: 'apps', version: 'v1', resource: 'deployments' }],
    [
      '/apis/apps/v1/namespaces/ns/deployments/web',
      {
        group: 'apps',
        version: 'v1',
        resource: 'deployments',
        namespace: 'ns',
        name: 'web',
      },
    ],
    [
      '/api/v1/namespaces/ns/pods/p/status',
      {
        group: '',
        version: 'v1',
        resource: 'pods',
        namespace: 'ns',
        name: 'p',
        subresource: 'status',
      },
    ],
    ['/api/v1/namespaces', { group: '', version: 'v1', resource: 'namespaces' }],
    [
      '/api/v1/namespaces/ns',
      {
        group: '',
        version: 'v1',
        resource: 'namespaces',
        namespace: 'ns',
        name: 'ns',
      },
    ],
    ['/api/v1/nodes/n1', { group: '', version: 'v1', resource: 'nodes', name: 'n1' }],
    [
      '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x?timeout=1s',
      {
        group: 'coordination.k8s.io',
        version: 'v1',
        resource: 'leases',
        namespace: 'kube-system',
        name: 'x',
      },
    ],
  ])('%s', (path, ref) => {
    expect(parseApiPath(path)).toEqual(ref);
  });

  it('round-trips', () => {
    const ref = {
      group: 'policy',
      version: 'v1',
      resource: 'poddisruptionbudgets',
      namespace: 'a',
      name: 'b',
    };
    expect(resourcePath(ref)).toBe('/apis/policy/v1/namespaces/a/poddisruptionbudgets/b');
    expect(parseApiPath(resourcePath(ref))).toEqual(ref);
    expect(
      resourcePath({
        group: '',
        version: 'v1',
        resource: 'pods',
        namespace: 'n',
        name: 'p',
        subresource: 'eviction',
      }),
    ).toBe('/api/v1/namespaces/n/pods/p/eviction');
  });
});

describe('rbacAllows', () => {
  const rules = [
    {
      apiGroups: ['apps'],
      resources: ['deployments', 'statefulsets'],
      verbs: ['list', 'watch'],
    },
    {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      verbs: ['create'],
    },
    {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      verbs: ['get', 'update'],
      resourceNames: ['pdb-controller'],
    },
    { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
  ];
  const a = (x: Partial<AccessRecord>): AccessRecord => ({
    verb: 'get',
    group: '',
    resource: '',
    ...x,
  });
  it.each([
    [a({ verb: 'list', group: 'apps', resource: 'deployments' }), true],
    [a({ verb: 'get', group: 'apps', resource: 'deployments', name: 'x' }), false],
    [a({ verb: 'create', group: 'coordination.k8s.io', resource: 'leases' }), true],
    [
      a({
        verb: 'update',
        group: 'coordination.k8s.io',
        resource: 'leases',
        name: 'pdb-controller',
      }),
      true,
    ],
    [
      a({
        verb: 'update',
        group: 'coordination.k8s.io',
        resource: 'leases',
        name: 'other',
      }),
      false,
    ],
    [
      a({
        verb: 'create',
        group: '',
        resource: 'pods',
        subresource: 'eviction',
        name: 'p',
      }),
      true,
    ],
    [a({ verb: 'create', group: '', resource: 'pods' }), false],
  ])('%j -> %s', (access, want) => expect(rbacAllows(rules, access)).toBe(want));
});
