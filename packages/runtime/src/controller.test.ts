import { FakeClock, flushMicrotasks } from './clock';
import { Controller, type ReconcileResult } from './controller';
import { ApiError, TerminalError } from './errors';
import { ComponentMetrics } from './metrics';
import { ExponentialFailureRateLimiter } from './ratelimit';

function setup(
  reconcile: (key: string) => ReconcileResult | void | Promise<ReconcileResult | void>,
  extra: Partial<ConstructorParameters<typeof Controller>[0]> = {},
) {
  const clock = new FakeClock();
  const metrics = new ComponentMetrics('ctl-test', { processMetrics: false });
  const calls: string[] = [];
  const c = new Controller({
    name: 'c',
    clock,
    metrics,
    rateLimiter: new ExponentialFailureRateLimiter(5, 1_000_000),
    reconcile: async (k) => {
      calls.push(k);
      return reconcile(k);
    },
    ...extra,
  });
  return { c, clock, metrics, calls };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await flushMicrotasks();
}

async function metric(m: ComponentMetrics, re: RegExp): Promise<number> {
  const line = (await m.registry.metrics()).split('\n').find((l) => re.test(l));
  return line ? Number(line.split(' ').pop()) : NaN;
}

describe('Controller', () => {
  it('waits for caches to sync before starting workers', async () => {
    let synced = false;
    let release: (v: boolean) => void = () => {};
    const { c, calls } = setup(() => {}, {
      waitFor: [
        {
          hasSynced: () => synced,
          waitForSync: () => new Promise<boolean>((r) => (release = r)),
        },
      ],
    });
    c.enqueue('a');
    const started = c.start();
    await settle();
    expect(calls).toEqual([]);
    expect(c.isRunning()).toBe(false);
    synced = true;
    release(true);
    await expect(started).resolves.toBe(true);
    await settle();
    expect(calls).toEqual(['a']);
    await c.stop(1000);
  });

  it('success forgets the backoff; requeueAfter re-adds after the delay', async () => {
    let n = 0;
    const { c, clock, calls, metrics } = setup(() => (n++ === 0 ? { requeueAfter: 60_000 } : undefined));
    c.queue.addRateLimited('x'); // pre-existing failures get forgotten
    c.queue.forget('y');
    await c.start();
    await clock.advance(5);
    await settle();
    expect(calls).toEqual(['x']);
    expect(c.queue.numRequeues('x')).toBe(0);
    await clock.advance(59_999);
    await settle();
    expect(calls).toEqual(['x']);
    await clock.advance(1);
    await settle();
    expect(calls).toEqual(['x', 'x']);
    expect(await metric(metrics, /reconcile_total\{controller="c",result="requeue_after"\}/)).toBe(1);
    expect(await metric(metrics, /reconcile_total\{controller="c",result="success"\}/)).toBe(1);
    await c.stop(1000);
  });

  it('404 ends the key without retry', async () => {
    const { c, clock, calls, metrics } = setup(() => {
      throw new ApiError(404, 'NotFound', 'gone');
    });
    c.enqueue('a');
    await c.start();
    await settle();
    await clock.advance(3_600_000);
    expect(calls).toEqual(['a']);
    expect(c.queue.delayedLen()).toBe(0);
    expect(await metric(metrics, /reconcile_total\{controller="c",result="success"\}/)).toBe(1);
    await c.stop(1000);
  });

  it.each([
    ['the key itself', '/apis/apps/v1/namespaces/ns/deployments/web', 'ns/web'],
    ['a status subresource of the key', '/apis/apps/v1/namespaces/ns/deployments/web/status', 'ns/web'],
    ['a cluster-scoped key', '/api/v1/nodes/n1', 'n1'],
    ['a kind-prefixed key', '/apis/apps/v1/namespaces/ns/statefulsets/db', 'StatefulSet/ns/db'],
  ])('a 404 naming the primary object (%s) ends the key', async (_name, path, key) => {
    const { c, clock, calls, metrics } = setup(() => {
      throw new ApiError(404, 'NotFound', 'gone', undefined, undefined, 'PATCH', path);
    });
    c.enqueue(key);
    await c.start();
    await settle();
    await clock.advance(3_600_000);
    expect(calls).toEqual([key]);
    expect(await metric(metrics, /reconcile_total\{controller="c",result="success"\}/)).toBe(1);
    await c.stop(1000);
  });

  it('a 404 of a secondary object is retried with backoff, not dropped', async () => {
    let n = 0;
    const { c, clock, calls, metrics } = setup(() => {
      if (n++ < 2)
        throw new ApiError(404, 'NotFound', 'configmap gone', undefined, undefined, 'GET', '/api/v1/namespaces/ns/configmaps/settings');
    });
    c.enqueue('ns/web');
    await c.start();
    await settle();
    expect(calls).toEqual(['ns/web']);
    expect(c.queue.delayedLen()).toBe(1);
    await clock.advance(5);
    await settle();
    await clock.advance(10);
    await settle();
    expect(calls).toEqual(['ns/web', 'ns/web', 'ns/web']);
    expect(await metric(metrics, /reconcile_errors_total\{controller="c",class="not_found"\}/)).toBe(2);
    expect(await metric(metrics, /reconcile_total\{controller="c",result="success"\}/)).toBe(1);
    await c.stop(1000);
  });

  it('a custom isPrimaryNotFound decides which 404 ends the key', async () => {
    const { c, clock, calls } = setup(
      () => {
        throw new ApiError(404, 'NotFound', 'gone', undefined, undefined, 'GET', '/api/v1/namespaces/ns/pods/p');
      },
      { isPrimaryNotFound: () => true },
    );
    c.enqueue('ns/web');
    await c.start();
    await settle();
    await clock.advance(3_600_000);
    expect(calls).toEqual(['ns/web']);
    await c.stop(1000);
  });

  it('TerminalError is not retried, counted as class terminal and passed to onError', async () => {
    const seen: string[] = [];
    const { c, clock, calls, metrics } = setup(
      () => {
        throw new TerminalError('selector matches nothing');
      },
      { onError: (k, _e, cls) => seen.push(`${k}:${cls}`) },
    );
    c.enqueue('ns/web');
    await c.start();
    await settle();
    await clock.advance(3_600_000);
    expect(calls).toEqual(['ns/web']);
    expect(seen).toEqual(['ns/web:terminal']);
    expect(c.queue.delayedLen()).toBe(0);
    expect(await metric(metrics, /reconcile_errors_total\{controller="c",class="terminal"\}/)).toBe(1);
    c.enqueue('ns/web');
    await settle();
    expect(calls).toEqual(['ns/web', 'ns/web']);
    await c.stop(1000);
  });

  it('409 retries at once (bounded), then backs off', async () => {
    const { c, clock, calls, metrics } = setup(
      () => {
        throw new ApiError(409, 'Conflict', 'stale');
      },
      { maxImmediateConflictRetries: 3 },
    );
    c.enqueue('a');
    await c.start();
    await settle();
    expect(calls.length).toBe(4); // first try + 3 immediate retries, no clock movement
    expect(c.queue.isDelayed('a')).toBe(true);
    await clock.advance(5);
    await settle();
    expect(calls.length).toBe(5);
    expect(await metric(metrics, /reconcile_errors_total\{controller="c",class="conflict"\}/)).toBe(5);
    await c.stop(1000);
  });

  it('429 backs off for at least Retry-After; 5xx backs off exponentially', async () => {
    const { c, clock, calls } = setup((k) => {
      if (k === 'throttled') throw new ApiError(429, 'TooManyRequests', 'slow', 3);
      throw new ApiError(503, 'ServiceUnavailable', 'down');
    });
    c.enqueue('throttled');
    c.enqueue('down');
    await c.start();
    await settle();
    expect(calls).toEqual(['throttled', 'down']);
    await clock.advance(5);
    await settle();
    expect(calls.filter((k) => k === 'down').length).toBe(2);
    await clock.advance(10);
    await settle();
    expect(calls.filter((k) => k === 'down').length).toBe(3);
    expect(calls.filter((k) => k === 'throttled').length).toBe(1);
    await clock.advance(3000 - 15);
    await settle();
    expect(calls.filter((k) => k === 'throttled').length).toBe(2);
    await c.stop(1000);
  });

  it('422 calls the invalid hook and backs off (no hot loop)', async () => {
    const invalid: Array<[string, string]> = [];
    const { c, clock, calls } = setup(
      () => {
        throw new ApiError(422, 'Invalid', 'spec.maxUnavailable: Invalid value');
      },
      { onInvalid: (k, e) => invalid.push([k, e.message]) },
    );
    c.enqueue('a');
    await c.start();
    await settle();
    expect(invalid).toEqual([['a', 'spec.maxUnavailable: Invalid value']]);
    // over one simulated second: 5+10+20+40+80+160+320 ms = 635 ms -> 8 attempts in total, not thousands
    await clock.advance(1000);
    await settle();
    expect(calls.length).toBe(8);
    await c.stop(1000);
  });

  it('403 NamespaceTerminating drops the key', async () => {
    const { c, clock, calls } = setup(() => {
      throw new ApiError(403, 'NamespaceTerminating', 'ns terminating');
    });
    c.enqueue('a');
    await c.start();
    await settle();
    await clock.advance(3_600_000);
    expect(calls).toEqual(['a']);
    await c.stop(1000);
  });

  it('never runs one key on two workers, while running different keys in parallel', async () => {
    const clock = new FakeClock();
    const active = new Map<string, number>();
    let maxPerKey = 0;
    let maxTotal = 0;
    let total = 0;
    const c = new Controller({
      name: 'p',
      clock,
      workers: 4,
      reconcile: async (k) => {
        active.set(k, (active.get(k) ?? 0) + 1);
        total++;
        maxPerKey = Math.max(maxPerKey, active.get(k)!);
        maxTotal = Math.max(maxTotal, total);
        await new Promise((r) => setTimeout(r, 5));
        c.enqueue(k);
        active.set(k, active.get(k)! - 1);
        total--;
      },
    });
    for (const k of ['a', 'b', 'c', 'd']) c.enqueue(k);
    await c.start();
    await new Promise((r) => setTimeout(r, 100));
    await c.stop(1000);
    expect(maxPerKey).toBe(1);
    expect(maxTotal).toBe(4);
  });

  it('stop drains queued keys before resolving; pause keeps them for the next start', async () => {
    const { c, calls } = setup(() => {});
    await c.start();
    await c.pause();
    c.enqueue('a');
    c.enqueue('b');
    await settle();
    expect(calls).toEqual([]);
    await c.start();
    await settle();
    expect(calls).toEqual(['a', 'b']);
    c.enqueue('c');
    await expect(c.stop(1000)).resolves.toBe(true);
    expect(calls).toEqual(['a', 'b', 'c']);
    c.enqueue('d'); // ignored after shutdown
    await settle();
    expect(calls).toEqual(['a', 'b', 'c']);
  });

  it('aborts the reconcile signal when paused', async () => {
    let seen: AbortSignal | undefined;
    const clock = new FakeClock();
    const c = new Controller({
      name: 's',
      clock,
      reconcile: (_k, ctx) =>
        new Promise<void>((resolve) => {
          seen = ctx.signal;
          ctx.signal.addEventListener('abort', () => resolve());
        }),
    });
    c.enqueue('a');
    await c.start();
    await settle();
    expect(seen?.aborted).toBe(false);
    await c.pause(1000);
    expect(seen?.aborted).toBe(true);
  });

  it('records reconcile duration', async () => {
    const { c, metrics } = setup(() => {});
    c.enqueue('a');
    await c.start();
    await settle();
    await c.stop(1000);
    expect(await metric(metrics, /reconcile_duration_seconds_count\{controller="c"\}/)).toBe(1);
  });
});
