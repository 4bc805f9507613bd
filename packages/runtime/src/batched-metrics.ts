/**
 * Metric handles for request paths: a label set is resolved once into a child whose `inc()` / `observe()` only adds to
 * numbers. prom-client's own `inc` and `observe` build a label object, validate it and hash it on every call (prom-client
 * lib/counter.js, lib/histogram.js), about 2 us per observation, which an authnz-webhook SubjectAccessReview of 25 us
 * feels (docs/benchmarks.md, authnz-webhook).
 *
 * - {@link CounterChildren} keeps a prom-client `Counter` as the family and adds the pending increments to it when the
 *   counter is read (its `collect` hook).
 * - {@link BatchedHistogram} is the family itself: registered in the prom-client `Registry` like any metric, written in
 *   the same text format as prom-client's `Histogram` (`_bucket` lines with cumulative counts per `le`, `+Inf`,
 *   `_sum`, `_count`).
 *
 * Memory is one child per label set seen; label sets must be bounded, as for every metric.
 */
import type { Counter, Registry } from 'prom-client';

/** One label set of a {@link CounterChildren} family: `inc()` adds to a number, nothing else. */
export class CounterChild {
  /** Increments not yet added to the prom-client counter. */
  pending = 0;
  constructor(
    /** The label values by label name. */
    readonly labels: Readonly<Record<string, string>>,
  ) {}

  /** Counts `n` (default 1) events. */
  inc(n = 1): void {
    this.pending += n;
  }
}

/** Finds or creates the leaf of `values` (one to three label values) in nested maps. */
function leaf<T>(
  root: Map<string, unknown>,
  depth: number,
  a: string,
  b: string | undefined,
  c: string | undefined,
  make: () => T,
): T {
  let level = root;
  if (depth > 1) {
    let next = level.get(a) as Map<string, unknown> | undefined;
    if (!next) level.set(a, (next = new Map()));
    level = next;
    if (depth > 2) {
      let third = level.get(b!) as Map<string, unknown> | undefined;
      if (!third) level.set(b!, (third = new Map()));
      level = third;
    }
  }
  const last = depth === 1 ? a : depth === 2 ? b! : c!;
  let found = level.get(last) as T | undefined;
  if (found === undefined) level.set(last, (found = make()));
  return found;
}

/** The label values `a`, `b`, `c` by the names in `labelNames` (at most three). */
function labelsOf(labelNames: readonly string[], a?: string, b?: string, c?: string): Record<string, string> {
  const values = [a, b, c];
  const labels: Record<string, string> = {};
  labelNames.forEach((name, i) => (labels[name] = values[i]!));
  return labels;
}

/**
 * The request path's view of a counter family: {@link child} resolves a label set once (a lookup in nested maps keyed
 * by the label values, no string building), and the handle's `inc()` only adds to a number. The sums are added to the
 * prom-client counter when the counter is read: prom-client calls a metric's `collect` function before it reads the
 * values (prom-client lib/counter.js `get()`, which `Registry.metrics()` calls for every scrape), so `/metrics` shows
 * every increment made before the scrape.
 */
export class CounterChildren<L extends string> {
  private readonly root = new Map<string, unknown>();
  private readonly children: CounterChild[] = [];

  /**
   * @param counter the prom-client counter the increments are added to
   * @param labelNames its label names, in the order {@link child} takes the values (one to three)
   */
  constructor(
    readonly counter: Counter<L>,
    private readonly labelNames: readonly L[],
  ) {
    const c = counter as unknown as { collect?: (this: unknown) => void | Promise<void> };
    const previous = c.collect;
    const flush = () => this.flush();
    c.collect = function (this: unknown) {
      flush();
      return previous?.call(this);
    };
  }

  /** The handle of one label set: values in the order of the label names given to the constructor. */
  child(a: string, b?: string, c?: string): CounterChild {
    return leaf(this.root, this.labelNames.length, a, b, c, () => {
      const child = new CounterChild(labelsOf(this.labelNames, a, b, c));
      this.children.push(child);
      return child;
    });
  }

