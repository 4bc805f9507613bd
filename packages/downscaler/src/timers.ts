/**
 * The schedule-transition timers of every object (docs/downscaler.md#ds-boundaries) behind one timer of the clock.
 * Objects due at the same instant (a schedule shared through a Namespace, the flags or the environment) share one
 * bucket, so an armed object costs a map entry and a set entry, not a timer, a closure and a timer list of its own
 * (docs/downscaler.md#ds-budgets).
 */
import type { Clock, TimerHandle } from '@kubeaws/runtime';

/** The objects due at one instant. */
interface Bucket {
  /** ms since the epoch (the clock's time). */
  readonly due: number;
  readonly keys: Set<string>;
}

/**
 * Due instants of keys, firing each key once when the clock reaches its instant. One key has at most one instant:
 * {@link set} replaces it. Keys due at the same instant fire in the order they were set; instants fire in order.
 * Only the earliest instant holds a timer of the clock.
 */
export class TransitionTimers {
  private readonly byKey = new Map<string, Bucket>();
  private readonly byDue = new Map<number, Bucket>();
  /** Min-heap of the instants of {@link byDue}; may hold instants whose bucket emptied (skipped when popped). */
  private heap: number[] = [];
  private timer?: TimerHandle;
  private timerDue?: number;

  /**
   * @param clock the time source (the Manager's clock)
   * @param fire called with each key when its instant is reached (from the clock's timer callback); it may set or
   *   delete keys (a key set to an instant already reached fires at the next turn of the timer)
   */
  constructor(
    private readonly clock: Clock,
    private readonly fire: (key: string) => void,
  ) {}

  /** Number of armed keys. */
  get size(): number {
    return this.byKey.size;
  }

  /** Number of distinct instants armed. */
  get instants(): number {
    return this.byDue.size;
  }

  /** The instant `key` is due at (ms since the epoch), if armed. */
  due(key: string): number | undefined {
    return this.byKey.get(key)?.due;
  }

  /** Arms `key` at `due` (ms since the epoch; a past instant fires at the next timer turn), replacing its instant. */
  set(key: string, due: number): void {
    const old = this.byKey.get(key);
    if (old?.due === due) return;
    if (old) this.unlink(key, old);
    let b = this.byDue.get(due);
    if (!b) {
      b = { due, keys: new Set() };
      this.byDue.set(due, b);
      this.push(due);
    }
    b.keys.add(key);
    this.byKey.set(key, b);
    this.schedule();
  }

  /** Disarms `key`. */
  delete(key: string): void {
    const b = this.byKey.get(key);
    if (!b) return;
    this.unlink(key, b);
    this.schedule();
  }

  /** Disarms every key and cancels the clock's timer. */
  clear(): void {
    this.byKey.clear();
    this.byDue.clear();
    this.heap = [];
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = undefined;
  }

  private unlink(key: string, b: Bucket): void {
    this.byKey.delete(key);
    b.keys.delete(key);
    if (b.keys.size === 0 && this.byDue.get(b.due) === b) this.byDue.delete(b.due);
  }

  /** The earliest instant with a bucket, dropping emptied instants from the top of the heap. */
  private earliest(): number | undefined {
    while (this.heap.length && !this.byDue.has(this.heap[0]!)) this.pop();
    return this.heap[0];
  }

  /** Keeps one clock timer, at the earliest instant. */
  private schedule(): void {
    // emptied instants stay in the heap until they reach its top; rebuild when they dominate it
    if (this.heap.length > 64 && this.heap.length > 2 * this.byDue.size) {
      this.heap = [...this.byDue.keys()].sort((a, b) => a - b);
    }
    const next = this.earliest();
    if (next === this.timerDue) return;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = next;
    if (next === undefined) return;
    this.timer = this.clock.setTimeout(() => this.onTimer(), Math.max(0, next - this.clock.now()));
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerDue = undefined;
    const now = this.clock.now();
    const due: Bucket[] = [];
    for (let next = this.earliest(); next !== undefined && next <= now; next = this.earliest()) {
      due.push(this.byDue.get(next)!);
      this.byDue.delete(next);
      this.pop();
    }
    for (const b of due) {
      for (const key of b.keys) {
        // a key re-armed or disarmed by an earlier `fire` of this turn has left this bucket
        if (this.byKey.get(key) !== b) continue;
        this.byKey.delete(key);
        this.fire(key);
      }
    }
    this.schedule();
  }

  private push(v: number): void {
    const h = this.heap;
    h.push(v);
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (h[p]! <= v) break;
      h[i] = h[p]!;
      h[p] = v;
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (!h.length) return;
    h[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l]! < h[m]!) m = l;
      if (r < h.length && h[r]! < h[m]!) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
