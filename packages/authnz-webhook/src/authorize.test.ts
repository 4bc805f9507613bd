import { configYaml } from '../test/helpers';
import { type ResourceAttributes, type SarInput, authorize, compilePolicy } from './authorize';
import { parseConfig } from './config';

const policy = compilePolicy(parseConfig(configYaml()));

function ra(verb: string, resource: string, o: Partial<ResourceAttributes> = {}): ResourceAttributes {
  const [res, sub] = resource.split('/');
  return { namespace: '', verb, group: '', version: 'v1', resource: res!, subresource: sub ?? '', name: '', ...o };
}

function decide(role: string | undefined, a: ResourceAttributes, user = 'oidc:jdoe') {
  const input: SarInput = {
    user,
    groups: role ? [role, 'oidc:team-a'] : ['oidc:team-a'],
    uid: '',
    extra: {},
    resource: a,
  };
  return authorize(input, policy);
}

const A = 'allow';
const D = 'deny';
const N = 'no-opinion';
type Cell = typeof A | typeof D | typeof N;

// [row, description, attributes, ReadOnly, PowerUser-class, Administrator, no role, rule id when denied/allowed]
const rows: Array<[string, ResourceAttributes, Cell, Cell, Cell, Cell, string, string?]> = [
  [
    '1 get pods/log',
    ra('get', 'pods/log', { namespace: 'team-a', name: 'p' }),
    A,
    A,
    A,
    N,
    'readonly-allow',
    'poweruser-allow',
  ],
  [
    '1 list configmaps in kube-system',
    ra('list', 'configmaps', { namespace: 'kube-system' }),
    A,
    A,
    A,
    N,
    'readonly-allow',
    'poweruser-allow',
  ],
  [
    '1 watch clusterroles',
    ra('watch', 'clusterroles', { group: 'rbac.authorization.k8s.io' }),
    A,
    A,
    A,
    N,
    'readonly-allow',
    'poweruser-allow',
  ],
  [
    '2 get secrets unprotected',
    ra('get', 'secrets', { namespace: 'team-a', name: 's' }),
    D,
    A,
    A,
    N,
    'readonly-secrets',
    'poweruser-allow',
  ],
  [
    '3 get secrets kube-system',
    ra('get', 'secrets', { namespace: 'kube-system', name: 's' }),
    D,
    D,
    A,
    D,
    'protected-secrets',
  ],
  ['3 list secrets all namespaces', ra('list', 'secrets'), D, D, A, D, 'protected-secrets'],
  [
    '3 watch secrets in protectedNamespaces',
    ra('watch', 'secrets', { namespace: 'team-platform' }),
    D,
    D,
    A,
    D,
    'protected-secrets',
  ],
  [
    '3 get secrets in the access namespace',
    ra('get', 'secrets', { namespace: 'kubeaws-access' }),
    D,
    D,
    A,
    D,
    'protected-secrets',
  ],
  [
    '4 exec unprotected',
    ra('create', 'pods/exec', { namespace: 'team-a', name: 'p' }),
    D,
    A,
    A,
    N,
    'readonly-exec',
    'poweruser-allow',
  ],
  [
    '4 exec over websocket (get)',
    ra('get', 'pods/exec', { namespace: 'team-a', name: 'p' }),
    D,
    A,
    A,
    N,
    'readonly-exec',
    'poweruser-allow',
  ],
  [
    '4 portforward',
    ra('create', 'pods/portforward', { namespace: 'team-a' }),
    D,
    A,
    A,
    N,
    'readonly-exec',
    'poweruser-allow',
  ],
  [
    '4 services/proxy',
    ra('get', 'services/proxy', { namespace: 'team-a' }),
    D,
    A,
    A,
    N,
    'readonly-exec',
    'poweruser-allow',
  ],
  [
    '5 create pods in kube-system',
    ra('create', 'pods', { namespace: 'kube-system' }),
    D,
    D,
    A,
    D,
    'protected-namespace-write',
  ],
  [
    '5 serviceaccounts/token in kube-system',
    ra('create', 'serviceaccounts/token', { namespace: 'kube-system', name: 'x' }),
    D,
    D,
    A,
    D,
    'protected-namespace-write',
  ],
  [
    '5 leases in kube-node-lease',
    ra('update', 'leases', { group: 'coordination.k8s.io', namespace: 'kube-node-lease' }),
    D,
    D,
    A,
    D,
    'protected-namespace-write',
  ],
  [
    '5 exec in kube-system',
    ra('get', 'pods/exec', { namespace: 'kube-system' }),
    D,
    D,
    A,
    D,
    'protected-namespace-write',
  ],
  [
    '5 events in kube-public',
    ra('create', 'events', { namespace: 'kube-public' }),
    D,
    D,
    A,
    D,
    'protected-namespace-write',
  ],
  [
    '6 delete namespace kube-system',
    ra('delete', 'namespaces', { name: 'kube-system' }),
    D,
    D,
    A,
    D,
    'protected-namespace-write',
  ],
  [
    '6 finalize namespace team-platform',
    ra('update', 'namespaces/finalize', { name: 'team-platform' }),
    D,
    D,
    A,
    D,
    'protected-namespace-write',
  ],
  [
    '7 create deployment unprotected',
    ra('create', 'deployments', { group: 'apps', namespace: 'team-a' }),
    N,
    A,
    A,
    N,
    'no-matching-rule',
    'poweruser-allow',
  ],
  [
    '7 delete configmap unprotected',
    ra('delete', 'configmaps', { namespace: 'team-a', name: 'c' }),
    N,
    A,
    A,
    N,
    'no-matching-rule',
    'poweruser-allow',
  ],
  ['8 deletecollection all namespaces', ra('deletecollection', 'pods'), D, D, A, D, 'cluster-deletecollection'],
  [
    '8 deletecollection cluster-scoped',
    ra('deletecollection', 'persistentvolumes'),
    D,
    D,
    A,
    D,
    'cluster-deletecollection',
  ],
  [
    '9 create daemonset unprotected',
    ra('create', 'daemonsets', { group: 'apps', namespace: 'team-a' }),
    D,
    D,
    A,
    D,
    'daemonset-write',
  ],
  [
    '9 patch extensions daemonset',
    ra('patch', 'daemonsets', { group: 'extensions', namespace: 'team-a' }),
    D,
    D,
    A,
    D,
    'daemonset-write',
  ],
  ['10 patch node', ra('patch', 'nodes', { name: 'n1' }), D, D, A, D, 'node-write'],
  ['10 update nodes/status', ra('update', 'nodes/status', { name: 'n1' }), D, D, A, D, 'node-write'],
  ['10 get nodes/proxy', ra('get', 'nodes/proxy', { name: 'n1' }), D, D, A, D, 'node-write'],
  [
    '11 create clusterrolebinding',
    ra('create', 'clusterrolebindings', { group: 'rbac.authorization.k8s.io' }),
    D,
    D,
    A,
    D,
    'cluster-control-write',
  ],
  [
    '11 validatingwebhookconfigurations',
    ra('update', 'validatingwebhookconfigurations', { group: 'admissionregistration.k8s.io' }),
    D,
    D,
    A,
    D,
    'cluster-control-write',
  ],
  [
    '11 apiservices',
    ra('delete', 'apiservices', { group: 'apiregistration.k8s.io', name: 'v1.x' }),
    D,
    D,
    A,
    D,
    'cluster-control-write',
  ],
  [
    '11 flowschemas',
    ra('create', 'flowschemas', { group: 'flowcontrol.apiserver.k8s.io' }),
    D,
    D,
    A,
    D,
    'cluster-control-write',
  ],
  [
    '11 csr approval',
    ra('update', 'certificatesigningrequests/approval', { group: 'certificates.k8s.io' }),
    D,
    D,
    A,
    D,
    'cluster-control-write',
  ],
  [
    '11 approve signers',
    ra('approve', 'signers', { group: 'certificates.k8s.io', name: 'kubernetes.io/kubelet-serving' }),
    D,
    D,
    A,
    D,
    'cluster-control-write',
  ],
  [
    '12 delete kubeaws CRD',
    ra('delete', 'customresourcedefinitions', {
      group: 'apiextensions.k8s.io',
      name: 'accessrequests.authnz.kubeaws.io',
    }),
    D,
    D,
    A,
    D,
    'platform-crd-write',
  ],
  [
    '13 update other CRD',
    ra('update', 'customresourcedefinitions', { group: 'apiextensions.k8s.io', name: 'foos.example.com' }),
    N,
    A,
    A,
    N,
    'no-matching-rule',
    'poweruser-allow',
  ],
  [
    '13 create namespace',
    ra('create', 'namespaces', { name: 'team-x' }),
    N,
    A,
    A,
    N,
    'no-matching-rule',
    'poweruser-allow',
  ],
  [
    '13 delete unprotected namespace',
    ra('delete', 'namespaces', { name: 'team-a', namespace: 'team-a' }),
    N,
    A,
    A,
    N,
    'no-matching-rule',
    'poweruser-allow',
  ],
  [
    '13 create clusterrole',
    ra('create', 'clusterroles', { group: 'rbac.authorization.k8s.io' }),
    N,
    A,
    A,
    N,
    'no-matching-rule',
    'poweruser-allow',
  ],
  [
    '14 escalate clusterroles',
    ra('escalate', 'clusterroles', { group: 'rbac.authorization.k8s.io' }),
    D,
    D,
    A,
    D,
    'rbac-escalate-bind',
  ],
  [
    '14 bind roles',
    ra('bind', 'roles', { group: 'rbac.authorization.k8s.io', namespace: 'team-a' }),
    D,
    D,
    A,
    D,
    'rbac-escalate-bind',
  ],
  ['15 impersonate users', ra('impersonate', 'users', { name: 'bob' }), D, D, A, D, 'impersonate'],
  [
    '15 impersonate serviceaccounts',
    ra('impersonate', 'serviceaccounts', { namespace: 'team-a', name: 'x' }),
    D,
    D,
    A,
    D,
    'impersonate',
  ],
  [
    '15 impersonate userextras',
    ra('impersonate', 'userextras', { group: 'authentication.k8s.io', name: 'scopes' }),
    D,
    D,
    A,
    D,
    'impersonate',
  ],
  [
    '16 impersonate system:masters',
    ra('impersonate', 'groups', { name: 'system:masters' }),
    D,
    D,
    D,
    D,
    'impersonate-masters',
  ],
  [
    '17 create accessrequests',
    ra('create', 'accessrequests', { group: 'authnz.kubeaws.io', namespace: 'kubeaws-access' }),
    D,
    D,
    D,
    D,
    'access-request-write',
  ],
  [
    '17 patch accessrequests/status',
    ra('patch', 'accessrequests/status', { group: 'authnz.kubeaws.io', namespace: 'kubeaws-access' }),
    D,
    D,
    D,
    D,
    'access-request-write',
  ],
  [
    '19 use podsecuritypolicies',
    ra('use', 'podsecuritypolicies', { group: 'policy', name: 'x' }),
    N,
    N,
    A,
    N,
    'no-matching-rule',
  ],
];

