/**
 * The PodDisruptionBudget writes of the pdb-controller (docs/pdb-controller.md#pdb-writes): performed
 * through the Manager's leader-only client with the `--field-manager`, logged
 * (docs/pdb-controller.md#pdb-logs), counted in `pdb_writes_total` and followed by their Events; what
 * follows a failure is decided by `writeFailure` (decide.ts).
 *
 * Write visibility: after a successful write the key is not decided again until the PDB cache reflects
 * that write (or {@link EXPECTATION_TIMEOUT_MS} passed), so a decision never repeats or undoes the
 * controller's own last write because the watch has not delivered it yet.
 */
import {
  ApiError,
  type Informer,
  type KubeObject,
  type Logger,
  type Manager,
  NotLeaderError,
  type ObjectReference,
  type ReconcileResult,
  resourcePath,
} from '@kubeaws/runtime';
import type { CachedPdb } from './caches';
import type { Settings } from './config';
import { type Action, type WorkloadState, resourceVersionAtLeast, writeEventAction, writeFailure } from './decide';
import type { PdbMetrics } from './metrics';
import type { Reporter } from './report';

/** How long a key waits for the PDB cache to reflect the controller's own last write (ms). */
export const EXPECTATION_TIMEOUT_MS = 30_000;
/** Interval of the re-check of a key that waits for its own write to become visible (ms). */
export const OWN_WRITE_RECHECK_MS = 1_000;

/**
 * Who a write is for, as logged (docs/pdb-controller.md#pdb-logs): the key and its object (the workload,
 * or for an orphan check the PDB itself with its gone `owner`) and the decided state (`orphaned` for an
 * orphan delete).
 */
export interface WriteContext {
  key: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
  state: WorkloadState | 'orphaned';
  owner?: { kind: string; name?: string; uid?: string };
  /** The object the write's Events are about unless the Event names its own. */
  regarding: ObjectReference;
}

/** Memory of one workload that writes read and update (kept by the reconciler, reset with the UID). */
export interface WriteMemory {
  /** Message of the last `PDBRejected` Event, until a reconcile succeeds. */
  rejected?: string;
  /** The managed PDB was deleted by the non-ready TTL and the workload has not been fully ready since. */
  ttlExpired: boolean;
}

/** A write of this controller that the PDB cache must reflect before its key is decided again. */
interface Expectation {
  namespace: string;
  name: string;
  uid?: string;
  resourceVersion?: string;
  deleted: boolean;
  /** Manager-clock instant (ms) after which the key is decided regardless. */
  deadline: number;
}

/** Options of {@link PdbWriter}. */
export interface PdbWriterOptions {
  mgr: Manager;
  settings: Pick<Settings, 'dryRun' | 'fieldManager'>;
  metrics: PdbMetrics;
  report: Reporter;
  pdbs: Informer<CachedPdb>;
}

/** Performs the actions of decisions and remembers which writes the PDB cache has yet to show. */
export class PdbWriter {
  private readonly log: Logger;
  private readonly expectations = new Map<string, Expectation[]>();

  constructor(private readonly o: PdbWriterOptions) {
    this.log = o.mgr.logger;
  }

  /**
   * Performs one action for `ctx.key`. Resolves undefined to go on with the next action, or with a
   * result that ends the reconcile (`{ requeue: true }` after a 404/409, `{}` in a terminating
   * namespace). Throws what the runtime retries with backoff (after a `PDBRejected` Event for 422)
   * and `NotLeaderError` (the key waits for the next leadership). In a dry run only the log line is
   * written.
   */
  async perform(ctx: WriteContext, a: Action, mem: WriteMemory | undefined): Promise<ReconcileResult | undefined> {
    const namespace = a.type === 'delete' ? a.namespace : ctx.namespace;
    const fields = {
      key: ctx.key,
      kind: ctx.kind,
      namespace: ctx.namespace,
      name: ctx.name,
      uid: ctx.uid,
      pdb: a.name,
      state: ctx.state,
      owner: ctx.owner,
      action: a.type,
      reason: actionReason(a),
      fields: a.type === 'apply' || a.type === 'patch' ? a.changedFields : undefined,
    };
    if (this.o.settings.dryRun) {
      this.log.info({ ...fields, dryRun: true }, `dry run: would ${a.type} PodDisruptionBudget`);
      return undefined;
    }
    const client = this.o.mgr.leaderClient;
    const fm = { fieldManager: this.o.settings.fieldManager };
    const t0 = performance.now();
    let written: KubeObject | undefined;
    try {
      switch (a.type) {
        case 'create':
          written = await client.create<KubeObject>(pdbPath(namespace), a.pdb, fm);
          break;
        case 'apply':
          written = await client.apply<KubeObject>(pdbPath(namespace, a.name), a.body, { ...fm, force: true });
          break;
        case 'patch':
          written = await client.mergePatch<KubeObject>(pdbPath(namespace, a.name), a.patch, fm);
          break;
        case 'delete':
          await client.delete(pdbPath(namespace, a.name), {
            preconditions: { uid: a.uid, resourceVersion: a.resourceVersion },
          });
          break;
      }
    } catch (err) {
      return this.failed(ctx, a, mem, err, { ...fields, durationMs: ms(t0) });
    }
    this.o.metrics.writes.inc({ operation: a.type, result: 'success' });
    this.log.info({ ...fields, durationMs: ms(t0) }, writeMessage(a));
    this.expect(ctx.key, {
      namespace,
      name: a.name,
      uid: a.type === 'delete' ? a.uid : written?.metadata?.uid,
      resourceVersion: written?.metadata?.resourceVersion,
      deleted: a.type === 'delete',
      deadline: this.o.mgr.clock.now() + EXPECTATION_TIMEOUT_MS,
    });
    if (a.type === 'delete' && a.ttlExpiry) {
      this.o.metrics.ttlExpirations.inc({ kind: ctx.kind });
      if (mem) mem.ttlExpired = true;
    }
    for (const ev of a.events) this.o.report.event(ev, ctx.regarding, writeEventAction(a));
    return undefined;
  }

