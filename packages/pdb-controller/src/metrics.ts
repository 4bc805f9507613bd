/**
 * The component metrics of docs/pdb-controller.md#pdb-metrics (prefix `kubeaws_pdb_controller_`). The shared runtime
 * adds reconcile, queue, informer, leader-election, API-client and process metrics to the same registry.
 */
import type { ComponentMetrics } from '@kubeaws/runtime';
import type { WorkloadState } from './decide';
import { WORKLOAD_KINDS, type WorkloadKind } from './workload';

/** Every state of docs/pdb-controller.md#pdb-states, for zero-initialised gauge series. */
export const WORKLOAD_STATES: readonly WorkloadState[] = [
  'deleting',
  'excluded',
  'unsupported',
  'opted_out',
  'below_min_replicas',
  'covered',
  'overlapping',
  'name_conflict',
  'protected',
  'not_ready',
  'ttl_expired',
];

/**
 * `operation` label of `pdb_writes_total`, `patch` being a JSON merge patch (docs/pdb-controller.md#pdb-metrics,
 * #pdb-adoption, #pdb-repair).
 */
export type WriteOperation = 'create' | 'apply' | 'patch' | 'delete';
/** `result` label of `pdb_writes_total`. */
export type WriteResult = 'success' | 'conflict' | 'error';

/** The pdb-controller's metric families plus the bookkeeping behind its gauges. */
export class PdbMetrics {
  readonly workloads;
  readonly managedPdbs;
  readonly writes;
  readonly ttlExpirations;
  readonly syncFailed;
  readonly invalidInput;
  readonly rolloutsEnabled;

  private readonly states = new Map<string, { kind: WorkloadKind; state: WorkloadState }>();
  private readonly managed = new Map<string, WorkloadKind | 'unknown'>();
  private readonly failing = new Set<string>();

  constructor(m: ComponentMetrics) {
    this.workloads = m.gauge('workloads', 'Workloads per kind and state (PDB-STATES)', ['kind', 'state']);
    this.managedPdbs = m.gauge('managed_pdbs', 'PodDisruptionBudgets owned by the pdb-controller, by workload kind', [
      'kind',
    ]);
    this.writes = m.counter('pdb_writes_total', 'PodDisruptionBudget writes by operation and result', [
      'operation',
      'result',
    ]);
    this.ttlExpirations = m.counter('ttl_expirations_total', 'Managed PDBs deleted because the non-ready TTL expired', [
      'kind',
    ]);
    this.syncFailed = m.gauge('pdb_sync_failed', 'Managed PDBs whose DisruptionAllowed condition reports SyncFailed');
    this.invalidInput = m.counter('invalid_input_total', 'Invalid input observed (annotation key or flag name)', [
      'field',
    ]);
    this.rolloutsEnabled = m.gauge('rollouts_enabled', '1 while the Argo Rollout informer runs');

    for (const kind of WORKLOAD_KINDS) {
      this.managedPdbs.set({ kind }, 0);
      for (const state of WORKLOAD_STATES) this.workloads.set({ kind, state }, 0);
    }
    for (const operation of ['create', 'apply', 'patch', 'delete'] as const) {
      for (const result of ['success', 'conflict', 'error'] as const) this.writes.inc({ operation, result }, 0);
    }
    this.syncFailed.set(0);
    this.rolloutsEnabled.set(0);
  }

  /** Records the state of one workload key (moves it between `workloads{kind,state}` series). */
  setState(key: string, kind: WorkloadKind, state: WorkloadState): void {
    const prev = this.states.get(key);
    if (prev && prev.kind === kind && prev.state === state) return;
    if (prev) this.workloads.dec({ kind: prev.kind, state: prev.state });
    this.states.set(key, { kind, state });
    this.workloads.inc({ kind, state });
  }

  /** Forgets a workload key (the workload is gone). */
  removeState(key: string): void {
    const prev = this.states.get(key);
    if (!prev) return;
    this.workloads.dec({ kind: prev.kind, state: prev.state });
    this.states.delete(key);
  }

  /** The last recorded state of a workload key. */
  stateOf(key: string): WorkloadState | undefined {
    return this.states.get(key)?.state;
  }

  /** Snapshot of every recorded workload state, by key. */
  allStates(): Map<string, WorkloadState> {
    return new Map([...this.states].map(([k, v]) => [k, v.state]));
  }

  /**
   * Tracks one PDB for `managed_pdbs` and `pdb_sync_failed`: `kind` is its workload kind when we own
   * it (undefined when not ours or deleted), `failing` whether it reports SyncFailed.
   */
  trackPdb(pdbKey: string, kind: WorkloadKind | 'unknown' | undefined, failing: boolean): void {
    const prev = this.managed.get(pdbKey);
    if (prev !== kind) {
      if (prev !== undefined && prev !== 'unknown') this.managedPdbs.dec({ kind: prev });
      if (kind === undefined) this.managed.delete(pdbKey);
      else this.managed.set(pdbKey, kind);
      if (kind !== undefined && kind !== 'unknown') this.managedPdbs.inc({ kind });
    }
    const isFailing = kind !== undefined && failing;
    if (isFailing !== this.failing.has(pdbKey)) {
      if (isFailing) this.failing.add(pdbKey);
      else this.failing.delete(pdbKey);
      this.syncFailed.set(this.failing.size);
    }
  }
}
