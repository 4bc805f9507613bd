import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './errors';
import { HelpDisplayed, flag, parseFlagDuration as parseDuration, parseFlags, parsers, sharedFlags } from './flags';
import { parseFlagsWithSources } from './flags';
import { runMain } from './manager';

const specs = {
  ...sharedFlags({ leaseName: 'pdb-controller' }),
  minReplicas: flag({
    flag: 'min-replicas',
    env: 'MIN_REPLICAS',
    description: 'min replicas',
    expected: 'an integer >= 2',
    default: 2,
    parse: parsers.int({ min: 2 }),
  }),
  ttl: flag({
    flag: 'non-ready-ttl',
    env: 'NON_READY_TTL',
    description: 'ttl',
    expected: 'a duration such as 30m or 1h30m',
    default: 0,
    parse: parsers.duration(),
  }),
  policy: flag({
    flag: 'unhealthy-pod-eviction-policy',
    env: 'UNHEALTHY_POD_EVICTION_POLICY',
    description: 'policy',
    expected: 'AlwaysAllow, IfHealthyBudget or ""',
    default: 'AlwaysAllow' as 'AlwaysAllow' | 'IfHealthyBudget' | '',
    parse: parsers.oneOf(['AlwaysAllow', 'IfHealthyBudget', ''] as const),
  }),
  dryRun: flag({
    flag: 'dry-run',
    description: 'dry run',
    expected: 'true or false',
    default: false,
    parse: parsers.bool,
    boolean: true,
  }),
};