  /** True while a write of this controller for `key` is not yet visible in the PDB cache. */
  awaitingOwnWrites(key: string): boolean {
    const list = this.expectations.get(key);
    if (!list) return false;
    const now = this.o.mgr.clock.now();
    const pending = list.filter((e) => now < e.deadline && !this.visible(e));
    if (pending.length) {
      this.expectations.set(key, pending);
      return true;
    }
    this.expectations.delete(key);
    return false;
  }

  /** Forgets the pending writes of one key (its workload is gone). */
  forget(key: string): void {
    this.expectations.delete(key);
  }

  /** Forgets every pending write (leadership lost: the next leader decides from its caches). */
  clear(): void {
    this.expectations.clear();
  }

  private failed(
    ctx: WriteContext,
    a: Action,
    mem: WriteMemory | undefined,
    err: unknown,
    fields: Record<string, unknown>,
  ): ReconcileResult {
    if (err instanceof NotLeaderError) throw err; // the runtime keeps the key for the next term
    const api = err instanceof ApiError ? err : undefined;
    const message = (err as Error)?.message ?? String(err);
    const f = writeFailure(
      a,
      {
        statusCode: api?.statusCode ?? 0,
        reason: api?.reason,
        message,
        field: api?.status?.details?.causes?.[0]?.field,
      },
      mem?.rejected,
    );
    this.o.metrics.writes.inc({ operation: a.type, result: f.result });
    this.log[f.level]({ ...fields, error: message }, f.message);
    if (f.rejection && mem) {
      mem.rejected = f.rejection.message;
      this.o.report.event(f.rejection.event, ctx.regarding, f.rejection.action);
      this.o.report.badInput(ctx, f.rejection.input);
    }
    if (f.next === 'requeue') return { requeue: true };
    if (f.next === 'done') return {};
    throw err;
  }

  /**
   * Whether the PDB cache reflects a write: a deleted PDB (that UID) is gone; a written one is cached
   * with its UID at that resourceVersion or later, or the cache has passed that resourceVersion (the
   * PDB changed or went away since).
   */
  private visible(e: Expectation): boolean {
    const p = this.o.pdbs.cache.getByName(e.namespace, e.name);
    if (e.deleted) return p === undefined || p.metadata?.uid !== e.uid;
    if (p && p.metadata?.uid === e.uid && resourceVersionAtLeast(p.metadata?.resourceVersion, e.resourceVersion))
      return true;
    return resourceVersionAtLeast(this.o.pdbs.resourceVersion, e.resourceVersion);
  }

  private expect(key: string, e: Expectation): void {
    const list = this.expectations.get(key) ?? [];
    list.push(e);
    this.expectations.set(key, list);
  }
}

function pdbPath(namespace: string, name?: string): string {
  return resourcePath({ group: 'policy', version: 'v1', resource: 'poddisruptionbudgets', namespace, name });
}

function ms(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

/** The `reason` field of a write's log line. */
function actionReason(a: Action): string {
  switch (a.type) {
    case 'create':
      return 'workload fully ready without a PodDisruptionBudget';
    case 'apply':
      return 'managed fields differ from the desired PodDisruptionBudget';
    case 'patch':
      return a.purpose === 'adopt'
        ? 'legacy pdb-controller PodDisruptionBudget adopted'
        : 'fields to remove that apply cannot remove';
    case 'delete':
      return a.reason;
  }
}

/** The message of a successful write's log line. */
function writeMessage(a: Action): string {
  switch (a.type) {
    case 'create':
      return 'created PodDisruptionBudget';
    case 'apply':
      return 'updated PodDisruptionBudget';
    case 'patch':
      return a.purpose === 'adopt' ? 'adopted PodDisruptionBudget' : 'repaired PodDisruptionBudget';
    case 'delete':
      return 'deleted PodDisruptionBudget';
  }
}
