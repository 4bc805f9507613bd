import { ConfigError } from '@kubeaws/runtime';
import { downscaler } from './component';

/** The component's parse, split into the shared runtime config and the downscaler's settings. */
function parseDownscalerConfig(argv: string[], env: Record<string, string>) {
  const { kubeconfig, leaderElect, leaseName, leaseNamespace, metricsBindAddress, healthProbeBindAddress, logLevel, ...settings } =
    downscaler.parse(argv, env);
  return {
    shared: { kubeconfig, leaderElect, leaseName, leaseNamespace, metricsBindAddress, healthProbeBindAddress, logLevel },
    settings,
  };
}

function fails(argv: string[], env: Record<string, string> = {}): ConfigError {
  try {
    parseDownscalerConfig(argv, env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error(`no error for ${JSON.stringify({ argv, env })}`);
}

describe('flags and env (DS-FLAGS): defaults', () => {
  it('has the documented defaults', () => {
    const { shared, settings } = parseDownscalerConfig([], {});
    expect(shared).toMatchObject({
      leaderElect: true,
      leaseName: 'kubeaws-downscaler',
      metricsBindAddress: ':8080',
      healthProbeBindAddress: ':8081',
      logLevel: 'info',
    });
    expect(settings).toMatchObject({
      intervalMs: 30_000,
      once: false,
      dryRun: false,
      namespaces: [],
      explicitInclude: false,
      restoreExcluded: true,
      maxRetriesOnConflict: 3,
      qps: 50,
      burst: 100,
      fieldManager: 'kubeaws-downscaler',
      flagScope: {},
      envScope: {},
      specDefaults: {},
      shadowed: [],
    });
    expect([...settings.includeResources]).toEqual(['deployments']);
    expect(settings.excludeNamespaces.map((r) => r.source)).toEqual(['^(?:kube-system)$']);
    expect(settings.excludeNames.map((r) => r.source)).toEqual(['^(?:kubeaws-downscaler)$']);
  });

  it('reads env, lets flags win, trims list items', () => {
    const { settings } = parseDownscalerConfig(['--exclude-namespaces= a , b '], {
      EXCLUDE_NAMESPACES: 'c',
      INCLUDE_RESOURCES: 'deployments, cronjobs',
      DEFAULT_TIMEZONE: 'Europe/Berlin',
      DEFAULT_WEEKFRAME: 'Mon-Fri',
      DOWNTIME_REPLICAS: '1',
      GRACE_PERIOD: '1h30m',
    });
    expect(settings.excludeNamespaces.map((r) => r.source)).toEqual(['^(?:a)$', '^(?:b)$']);
    expect([...settings.includeResources]).toEqual(['deployments', 'cronjobs']);
    expect(settings.specDefaults).toEqual({ timezone: 'Europe/Berlin', weekframe: 0b11111 });
    expect(settings.envScope.downtimeReplicas).toMatchObject({
      value: 1,
      scope: 'env',
      source: 'env DOWNTIME_REPLICAS',
    });
    expect(settings.envScope.gracePeriod?.value).toBe(5_400_000);
  });

  it('uses the default zone and weekframe for flag specs too', () => {
    const { settings } = parseDownscalerConfig(['--default-uptime=08:00-18:00'], {
      DEFAULT_TIMEZONE: 'UTC',
      DEFAULT_WEEKFRAME: 'Mon-Fri',
    });
    expect(settings.flagScope.uptime?.value).toMatchObject({ kind: 'list', items: [{ zone: 'UTC', days: 0b11111 }] });
  });

  it('logs settings shadowed by a group of flags', () => {
    const { settings } = parseDownscalerConfig(['--default-downtime=never', '--force-uptime=false'], {
      DEFAULT_UPTIME: 'never',
      FORCE_DOWNTIME: 'true',
      GRACE_PERIOD: '1m',
    });
    expect(settings.shadowed).toEqual([
      'DEFAULT_UPTIME shadowed: the schedule group comes from --default-downtime (flags win over env as a whole group)',
      'FORCE_DOWNTIME shadowed: the force group comes from --force-uptime (flags win over env as a whole group)',
    ]);
  });

  it('--explicit-include sets exclude=true at flag scope', () => {
    expect(parseDownscalerConfig(['--explicit-include'], {}).settings.flagScope.exclude).toMatchObject({
      value: { kind: 'bool', value: true },
      scope: 'flag',
    });
  });
});

describe('flags and env: fail fast with flag/env, item and token', () => {
  it.each<[string[], Record<string, string>, string[]]>([
    [['--interval=0s'], {}, ['--interval', '"0s"', '1s to 60s']],
    [['--interval=61s'], {}, ['--interval', '"61s"']],
    [['--interval=1d'], {}, ['--interval', '"1d"']],
    [
      ['--default-uptime=Mon-Fri 07:30-25:99 UTC'],
      {},
      ['--default-uptime', 'item 1', '"Mon-Fri 07:30-25:99 UTC"', 'hour 25 out of range 00-24'],
    ],
    [
      [],
      { DEFAULT_DOWNTIME: 'Sat-Sun 00:00-24:00 PST' },
      ['env DEFAULT_DOWNTIME', 'item 1', 'PST', 'America/Los_Angeles'],
    ],
    [['--force-uptime=yes'], {}, ['--force-uptime', '"yes"']],
    [['--downtime-replicas=-1'], {}, ['--downtime-replicas', '"-1"']],
    [[], { GRACE_PERIOD: '1d' }, ['env GRACE_PERIOD', '"1d"']],
    [['--include-resources=deployments,pods'], {}, ['--include-resources', 'unknown resource "pods"']],
    [[], { INCLUDE_RESOURCES: 'jobs' }, ['env INCLUDE_RESOURCES', 'jobs']],
    [['--exclude-namespaces=kube-(system'], {}, ['--exclude-namespaces', 'kube-(system', 'regular expressions']],
    [['--default-timezone=CET'], {}, ['--default-timezone', 'CET', 'Europe/Berlin']],
    [[], { DEFAULT_WEEKFRAME: 'Mon-Fry' }, ['env DEFAULT_WEEKFRAME', 'Fry']],
    [['--default-uptime=08:00-18:00 UTC'], {}, ['--default-uptime', 'no weekdays and no --default-weekframe']],
    [
      ['--default-uptime=always', '--upscale-period=never'],
      {},
      ['--default-uptime and --upscale-period', 'flags scope'],
    ],
    [
      [],
      { DEFAULT_DOWNTIME: 'never', DOWNSCALE_PERIOD: 'never' },
      ['DEFAULT_DOWNTIME and DOWNSCALE_PERIOD', 'env scope'],
    ],
    [['--qps=0'], {}, ['--qps']],
    [['--restore-excluded=maybe'], {}, ['--restore-excluded']],
    [['--no-such-flag'], {}, ['--no-such-flag']],
  ])('%j %j', (argv, env, says) => {
    const e = fails(argv, env);
    for (const s of says) expect(e.message).toContain(s);
  });

  it('a time key in flags and a period key in env is no conflict (different scopes)', () => {
    expect(() => parseDownscalerConfig(['--default-uptime=always'], { DOWNSCALE_PERIOD: 'never' })).not.toThrow();
  });
});