describe('parseFlags', () => {
  it('applies defaults, including env-derived ones', () => {
    const v = parseFlags(specs, {
      argv: [],
      env: { POD_NAMESPACE: 'platform' },
    });
    expect(v).toEqual({
      kubeconfig: '',
      leaderElect: true,
      leaseName: 'pdb-controller',
      leaseNamespace: 'platform',
      metricsBindAddress: ':8080',
      healthProbeBindAddress: ':8081',
      logLevel: 'info',
      minReplicas: 2,
      ttl: 0,
      policy: 'AlwaysAllow',
      dryRun: false,
    });
    expect(parseFlags(specs, { argv: [], env: {} }).leaseNamespace).toBe('kube-system');
  });

  it('flag wins over env, env wins over default, empty env counts as unset', () => {
    expect(
      parseFlags(specs, {
        argv: ['--min-replicas', '5'],
        env: { MIN_REPLICAS: '3' },
      }).minReplicas,
    ).toBe(5);
    expect(parseFlags(specs, { argv: [], env: { MIN_REPLICAS: '3' } }).minReplicas).toBe(3);
    expect(parseFlags(specs, { argv: [], env: { MIN_REPLICAS: '' } }).minReplicas).toBe(2);
    expect(parseFlags(specs, { argv: ['--min-replicas=4'], env: {} }).minReplicas).toBe(4);
    expect(
      parseFlags(specs, {
        argv: [],
        env: { LEASE_NAMESPACE: 'x', POD_NAMESPACE: 'y' },
      }).leaseNamespace,
    ).toBe('x');
  });

  it('an explicitly empty flag value is a value (not the default)', () => {
    expect(parseFlags(specs, { argv: ['--unhealthy-pod-eviction-policy='], env: {} }).policy).toBe('');
    expect(
      parseFlags(specs, {
        argv: ['--unhealthy-pod-eviction-policy', ''],
        env: {},
      }).policy,
    ).toBe('');
  });

  it('boolean flags: bare, =true, =false, and env', () => {
    expect(parseFlags(specs, { argv: ['--dry-run'], env: {} }).dryRun).toBe(true);
    expect(parseFlags(specs, { argv: ['--leader-elect=false'], env: {} }).leaderElect).toBe(false);
    expect(parseFlags(specs, { argv: ['--leader-elect', 'false'], env: {} }).leaderElect).toBe(false);
    expect(parseFlags(specs, { argv: [], env: { LEADER_ELECT: 'false' } }).leaderElect).toBe(false);
    expect(
      parseFlags(specs, {
        argv: ['--leader-elect'],
        env: { LEADER_ELECT: 'false' },
      }).leaderElect,
    ).toBe(true);
  });

  it('parses durations and bind addresses', () => {
    const v = parseFlags(specs, {
      argv: ['--non-ready-ttl', '1h30m', '--metrics-bind-address', '127.0.0.1:0'],
      env: {},
    });
    expect(v.ttl).toBe(90 * 60_000);
    expect(v.metricsBindAddress).toBe('127.0.0.1:0');
  });

  function configError(fn: () => unknown): ConfigError {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return e as ConfigError;
    }
    throw new Error('expected a ConfigError');
  }

  it('rejects an invalid flag value naming flag, env, value and expected form', () => {
    const e = configError(() => parseFlags(specs, { argv: ['--min-replicas', '1'], env: {} }));
    expect(e.flag).toBe('min-replicas');
    expect(e.env).toBe('MIN_REPLICAS');
    expect(e.value).toBe('1');
    expect(e.source).toBe('flag');
    expect(e.message).toBe('invalid value "1" for --min-replicas (env MIN_REPLICAS): expected an integer >= 2');
  });

  it('rejects an invalid env value and says it came from the env', () => {
    const e = configError(() => parseFlags(specs, { argv: [], env: { NON_READY_TTL: '5 minutes' } }));
    expect(e.source).toBe('env');
    expect(e.message).toBe(
      'invalid value "5 minutes" for env NON_READY_TTL (flag --non-ready-ttl): expected a duration such as 30m or 1h30m',
    );
  });

  it.each([
    [['--leader-elect=yes'], 'leader-elect'],
    [['--log-level', 'loud'], 'log-level'],
    [['--metrics-bind-address', 'localhost'], 'metrics-bind-address'],
    [['--lease-namespace', 'Kube_System'], 'lease-namespace'],
    [['--unhealthy-pod-eviction-policy', 'Never'], 'unhealthy-pod-eviction-policy'],
  ])('rejects %j', (argv, name) => {
    expect(configError(() => parseFlags(specs, { argv, env: {} })).flag).toBe(name);
  });

  describe('a Kubernetes $(VAR) reference the kubelet left unexpanded', () => {
    const withString = {
      ...specs,
      interval: flag({
        flag: 'interval',
        description: 'tick',
        expected: 'a duration from 1s to 60s',
        default: '30s',
        parse: parsers.string, // validated later by the component: the reference must not reach it
      }),
      pattern: flag({
        flag: 'pattern',
        env: 'PATTERN',
        description: 'regex',
        expected: 'a regular expression',
        default: '',
        parse: parsers.string,
      }),
    };

    it('names the flag, the value and the variable that is missing, whatever the flag parser accepts', () => {
      const e = configError(() =>
        parseFlags(withString, { argv: ['--interval=$(DOWNSCALER_INTERVAL)'], env: { POD_NAME: 'p' } }),
      );
      expect(e).toMatchObject({ flag: 'interval', value: '$(DOWNSCALER_INTERVAL)', source: 'flag' });
      expect(e.message).toBe(
        'invalid value "$(DOWNSCALER_INTERVAL)" for --interval: unexpanded variable reference $(DOWNSCALER_INTERVAL): ' +
          "the variable DOWNSCALER_INTERVAL is not defined in this container's environment, so Kubernetes left the " +
          'reference unexpanded (it substitutes $(VAR) in command, args and env values only for variables defined in env ' +
          'or envFrom): is the ConfigMap or Secret that should provide DOWNSCALER_INTERVAL missing, or does it lack the ' +
          'key DOWNSCALER_INTERVAL?; define DOWNSCALER_INTERVAL or remove the setting; expected a duration from 1s to 60s',
      );
    });

    it.each([
      [['--min-replicas=$(MIN)'], 'min-replicas', 'MIN'],
      [['--leader-elect=$(LEADER_ELECT)'], 'leader-elect', 'LEADER_ELECT'],
      [['--non-ready-ttl', '1h$(EXTRA.ttl)'], 'non-ready-ttl', 'EXTRA.ttl'],
    ])('in any flag: %j', (argv, name, variable) => {
      const e = configError(() => parseFlags(specs, { argv, env: {} }));
      expect(e.flag).toBe(name);
      expect(e.message).toContain(
        `unexpanded variable reference $(${variable}): the variable ${variable} is not defined`,
      );
    });

    it('in an environment value, naming the variable the value came from', () => {
      const e = configError(() => parseFlags(withString, { argv: [], env: { PATTERN: '$(TEAM_PATTERN)' } }));
      expect(e).toMatchObject({ flag: 'pattern', env: 'PATTERN', source: 'env' });
      expect(e.message).toMatch(
        /^invalid value "\$\(TEAM_PATTERN\)" for env PATTERN \(flag --pattern\): unexpanded variable reference \$\(TEAM_PATTERN\): the variable TEAM_PATTERN is not defined/,
      );
    });

    it('says so when the variable is set but was not substituted', () => {
      const e = configError(() => parseFlags(withString, { argv: ['--interval=$(I)'], env: { I: '10s' } }));
      expect(e.message).toContain(
        'unexpanded variable reference $(I): I is set in the environment now, but the reference was not substituted',
      );
    });

    it('leaves other uses of "$" alone', () => {
      const v = parseFlags(withString, { argv: ['--pattern=^team-(a|b)$', '--interval=$I'], env: {} });
      expect(v).toMatchObject({ pattern: '^team-(a|b)$', interval: '$I' });
    });
  });

  it('rejects unknown flags, missing values and positional arguments', () => {
    expect(configError(() => parseFlags(specs, { argv: ['--nope'], env: {} })).message).toMatch(/unknown flag --nope/);
    expect(configError(() => parseFlags(specs, { argv: ['--min-replicas'], env: {} })).message).toMatch(
      /--min-replicas needs a value: expected an integer >= 2/,
    );
    expect(configError(() => parseFlags(specs, { argv: ['extra'], env: {} })).message).toMatch(/unexpected argument/);
  });

  it('--help prints usage and throws HelpDisplayed', () => {
    let out = '';
    expect(() =>
      parseFlags(specs, {
        argv: ['--help'],
        env: {},
        writeOut: (s) => (out += s),
      }),
    ).toThrow(HelpDisplayed);
    expect(out).toMatch(/--min-replicas <value>/);
    expect(out).toMatch(/env MIN_REPLICAS/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['90', 90_000],
    ['250ms', 250],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['2d', 172_800_000],
    ['365d', 365 * 86_400_000],
  ])('%s -> %i ms', (s, ms) => expect(parseDuration(s)).toBe(ms));

  it.each(['', '-1s', '1 h', '1w', 'h', '1.h', '366d', '1e3'])('rejects %j', (s) =>
    expect(() => parseDuration(s)).toThrow(),
  );
});

