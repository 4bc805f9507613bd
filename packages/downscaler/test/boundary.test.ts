/**
 * The downscaler acts at a schedule boundary, not at the next evaluation tick (docs/downscaler.md#ds-boundaries):
 * with the longest `--interval` (60 s), a scale-down and a restore whose boundary lies a few seconds ahead happen
 * shortly after it, with no evaluation tick in between, through the per-object transition timers. Real control plane,
 * shipped ServiceAccount and RBAC; the decision clock runs at real speed from a chosen instant.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { Cluster, ORIG, SettableClock, type TestController, pathOf, startTestController, waitFor } from './support';

/** A decision clock at real speed, shifted so that it reads a chosen instant now; timers run on real time. */
class ShiftedClock extends SettableClock {
  private offset = 0;
  override now(): number {
    return Date.now() + this.offset;
  }
  override set(iso: string | number): void {
    this.offset = (typeof iso === 'number' ? iso : Date.parse(iso)) - Date.now();
  }
}

const BOUNDARY = '2030-01-07T20:00:00Z'; // a Monday
const INTERVAL_MS = 60_000;

describe('downscaler at schedule boundaries', () => {
  const cluster = new Cluster();
  let saKc: KubeConfig;
  let ctl: TestController;
  const clock = new ShiftedClock(0);
  /** Real time at which a tick was last seen to complete. */
  let tickSeenAt = 0;

  /** Waits until the next evaluation tick when the last one is long ago, so that the test's window fits before the next. */
  async function freshTickWindow(): Promise<void> {
    if (Date.now() - tickSeenAt < 20_000) return;
    const n = await ctl.metric('kubeaws_downscaler_cycles_total');
    await waitFor(async () => ((await ctl.metric('kubeaws_downscaler_cycles_total')) > n ? true : undefined), {
      timeoutMs: INTERVAL_MS + 15_000,
      intervalMs: 100,
      description: 'the next evaluation tick',
    });
    tickSeenAt = Date.now();
  }

  beforeAll(async () => {
    clock.set('2030-01-07T12:00:00Z');
    saKc = await cluster.controllerKubeConfig();
    ctl = await startTestController(saKc, { clock, settings: { intervalMs: INTERVAL_MS } });
    await waitFor(async () => ((await ctl.metric('kubeaws_downscaler_cycles_total')) >= 1 ? true : undefined), {
      timeoutMs: 30_000,
      description: 'first evaluation',
    });
    tickSeenAt = Date.now();
  });

  afterAll(async () => {
    await ctl?.stop();
    await cluster.cleanup();
  });

  it('scales down and restores right after the boundary, and follows a boundary a changed annotation brings nearer', async () => {
    // one window between two ticks (they are a minute apart): no tick may do the work the timers are tested for
    const ns = await cluster.namespace('boundary');
    await cluster.deployment(ns, 'changed', { replicas: 2, annotations: { 'downscaler/downtime': 'never' } });
    await waitFor(async () => (ctl.downscaler.get('Deployment', ns, 'changed') ? true : undefined), {
      timeoutMs: 10_000,
      description: 'Deployment changed cached',
    });
    await freshTickWindow();
    clock.set(Date.parse(BOUNDARY) - 4000);
    const ticks = await ctl.metric('kubeaws_downscaler_cycles_total');
    // inside uptime until 20:00 → down at 20:00
    await cluster.deployment(ns, 'day', {
      replicas: 2,
      annotations: { 'downscaler/uptime': 'Mon-Fri 08:00-20:00 UTC' },
    });
    // scaled down earlier, uptime from 20:00 → restored at 20:00
    await cluster.deployment(ns, 'evening', {
      replicas: 0,
      annotations: { 'downscaler/uptime': 'Mon-Fri 20:00-23:00 UTC', [ORIG]: '3' },
    });
    // a downtime from 6 s ahead, set on an object whose timer had nothing to wait for
    const rfc3339 = (t: number) => new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');
    const from = Math.ceil((clock.now() + 6000) / 1000) * 1000;
    await cluster.patch(pathOf('Deployment', ns, 'changed'), {
      metadata: { annotations: { 'downscaler/downtime': `${rfc3339(from)}-${rfc3339(from + 3_600_000)}` } },
    });
    expect((await cluster.get(pathOf('Deployment', ns, 'day'))).spec.replicas).toBe(2);
    expect((await cluster.get(pathOf('Deployment', ns, 'changed'))).spec.replicas).toBe(2);

    // the boundaries are 4 s and 6 s ahead, the next tick about a minute: allow 20 s
    const down = await cluster.waitObj(
      pathOf('Deployment', ns, 'day'),
      (o) => o.spec.replicas === 0,
      'scaled to 0',
      20_000,
    );
    expect(down.metadata.annotations[ORIG]).toBe('2');
    const up = await cluster.waitObj(
      pathOf('Deployment', ns, 'evening'),
      (o) => o.spec.replicas === 3,
      'restored to 3',
      20_000,
    );
    expect(up.metadata.annotations?.[ORIG]).toBeUndefined();
    const changed = await cluster.waitObj(
      pathOf('Deployment', ns, 'changed'),
      (o) => o.spec.replicas === 0,
      'scaled to 0',
      20_000,
    );
    expect(changed.metadata.annotations[ORIG]).toBe('2');
    expect(clock.now()).toBeGreaterThanOrEqual(from);
    expect(await ctl.metric('kubeaws_downscaler_cycles_total')).toBe(ticks);
    expect(
      await ctl.metric('kubeaws_downscaler_reconcile_total', { controller: 'transitions' }),
    ).toBeGreaterThanOrEqual(3);
    const [ev] = await cluster.waitEvent(ns, 'ScaleDown', 'day');
    expect(ev.note).toBe('2→0: outside uptime (annotation downscaler/uptime)');
  });
});
