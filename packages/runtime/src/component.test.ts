/**
 * The parts of the component framework that need no cluster: shared-flag overrides, the cluster-access
 * decision, standalone Managers (no client, informers, Lease or Events; probes with the component's own checks;
 * runnables and the shutdown order) and ExitError in runMain. The framework against a real kube-apiserver is
 * test/component.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { SERVICE_ACCOUNT_TOKEN_PATH, clusterAccessSource } from './cluster-access';
import { type ComponentClusterAccess, componentFlagSpecs, defineComponent, runComponent, startComponent } from './component';
import { ConfigError, ExitError } from './errors';
import { flag, parseFlags, parsers } from './flags';
import { silentLogger } from './logging';
import { KUBECONFIG_EXPECTED, loadClusterKubeConfig, runMain } from './manager';

const probes = { metricsBindAddress: '0', healthProbeBindAddress: '0' };

function unreachableKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

describe('sharedFlagOverrides', () => {
  const specs = componentFlagSpecs(
    'demo',
    {
      own: flag<string>({
        flag: 'own',
        env: 'DEMO_OWN',
        description: 'own',
        expected: 'anything',
        default: 'x',
        parse: parsers.string,
      }),
    },
    {
      metricsBindAddress: { env: 'DEMO_METRICS', default: ':9000', expected: '[host]:port such as :9000' },
      leaderElect: { env: 'DEMO_LEADER_ELECT' },
    },
  );

  it('changes env names, defaults and expected forms, not names; the rest stays the shared default', () => {
    expect(parseFlags(specs, { argv: [], env: {} })).toMatchObject({
      metricsBindAddress: ':9000',
      healthProbeBindAddress: ':8081',
      leaseName: 'kubeaws-demo',
      leaseNamespace: 'kube-system',
      leaderElect: true,
      own: 'x',
    });
    expect(parseFlags(specs, { argv: [], env: { DEMO_LEADER_ELECT: 'false', LEADER_ELECT: 'true' } }).leaderElect).toBe(
      false,
    );
    expect(parseFlags(specs, { argv: ['--metrics-bind-address=:1'], env: { DEMO_METRICS: ':2' } })).toMatchObject({
      metricsBindAddress: ':1',
    });
    expect(() => parseFlags(specs, { argv: [], env: { DEMO_METRICS: 'nope' } })).toThrow(
      new ConfigError('metrics-bind-address', 'nope', '[host]:port such as :9000', 'DEMO_METRICS', 'env'),
    );
  });

  it('are what defineComponent parses', () => {
    const c = defineComponent({
      name: 'demo',
      description: 'demo',
      flags: {},
      sharedFlagOverrides: { healthProbeBindAddress: { default: ':9001' } },
      setup: () => undefined,
    });
    expect(c.parse([], {})).toMatchObject({ healthProbeBindAddress: ':9001', metricsBindAddress: ':8080' });
  });
});

describe('clusterAccessSource (the order of client-node loadFromDefault)', () => {
  const files =
    (...present: string[]) =>
    (f: string) =>
      present.includes(f);
  it.each([
    ['the flag first', '/k', { KUBECONFIG: '/x' }, files(), 'flag'],
    ['then KUBECONFIG', '', { KUBECONFIG: '/x', HOME: '/h' }, files('/h/.kube/config'), 'KUBECONFIG'],
    ['then ~/.kube/config', '', { HOME: '/h' }, files('/h/.kube/config'), 'home'],
    ['then a pod', '', { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, files(SERVICE_ACCOUNT_TOKEN_PATH), 'in-cluster'],
    ['a pod needs the token', '', { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, files(), undefined],
    ['else none', '', { KUBECONFIG: '' }, files(), undefined],
  ] as const)('%s', (_name, kubeconfig, env, exists, want) => {
    expect(clusterAccessSource(kubeconfig, env, exists)).toBe(want);
  });
});

/** A component that may run without a cluster, recording what the framework tells it. */
function optionalComponent(seen: { access?: ComponentClusterAccess[]; events: string[] }, stopDelayMs = 0) {
  return defineComponent({
    name: 'standalone-demo',
    description: 'demo',
    flags: {},
    clusterAccess: 'optional',
    configure(values, _env, ctx) {
      (seen.access ??= []).push(ctx.clusterAccess);
      return values;
    },
    setup(mgr) {
      mgr.addReadyzCheck('own', () => true);
      mgr.add({
        name: 'server',
        leaderOnly: false,
        start: async (signal) => {
          seen.events.push('server:start');
          await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
          seen.events.push('server:abort');
          await new Promise((r) => setTimeout(r, stopDelayMs));
          seen.events.push('server:stopped');
        },
      });
      mgr.add({
        name: 'leader-work',
        start: async (signal) => {
          seen.events.push('leader:start');
          await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
          seen.events.push('leader:stopped');
        },
      });
      mgr.onShutdown(() => void seen.events.push('shutdown-hook'));
      return { mgr };
    },
  });
}

