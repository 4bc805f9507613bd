/**
 * Wires the pdb-controller onto a runtime Manager (docs/pdb-controller.md#pdb-triggers): the caches,
 * one controller whose work queue is fed by the watches of `handlers.ts`, the reconciler with its
 * writer and reporter, the Rollout discovery with `--enable-rollouts`, and the hooks of leadership
 * changes.
 */
import { type Controller, type Manager, type SharedConfig, watchSource } from '@kubeaws/runtime';
import { PdbCaches } from './caches';
import type { Settings } from './config';
import { EventKeys, type Watch, trackManagedPdbs } from './handlers';
import { namesKeyObject } from './keys';
import { PdbMetrics } from './metrics';
import { PdbReconciler } from './reconcile';
import { Reporter } from './report';
import { type OwnPod, RolloutDiscovery } from './rollouts';
import { PdbWriter } from './writes';

/** The configuration of the pdb-controller: the shared flags and its settings (docs/pdb-controller.md#pdb-flags). */
export type PdbConfig = SharedConfig & Settings;

/**
 * Concurrent reconcile workers; one key is never reconciled by two of them at once. With writes of about 20-40 ms
 * each, 8 workers let the write limit (`--qps`), not the API round trip, bound the first pass over a large cluster
 * (docs/pdb-controller.md#pdb-write-rate).
 */
export const WORKERS = 8;

/** The parts of a running pdb-controller (the `handle` of its component). */
export interface PdbControllerParts {
  /** The runtime controller: work queue and workers. */
  controller: Controller;
  /** The informers and the normalised workload view. */
  caches: PdbCaches;
  /** The component metrics, including the last decided state of each workload. */
  metrics: PdbMetrics;
}

/**
 * Declares the pdb-controller on `mgr` (before it starts). `pod` is the controller's own Pod, the
 * subject of `RolloutsUnavailable` Events.
 */
export function setupPdbController(mgr: Manager, cfg: PdbConfig, pod: OwnPod | undefined): PdbControllerParts {
  const metrics = new PdbMetrics(mgr.metrics);
  const caches = new PdbCaches(mgr, cfg.resyncPeriodMs, cfg.fieldManager);
  const report = new Reporter(mgr, metrics);
  const writer = new PdbWriter({ mgr, settings: cfg, metrics, report, pdbs: caches.pdbs });
  const keys = new EventKeys(caches);

  const builder = mgr.builder('pdb-controller').withOptions({ workers: WORKERS, isPrimaryNotFound: namesKeyObject });
  const declare: Watch = (source, map, o) => void builder.watches(source, map, o);
  for (const [kind, inf] of caches.watched()) keys.watchWorkloads(declare, kind, inf);
  keys.watchPdbs(declare, caches.pdbs);
  const controller = builder.complete((key) => reconciler.reconcile(key));
  const reconciler = new PdbReconciler({
    mgr,
    settings: cfg,
    caches,
    metrics,
    report,
    writer,
    enqueue: (key) => controller.enqueue(key),
  });
  trackManagedPdbs(caches.pdbs, metrics);

  let rollouts: RolloutDiscovery | undefined;
  if (cfg.enableRollouts) {
    const attach: Watch = (source, map, o) => void watchSource(controller, source, map, o);
    rollouts = new RolloutDiscovery({
      mgr,
      caches,
      metrics,
      report,
      periodMs: cfg.rolloutsDiscoveryPeriodMs,
      pod,
      connect: (inf) => keys.watchWorkloads(attach, 'Rollout', inf),
      onStopped: () => reconciler.forgetKind('Rollout'),
      enqueue: (key) => controller.enqueue(key),
    });
    mgr.add(rollouts);
  }
  mgr.onStartedLeading(() => rollouts?.reportProblem());
  mgr.onStoppedLeading(() => {
    reconciler.forgetObservations();
    rollouts?.forgetReported();
  });
  mgr.addReadyzCheck('config', () => true);
  return { controller, caches, metrics };
}
