/**
 * A person's scale is never undone (docs/downscaler.md#ds-taken-over), on the real control plane under the shipped
 * ServiceAccount: a Deployment scaled down in downtime (original 2) is scaled to 1 by its team just after the uptime
 * boundary, before the downscaler's restore (here: the downscaler was down across the boundary, as when its pod is
 * killed or stalls). The restore must not overwrite the team's 1: the annotation is dropped with a Normal
 * `RestoreSkipped` Event saying someone else took over, and the Deployment stays at 1.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import {
  AuditLog,
  Cluster,
  ORIG,
  SA_USER,
  SettableClock,
  deniedAccesses,
  pathOf,
  startTestController,
} from './support';
import { waitTicks } from './helpers';

const MON_20 = '2030-01-07T20:00:00Z';
/** Two seconds after the uptime boundary (Tuesday 08:00 UTC). */
const TUE_08_00_02 = '2030-01-08T08:00:02Z';

describe('a team scale right after the uptime boundary', () => {
  const cluster = new Cluster();
  let saKc: KubeConfig;

  beforeAll(async () => {
    saKc = await cluster.controllerKubeConfig();
  }, 120_000);

  afterAll(async () => {
    await cluster.cleanup();
  });

  it('is not undone: the annotation is dropped with an Event, the replicas stay the team’s', async () => {
    const ns = await cluster.namespace('takeover', { 'downscaler/uptime': 'Mon-Fri 08:00-18:00 UTC' });
    await cluster.deployment(ns, 'web', { replicas: 2 });
    const dep = pathOf('Deployment', ns, 'web');

    const a = await startTestController(saKc, { clock: new SettableClock(Date.parse(MON_20)) });
    try {
      await cluster.waitObj(dep, (o) => o.spec.replicas === 0 && o.metadata.annotations?.[ORIG] === '2', 'scaled down');
    } finally {
      await a.stop();
    }

    // After the boundary, before any restore: the team scales to 1.
    await cluster.patch(dep, { spec: { replicas: 1 } });
    const audit = new AuditLog();
    audit.mark();
    const b = await startTestController(saKc, { clock: new SettableClock(Date.parse(TUE_08_00_02)) });
    try {
      const cleared = await cluster.waitObj(
        dep,
        (o) => o.metadata.annotations?.[ORIG] === undefined,
        'annotation dropped',
      );
      expect(cleared.spec.replicas).toBe(1);
      const [ev] = await cluster.waitEvent(ns, 'RestoreSkipped', 'web');
      expect(ev).toMatchObject({ type: 'Normal', reportingController: 'kubeaws.io/downscaler' });
      expect(ev!.note).toMatch(
        /^taken over by someone else: at 1, not the downtime target 0 the downscaler left, so their value stands and is not restored to 2; removed downscaler\/original-replicas only; inside uptime \(namespace annotation downscaler\/uptime item 1\)$/,
      );
      await waitTicks(b, 3);
      expect((await cluster.get(dep)).spec.replicas).toBe(1);
      // one successful write (a 409 against the deployment controller's status updates is retried, #ds-conflicts)
      const patches = (await audit.since()).filter(
        (e) =>
          e.user?.username === SA_USER && e.verb === 'patch' && e.requestURI.includes(`/namespaces/${ns}/deployments/`),
      );
      expect(patches.filter((e) => e.responseStatus?.code !== 409).map((e) => e.responseStatus?.code)).toEqual([200]);
      expect(deniedAccesses(b.accesses())).toEqual([]);
    } finally {
      await b.stop();
    }
    await cluster.drop(ns);
  }, 120_000);

  it('what the downscaler left is still restored', async () => {
    const ns = await cluster.namespace('takeover-restore', { 'downscaler/uptime': 'Mon-Fri 08:00-18:00 UTC' });
    await cluster.deployment(ns, 'web', { replicas: 2 });
    const dep = pathOf('Deployment', ns, 'web');
    const clock = new SettableClock(Date.parse(MON_20));
    const ctl = await startTestController(saKc, { clock });
    try {
      await cluster.waitObj(dep, (o) => o.spec.replicas === 0 && o.metadata.annotations?.[ORIG] === '2', 'scaled down');
      clock.set(TUE_08_00_02);
      await cluster.waitObj(dep, (o) => o.spec.replicas === 2 && !o.metadata.annotations?.[ORIG], 'restored');
      await cluster.waitEvent(ns, 'ScaleUp', 'web', /^0→2: /);
    } finally {
      await ctl.stop();
    }
    await cluster.drop(ns);
  }, 120_000);
});
