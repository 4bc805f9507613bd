import { FakeClock, MAX_TIMER_DELAY_MS, realClock, sleep } from './clock';

describe('FakeClock', () => {
  it('fires timers in due order with now() at their due time', async () => {
    const c = new FakeClock(1000);
    const seen: Array<[string, number]> = [];
    c.setTimeout(() => seen.push(['b', c.now()]), 20);
    c.setTimeout(() => seen.push(['a', c.now()]), 10);
    const h = c.setTimeout(() => seen.push(['x', c.now()]), 15);
    c.clearTimeout(h);
    await c.advance(25);
    expect(seen).toEqual([
      ['a', 1010],
      ['b', 1020],
    ]);
    expect(c.now()).toBe(1025);
    expect(c.pendingTimers()).toBe(0);
  });

  it('fires timers created by timers inside the window', async () => {
    const c = new FakeClock(0);
    const seen: number[] = [];
    const tick = () => {
      seen.push(c.now());
      if (seen.length < 5) c.setTimeout(tick, 10);
    };
    c.setTimeout(tick, 10);
    await c.advance(35);
    expect(seen).toEqual([10, 20, 30]);
    expect(c.nextDue()).toBe(40);
  });

  it('sleep resolves on the clock and early on abort', async () => {
    const c = new FakeClock(0);
    const p = sleep(c, 100);
    await c.advance(100);
    await expect(p).resolves.toBe(true);
    const ac = new AbortController();
    const q = sleep(c, 100, ac.signal);
    ac.abort();
    await expect(q).resolves.toBe(false);
    expect(c.pendingTimers()).toBe(0);
  });
});

describe('realClock', () => {
  it('clamps delays beyond the limit of Node timers instead of firing them at once', async () => {
    let fired = false;
    const h = realClock.setTimeout(() => (fired = true), 365 * 86_400_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(fired).toBe(false);
    realClock.clearTimeout(h);
    expect(MAX_TIMER_DELAY_MS).toBe(2 ** 31 - 1);
  });
});
