/**
 * The reconcile of the pdb-controller: for a workload key, read the caches, {@link decide}, record the
 * state, report conditions on first observation and perform the writes; for a PDB key, the orphan
 * check (docs/pdb-controller.md#pdb-orphans). The non-ready TTL re-queues the workload at its expiry
 * instant through `requeueAfter` (docs/pdb-controller.md#pdb-ttl), on the Manager's clock.
 */
import type { Logger, Manager, ReconcileResult } from '@kubeaws/runtime';
import type { PdbCaches } from './caches';
import type { Settings } from './config';
import {
  type Decision,
  badInputRows,
  decide,
  decideOrphan,
  eventSignature,
  firstObservations,
  inputSignature,
  orphanSubject,
} from './decide';
import { PDB_KIND, parseKey } from './keys';
import type { PdbMetrics } from './metrics';
import { isTerminating, isUserOwned, pdbOwners } from './ownership';
import type { Reporter } from './report';
import { ownedPdbKeys } from './triggers';
import { API_VERSION, type Workload, type WorkloadKind } from './workload';
import { OWN_WRITE_RECHECK_MS, type PdbWriter, type WriteContext, type WriteMemory } from './writes';

/** Memory of one workload key that outlives a reconcile; reset when the workload's UID changes. */
interface KeyMemory extends WriteMemory {
  uid: string;
  /** Signatures of the condition Events last observed (reported on first observation only). */
  conditions: Set<string>;
  /** Signatures of the bad-input rows last observed. */
  inputs: Set<string>;
}

/** Options of {@link PdbReconciler}. */
export interface PdbReconcilerOptions {
  mgr: Manager;
  settings: Settings;
  caches: PdbCaches;
  metrics: PdbMetrics;
  report: Reporter;
  writer: PdbWriter;
  /** Queues a key (the controller's `enqueue`). */
  enqueue(key: string): void;
}

/** Reconciles the keys of the pdb-controller's work queue. */
export class PdbReconciler {
  private readonly log: Logger;
  private readonly memory = new Map<string, KeyMemory>();

  constructor(private readonly o: PdbReconcilerOptions) {
    this.log = o.mgr.logger;
  }

  /** The controller's reconcile function (see the module docs). */
  readonly reconcile = async (key: string): Promise<ReconcileResult | void> => {
    const { kind, namespace, name } = parseKey(key);
    if (kind === PDB_KIND) return this.orphan(key, namespace, name);
    return this.workload(key, kind as WorkloadKind, namespace, name);
  };

  /** Forgets everything about the keys of a kind that is no longer watched (Rollouts). */
  forgetKind(kind: WorkloadKind): void {
    for (const key of [...this.memory.keys()]) if (key.startsWith(`${kind}/`)) this.forget(key);
    for (const [key] of this.o.metrics.allStates()) if (key.startsWith(`${kind}/`)) this.o.metrics.removeState(key);
  }

  /**
   * After a leadership change conditions are reported again once, as after a restart
   * (docs/pdb-controller.md#pdb-bad-input), and pending writes are no longer awaited.
   */
  forgetObservations(): void {
    for (const m of this.memory.values()) {
      m.conditions.clear();
      m.inputs.clear();
      m.rejected = undefined;
    }
    this.o.writer.clear();
  }