const waitFor = async (fn: () => boolean, what: string) => {
  const deadline = Date.now() + 5000;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe("clusterAccess: 'optional'", () => {
  it('without cluster access: a standalone Manager with no client, informers, Lease or Events', async () => {
    const seen: { access?: ComponentClusterAccess[]; events: string[] } = { events: [] };
    const rc = await startComponent(optionalComponent(seen), {
      env: {},
      config: probes,
      logger: silentLogger(),
      processMetrics: false,
    });
    try {
      expect(seen.access).toEqual([undefined]);
      const mgr = rc.manager;
      expect(mgr.standalone).toBe(true);
      expect(() => mgr.client).toThrow(
        'standalone-demo runs without cluster access (standalone): the Manager has no Kubernetes client',
      );
      expect(() => mgr.leaderClient).toThrow(/no Kubernetes client/);
      expect(() => mgr.eventsClient).toThrow(/no Kubernetes client/);
      expect(() => mgr.events).toThrow(/no Event recorder/);
      expect(() => mgr.informer({ path: '/api/v1/pods' })).toThrow(/no Kubernetes client for the informer/);
      // no Lease: this replica acts as the leader, so leader-only runnables run too
      expect(rc.isLeader()).toBe(true);
      await rc.synced();
      await waitFor(() => seen.events.includes('server:start') && seen.events.includes('leader:start'), 'runnables');
      // probes: the component's checks and the shutdown check, no informer checks
      const ready = await mgr.probes.readyz();
      expect(ready).toEqual({
        ok: true,
        checks: [
          { name: 'shutdown', ok: true },
          { name: 'own', ok: true },
        ],
      });
      expect((await mgr.probes.healthz()).checks.map((c) => c.name)).toEqual(['event-loop']);
    } finally {
      await rc.stop();
    }
    // runnables stop before the shutdown hooks run
    expect(seen.events).toEqual(expect.arrayContaining(['server:stopped', 'leader:stopped']));
    expect(seen.events.at(-1)).toBe('shutdown-hook');
  });

  it('readiness fails at once on shutdown while a runnable still serves, and the Manager waits for it', async () => {
    const seen: { events: string[] } = { events: [] };
    const rc = await startComponent(optionalComponent(seen, 300), {
      env: {},
      config: probes,
      logger: silentLogger(),
      processMetrics: false,
    });
    await waitFor(() => seen.events.includes('server:start'), 'server');
    const t0 = Date.now();
    const stopping = rc.stop();
    expect((await rc.manager.probes.readyz()).checks).toContainEqual({
      name: 'shutdown',
      ok: false,
      reason: 'shutting down',
    });
    expect(seen.events).not.toContain('server:stopped');
    await stopping;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(seen.events.indexOf('server:stopped')).toBeLessThan(seen.events.indexOf('shutdown-hook'));
  });

  it('with cluster access (here a KubeConfig handed over) the Manager has its client', async () => {
    const seen: { access?: ComponentClusterAccess[]; events: string[] } = { events: [] };
    const rc = await startComponent(optionalComponent(seen), {
      env: {},
      kubeConfig: unreachableKubeConfig(),
      config: { ...probes, leaderElect: false },
      logger: silentLogger(),
      processMetrics: false,
    });
    try {
      expect(seen.access).toEqual(['option']);
      expect(rc.manager.standalone).toBe(false);
      expect(rc.manager.client.kubeConfig.getCurrentCluster()?.server).toBe('https://127.0.0.1:1');
      expect((await rc.manager.probes.readyz()).checks.map((c) => c.name)).toEqual([
        'informers-synced',
        'shutdown',
        'own',
      ]);
    } finally {
      await rc.stop();
    }
  });

  it('configure sees the source from flags and environment; required components are never standalone', () => {
    const seen: { access?: ComponentClusterAccess[]; events: string[] } = { events: [] };
    const c = optionalComponent(seen);
    expect(c.parseWithAccess(['--kubeconfig=/k'], {})).toMatchObject({ clusterAccess: 'flag', standalone: false });
    expect(c.parseWithAccess([], { KUBECONFIG: '/x' })).toMatchObject({ clusterAccess: 'KUBECONFIG' });
    expect(c.parseWithAccess([], {}, { exists: () => false })).toMatchObject({
      clusterAccess: undefined,
      standalone: true,
    });
    const required = defineComponent({ name: 'r', description: 'r', flags: {}, setup: () => undefined });
    expect(required.parseWithAccess([], {}, { exists: () => false })).toMatchObject({
      clusterAccess: undefined,
      standalone: false,
    });
  });
});

describe('runMain and ExitError', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'runtime-exit-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the message without a stack, writes the termination log and exits with its code', async () => {
    const termPath = path.join(dir, 'termination-log');
    writeFileSync(termPath, '');
    const err: string[] = [];
    const exits: number[] = [];
    const code = await runMain(
      async () => {
        throw new ExitError('invalid configuration /etc/x.yaml\na: bad\nb: worse', 3);
      },
      {
        argv: [],
        env: {},
        handleSignals: false,
        terminationLogPath: termPath,
        exit: (c) => void exits.push(c),
        stderr: (s) => void err.push(s),
      },
    );
    expect(code).toBe(3);
    expect(exits).toEqual([3]);
    expect(err.join('')).toBe('error: invalid configuration /etc/x.yaml\na: bad\nb: worse\n');
    expect(readFileSync(termPath, 'utf8')).toBe('error: invalid configuration /etc/x.yaml\na: bad\nb: worse\n');
  });

  it('defaults to exit code 1; a subclass keeps its own name', async () => {
    class FileError extends ExitError {
      override readonly name: string = 'FileError';
    }
    const e = new FileError('broken');
    expect([e.name, e.exitCode, e instanceof ExitError]).toEqual(['FileError', 1, true]);
    const code = await runMain(
      async () => {
        throw e;
      },
      { argv: [], env: {}, handleSignals: false, exit: () => {}, stderr: () => {}, terminationLogPath: '/nonexistent' },
    );
    expect(code).toBe(1);
  });
});

