import { FakeClock } from './clock';
import { ComponentMetrics } from './metrics';
import { ExponentialFailureRateLimiter } from './ratelimit';
import { WorkQueue } from './workqueue';

function queue(clock = new FakeClock()) {
  return {
    q: new WorkQueue({
      name: 'test',
      clock,
      rateLimiter: new ExponentialFailureRateLimiter(5, 1_000_000),
    }),
    clock,
  };
}

describe('WorkQueue', () => {
  it('deduplicates keys added before a worker takes them', async () => {
    const { q } = queue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('never hands one key to two workers at once; a re-add while processing is queued after done', async () => {
    const { q } = queue();
    q.add('a');
    const k = await q.get();
    expect(k).toBe('a');
    q.add('a'); // dirty while processing
    expect(q.len()).toBe(0);
    let second: string | undefined | null = null;
    const p = q.get().then((x) => (second = x));
    await new Promise((r) => setImmediate(r));
    expect(second).toBeNull(); // not handed out while processing
    q.done('a');
    await p;
    expect(second).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
    expect(q.processingLen()).toBe(0);
  });

  it('serialises processing of a hot key across many concurrent workers', async () => {
    const { q } = queue();
    let active = 0;
    let maxActive = 0;
    let processed = 0;
    const ac = new AbortController();
    const worker = async () => {
      for (;;) {
        const key = await q.get(ac.signal);
        if (key === undefined) return;
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setImmediate(r));
        q.add('hot'); // keep re-adding while processing
        active--;
        processed++;
        q.done(key);
        if (processed >= 20) ac.abort();
      }
    };
    q.add('hot');
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(processed).toBeGreaterThanOrEqual(20);
    expect(maxActive).toBe(1);
  });

  it('addAfter delays on the clock and keeps the earliest due time per key', async () => {
    const { q, clock } = queue();
    q.addAfter('a', 1000);
    q.addAfter('a', 500);
    q.addAfter('a', 2000);
    expect(q.len()).toBe(0);
    expect(q.delayedLen()).toBe(1);
    await clock.advance(499);
    expect(q.len()).toBe(0);
    await clock.advance(1);
    expect(q.len()).toBe(1);
    expect(q.delayedLen()).toBe(0);
    await clock.advance(5000);
    expect(q.len()).toBe(1); // the later delays were dropped, no duplicate
  });

  it('addAfter with a non-positive delay adds at once', () => {
    const { q } = queue();
    q.addAfter('a', 0);
    q.addAfter('b', -5);
    expect(q.len()).toBe(2);
  });

  it('backs off exponentially per key and forget resets it', async () => {
    const { q } = queue();
    const delays = [1, 2, 3, 4, 5].map(() => q.addRateLimited('a'));
    expect(delays).toEqual([5, 10, 20, 40, 80]);
    expect(q.numRequeues('a')).toBe(5);
    expect(q.addRateLimited('b')).toBe(5);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    expect(q.addRateLimited('a')).toBe(5);
  });

  it('honours a minimum delay (Retry-After) in addRateLimited', () => {
    const { q } = queue();
    expect(q.addRateLimited('a', 3000)).toBe(3000);
  });

  it('shutDown stops accepting keys, still hands out queued keys, then resolves undefined', async () => {
    const { q, clock } = queue();
    q.add('a');
    q.addAfter('late', 100);
    q.shutDown();
    q.add('b');
    await clock.advance(200);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBeUndefined();
  });

  it('wakes blocked getters with undefined on shutDown', async () => {
    const { q } = queue();
    const p = q.get();
    q.shutDown();
    await expect(p).resolves.toBeUndefined();
  });

  it('shutDownWithDrain waits for in-flight keys to be done', async () => {
    const { q } = queue();
    q.add('a');
    q.add('b');
    const a = await q.get();
    let drained: boolean | undefined;
    const p = q.shutDownWithDrain(5000).then((d) => (drained = d));
    await new Promise((r) => setImmediate(r));
    expect(drained).toBeUndefined();
    const b = await q.get();
    expect(b).toBe('b');
    q.done(a!);
    await new Promise((r) => setImmediate(r));
    expect(drained).toBeUndefined();
    q.done(b!);
    await p;
    expect(drained).toBe(true);
  });

  it('shutDownWithDrain reports false after the deadline', async () => {
    const { q } = queue();
    q.add('a');
    await q.get();
    await expect(q.shutDownWithDrain(20)).resolves.toBe(false);
  });

  it('shutDown with discardQueued drops queued and dirty keys', async () => {
    const { q } = queue();
    q.add('a');
    q.add('b');
    const a = await q.get();
    q.add('a');
    q.shutDown({ discardQueued: true });
    q.done(a!);
    expect(await q.get()).toBeUndefined();
  });

  it('get resolves undefined when its signal aborts', async () => {
    const { q } = queue();
    const ac = new AbortController();
    const p = q.get(ac.signal);
    ac.abort();
    await expect(p).resolves.toBeUndefined();
    q.add('x');
    expect(await q.get()).toBe('x'); // the aborted getter did not swallow it
  });

  it('exports depth, adds, retries and latency metrics', async () => {
    const clock = new FakeClock();
    const metrics = new ComponentMetrics('unit-test', {
      processMetrics: false,
    });
    const q = new WorkQueue({ name: 'm', clock, metrics });
    q.add('a');
    q.add('b');
    q.addRateLimited('c');
    await clock.advance(1000);
    await q.get();
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/kubeaws_unit_test_workqueue_depth\{name="m"\} 2/);
    expect(text).toMatch(/kubeaws_unit_test_workqueue_adds_total\{name="m"\} 3/);
    expect(text).toMatch(/kubeaws_unit_test_workqueue_retries_total\{name="m"\} 1/);
    expect(text).toMatch(/kubeaws_unit_test_workqueue_queue_duration_seconds_count\{name="m"\} 1/);
    expect(text).toMatch(/kubeaws_unit_test_workqueue_queue_duration_seconds_sum\{name="m"\} 1/);
  });
});

describe('WorkQueue.waitIdle', () => {
  it('resolves once nothing is queued or processing, ignoring delayed keys; false on abort', async () => {
    const { q } = queue();
    await expect(q.waitIdle()).resolves.toBe(true);
    q.add('a');
    q.addAfter('later', 60_000);
    let idle: boolean | undefined;
    void q.waitIdle().then((v) => (idle = v));
    const key = await q.get();
    await Promise.resolve();
    expect(idle).toBeUndefined();
    q.done(key!);
    await Promise.resolve();
    expect(idle).toBe(true);
    q.add('b');
    const ac = new AbortController();
    const aborted = q.waitIdle(ac.signal);
    ac.abort();
    await expect(aborted).resolves.toBe(false);
  });
});