  /** Adds the pending increments to the prom-client counter (done before every read of it). */
  flush(): void {
    for (const ch of this.children) {
      if (ch.pending === 0) continue;
      this.counter.inc(ch.labels as Partial<Record<L, string>>, ch.pending);
      ch.pending = 0;
    }
  }
}

/** One label set of a {@link BatchedHistogram}: `observe()` adds to a bucket count, the sum and the count. */
export class HistogramChild {
  /** Observations per bucket (not cumulative); the last one is `+Inf`. */
  readonly counts: Float64Array;
  /** Sum of the observed values. */
  sum = 0;
  /** Number of observations. */
  count = 0;

  constructor(
    /** The label values by label name. */
    readonly labels: Readonly<Record<string, string>>,
    /** Upper bounds, ascending, shared with the family. */
    private readonly bounds: Float64Array,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /**
   * Records one value (in the family's unit, usually seconds) in the first bucket whose upper bound is >= it, as
   * Prometheus' `le` means. A value that is not a finite number is ignored (prom-client throws instead).
   */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** A value of prom-client's metric shape (`Registry.getMetricsAsString` writes `metricName{labels} value`). */
interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

/**
 * A histogram family whose children ({@link labels}) are resolved once and observed without prom-client's per-call
 * label handling. Registered in `registry` under `name`; `/metrics` writes it like a prom-client `Histogram` with the
 * same buckets (prom-client lib/histogram.js `get()`): per label set, one `<name>_bucket` line per upper bound and
 * `+Inf` with cumulative counts, then `<name>_sum` and `<name>_count`.
 * @throws Error when `buckets` is empty or not strictly ascending, or `labelNames` holds more than three names, or the
 *   registry already holds a metric of that name.
 */
export class BatchedHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: Float64Array;
  private readonly root = new Map<string, unknown>();
  private readonly children: HistogramChild[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    buckets: readonly number[],
    registry: Registry,
  ) {
    if (buckets.length === 0 || buckets.some((b, i) => i > 0 && b <= buckets[i - 1]!))
      throw new Error(
        `histogram ${name}: buckets must be strictly ascending and not empty, got [${buckets.join(', ')}]`,
      );
    if (labelNames.length > 3)
      throw new Error(`histogram ${name}: at most three label names, got ${labelNames.length}`);
    this.bounds = Float64Array.from(buckets);
    registry.registerMetric(this as never);
  }

  /** The child of one label set: values in the order of the label names (none for a family without labels). */
  labels(a?: string, b?: string, c?: string): HistogramChild {
    if (this.labelNames.length === 0) {
      if (this.children.length === 0) this.children.push(new HistogramChild({}, this.bounds));
      return this.children[0]!;
    }
    return leaf(this.root, this.labelNames.length, a ?? '', b, c, () => {
      const child = new HistogramChild(labelsOf(this.labelNames, a, b, c), this.bounds);
      this.children.push(child);
      return child;
    });
  }

  /** Records `value` for the label set `labels` (resolves the child on each call: for paths that are not hot). */
  observe(labels: Partial<Record<L, string>>, value: number): void {
    const [a, b, c] = this.labelNames.map((n) => labels[n] ?? '');
    this.labels(a, b, c).observe(value);
  }

  /** prom-client's metric interface: the values to write, in prom-client's order. */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; values: MetricValue[]; aggregator: 'sum' }> {
    const values: MetricValue[] = [];
    for (const ch of this.children) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += ch.counts[i]!;
        values.push({
          value: cumulative,
          labels: { le: i < this.bounds.length ? this.bounds[i]! : '+Inf', ...ch.labels },
          metricName: `${this.name}_bucket`,
        });
      }
      values.push({ value: ch.sum, labels: { ...ch.labels }, metricName: `${this.name}_sum` });
      values.push({ value: ch.count, labels: { ...ch.labels }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** Zeroes every child (prom-client's `Registry.resetMetrics()` calls it). */
  reset(): void {
    for (const ch of this.children) {
      ch.counts.fill(0);
      ch.sum = 0;
      ch.count = 0;
    }
  }
}