describe('parsers', () => {
  it('int rejects leading zeros, signs out of range, and non-integers', () => {
    const p = parsers.int({ min: 0, max: 10 });
    expect(p('7')).toBe(7);
    for (const bad of ['07', '+1', '1.0', '11', '-1', '', ' 1']) expect(() => p(bad)).toThrow();
  });
  it('bool accepts lower-case true/false only', () => {
    expect(parsers.bool('true')).toBe(true);
    for (const bad of ['True', '1', 'yes', '']) expect(() => parsers.bool(bad)).toThrow();
  });
  it('list splits on commas', () => {
    expect(parsers.list()('a, b,,c')).toEqual(['a', 'b', 'c']);
  });
});

describe('runMain', () => {
  it('exits 2 on a ConfigError, printing it to stderr and the termination log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runmain-'));
    const term = join(dir, 'termination-log');
    writeFileSync(term, '');
    let stderr = '';
    let exitCode: number | undefined;
    let apiCalled = false;
    const code = await runMain(
      async ({ argv, env }) => {
        parseFlags(specs, { argv, env });
        apiCalled = true;
      },
      {
        argv: ['--min-replicas', 'zero'],
        env: {},
        terminationLogPath: term,
        exit: (c) => (exitCode = c),
        stderr: (s) => (stderr += s),
        handleSignals: false,
      },
    );
    expect(code).toBe(2);
    expect(exitCode).toBe(2);
    expect(apiCalled).toBe(false);
    expect(stderr).toBe(
      'error: invalid value "zero" for --min-replicas (env MIN_REPLICAS): expected an integer >= 2\n',
    );
    expect(readFileSync(term, 'utf8')).toBe(stderr);
  });

  it('does not create a missing termination log file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runmain-'));
    const term = join(dir, 'absent');
    let exitCode: number | undefined;
    await runMain(
      async () => {
        throw new ConfigError('x', 'y', 'z');
      },
      {
        terminationLogPath: term,
        exit: (c) => (exitCode = c),
        stderr: () => {},
        handleSignals: false,
      },
    );
    expect(exitCode).toBe(2);
    expect(() => readFileSync(term)).toThrow();
  });

  it('exits 0 on success and on --help, 1 on other errors, or with the returned code', async () => {
    const run = (main: () => Promise<void | number>) =>
      runMain(main, {
        exit: () => {},
        stderr: () => {},
        handleSignals: false,
        terminationLogPath: '/nonexistent/x',
      });
    expect(await run(async () => {})).toBe(0);
    expect(await run(async () => 3)).toBe(3);
    expect(
      await run(
        async () =>
          parseFlags(specs, {
            argv: ['--help'],
            env: {},
            writeOut: () => {},
          }) as never,
      ),
    ).toBe(0);
    expect(
      await run(async () => {
        throw new Error('boom');
      }),
    ).toBe(1);
  });

  it('aborts the main signal on SIGTERM and exits 0 after main returns', async () => {
    let exitCode: number | undefined;
    const p = runMain(
      ({ signal }) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => resolve());
          setImmediate(() => process.emit('SIGTERM', 'SIGTERM'));
        }),
      {
        exit: (c) => (exitCode = c),
        stderr: () => {},
        terminationLogPath: '/nonexistent/x',
      },
    );
    await expect(p).resolves.toBe(0);
    expect(exitCode).toBe(0);
  });
});

describe('parseFlagsWithSources', () => {
  it('reports whether each value came from the flag, its env var or the default', () => {
    const { values, sources } = parseFlagsWithSources(specs, {
      argv: ['--log-level=debug'],
      env: { MIN_REPLICAS: '3', LOG_LEVEL: 'warn', LEASE_NAME: '' },
    });
    expect(values).toMatchObject({ logLevel: 'debug', minReplicas: 3, leaseName: 'pdb-controller' });
    expect(sources).toMatchObject({ logLevel: 'flag', minReplicas: 'env', leaseName: 'default' });
  });
});