describe('role model table (AUTHNZ-ROLE-MODEL)', () => {
  it.each(rows.map((r) => [r[0], r] as const))('row %s', (_name, [, a, ro, pu, admin, none, rule, allowRule]) => {
    const cells: Array<[string | undefined, Cell]> = [
      ['ReadOnly', ro],
      ['PowerUser', pu],
      ['Manual', pu],
      ['Emergency', pu],
      ['Administrator', admin],
      [undefined, none],
    ];
    for (const [role, want] of cells) {
      const d = decide(role, a);
      expect({ role, decision: d.decision }).toEqual({ role, decision: want });
      if (want === D) expect(d.rule).toBe(rule);
      if (want === A && role === 'Administrator' && rule !== 'impersonate-masters')
        expect(d.rule).toBe('administrator');
      if (want === A && role !== 'Administrator')
        expect(d.rule).toBe(role === 'ReadOnly' ? 'readonly-allow' : (allowRule ?? rule));
    }
  });

  it('row 18: non-resource URLs are allowed for Administrators only, no opinion otherwise', () => {
    for (const role of ['ReadOnly', 'PowerUser', undefined]) {
      const d = authorize(
        {
          user: 'oidc:x',
          groups: role ? [role] : [],
          uid: '',
          extra: {},
          nonResource: { path: '/version', verb: 'get' },
        },
        policy,
      );
      expect(d).toMatchObject({ decision: 'no-opinion', rule: 'no-matching-rule' });
    }
    const d = authorize(
      { user: 'oidc:x', groups: ['Administrator'], uid: '', extra: {}, nonResource: { path: '/metrics', verb: 'get' } },
      policy,
    );
    expect(d).toMatchObject({ decision: 'allow', rule: 'administrator' });
  });
});

