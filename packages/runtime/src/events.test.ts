import type { KubeClient } from './client';
import { EventAggregator, EventRecorder, objectReference } from './events';
import { ComponentMetrics } from './metrics';

const ev = (note = 'n') => ({
  regarding: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    namespace: 'ns',
    name: 'web',
    uid: 'u1',
  },
  type: 'Warning' as const,
  reason: 'InvalidAnnotation',
  action: 'Reconcile',
  note,
});

describe('EventAggregator', () => {
  it('creates the first event, drops repeats within the patch interval, patches the count after it', () => {
    const a = new EventAggregator(6 * 60_000, 30_000);
    const k = EventAggregator.key(ev());
    let t = 1_000_000;
    expect(a.observe(k, t)).toEqual({ action: 'create' });
    a.setName(k, 'web.123');
    expect(a.observe(k, (t += 1000))).toEqual({ action: 'drop', count: 2 });
    expect(a.observe(k, (t += 1000))).toEqual({ action: 'drop', count: 3 });
    expect(a.observe(k, (t += 28_000))).toEqual({ action: 'patch', count: 4 });
    expect(a.nameOf(k)).toBe('web.123');
    expect(a.observe(k, (t += 1000))).toEqual({ action: 'drop', count: 5 });
  });

  it('starts a new event after the window of silence', () => {
    const a = new EventAggregator(60_000, 1000);
    const k = EventAggregator.key(ev());
    expect(a.observe(k, 0).action).toBe('create');
    expect(a.observe(k, 50_000).action).toBe('patch');
    expect(a.observe(k, 110_001).action).toBe('create');
  });

  it('treats different notes, reasons or objects as different series', () => {
    const a = new EventAggregator();
    expect(EventAggregator.key(ev('a'))).not.toBe(EventAggregator.key(ev('b')));
    expect(a.observe(EventAggregator.key(ev('a')), 0).action).toBe('create');
    expect(a.observe(EventAggregator.key(ev('b')), 0).action).toBe('create');
    const other = {
      ...ev('a'),
      regarding: { ...ev('a').regarding, name: 'api' },
    };
    expect(a.observe(EventAggregator.key(other), 0).action).toBe('create');
    expect(a.size).toBe(3);
  });

  it('reset forgets a series', () => {
    const a = new EventAggregator();
    const k = EventAggregator.key(ev());
    a.observe(k, 0);
    a.reset(k);
    expect(a.observe(k, 1).action).toBe('create');
  });

  it('bounds its memory', () => {
    const a = new EventAggregator(60_000, 1000, 100);
    for (let i = 0; i < 1000; i++) a.observe(`k${i}`, i);
    expect(a.size).toBeLessThanOrEqual(100);
  });
});

describe('objectReference', () => {
  it('takes apiVersion/kind from arguments when the object lacks them', () => {
    expect(
      objectReference(
        {
          metadata: {
            name: 'a',
            namespace: 'ns',
            uid: 'u',
            resourceVersion: '5',
          },
        },
        'apps/v1',
        'Deployment',
      ),
    ).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'a',
      namespace: 'ns',
      uid: 'u',
      resourceVersion: '5',
    });
  });
});

describe('EventRecorder.record', () => {
  it('returns true when the Event is being written and false when it was dropped', async () => {
    const created: unknown[] = [];
    const client = { create: async (_p: string, body: unknown) => void created.push(body) } as unknown as KubeClient;
    const r = new EventRecorder({
      client,
      reportingController: 'kubeaws.io/test',
      reportingInstance: 'test-0',
      budget: { qps: 0.001, burst: 2 },
    });
    expect(r.record(ev('a'))).toBe(true);
    expect(r.record(ev('a'))).toBe(false); // a repeat inside the series patch interval
    expect(r.record(ev('b'))).toBe(true);
    expect(r.record(ev('c'))).toBe(false); // over the budget
    await r.flush();
    expect(created).toHaveLength(2);
  });

  it('counts the Event writes in flight in events_in_flight until each has finished', async () => {
    const pending: Array<() => void> = [];
    const client = {
      create: (_p: string, _body: unknown) => new Promise<void>((resolve) => pending.push(resolve)),
    } as unknown as KubeClient;
    const metrics = new ComponentMetrics('rt', { processMetrics: false });
    const inFlight = async () => {
      const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${metrics.prefix}events_in_flight `));
      return line ? Number(line.split(' ').pop()) : NaN;
    };
    const r = new EventRecorder({ client, reportingController: 'kubeaws.io/test', reportingInstance: 'test-0', metrics });
    expect(r.record(ev('a'))).toBe(true);
    expect(r.record(ev('b'))).toBe(true);
    expect(await inFlight()).toBe(2);
    const deadline = Date.now() + 5000;
    while (pending.length < 2 && Date.now() < deadline) await new Promise((res) => setImmediate(res));
    pending.shift()!();
    while ((await inFlight()) !== 1 && Date.now() < deadline) await new Promise((res) => setImmediate(res));
    expect(await inFlight()).toBe(1);
    pending.shift()!();
    await r.flush();
    expect(await inFlight()).toBe(0);
  });
});
