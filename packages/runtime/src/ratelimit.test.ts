import { FakeClock } from './clock';
import {
  Backoff,
  BucketRateLimiter,
  ExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  TokenBucket,
  defaultControllerRateLimiter,
} from './ratelimit';

describe('ExponentialFailureRateLimiter', () => {
  it('doubles from 5 ms and caps at 1000 s', () => {
    const l = new ExponentialFailureRateLimiter();
    const seq = Array.from({ length: 30 }, () => l.when('k'));
    expect(seq.slice(0, 4)).toEqual([5, 10, 20, 40]);
    expect(seq[17]).toBe(5 * 2 ** 17); // 655.36 s
    expect(seq[18]).toBe(1_000_000);
    expect(seq[29]).toBe(1_000_000);
    expect(l.numRequeues('k')).toBe(30);
  });

  it('keeps keys independent and forgets', () => {
    const l = new ExponentialFailureRateLimiter(5, 1000);
    l.when('a');
    l.when('a');
    expect(l.when('b')).toBe(5);
    l.forget('a');
    expect(l.when('a')).toBe(5);
  });

  it('never overflows to Infinity', () => {
    const l = new ExponentialFailureRateLimiter(5, 1_000_000);
    for (let i = 0; i < 2000; i++) l.when('k');
    expect(l.when('k')).toBe(1_000_000);
  });
});

describe('TokenBucket', () => {
  it('allows the burst, then spaces requests at 1/qps', async () => {
    const clock = new FakeClock();
    const b = new TokenBucket(10, 3, clock);
    expect([b.reserve(), b.reserve(), b.reserve()]).toEqual([0, 0, 0]);
    expect(b.reserve()).toBe(100);
    expect(b.reserve()).toBe(200); // in debt: callers queue up in order
    await clock.advance(1000);
    // 10 tokens refilled minus the 2 of debt, capped at burst 3
    expect(b.reserve()).toBe(0);
  });

  it('take waits on the clock', async () => {
    const clock = new FakeClock();
    const b = new TokenBucket(2, 1, clock);
    await b.take();
    let done = false;
    const p = b.take().then(() => (done = true));
    await clock.advance(499);
    expect(done).toBe(false);
    await clock.advance(1);
    await p;
    expect(done).toBe(true);
  });

  it('rejects nonsensical parameters', () => {
    expect(() => new TokenBucket(0, 1)).toThrow(RangeError);
    expect(() => new TokenBucket(1, 0)).toThrow(RangeError);
  });
});

describe('MaxOfRateLimiter / default controller rate limiter', () => {
  it('uses the overall bucket once the burst is spent', () => {
    const clock = new FakeClock();
    const l = new MaxOfRateLimiter(
      new ExponentialFailureRateLimiter(5, 1_000_000),
      new BucketRateLimiter(10, 2, clock),
    );
    expect(l.when('a')).toBe(5);
    expect(l.when('b')).toBe(5);
    expect(l.when('c')).toBe(100); // bucket empty: 1/10 s
    expect(l.numRequeues('a')).toBe(1);
  });

  it('default limiter: first retries follow the per-key backoff', () => {
    const l = defaultControllerRateLimiter(new FakeClock());
    expect([l.when('x'), l.when('x'), l.when('x')]).toEqual([5, 10, 20]);
    l.forget('x');
    expect(l.numRequeues('x')).toBe(0);
  });
});

describe('Backoff', () => {
  it('grows exponentially with jitter within [base, base*(1+jitter)] and caps', () => {
    const clock = new FakeClock();
    const b = new Backoff({ initialMs: 800, maxMs: 30_000, factor: 2, jitter: 1 }, clock, () => 0.5);
    expect([b.next(), b.next(), b.next()]).toEqual([1200, 2400, 4800]);
    for (let i = 0; i < 10; i++) b.next();
    expect(b.next()).toBe(45_000);
    b.reset();
    expect(b.next()).toBe(1200);
  });

  it('resets after a quiet period', async () => {
    const clock = new FakeClock();
    const b = new Backoff({ initialMs: 100, maxMs: 10_000, jitter: 0, resetAfterMs: 60_000 }, clock);
    expect([b.next(), b.next(), b.next()]).toEqual([100, 200, 400]);
    await clock.advance(60_001);
    expect(b.next()).toBe(100);
  });
});
