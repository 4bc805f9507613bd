import { parseFlags } from '@kubeaws/runtime';
import { pdbController } from './component';
import { LEASE_NAME, settingFlags } from './flags';

describe('the pdb-controller component (PDB-FLAGS)', () => {
  test('parses the shared flags and exactly the setting flags, with their defaults', () => {
    const env = { POD_NAMESPACE: 'platform', MAX_UNAVAILABLE: '25%' };
    const argv = ['--min-replicas=3', '--enable-rollouts'];
    const { kubeconfig, leaderElect, leaseName, leaseNamespace, metricsBindAddress, healthProbeBindAddress, logLevel, ...own } =
      pdbController.parse(argv, env);
    expect(own).toEqual(parseFlags(settingFlags(), { argv, env }));
    expect({ kubeconfig, leaderElect, leaseName, leaseNamespace, metricsBindAddress, healthProbeBindAddress, logLevel }).toEqual({
      kubeconfig: '',
      leaderElect: true,
      leaseName: LEASE_NAME,
      leaseNamespace: 'platform',
      metricsBindAddress: ':8080',
      healthProbeBindAddress: ':8081',
      logLevel: 'info',
    });
    expect(pdbController.parse([], {})).toMatchObject({ leaseName: LEASE_NAME, leaseNamespace: 'kube-system' });
  });

  test('derives the Manager settings from the write-limit, dry-run and field-manager flags', () => {
    const cfg = pdbController.parse(['--qps=5', '--burst=7', '--dry-run', '--field-manager=fm'], {});
    expect(pdbController.manager?.(cfg)).toEqual({ qps: 5, burst: 7, dryRun: true, fieldManager: 'fm' });
  });

  test('logs the namespace exclusions as their sources', () => {
    const cfg = pdbController.parse(['--exclude-namespaces=kube-.*'], {});
    expect(pdbController.describe?.(cfg)).toMatchObject({ excludeNamespaces: ['^(?:kube-.*)$'] });
  });
});
