/**
 * The downscaler as a process and across restarts, against the real control plane: the built entry
 * point exits with code 2 on invalid flags before any API call; `--once --dry-run` prints the plan and
 * makes no mutating call; `--once` has written its Events (and released the Lease) when it exits; a
 * replica that takes over the shipped Lease after a restart restores from `original-replicas` alone.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import {
  AuditLog,
  Cluster,
  ORIG,
  REPO_ROOT,
  SA,
  SA_USER,
  SettableClock,
  deniedAccesses,
  httpGet,
  pathOf,
  startTestController,
  waitFor,
} from './support';
import { startCountingApiServer } from '@kubeaws/testenv';

const MAIN_JS = path.join(REPO_ROOT, 'dist/packages/downscaler/lib/main.js');
const PRELOAD = path.join(__dirname, 'fixtures/workspace-packages.cjs');
const LEASE = `/apis/coordination.k8s.io/v1/namespaces/${SA.namespace}/leases/kubeaws-downscaler`;

function runMain(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const { NODE_OPTIONS: _ignored, ...parent } = process.env;
    const child = spawn(process.execPath, ['--require', PRELOAD, MAIN_JS, ...args], {
      env: { ...parent, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (err += c));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

describe('downscaler process, dry run and restarts', () => {
  const cluster = new Cluster();
  let saKc: KubeConfig;
  let tmp: string;
  let kubeconfigFile: string;

  beforeAll(async () => {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'packages/downscaler/tsconfig.json'], {
      cwd: REPO_ROOT,
      stdio: 'inherit',
    });
    saKc = await cluster.controllerKubeConfig();
    tmp = mkdtempSync(path.join(tmpdir(), 'downscaler-test-'));
    kubeconfigFile = path.join(tmp, 'kubeconfig');
    writeFileSync(kubeconfigFile, saKc.exportConfig());
  }, 180_000);

  afterAll(async () => {
    await cluster.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('exits with code 2 naming flag or env, item and token, before any API call', async () => {
    const api = await startCountingApiServer(path.join(tmp, 'counting-kubeconfig'));
    const kc = api.kubeconfigPath;
    try {
      const base = [`--kubeconfig=${kc}`, '--metrics-bind-address=0', '--health-probe-bind-address=0'];
      const cases: Array<{ args: string[]; env?: Record<string, string>; says: string[] }> = [
        {
          args: ['--default-uptime=Mon-Fri 07:30-25:99 UTC'],
          says: ['--default-uptime', 'item 1', 'hour 25 out of range 00-24'],
        },
        {
          args: [],
          env: { DEFAULT_DOWNTIME: 'Sat-Sun 00:00-24:00 US/Pacific' },
          says: ['env DEFAULT_DOWNTIME', 'US/Pacific', 'America/Los_Angeles'],
        },
        { args: ['--interval=90s'], says: ['--interval', '"90s"'] },
        {
          args: ['--default-uptime=always', '--downscale-period=never'],
          says: ['--default-uptime and --downscale-period'],
        },
      ];
      for (const c of cases) {
        const r = await runMain([...base, ...c.args], c.env);
        expect({ args: c.args, code: r.code }).toEqual({ args: c.args, code: 2 });
        for (const s of c.says) expect(r.err).toContain(s);
      }
      expect(api.connections()).toBe(0);
    } finally {
      await api.close();
    }
  }, 120_000);

  it('--once --dry-run logs the plan, counts it, and makes no mutating call', async () => {
    const ns = await cluster.namespace('dry', { 'downscaler/downtime': 'always' });
    await cluster.deployment(ns, 'web', { replicas: 2 });
    const audit = new AuditLog();
    audit.mark();
    const r = await runMain([
      `--kubeconfig=${kubeconfigFile}`,
      '--metrics-bind-address=0',
      '--health-probe-bind-address=0',
      '--once',
      '--dry-run',
      '--grace-period=0',
      `--namespace=${ns}`,
    ]);
    expect(r.code).toBe(0);
    const lines = r.out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    expect(lines.find((l) => l.action === 'would-scale-down' && l.name === 'web')).toMatchObject({
      kind: 'Deployment',
      namespace: ns,
      from: 2,
      to: 0,
      mode: 'down',
      scope: 'namespace',
      patch: { metadata: { annotations: { [ORIG]: '2' } }, spec: { replicas: 0 } },
    });
    expect((await cluster.get(pathOf('Deployment', ns, 'web'))).spec.replicas).toBe(2);
    expect(
      (await audit.since()).filter((e) => e.user?.username === SA_USER).map((e) => `${e.verb} ${e.requestURI}`),
    ).toEqual([]);
    await cluster.drop(ns);
  }, 120_000);

  it('--once writes its Events before it exits, and releases the Lease', async () => {
    const ns = await cluster.namespace('once', { 'downscaler/downtime': 'always' });
    await cluster.deployment(ns, 'web', { replicas: 2 });
    const r = await runMain(
      [
        `--kubeconfig=${kubeconfigFile}`,
        '--metrics-bind-address=0',
        '--health-probe-bind-address=0',
        `--lease-namespace=${SA.namespace}`,
        '--once',
        '--grace-period=0',
        `--namespace=${ns}`,
      ],
      { POD_NAME: 'downscaler-once' },
    );
    expect({ code: r.code, err: r.code === 0 ? '' : `${r.err}\n${r.out.slice(-4000)}` }).toEqual({ code: 0, err: '' });
    // the process has ended: what it wrote is in the API now (read once, no waiting)
    const dep = await cluster.get(pathOf('Deployment', ns, 'web'));
    expect([dep.spec.replicas, dep.metadata.annotations?.[ORIG]]).toEqual([0, '2']);
    const events = (await cluster.events(ns)).filter((e) => e.reportingController === 'kubeaws.io/downscaler');
    expect(events).toEqual([
      expect.objectContaining({
        type: 'Normal',
        reason: 'ScaleDown',
        regarding: expect.objectContaining({ kind: 'Deployment', name: 'web' }),
        reportingInstance: 'downscaler-once',
        note: '2→0: inside downtime (namespace annotation downscaler/downtime)',
      }),
    ]);
    expect((await cluster.get(LEASE)).spec.holderIdentity ?? '').toBe('');
    await cluster.drop(ns);
  }, 120_000);

  it('restores from original-replicas alone after a restart, on the shipped Lease', async () => {
    const ns = await cluster.namespace('restart', { 'downscaler/uptime': 'Mon-Fri 08:00-18:00 UTC' });
    await cluster.deployment(ns, 'web', { replicas: 3 });
    const clock = new SettableClock(Date.parse('2030-01-07T20:00:00Z'));
    const a = await startTestController(saKc, {
      clock,
      identity: 'downscaler-a',
      shared: { leaderElect: true, leaseNamespace: SA.namespace },
    });
    try {
      await waitFor(() => a.isLeader(), { timeoutMs: 30_000, description: 'replica a leading' });
      await cluster.waitObj(
        pathOf('Deployment', ns, 'web'),
        (o) => o.spec.replicas === 0 && o.metadata.annotations[ORIG] === '3',
        'scaled down by a',
      );
      expect((await cluster.get(LEASE)).spec.holderIdentity).toBe('downscaler-a');
      expect(deniedAccesses(a.accesses())).toEqual([]);
    } finally {
      await a.stop();
    }
    expect((await cluster.get(LEASE)).spec.holderIdentity ?? '').toBe('');
    // a new replica in uptime knows nothing but the annotation
    const b = await startTestController(saKc, {
      clock: new SettableClock(Date.parse('2030-01-08T09:00:00Z')),
      identity: 'downscaler-b',
      shared: { leaderElect: true, leaseNamespace: SA.namespace },
    });
    try {
      await waitFor(() => b.isLeader(), { timeoutMs: 30_000, description: 'replica b leading' });
      await cluster.waitObj(
        pathOf('Deployment', ns, 'web'),
        (o) => o.spec.replicas === 3 && !o.metadata.annotations?.[ORIG],
        'restored by b',
      );
      await cluster.waitEvent(
        ns,
        'ScaleUp',
        'web',
        /^0→3: inside uptime \(namespace annotation downscaler\/uptime item 1\)$/,
      );
      const m = (await httpGet(`${b.addresses.metrics!.url}/metrics`)).body;
      expect(m).toMatch(/kubeaws_downscaler_scaled_total\{kind="Deployment",direction="up"\} 1/);
      expect(m).toMatch(/kubeaws_downscaler_build_info\{version="0\.1\.0",tzdata="\d{4}[a-z]"\} 1/);
      expect((await httpGet(`${b.addresses.health!.url}/healthz`)).status).toBe(200);
      expect((await httpGet(`${b.addresses.health!.url}/readyz`)).status).toBe(200);
      expect(deniedAccesses(b.accesses())).toEqual([]);
    } finally {
      await b.stop();
    }
    await cluster.drop(ns);
  }, 120_000);
});
