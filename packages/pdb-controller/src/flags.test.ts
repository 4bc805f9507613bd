import { ConfigError, parseFlags } from '@kubeaws/runtime';
import { pdbController } from './component';
import { parseSettings } from './config';
import { LEASE_NAME } from './flags';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  parseFlags(pdbController.flagSpecs, { argv, env, writeOut: () => {} });

function configError(argv: string[], env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parse(argv, env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error(`no ConfigError for ${argv.join(' ')}`);
}

describe('pdb-controller flags (PDB-FLAGS)', () => {
  test('defaults equal the parsed defaults of the settings table, plus the shared flags', () => {
    const {
      kubeconfig,
      leaderElect,
      leaseName,
      leaseNamespace,
      metricsBindAddress,
      healthProbeBindAddress,
      logLevel,
      ...settings
    } = parse([]);
    const defaults = parseSettings({});
    expect(defaults.ok && settings).toEqual(defaults.ok && defaults.settings);
    expect({
      kubeconfig,
      leaderElect,
      leaseName,
      leaseNamespace,
      metricsBindAddress,
      healthProbeBindAddress,
      logLevel,
    }).toEqual({
      kubeconfig: '',
      leaderElect: true,
      leaseName: LEASE_NAME,
      leaseNamespace: 'kube-system',
      metricsBindAddress: ':8080',
      healthProbeBindAddress: ':8081',
      logLevel: 'info',
    });
  });

  test('a flag wins over its environment variable, which wins over the default; empty env is unset', () => {
    expect(parse(['--max-unavailable=25%'], { MAX_UNAVAILABLE: '3' }).maxUnavailable).toBe('25%');
    expect(parse([], { MAX_UNAVAILABLE: '3' }).maxUnavailable).toBe(3);
    expect(parse([], { MAX_UNAVAILABLE: '' }).maxUnavailable).toBe(1);
    expect(parse([], { NON_READY_TTL: '1h30m' }).nonReadyTtlMs).toBe(5_400_000);
    expect(parse([], { POD_NAMESPACE: 'platform' }).leaseNamespace).toBe('platform');
    expect(parse([], { LEASE_NAME: 'other' }).leaseName).toBe('other');
  });

  test('an empty flag value empties the suffix and the eviction policy', () => {
    expect(parse(['--pdb-name-suffix=']).pdbNameSuffix).toBe('');
    expect(parse(['--unhealthy-pod-eviction-policy=']).unhealthyPodEvictionPolicy).toBe('');
    expect(parse([], { PDB_NAME_SUFFIX: '' }).pdbNameSuffix).toBe('pdb');
  });

  test('boolean settings accept a bare flag', () => {
    const v = parse(['--dry-run', '--enable-rollouts']);
    expect([v.dryRun, v.enableRollouts]).toEqual([true, true]);
    expect(parse(['--enable-rollouts=false']).enableRollouts).toBe(false);
    expect(parse([], { ENABLE_ROLLOUTS: 'true' }).enableRollouts).toBe(true);
  });

  test('list and regex values', () => {
    const v = parse(['--exclude-namespaces=kube-.*, monitoring']);
    expect(v.excludeNamespaces.map((r) => r.source)).toEqual(['^(?:kube-.*)$', '^(?:monitoring)$']);
  });

  test.each([
    [['--min-replicas=1'], {}, 'min-replicas', '1', 'an integer ≥ 2'],
    [[], { MAX_UNAVAILABLE: '0' }, 'max-unavailable', '0', 'an integer 1..2147483647 or a percentage 1%..100%'],
    [['--resync-period=59s'], {}, 'resync-period', '59s', 'at least 1m'],
    [['--non-ready-ttl=1y'], {}, 'non-ready-ttl', '1y', 'a duration'],
    [['--unhealthy-pod-eviction-policy=Never'], {}, 'unhealthy-pod-eviction-policy', 'Never', '"AlwaysAllow"'],
    [['--pdb-name-suffix=PDB'], {}, 'pdb-name-suffix', 'PDB', 'a DNS label'],
    [['--exclude-namespaces=a(b'], {}, 'exclude-namespaces', 'a(b', 'regular expressions'],
    [['--dry-run=yes'], {}, 'dry-run', 'yes', '"true" or "false"'],
    [['--qps=0'], {}, 'qps', '0', 'a positive number'],
    [['--burst=0'], {}, 'burst', '0', 'an integer ≥ 1'],
  ])('%j %j is a ConfigError naming flag, value and expected form', (argv, env, flag, value, expected) => {
    const e = configError(argv, env as NodeJS.ProcessEnv);
    expect(e.flag).toBe(flag);
    expect(e.value).toBe(value);
    expect(e.message).toContain(`--${flag}`);
    expect(e.message).toContain(JSON.stringify(value));
    expect(e.message).toContain(expected);
  });

  test('the error of an environment value names the variable', () => {
    expect(configError([], { MIN_REPLICAS: 'two' }).message).toBe(
      'invalid value "two" for env MIN_REPLICAS (flag --min-replicas): expected an integer ≥ 2',
    );
  });
});
