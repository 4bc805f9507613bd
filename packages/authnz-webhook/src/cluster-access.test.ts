import { configYaml } from '../test/helpers';
import {
  ClusterAccessRequired,
  SERVICE_ACCOUNT_TOKEN_PATH,
  clusterAccessSource,
  emergencyAccessEnabled,
  emergencyAccessSettings,
  noClusterAccessMessage,
} from './cluster-access';
import { defaultConfig, parseConfig } from './config';

describe('clusterAccessSource (the order of client-node loadFromDefault)', () => {
  const files = (...present: string[]) => {
    const set = new Set(present);
    return (f: string) => set.has(f);
  };

  it.each([
    ['--kubeconfig', '/k', { KUBECONFIG: '/x', HOME: '/home/u' }, files('/home/u/.kube/config'), 'flag'],
    ['KUBECONFIG', '', { KUBECONFIG: '/x', HOME: '/home/u' }, files('/home/u/.kube/config'), 'KUBECONFIG'],
    [
      '~/.kube/config',
      '',
      { HOME: '/home/u', KUBERNETES_SERVICE_HOST: '10.0.0.1' },
      files('/home/u/.kube/config'),
      'home',
    ],
    [
      'a pod',
      '',
      { HOME: '/home/u', KUBERNETES_SERVICE_HOST: '10.0.0.1' },
      files(SERVICE_ACCOUNT_TOKEN_PATH),
      'in-cluster',
    ],
    ['nothing', '', { HOME: '/home/u' }, files(), undefined],
    ['an empty KUBECONFIG', '', { KUBECONFIG: '', HOME: '/home/u' }, files(), undefined],
    ['a token without KUBERNETES_SERVICE_HOST', '', { HOME: '/home/u' }, files(SERVICE_ACCOUNT_TOKEN_PATH), undefined],
    ['KUBERNETES_SERVICE_HOST without a token', '', { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, files(), undefined],
  ] as const)('%s', (_name, flag, env, exists, want) => {
    expect(clusterAccessSource(flag, env, exists)).toBe(want);
  });
});

describe('emergency access needs the cluster', () => {
  it('is enabled by requester groups of either kind', () => {
    expect(emergencyAccessSettings(parseConfig(configYaml()))).toEqual([
      'emergencyAccess.manual.requesterGroups',
      'emergencyAccess.emergency.requesterGroups',
    ]);
    const manualOnly = parseConfig(
      'apiVersion: authnz.kubeaws.io/v1alpha1\nkind: AuthnzConfiguration\nemergencyAccess: {manual: {requesterGroups: [oncall]}}\n',
    );
    expect(emergencyAccessSettings(manualOnly)).toEqual(['emergencyAccess.manual.requesterGroups']);
    const emergencyOnly = parseConfig(
      'apiVersion: authnz.kubeaws.io/v1alpha1\nkind: AuthnzConfiguration\nemergencyAccess: {emergency: {requesterGroups: [oncall]}}\n',
    );
    expect(emergencyAccessSettings(emergencyOnly)).toEqual(['emergencyAccess.emergency.requesterGroups']);
  });

  it('is disabled without requester groups (approver groups alone do not enable it)', () => {
    expect(emergencyAccessEnabled(defaultConfig())).toBe(false);
    expect(emergencyAccessEnabled(parseConfig(configYaml({ emergencyAccess: false })))).toBe(false);
    const approversOnly = parseConfig(
      'apiVersion: authnz.kubeaws.io/v1alpha1\nkind: AuthnzConfiguration\nemergencyAccess: {manual: {approverGroups: [oncall]}}\n',
    );
    expect(emergencyAccessEnabled(approversOnly)).toBe(false);
  });

  it('the exit-2 message says why there is no cluster, why one is needed and both ways out', () => {
    const msg = noClusterAccessMessage(
      new ClusterAccessRequired('/etc/kubeaws/authnz/config.yaml', ['emergencyAccess.manual.requesterGroups']),
    );
    expect(msg).toBe(
      'no cluster access: --kubeconfig not given, KUBECONFIG unset, no ~/.kube/config and not running in a pod; ' +
        'the access API and four-eyes grants need the AccessRequest CRD (emergencyAccess.manual.requesterGroups set in ' +
        '/etc/kubeaws/authnz/config.yaml). Pass --kubeconfig (or set KUBECONFIG), or run standalone (TokenReview and ' +
        'SubjectAccessReview only) with emergency access disabled: empty emergencyAccess.manual.requesterGroups and ' +
        'emergencyAccess.emergency.requesterGroups',
    );
  });
});
