import { FakeClock } from '@kubeaws/runtime';
import { TransitionTimers } from './timers';

function setup() {
  const clock = new FakeClock(Date.UTC(2026, 2, 2, 10));
  const fired: Array<[string, number]> = [];
  const timers = new TransitionTimers(clock, (key) => fired.push([key, clock.now() - Date.UTC(2026, 2, 2, 10)]));
  return { clock, fired, timers, t0: clock.now() };
}

describe('TransitionTimers', () => {
  it('fires each key once at its instant, in order, with one clock timer for all keys', async () => {
    const { clock, fired, timers, t0 } = setup();
    for (let i = 0; i < 1000; i++) timers.set(`Deployment/ns/app-${i}`, t0 + 60_000);
    timers.set('Deployment/ns/early', t0 + 5_000);
    timers.set('Deployment/ns/late', t0 + 120_000);
    expect(timers.size).toBe(1002);
    expect(timers.instants).toBe(3);
    expect(clock.pendingTimers()).toBe(1);
    expect(clock.nextDue()).toBe(t0 + 5_000);
    await clock.advance(4_999);
    expect(fired).toEqual([]);
    await clock.advance(1);
    expect(fired).toEqual([['Deployment/ns/early', 5_000]]);
    await clock.advance(55_000);
    expect(fired).toHaveLength(1001);
    expect(fired.slice(1).every(([, at]) => at === 60_000)).toBe(true);
    expect(fired[1]![0]).toBe('Deployment/ns/app-0');
    expect(timers.due('Deployment/ns/app-0')).toBeUndefined();
    await clock.advance(60_000);
    expect(fired.at(-1)).toEqual(['Deployment/ns/late', 120_000]);
    expect(timers.size).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('replaces the instant of a key that is set again, and moves the clock timer to the earliest instant', async () => {
    const { clock, fired, timers, t0 } = setup();
    timers.set('a', t0 + 10_000);
    timers.set('a', t0 + 30_000);
    expect(timers.due('a')).toBe(t0 + 30_000);
    expect(timers.instants).toBe(1);
    expect(clock.nextDue()).toBe(t0 + 30_000);
    timers.set('b', t0 + 20_000);
    expect(clock.nextDue()).toBe(t0 + 20_000);
    expect(clock.pendingTimers()).toBe(1);
    timers.set('b', t0 + 40_000);
    expect(clock.nextDue()).toBe(t0 + 30_000);
    await clock.advance(60_000);
    expect(fired).toEqual([
      ['a', 30_000],
      ['b', 40_000],
    ]);
  });

  it('never fires a deleted or cleared key', async () => {
    const { clock, fired, timers, t0 } = setup();
    timers.set('a', t0 + 10_000);
    timers.set('b', t0 + 10_000);
    timers.set('c', t0 + 20_000);
    timers.delete('a');
    timers.delete('c');
    expect(timers.instants).toBe(1);
    expect(clock.nextDue()).toBe(t0 + 10_000);
    await clock.advance(30_000);
    expect(fired).toEqual([['b', 10_000]]);
    timers.set('d', t0 + 40_000);
    timers.clear();
    expect(clock.pendingTimers()).toBe(0);
    await clock.advance(30_000);
    expect(fired).toHaveLength(1);
    expect(timers.size).toBe(0);
  });

  it('lets a key fired at an instant re-arm itself or disarm a key due at the same instant', async () => {
    const { clock, timers, t0 } = setup();
    const seen: string[] = [];
    const self = new TransitionTimers(clock, (key) => {
      seen.push(`${key}@${clock.now() - t0}`);
      if (key === 'a' && clock.now() - t0 < 20_000) self.set('a', clock.now() + 10_000);
      if (key === 'b') self.delete('c');
    });
    self.set('a', t0 + 10_000);
    self.set('b', t0 + 10_000);
    self.set('c', t0 + 10_000);
    await clock.advance(60_000);
    expect(seen).toEqual(['a@10000', 'b@10000', 'a@20000']);
    expect(self.size).toBe(0);
    expect(timers.size).toBe(0);
  });

  it('fires an instant already reached at the next turn of the timer', async () => {
    const { clock, fired, timers, t0 } = setup();
    timers.set('past', t0 - 1_000);
    expect(fired).toEqual([]);
    await clock.advance(0);
    expect(fired).toEqual([['past', 0]]);
  });

  it('keeps its heap of instants bounded when instants are armed and disarmed many times', async () => {
    const { clock, fired, timers, t0 } = setup();
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 100; i++) timers.set(`k${i}`, t0 + 1_000 + round * 100 + i);
    }
    expect(timers.instants).toBe(100);
    expect((timers as unknown as { heap: number[] }).heap.length).toBeLessThanOrEqual(2 * 100 + 1);
    await clock.advance(10_000);
    expect(fired.map(([k]) => k)).toEqual(Array.from({ length: 100 }, (_, i) => `k${i}`));
    expect(fired[0]![1]).toBe(1_000 + 49 * 100);
  });
});
