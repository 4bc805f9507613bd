/**
 * The downscaler against the real control plane, running in-process under its shipped ServiceAccount
 * and RBAC, with a settable decision clock: scale-down and restore per kind with one PATCH per
 * transition and none at steady state, Namespace annotations, excluded namespaces, a deploy during
 * downtime, HPA-managed workloads, and bad annotations (Warning Event + metric, no write).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import {
  AuditLog,
  Cluster,
  ORIG,
  type TestController,
  deniedAccesses,
  pathOf,
  startTestController,
  waitFor,
} from './support';

const MON_10 = '2030-01-07T10:00:00Z';
const MON_20 = '2030-01-07T20:00:00Z';
const TUE_09 = '2030-01-08T09:00:00Z';
const SAT_12 = '2030-01-12T12:00:00Z';

describe('downscaler schedules on the local cluster', () => {
  const cluster = new Cluster();
  let saKc: KubeConfig;
  let ctl: TestController;

  beforeAll(async () => {
    saKc = await cluster.controllerKubeConfig();
    ctl = await startTestController(saKc, {
      settings: {
        includeResources: new Set(['deployments', 'statefulsets', 'cronjobs', 'horizontalpodautoscalers']),
        excludeNamespaces: [/^(?:kube-system)$/, /^(?:excluded-.*)$/],
        deploymentTimeAnnotation: 'deployment-time',
      },
    });
  });

  afterAll(async () => {
    await ctl?.stop();
    await cluster.cleanup();
  });

  /** Waits until the controller finished `n` more evaluation ticks. */
  async function ticks(n = 2): Promise<void> {
    const start = await ctl.metric('kubeaws_downscaler_cycles_total');
    await waitFor(async () => (await ctl.metric('kubeaws_downscaler_cycles_total')) >= start + n, {
      timeoutMs: 15_000,
      description: `${n} ticks`,
    });
    await ctl.downscaler.drained();
  }

  it('scales down outside uptime and restores in uptime: Deployment, StatefulSet, CronJob, one PATCH per transition', async () => {
    ctl.clock.set(MON_10);
    const uptime = { 'downscaler/uptime': 'Mon-Fri 08:00-18:00 UTC' };
    const ns = await cluster.namespace('sched');
    const dep = await cluster.deployment(ns, 'web', { annotations: uptime });
    await cluster.deployment(ns, 'db', { kind: 'StatefulSet', replicas: 1, annotations: uptime });
    await cluster.cronJob(ns, 'report', uptime);
    const audit = new AuditLog();
    audit.mark();
    await ticks();
    expect((await cluster.get(pathOf('Deployment', ns, 'web'))).spec.replicas).toBe(2);
    expect(await audit.controllerWrites(`/namespaces/${ns}/`)).toEqual([]);

    ctl.clock.set(MON_20);
    const down = await cluster.waitObj(pathOf('Deployment', ns, 'web'), (o) => o.spec.replicas === 0, 'scaled to 0');
    expect(down.metadata.annotations[ORIG]).toBe('2');
    expect(
      down.metadata.managedFields.some(
        (f: { manager: string; operation: string }) => f.manager === 'kubeaws-downscaler' && f.operation === 'Update',
      ),
    ).toBe(true);
    await cluster.waitObj(
      pathOf('StatefulSet', ns, 'db'),
      (o) => o.spec.replicas === 0 && o.metadata.annotations[ORIG] === '1',
      'StatefulSet at 0',
    );
    await cluster.waitObj(
      pathOf('CronJob', ns, 'report'),
      (o) => o.spec.suspend === true && o.metadata.annotations[ORIG] === '1',
      'CronJob suspended',
    );
    const [ev] = await cluster.waitEvent(ns, 'ScaleDown', 'web');
    expect(ev).toMatchObject({
      type: 'Normal',
      reportingController: 'kubeaws.io/downscaler',
      note: '2→0: outside uptime (annotation downscaler/uptime)',
      regarding: { kind: 'Deployment', name: 'web', uid: dep.metadata.uid },
    });
    const line = ctl.logs.find((l) => l.action === 'scale-down' && l.namespace === ns && l.name === 'web')[0];
    expect(line).toMatchObject({
      component: 'downscaler',
      kind: 'Deployment',
      from: 2,
      to: 0,
      mode: 'down',
      scope: 'workload',
      uid: dep.metadata.uid,
    });

    // steady state: more ticks, no more writes
    await ticks(3);
    const writes = await audit.controllerWrites(`/namespaces/${ns}/`);
    expect(writes.filter((w) => !w.includes('/events')).sort()).toEqual([
      `patch /apis/apps/v1/namespaces/${ns}/deployments/web`,
      `patch /apis/apps/v1/namespaces/${ns}/statefulsets/db`,
      `patch /apis/batch/v1/namespaces/${ns}/cronjobs/report`,
    ]);

    ctl.clock.set(TUE_09);
    const up = await cluster.waitObj(pathOf('Deployment', ns, 'web'), (o) => o.spec.replicas === 2, 'restored to 2');
    expect(up.metadata.annotations?.[ORIG]).toBeUndefined();
    await cluster.waitObj(
      pathOf('StatefulSet', ns, 'db'),
      (o) => o.spec.replicas === 1 && !o.metadata.annotations?.[ORIG],
      'StatefulSet restored',
    );
    await cluster.waitObj(
      pathOf('CronJob', ns, 'report'),
      (o) => o.spec.suspend === false && !o.metadata.annotations?.[ORIG],
      'CronJob resumed',
    );
    await cluster.waitEvent(ns, 'ScaleUp', 'web', /^0→2: inside uptime \(annotation downscaler\/uptime item 1\)$/);
    await ticks(2);
    expect(
      (await audit.controllerWrites(`/namespaces/${ns}/`)).filter(
        (w) => w.startsWith('patch ') && !w.includes('/events'),
      ).length,
    ).toBe(6);
    expect(
      await ctl.metric('kubeaws_downscaler_scaled_total', { kind: 'Deployment', direction: 'down' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await ctl.metric('kubeaws_downscaler_scaled_total', { kind: 'CronJob', direction: 'up' }),
    ).toBeGreaterThanOrEqual(1);
    await cluster.drop(ns);
  });

  it('applies Namespace annotations unless the workload sets its own schedule group', async () => {
    ctl.clock.set(MON_10);
    const ns = await cluster.namespace('nsann', { 'downscaler/downtime': 'Sat-Sun 00:00-24:00 UTC' });
    await cluster.deployment(ns, 'inherits');
    await cluster.deployment(ns, 'own', { annotations: { 'downscaler/uptime': 'always' } });
    await cluster.deployment(ns, 'opted-out', { annotations: { 'downscaler/exclude': 'true' } });
    ctl.clock.set(SAT_12);
    await cluster.waitObj(
      pathOf('Deployment', ns, 'inherits'),
      (o) => o.spec.replicas === 0,
      'scaled down by the Namespace schedule',
    );
    await cluster.waitEvent(
      ns,
      'ScaleDown',
      'inherits',
      /inside downtime \(namespace annotation downscaler\/downtime item 1\)/,
    );
    await ticks(2);
    expect((await cluster.get(pathOf('Deployment', ns, 'own'))).spec.replicas).toBe(2);
    expect((await cluster.get(pathOf('Deployment', ns, 'opted-out'))).spec.replicas).toBe(2);
    // the Namespace annotation goes away: restored
    await cluster.patch(`/api/v1/namespaces/${ns}`, { metadata: { annotations: { 'downscaler/downtime': null } } });
    await cluster.waitObj(
      pathOf('Deployment', ns, 'inherits'),
      (o) => o.spec.replicas === 2 && !o.metadata.annotations?.[ORIG],
      'restored',
    );
    await cluster.drop(ns);
  });

  it('never scales excluded namespaces down, and restores what they still carry', async () => {
    ctl.clock.set(MON_10);
    const ns = await cluster.namespace('excluded');
    await cluster.deployment(ns, 'always-down', { annotations: { 'downscaler/downtime': 'always' } });
    await cluster.deployment(ns, 'was-down', { replicas: 0, annotations: { [ORIG]: '3' } });
    await cluster.waitObj(
      pathOf('Deployment', ns, 'was-down'),
      (o) => o.spec.replicas === 3 && !o.metadata.annotations?.[ORIG],
      'restored once',
    );
    await ticks(2);
    expect((await cluster.get(pathOf('Deployment', ns, 'always-down'))).spec.replicas).toBe(2);
    expect(
      await ctl.metric('kubeaws_downscaler_excluded_workloads', { kind: 'Deployment', reason: 'ExcludedNamespace' }),
    ).toBeGreaterThanOrEqual(2);
    await cluster.drop(ns);
  });

  it('handles a deploy during downtime: grace from the deployment-time annotation, then down again with the new original', async () => {
    const ns = await cluster.namespace('deploy', { 'downscaler/downtime': 'always' });
    const now = Date.now();
    ctl.clock.set(now);
    await cluster.deployment(ns, 'app', { annotations: { 'deployment-time': new Date(now).toISOString() } });
    await ticks(2);
    expect((await cluster.get(pathOf('Deployment', ns, 'app'))).spec.replicas).toBe(2); // in grace
    expect(
      await ctl.metric('kubeaws_downscaler_excluded_workloads', { kind: 'Deployment', reason: 'Grace' }),
    ).toBeGreaterThanOrEqual(1);
    ctl.clock.set(now + 16 * 60_000);
    await cluster.waitObj(
      pathOf('Deployment', ns, 'app'),
      (o) => o.spec.replicas === 0 && o.metadata.annotations[ORIG] === '2',
      'down after grace',
    );

    // a deploy that does not set replicas changes nothing
    const audit = new AuditLog();
    audit.mark();
    await cluster.patch(pathOf('Deployment', ns, 'app'), {
      spec: { template: { metadata: { annotations: { release: 'v2' } } } },
    });
    await ticks(2);
    expect((await cluster.get(pathOf('Deployment', ns, 'app'))).spec.replicas).toBe(0);
    expect(await audit.controllerWrites(`/deployments/app`)).toEqual([]);

    // a deploy that raises replicas: grace again, then down with orig = 3 and a Warning
    await cluster.patch(pathOf('Deployment', ns, 'app'), {
      metadata: { annotations: { 'deployment-time': new Date(now + 16 * 60_000).toISOString() } },
      spec: { replicas: 3 },
    });
    await ticks(2);
    expect((await cluster.get(pathOf('Deployment', ns, 'app'))).spec.replicas).toBe(3);
    ctl.clock.set(now + 40 * 60_000);
    await cluster.waitObj(
      pathOf('Deployment', ns, 'app'),
      (o) => o.spec.replicas === 0 && o.metadata.annotations[ORIG] === '3',
      'down again, orig 3',
    );
    await cluster.waitEvent(ns, 'OriginalReplicasOverwritten', 'app', /2→3/);
    expect(
      await ctl.metric('kubeaws_downscaler_original_replicas_overwritten_total', { kind: 'Deployment' }),
    ).toBeGreaterThanOrEqual(1);
    await cluster.drop(ns);
  });

  it('delegates to a single HPA, refuses an excluded one, and scales HPA targets to 0 directly', async () => {
    ctl.clock.set(MON_10);
    const ns = await cluster.namespace('hpa', {
      'downscaler/downtime': 'Sat-Sun 00:00-24:00 UTC',
      'downscaler/downtime-replicas': '1',
    });
    await cluster.deployment(ns, 'web');
    await cluster.hpa(ns, 'web', 'web', { min: 2 });
    await cluster.deployment(ns, 'api');
    await cluster.hpa(ns, 'api', 'api', { min: 2, annotations: { 'downscaler/exclude': 'true' } });
    await cluster.deployment(ns, 'zero', { annotations: { 'downscaler/downtime-replicas': '0' } });
    await cluster.hpa(ns, 'zero', 'zero', { min: 2 });
    ctl.clock.set(SAT_12);
    await cluster.waitObj(
      pathOf('HorizontalPodAutoscaler', ns, 'web'),
      (o) => o.spec.minReplicas === 1 && o.metadata.annotations[ORIG] === '2',
      'HPA minReplicas lowered',
    );
    await cluster.waitEvent(ns, 'DelegatedToHPA', 'web');
    await cluster.waitEvent(ns, 'HPAManaged', 'api', /include horizontalpodautoscalers/);
    await cluster.waitObj(
      pathOf('Deployment', ns, 'zero'),
      (o) => o.spec.replicas === 0 && o.metadata.annotations[ORIG] === '2',
      'HPA target at 0',
    );
    await ticks(2);
    expect((await cluster.get(pathOf('Deployment', ns, 'web'))).metadata.annotations?.[ORIG]).toBeUndefined();
    expect((await cluster.get(pathOf('Deployment', ns, 'api'))).spec.replicas).toBe(2);
    const zeroHpa = await cluster.get(pathOf('HorizontalPodAutoscaler', ns, 'zero'));
    expect([zeroHpa.spec.minReplicas, zeroHpa.metadata.annotations?.[ORIG]]).toEqual([2, undefined]);
    expect(
      await ctl.metric('kubeaws_downscaler_excluded_workloads', { kind: 'Deployment', reason: 'HPAManaged' }),
    ).toBeGreaterThanOrEqual(1);

    ctl.clock.set(MON_10);
    await cluster.waitObj(
      pathOf('HorizontalPodAutoscaler', ns, 'web'),
      (o) => o.spec.minReplicas === 2 && !o.metadata.annotations?.[ORIG],
      'HPA restored',
    );
    await cluster.waitObj(
      pathOf('Deployment', ns, 'zero'),
      (o) => o.spec.replicas === 2 && !o.metadata.annotations?.[ORIG],
      'target restored',
    );
    await cluster.drop(ns);
  });

  it('reports bad annotations with a Warning Event, a metric and a log line, and writes nothing', async () => {
    ctl.clock.set(MON_20);
    const ns = await cluster.namespace('bad');
    const before = await ctl.metric('kubeaws_downscaler_invalid_config_total', {
      kind: 'Deployment',
      reason: 'InvalidAnnotation',
    });
    const audit = new AuditLog();
    audit.mark();
    await cluster.deployment(ns, 'typo', { annotations: { 'downscaler/uptime': 'Mon-Fri 07:30-25:99 UTC' } });
    await cluster.deployment(ns, 'zero-exclude', {
      annotations: { 'downscaler/exclude': '0', 'downscaler/downtime': 'always' },
    });
    await cluster.deployment(ns, 'conflict', {
      annotations: {
        'downscaler/downtime-replicas': '1',
        'downscaler/downscale-replicas': '2',
        'downscaler/downtime': 'always',
      },
    });
    const [ev] = await cluster.waitEvent(ns, 'InvalidAnnotation', 'typo');
    expect(ev).toMatchObject({
      type: 'Warning',
      note: 'downscaler/uptime item 1 "Mon-Fri 07:30-25:99 UTC": hour 25 out of range 00-24',
    });
    await cluster.waitEvent(ns, 'InvalidAnnotation', 'zero-exclude', /downscaler\/exclude/);
    await cluster.waitEvent(ns, 'ConflictingAnnotations', 'conflict');
    await ticks(3);
    expect(
      await ctl.metric('kubeaws_downscaler_invalid_config_total', { kind: 'Deployment', reason: 'InvalidAnnotation' }),
    ).toBe(before + 2);
    expect(
      await ctl.metric('kubeaws_downscaler_skipped_workloads', { kind: 'Deployment', reason: 'InvalidAnnotation' }),
    ).toBeGreaterThanOrEqual(2);
    expect(ctl.logs.find((l) => l.level === 'warn' && l.namespace === ns && l.name === 'typo')[0]).toMatchObject({
      annotation: 'downscaler/uptime',
      item: 1,
      token: '25',
      code: 'TimeOutOfRange',
      reason: 'InvalidAnnotation',
    });
    for (const name of ['typo', 'zero-exclude', 'conflict'])
      expect((await cluster.get(pathOf('Deployment', ns, name))).spec.replicas).toBe(2);
    expect((await audit.controllerWrites(`/namespaces/${ns}/`)).filter((w) => !w.includes('/events'))).toEqual([]);

    // a bad Namespace annotation blocks its objects and is reported on the Namespace
    const ns2 = await cluster.namespace('badns', { 'downscaler/downtime': 'Sat-Sun 00:00-24:00 CET' });
    await cluster.deployment(ns2, 'app');
    await waitFor(
      async () =>
        (await cluster.events('default')).find(
          (e) => e.reason === 'InvalidAnnotation' && e.regarding?.kind === 'Namespace' && e.regarding?.name === ns2,
        ),
      { description: 'InvalidAnnotation on the Namespace' },
    ).then((e) => expect(e.note).toMatch(/zone "CET" is not allowed \(use "Europe\/Berlin"\)/));
    await ticks(2);
    expect((await cluster.get(pathOf('Deployment', ns2, 'app'))).spec.replicas).toBe(2);
    await cluster.drop(ns);
    await cluster.drop(ns2);
  });

  it('re-reads and decides again after a 409 from a concurrent writer', async () => {
    ctl.clock.set(MON_10);
    const ns = await cluster.namespace('conflict');
    await cluster.deployment(ns, 'web', { annotations: { 'downscaler/downtime': 'Sat-Sun 00:00-24:00 UTC' } });
    await ticks(1);
    const client = ctl.manager.leaderClient;
    const mergePatch = client.mergePatch.bind(client);
    let injected = false;
    client.mergePatch = (async (p: string, body: unknown, o?: object) => {
      if (!injected && p.endsWith(`/namespaces/${ns}/deployments/web`)) {
        injected = true; // another writer changes the object between our read and our write
        await cluster.patch(p, { metadata: { labels: { touched: 'yes' } } });
      }
      return mergePatch(p, body, o);
    }) as typeof client.mergePatch;
    const audit = new AuditLog();
    audit.mark();
    try {
      ctl.clock.set(SAT_12);
      await cluster.waitObj(
        pathOf('Deployment', ns, 'web'),
        (o) => o.spec.replicas === 0,
        'scaled down after the conflict',
      );
    } finally {
      client.mergePatch = mergePatch;
    }
    const patches = (await audit.since()).filter(
      (e) =>
        e.user?.username !== undefined &&
        e.requestURI.includes(`/namespaces/${ns}/deployments/web`) &&
        e.verb === 'patch',
    );
    expect(
      patches.map((e) => [
        e.user.username.endsWith(':kubeaws-downscaler') ? 'controller' : 'other',
        e.responseStatus?.code,
      ]),
    ).toEqual([
      ['other', 200],
      ['controller', 409],
      ['controller', 200],
    ]);
    expect(ctl.accesses().some((a) => a.verb === 'get' && a.resource === 'deployments' && a.namespace === ns)).toBe(
      true,
    );
    const obj = await cluster.get(pathOf('Deployment', ns, 'web'));
    expect([obj.metadata.labels.touched, obj.metadata.annotations[ORIG]]).toEqual(['yes', '2']);
    await cluster.drop(ns);
  });

  it('needed no permission beyond the shipped RBAC', () => {
    expect(deniedAccesses(ctl.accesses())).toEqual([]);
    const verbs = new Set(ctl.accesses().map((a) => `${a.verb} ${a.group}/${a.resource}`));
    expect([...verbs].filter((v) => v.startsWith('patch ')).sort()).toEqual([
      'patch apps/deployments',
      'patch apps/statefulsets',
      'patch autoscaling/horizontalpodautoscalers',
      'patch batch/cronjobs',
    ]);
  });
});
