/**
 * Which work-queue keys each informer event enqueues (docs/pdb-controller.md#pdb-triggers), declared as
 * map functions and predicates of the runtime's controller builder. The pure rules are in
 * `triggers.ts`; this module applies them to the caches. Also keeps the PDB gauges in step with the
 * PDB cache (docs/pdb-controller.md#pdb-metrics).
 */
import {
  type Informer,
  type KubeObject,
  type MapFunc,
  type Predicate,
  type Source,
  resourceVersionChanged,
} from '@kubeaws/runtime';
import type { CachedPdb, PdbCaches } from './caches';
import { parseKey } from './keys';
import type { PdbMetrics } from './metrics';
import { managedPdbKind, reportsSyncFailed } from './ownership';
import { overlaps } from './selectors';
import { orphanCheckKey, pdbEventTargets, selectionChanged } from './triggers';
import { type WorkloadKind, workloadKey } from './workload';

/** Declares one watch: the builder's `watches`, or `watchSource` on a running controller. */
export type Watch = <T extends KubeObject>(
  source: Source<T>,
  map: MapFunc<T>,
  o?: { predicates?: Predicate<T>[] },
) => void;

/** Passes periodic resyncs only (the informer re-delivers each cached object as `update(obj, obj)`). */
function periodicResync<T extends KubeObject>(): Predicate<T> {
  return { create: () => false, update: (o, n) => o === n, delete: () => false };
}

/** The map functions and predicates of the pdb-controller's watches, over its caches. */
export class EventKeys {
  constructor(private readonly caches: PdbCaches) {}

  /**
   * Watches of the informer of workload `kind`: every event (resyncs included) enqueues the
   * workload's own key; a create (not of the initial list, where every workload is enqueued anyway),
   * a delete, and an update that changed what overlap checks read ({@link selectionChanged}, old and
   * new state) also enqueue the workloads of the namespace that overlap it
   * (docs/pdb-controller.md#pdb-overlap).
   */
  watchWorkloads(watch: Watch, kind: WorkloadKind, inf: Informer<KubeObject>): void {
    watch(inf, (o) => [this.ownKey(kind, o)]);
    watch(
      inf,
      (o, ev) => {
        if (ev.initial) return [];
        const states = ev.type === 'update' && ev.old ? [ev.old, o] : [o];
        return states.flatMap((s) => this.overlapping(kind, s));
      },
      {
        predicates: [
          {
            update: (o, n) =>
              o !== n && selectionChanged(this.caches.toWorkload(kind, o), this.caches.toWorkload(kind, n)),
          },
        ],
      },
    );
  }

  /**
   * Watches of the PDB informer: a change (not a resync) enqueues the keys of {@link pdbEventTargets}
   * (owners of a watched kind; every workload of a namespace for user PDBs) and the PDB's own orphan
   * check ({@link orphanCheckKey}); a periodic resync enqueues only the orphan check of each managed
   * and legacy PDB.
   */
  watchPdbs(watch: Watch, pdbs: Informer<CachedPdb>): void {
    watch(
      pdbs,
      (p, ev) => {
        const old = ev.type === 'create' ? undefined : (ev.old ?? p);
        const cur = ev.type === 'delete' ? undefined : p;
        const t = pdbEventTargets(old, cur);
        const keys = t.keys.filter((k) => this.caches.informer(parseKey(k).kind as WorkloadKind) !== undefined);
        for (const ns of t.namespaces) {
          for (const [kind, inf] of this.caches.watched())
            for (const o of inf.cache.byNamespace(ns)) keys.push(this.ownKey(kind, o));
        }
        const orphan = orphanCheckKey(old, cur);
        return orphan ? [...keys, orphan] : keys;
      },
      { predicates: [resourceVersionChanged()] },
    );
    watch(
      pdbs,
      (p) => {
        const k = orphanCheckKey(p, p);
        return k ? [k] : [];
      },
      { predicates: [periodicResync()] },
    );
  }

  private ownKey(kind: WorkloadKind, o: KubeObject): string {
    return workloadKey({ kind, namespace: o.metadata?.namespace ?? '', name: o.metadata?.name ?? '' });
  }

  /** Keys of the workloads of the namespace (every watched kind) whose selectors overlap this one's. */
  private overlapping(kind: WorkloadKind, obj: KubeObject): string[] {
    const w = this.caches.toWorkload(kind, obj);
    return this.caches
      .workloadsIn(w.namespace)
      .filter((o) => overlaps(w, o))
      .map(workloadKey);
  }
}

/**
 * Keeps `managed_pdbs{kind}` and `pdb_sync_failed` in step with the PDB cache
 * (docs/pdb-controller.md#pdb-metrics, #pdb-sync-failed); resyncs change nothing.
 */
export function trackManagedPdbs(pdbs: Informer<CachedPdb>, metrics: PdbMetrics): void {
  const key = (p: CachedPdb) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
  const track = (p: CachedPdb) => metrics.trackPdb(key(p), managedPdbKind(p), reportsSyncFailed(p));
  pdbs.addEventHandler({
    onAdd: track,
    onUpdate: (old, cur) => old !== cur && track(cur),
    onDelete: (p) => metrics.trackPdb(key(p), undefined, false),
  });
}
