/**
 * Metrics of the downscaler (docs/downscaler.md#ds-metrics), prefix `kubeaws_downscaler_`, registered on the runtime's
 * component registry next to the shared informer, queue, client and leader-election metrics.
 */
import type { ComponentMetrics } from '@kubeaws/runtime';

/** The downscaler's metric families. */
export function downscalerMetrics(m: ComponentMetrics) {
  return {
    scaled: m.counter('scaled_total', 'Successful writes by kind and direction (down, up, clear)', [
      'kind',
      'direction',
    ]),
    potential: m.counter('potential_scaled_total', 'Writes planned in a dry run, by kind and direction', [
      'kind',
      'direction',
    ]),
    downscaled: m.gauge('downscaled_workloads', 'Objects carrying downscaler/original-replicas', ['kind']),
    excluded: m.gauge('excluded_workloads', 'Objects not scaled down, by kind and exclusion reason', [
      'kind',
      'reason',
    ]),
    skipped: m.gauge('skipped_workloads', 'Objects blocked by invalid or conflicting configuration', [
      'kind',
      'reason',
    ]),
    invalid: m.counter('invalid_config_total', 'New invalid annotation values seen, by kind and reason', [
      'kind',
      'reason',
    ]),
    overwritten: m.counter(
      'original_replicas_overwritten_total',
      'original-replicas overwritten with a different value',
      ['kind'],
    ),
    writeErrors: m.counter('write_errors_total', 'Failed PATCHes by kind and HTTP status', ['kind', 'code']),
    cycleDuration: m.histogram(
      'cycle_duration_seconds',
      'Evaluation time of one tick (all objects)',
      [],
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    ),
    cycles: m.counter('cycles_total', 'Evaluation ticks'),
    pending: m.gauge('pending_writes', 'Write queue depth'),
    savedCpu: m.gauge('saved_cpu_cores', 'Deployments/StatefulSets: (original - current) replicas × pod CPU requests', [
      'namespace',
      'kind',
    ]),
    savedMemory: m.gauge(
      'saved_memory_bytes',
      'Deployments/StatefulSets: (original - current) replicas × pod memory requests',
      ['namespace', 'kind'],
    ),
    eventsDropped: m.counter('events_dropped_total', 'Events dropped under the Event rate limit, by Event reason', [
      'reason',
    ]),
    buildInfo: m.gauge(
      'build_info',
      'Build information (value 1): component version and the runtime tz database version',
      ['version', 'tzdata'],
    ),
  };
}

/** The metric families returned by {@link downscalerMetrics}. */
export type DownscalerMetrics = ReturnType<typeof downscalerMetrics>;
