/**
 * `downscaler plan` run as a user runs it outside the cluster (docs/downscaler.md#ds-plan, #ds-cli): the built entry
 * point with `--kubeconfig` (a token of the shipped ServiceAccount, so read access suffices) against the real control
 * plane prints the action and the next transition per object at the chosen instant and makes no mutating call; bad
 * arguments exit 2 before any API call; a Node.js without Temporal exits 1 naming the requirement.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startCountingApiServer } from '@kubeaws/testenv';
import { buildCli, runCli } from './helpers';
import { AuditLog, Cluster, ORIG, SA_USER, pathOf } from './support';

const BERLIN_OFFICE = { 'downscaler/uptime': 'Mon-Fri 08:00-18:00 Europe/Berlin' };
const FRIDAY_EVENING = '2030-01-11T20:30:00+01:00';

describe('downscaler plan against the local cluster', () => {
  const cluster = new Cluster();
  let tmp: string;
  let kubeconfig: string;

  beforeAll(async () => {
    buildCli();
    const saKc = await cluster.controllerKubeConfig();
    tmp = mkdtempSync(path.join(tmpdir(), 'downscaler-plan-'));
    kubeconfig = path.join(tmp, 'kubeconfig');
    writeFileSync(kubeconfig, saKc.exportConfig());
  }, 180_000);

  afterAll(async () => {
    await cluster.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('prints what happens at Friday 20:30 and next, per object, and writes nothing', async () => {
    const ns = await cluster.namespace('plan');
    await cluster.deployment(ns, 'web', { replicas: 2, annotations: BERLIN_OFFICE });
    await cluster.deployment(ns, 'api', { replicas: 0, annotations: { ...BERLIN_OFFICE, [ORIG]: '3' } });
    await cluster.cronJob(ns, 'report', BERLIN_OFFICE);
    await cluster.deployment(ns, 'broken', {
      replicas: 1,
      annotations: { 'downscaler/uptime': 'Mon-Fri 08:00-25:00 UTC' },
    });
    const audit = new AuditLog();
    audit.mark();
    const r = await runCli([
      'plan',
      '--at',
      FRIDAY_EVENING,
      `--kubeconfig=${kubeconfig}`,
      `--namespace=${ns}`,
      '--include-resources=deployments,cronjobs',
    ]);
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    expect(r.out).toBe(
      [
        'plan at 2030-01-11T19:30:00Z: 4 object(s); nothing is written',
        '',
        `CronJob ${ns}/report (replicas 1)`,
        '  at 2030-01-11T19:30:00Z: scale-down 1→0: outside uptime (annotation downscaler/uptime)',
        '  next 2030-01-14T07:00:00Z: scale-up 0→1: inside uptime (annotation downscaler/uptime item 1)',
        '',
        `Deployment ${ns}/api (replicas 0)`,
        '  at 2030-01-11T19:30:00Z: none (AtTarget): outside uptime (annotation downscaler/uptime)',
        '  next 2030-01-14T07:00:00Z: scale-up 0→3: inside uptime (annotation downscaler/uptime item 1)',
        '',
        `Deployment ${ns}/broken (replicas 1)`,
        '  at 2030-01-11T19:30:00Z: skip (InvalidAnnotation): downscaler/uptime item 1 "Mon-Fri 08:00-25:00 UTC": hour 25 out of range 00-24',
        '  next: none within 8 days',
        '',
        `Deployment ${ns}/web (replicas 2)`,
        '  at 2030-01-11T19:30:00Z: scale-down 2→0: outside uptime (annotation downscaler/uptime)',
        '  next 2030-01-14T07:00:00Z: scale-up 0→2: inside uptime (annotation downscaler/uptime item 1)',
        '',
        'summary: 1 none, 2 scale-down, 1 skip',
        '',
      ].join('\n'),
    );
    const writes = (await audit.since()).filter(
      (e) => e.user?.username === SA_USER && !['get', 'list', 'watch'].includes(e.verb),
    );
    expect(writes.map((e) => `${e.verb} ${e.requestURI}`)).toEqual([]);
    expect((await cluster.get(pathOf('Deployment', ns, 'web'))).spec.replicas).toBe(2);
    await cluster.drop(ns);
  }, 120_000);

  it('includes scaledobjects on a cluster without KEDA: there are none, the rest is planned', async () => {
    const ns = await cluster.namespace('plan-keda');
    await cluster.deployment(ns, 'worker', { replicas: 3, annotations: BERLIN_OFFICE });
    const r = await runCli([
      'plan',
      `--at=${FRIDAY_EVENING}`,
      `--kubeconfig=${kubeconfig}`,
      `--namespace=${ns}`,
      '--include-resources=scaledobjects,deployments',
    ]);
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    expect(r.out).toContain(`Deployment ${ns}/worker (replicas 3)\n  at 2030-01-11T19:30:00Z: scale-down 3→0`);
    await cluster.drop(ns);
  }, 120_000);

  it('bad arguments exit 2 naming the flag, before any API call', async () => {
    const api = await startCountingApiServer(path.join(tmp, 'counting-kubeconfig'));
    try {
      const kc = `--kubeconfig=${api.kubeconfigPath}`;
      const cases: Array<{ args: string[]; says: string }> = [
        { args: ['plan', kc], says: 'error: missing --at: expected an RFC 3339 instant' },
        { args: ['plan', kc, '--at=2030-01-11 20:30'], says: 'error: invalid value "2030-01-11 20:30" for --at' },
        { args: ['plan', kc, `--at=${FRIDAY_EVENING}`, '--include-resources=pods'], says: '--include-resources' },
        {
          args: ['plan', `--at=${FRIDAY_EVENING}`, `--kubeconfig=${path.join(tmp, 'absent')}`],
          says: `invalid value "${path.join(tmp, 'absent')}" for --kubeconfig`,
        },
      ];
      for (const c of cases) {
        const r = await runCli(c.args);
        expect({ args: c.args, code: r.code }).toEqual({ args: c.args, code: 2 });
        expect(r.err).toContain(c.says);
      }
      expect(api.connections()).toBe(0);
    } finally {
      await api.close();
    }
  }, 120_000);

  it('a Node.js without the Temporal API exits 1 naming the requirement, before any API call', async () => {
    const api = await startCountingApiServer(path.join(tmp, 'counting-kubeconfig-2'));
    try {
      for (const args of [
        ['plan', `--at=${FRIDAY_EVENING}`, `--kubeconfig=${api.kubeconfigPath}`],
        [`--kubeconfig=${api.kubeconfigPath}`, '--once', '--dry-run'],
      ]) {
        const r = await runCli(args, { nodeArgs: ['--no-harmony-temporal'] });
        expect({ code: r.code, err: r.err }).toEqual({
          code: 1,
          err: `error: the downscaler needs Node.js >= 26: it evaluates schedules with the Temporal API, which this runtime (Node.js ${process.version}) does not provide\n`,
        });
      }
      expect(api.connections()).toBe(0);
    } finally {
      await api.close();
    }
  }, 120_000);
});