  private async workload(
    key: string,
    kind: WorkloadKind,
    namespace: string,
    name: string,
  ): Promise<ReconcileResult | void> {
    const { caches, metrics, writer } = this.o;
    const inf = caches.informer(kind);
    if (!inf) return; // kind not (or no longer) watched
    const obj = inf.cache.getByName(namespace, name);
    if (!obj) {
      this.forget(key);
      // its PDBs go to the garbage collector; check them for orphans as well
      for (const k of ownedPdbKeys(caches.pdbs.cache.byNamespace(namespace), kind, name)) this.o.enqueue(k);
      return;
    }
    if (writer.awaitingOwnWrites(key)) return { requeueAfter: OWN_WRITE_RECHECK_MS };

    const t0 = performance.now();
    const w = caches.toWorkload(kind, obj);
    const mem = this.memoryFor(key, w.uid);
    const d = decide({
      workload: w,
      pdbs: caches.pdbs.cache.byNamespace(namespace),
      others: caches.workloadsIn(namespace),
      settings: this.o.settings,
      now: this.o.mgr.clock.now(),
      ttlExpiredBefore: mem.ttlExpired,
    });
    if (d.state !== 'ttl_expired') mem.ttlExpired = false;
    metrics.setState(key, w.kind, d.state);

    const ctx: WriteContext = {
      key,
      kind: w.kind,
      namespace,
      name,
      uid: w.uid,
      state: d.state,
      regarding: { apiVersion: API_VERSION[w.kind], kind: w.kind, namespace, name, uid: w.uid },
    };
    this.observe(ctx, d, mem, w);
    for (const action of d.actions) {
      const r = await writer.perform(ctx, action, mem);
      if (r) return r;
    }
    mem.rejected = undefined;
    if (d.actions.length === 0) {
      this.log.debug(
        {
          key,
          kind,
          namespace,
          name,
          uid: w.uid,
          pdb: d.managedPdb,
          state: d.state,
          action: 'none',
          durationMs: ms(t0),
        },
        'reconciled; nothing to change',
      );
    }
    if (d.requeueAfterMs !== undefined && d.requeueAfterMs > 0) return { requeueAfter: d.requeueAfterMs };
  }

  /** Orphan check of one managed or legacy PDB (docs/pdb-controller.md#pdb-orphans). */
  private async orphan(key: string, namespace: string, name: string): Promise<ReconcileResult | void> {
    const { caches, writer } = this.o;
    const p = caches.pdbs.cache.getByName(namespace, name);
    if (!p || isTerminating(p) || isUserOwned(p)) return;
    if (writer.awaitingOwnWrites(key)) return { requeueAfter: OWN_WRITE_RECHECK_MS };
    const owners = pdbOwners(p);
    const judged = decideOrphan(
      p,
      owners.map((o) => {
        const inf = caches.informer(o.kind);
        return {
          ...o,
          synced: inf?.hasSynced() ?? false,
          cachedUid: inf?.cache.getByName(namespace, o.name)?.metadata?.uid,
          cacheResourceVersion: inf?.resourceVersion ?? '',
        };
      }),
      caches.syncedKinds(),
    );
    if (judged.recheckAfterMs !== undefined) return { requeueAfter: judged.recheckAfterMs };
    if (!judged.delete) return;
    const subject = orphanSubject(p);
    const ctx: WriteContext = {
      key,
      ...subject,
      regarding: { apiVersion: 'policy/v1', kind: PDB_KIND, namespace, name, uid: p.metadata?.uid },
    };
    return writer.perform(ctx, judged.delete, undefined);
  }

  /**
   * Condition Events and bad-input reports of one decision, each on first observation only
   * (docs/pdb-controller.md#pdb-bad-input).
   */
  private observe(ctx: WriteContext, d: Decision, mem: KeyMemory, w: Workload): void {
    const events = firstObservations(mem.conditions, d.events, eventSignature);
    for (const ev of events.fresh) this.o.report.event(ev, ctx.regarding, 'Reconcile');
    mem.conditions = events.seen;
    const inputs = firstObservations(mem.inputs, badInputRows(d, w), inputSignature);
    for (const i of inputs.fresh) this.o.report.badInput(ctx, i);
    mem.inputs = inputs.seen;
  }

  private memoryFor(key: string, uid: string): KeyMemory {
    let m = this.memory.get(key);
    if (!m || m.uid !== uid) {
      m = { uid, conditions: new Set(), inputs: new Set(), ttlExpired: false };
      this.memory.set(key, m);
    }
    return m;
  }

  /** The workload is gone: drop its memory, pending writes and gauge series. */
  private forget(key: string): void {
    this.memory.delete(key);
    this.o.writer.forget(key);
    this.o.metrics.removeState(key);
  }
}

function ms(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}