describe('evaluation order and subjects (AUTHNZ-SUBJECTS, AUTHNZ-ORDER)', () => {
  it('system: users always get no opinion, rule system-identity', () => {
    for (const user of [
      'system:node:n1',
      'system:serviceaccount:kube-system:x',
      'system:anonymous',
      'system:kube-scheduler',
    ]) {
      const d = authorize(
        {
          user,
          groups: ['Administrator'],
          uid: '',
          extra: {},
          resource: ra('delete', 'secrets', { namespace: 'kube-system' }),
        },
        policy,
      );
      expect(d).toMatchObject({ decision: 'no-opinion', rule: 'system-identity', role: 'system' });
      expect(d.reason).toMatch(new RegExp(`^no-opinion rule=system-identity role=system user=${user}: `));
    }
  });

  it('the effective role is the highest role among the groups', () => {
    const d = authorize(
      {
        user: 'oidc:a',
        groups: ['ReadOnly', 'Manual', 'PowerUser'],
        uid: '',
        extra: {},
        resource: ra('get', 'secrets', { namespace: 'team-a' }),
      },
      policy,
    );
    expect(d).toMatchObject({ decision: 'allow', rule: 'poweruser-allow', role: 'Manual' });
  });

  it('role names are compared case-sensitively', () => {
    const d = authorize(
      {
        user: 'oidc:a',
        groups: ['administrator', 'ADMINISTRATOR'],
        uid: '',
        extra: {},
        resource: ra('get', 'pods', { namespace: 'x' }),
      },
      policy,
    );
    expect(d).toMatchObject({ decision: 'no-opinion', role: 'none' });
  });

  it('systemUsers allow-list comes before the overlay and only covers its rules', () => {
    const allowed = authorize(
      {
        user: 'service:credentials-provider',
        groups: [],
        uid: '',
        extra: {},
        resource: ra('get', 'secrets', { namespace: 'kube-system', name: 'x' }),
      },
      policy,
    );
    expect(allowed).toMatchObject({ decision: 'allow', rule: 'system-user:service:credentials-provider' });
    const list = authorize(
      {
        user: 'service:credentials-provider',
        groups: [],
        uid: '',
        extra: {},
        resource: ra('list', 'secrets', { namespace: 'kube-system' }),
      },
      policy,
    );
    expect(list).toMatchObject({ decision: 'deny', rule: 'protected-secrets' });
    const other = authorize(
      {
        user: 'service:credentials-provider',
        groups: [],
        uid: '',
        extra: {},
        resource: ra('get', 'secrets', { namespace: 'team-a' }),
      },
      policy,
    );
    expect(other).toMatchObject({ decision: 'no-opinion' });
  });

  it('extraDenyRules apply to the listed roles (PowerUser covers Manual and Emergency) after the overlay', () => {
    const a = ra('create', 'nodepools', { group: 'karpenter.sh' });
    for (const role of ['ReadOnly', 'PowerUser', 'Manual', 'Emergency'])
      expect(decide(role, a)).toMatchObject({ decision: 'deny', rule: 'extra:no-karpenter-writes' });
    expect(decide('Administrator', a)).toMatchObject({ decision: 'allow' });
    expect(decide(undefined, a)).toMatchObject({ decision: 'no-opinion' });
  });

  it('an empty user with no groups is a principal with no role', () => {
    const d = authorize(
      { user: '', groups: [], uid: '', extra: {}, resource: ra('get', 'secrets', { namespace: 'kube-system' }) },
      policy,
    );
    expect(d).toMatchObject({ decision: 'deny', rule: 'protected-secrets', role: 'none' });
  });
});

