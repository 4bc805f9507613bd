import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BatchedHistogram } from './batched-metrics.js';

/** Histogram buckets in seconds when none are given. */
const DEFAULT_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The prom-client registry of one component plus get-or-create helpers, so several runtime parts
 * (informers, queues, controllers, the API client) can share metric families.
 *
 * Names follow `kubeaws_<component>_<thing>_<unit>`; `component` "pdb-controller" becomes the prefix
 * `kubeaws_pdb_controller_`.
 */
export class ComponentMetrics {
  /** The registry served on `/metrics`. */
  readonly registry: Registry;
  /** Metric name prefix, e.g. `kubeaws_pdb_controller_`. */
  readonly prefix: string;

  /**
   * @param component component name (e.g. "pdb-controller")
   * @param opts.processMetrics register prom-client's default process and Node.js metrics
   *   (`process_start_time_seconds`, `process_cpu_seconds_total`, `process_resident_memory_bytes`,
   *   `nodejs_eventloop_lag_seconds`, ...). Default true.
   */
  constructor(
    readonly component: string,
    opts: { processMetrics?: boolean; registry?: Registry } = {},
  ) {
    this.registry = opts.registry ?? new Registry();
    this.prefix = `kubeaws_${component.replace(/[^a-zA-Z0-9]/g, '_')}_`;
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Returns the counter `<prefix><name>`, creating it on first use. */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    const full = this.prefix + name;
    const existing = this.registry.getSingleMetric(full);
    if (existing) return existing as Counter<L>;
    return new Counter<L>({
      name: full,
      help,
      labelNames: [...labelNames],
      registers: [this.registry],
    });
  }

  /** Returns the gauge `<prefix><name>`, creating it on first use. */
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    const full = this.prefix + name;
    const existing = this.registry.getSingleMetric(full);
    if (existing) return existing as Gauge<L>;
    return new Gauge<L>({
      name: full,
      help,
      labelNames: [...labelNames],
      registers: [this.registry],
    });
  }

  /** Returns the histogram `<prefix><name>` (seconds buckets unless given), creating it on first use. */
  histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets?: number[],
  ): Histogram<L> {
    const full = this.prefix + name;
    const existing = this.registry.getSingleMetric(full);
    if (existing) return existing as Histogram<L>;
    return new Histogram<L>({
      name: full,
      help,
      labelNames: [...labelNames],
      buckets: buckets ?? [...DEFAULT_BUCKETS],
      registers: [this.registry],
    });
  }

  /**
   * Returns the {@link BatchedHistogram} `<prefix><name>` (seconds buckets unless given), creating it on first use: for
   * request paths, whose children are resolved once with `labels(...)` (at most three label names).
   * @throws Error when a metric of that name exists and is not a BatchedHistogram.
   */
  batchedHistogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets: readonly number[] = DEFAULT_BUCKETS,
  ): BatchedHistogram<L> {
    const full = this.prefix + name;
    const existing = this.registry.getSingleMetric(full);
    if (existing instanceof BatchedHistogram) return existing as BatchedHistogram<L>;
    if (existing) throw new Error(`metric ${full} exists and is not a BatchedHistogram`);
    return new BatchedHistogram<L>(full, help, labelNames, buckets, this.registry);
  }
}

/** Metrics object used when a runtime part is built without one (not served anywhere). */
export function detachedMetrics(): ComponentMetrics {
  return new ComponentMetrics('runtime', { processMetrics: false });
}