describe('a kubeconfig that cannot be used is a bad flag (exit 2 before any API call)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'runtime-kubeconfig-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const valid = [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]',
    'users: [{name: u, user: {token: t}}]',
    'contexts: [{name: c, context: {cluster: c, user: u}}]',
    'current-context: c',
  ].join('\n');

  it.each([
    ['a missing file', () => '/nonexistent/kubeconfig', '/nonexistent/kubeconfig does not exist (ENOENT)'],
    ['a directory', (d: string) => d, 'is a directory, not a file (EISDIR)'],
    [
      'a file that is not YAML',
      (d: string) => (writeFileSync(path.join(d, 'k'), 'clusters: [\n'), path.join(d, 'k')),
      ': not YAML: ',
    ],
    [
      'a kubeconfig without a current context',
      (d: string) => (writeFileSync(path.join(d, 'k'), valid.replace('current-context: c', '')), path.join(d, 'k')),
      'has no usable current context',
    ],
  ] as const)('--kubeconfig naming %s', (_name, file, problem) => {
    const f = file(dir);
    let error: unknown;
    try {
      loadClusterKubeConfig(f, {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).flag).toBe('kubeconfig');
    expect((error as ConfigError).message).toContain(`invalid value ${JSON.stringify(f)} for --kubeconfig: `);
    expect((error as ConfigError).message).toContain(problem);
    expect((error as ConfigError).message).toContain(`expected ${KUBECONFIG_EXPECTED}`);
  });

  it('names KUBECONFIG when the file comes from the environment', () => {
    expect(() => loadClusterKubeConfig('', { KUBECONFIG: `/nonexistent/a${path.delimiter}/nonexistent/b` })).toThrow(
      `invalid value "/nonexistent/a${path.delimiter}/nonexistent/b" for env KUBECONFIG: /nonexistent/a does not exist (ENOENT)`,
    );
  });

  it('loads a usable file', () => {
    writeFileSync(path.join(dir, 'k'), valid);
    expect(loadClusterKubeConfig(path.join(dir, 'k'), {}).getCurrentCluster()?.server).toBe('https://127.0.0.1:1');
  });

  it('runComponent exits 2 naming the flag and the path, and setup never runs', async () => {
    let setupRan = false;
    const c = defineComponent({
      name: 'demo',
      description: 'demo',
      flags: {},
      setup: () => {
        setupRan = true;
      },
    });
    const err: string[] = [];
    const code = await runComponent(c, {
      argv: ['--kubeconfig=/nonexistent', '--metrics-bind-address=0', '--health-probe-bind-address=0'],
      env: {},
      handleSignals: false,
      exit: () => {},
      stderr: (s) => void err.push(s),
      terminationLogPath: path.join(dir, 'termination-log'),
      logger: silentLogger(),
    });
    expect({ code, setupRan }).toEqual({ code: 2, setupRan: false });
    expect(err.join('')).toContain('invalid value "/nonexistent" for --kubeconfig: /nonexistent does not exist (ENOENT)');
    expect(err.join('')).not.toMatch(/\n\s+at /);
  });
});