describe('matching details (AUTHNZ-MATCHING)', () => {
  it('a deny row matches when any value a wildcard covers matches', () => {
    expect(decide('PowerUser', ra('*', 'pods', { namespace: 'kube-system' }))).toMatchObject({
      decision: 'deny',
      rule: 'protected-namespace-write',
    });
    expect(decide('PowerUser', ra('create', '*', { group: '*', namespace: 'team-a' }))).toMatchObject({
      decision: 'deny',
      rule: 'access-request-write',
    });
    expect(decide('PowerUser', ra('create', '*', { group: 'apps', namespace: 'team-a' }))).toMatchObject({
      decision: 'deny',
      rule: 'daemonset-write',
    });
    expect(decide('ReadOnly', ra('get', '*', { namespace: 'team-a' }))).toMatchObject({
      decision: 'deny',
      rule: 'readonly-secrets',
    });
    expect(decide('PowerUser', ra('*', '*', { group: '*' }))).toMatchObject({
      decision: 'deny',
      rule: 'impersonate-masters',
    });
    expect(decide('PowerUser', ra('*', 'users', { group: '' }))).toMatchObject({
      decision: 'deny',
      rule: 'impersonate',
    });
  });

  it('an allow rule matches only when it covers every value', () => {
    expect(decide('ReadOnly', ra('*', 'pods', { namespace: 'team-a' }))).toMatchObject({ decision: 'no-opinion' });
    expect(decide('PowerUser', ra('escalate', 'pods', { namespace: 'team-a' }))).toMatchObject({
      decision: 'no-opinion',
      rule: 'no-matching-rule',
    });
  });

  it('names compare exactly: case variants of a protected namespace name do not bypass rules', () => {
    expect(decide('PowerUser', ra('delete', 'namespaces', { name: 'Kube-System' }))).toMatchObject({
      decision: 'allow',
    });
    expect(decide('PowerUser', ra('delete', 'namespaces', { name: 'kube-system' }))).toMatchObject({
      decision: 'deny',
    });
  });

  it('a kubeaws.io CRD may be created by PowerUser but not changed', () => {
    const crd = { group: 'apiextensions.k8s.io', name: 'x.kubeaws.io' };
    expect(decide('PowerUser', ra('create', 'customresourcedefinitions', crd))).toMatchObject({ decision: 'allow' });
    expect(decide('PowerUser', ra('patch', 'customresourcedefinitions', crd))).toMatchObject({
      decision: 'deny',
      rule: 'platform-crd-write',
    });
  });

  it('allowed:true is never combined with denied and reasons follow the contract', () => {
    const d = decide('PowerUser', ra('get', 'secrets', { namespace: 'kube-system', name: 'x' }));
    expect(d.reason).toBe(
      'deny rule=protected-secrets role=PowerUser user=oidc:jdoe: secrets in protected namespace "kube-system" are for Administrators only; ask an Administrator',
    );
  });
});
