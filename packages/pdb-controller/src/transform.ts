/**
 * Informer transforms (docs/pdb-controller.md#pdb-triggers, #pdb-budgets): the caches keep only what the controller
 * reads, so 5,000 workloads and 5,000 PDBs fit the memory budget. `managedFields` and the
 * `kubectl.kubernetes.io/last-applied-configuration` annotation are dropped everywhere, except the
 * `managedFields` of PDBs the controller owns (needed to tell its own fields from other managers').
 */
import type { V1ObjectMeta, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { isManaged } from './ownership';

/** Annotation written by `kubectl apply`; often the largest part of an object. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/** A workload (Deployment, StatefulSet or Rollout) as served by the API, reduced to what is read. */
interface RawWorkload {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  spec?: {
    replicas?: number;
    selector?: unknown;
    template?: { metadata?: { labels?: Record<string, string> } };
    workloadRef?: unknown;
  };
  status?: { observedGeneration?: number | string; readyReplicas?: number };
}

/** Copy of `meta` without `managedFields` (unless `keepManagedFields`) and without the last-applied annotation. */
export function trimMetadata(meta: V1ObjectMeta | undefined, keepManagedFields = false): V1ObjectMeta | undefined {
  if (!meta) return meta;
  const { managedFields, annotations, ...rest } = meta;
  const out: V1ObjectMeta = rest;
  if (keepManagedFields && managedFields) out.managedFields = managedFields;
  if (annotations) {
    if (LAST_APPLIED_ANNOTATION in annotations) {
      const { [LAST_APPLIED_ANNOTATION]: _dropped, ...kept } = annotations;
      out.annotations = kept;
    } else {
      out.annotations = annotations;
    }
  }
  return out;
}

/**
 * Reduces a Deployment, StatefulSet or Rollout to the fields the state and coverage rules read
 * (docs/pdb-controller.md#pdb-states, #pdb-coverage): metadata (trimmed), `spec.replicas`, `spec.selector`, the
 * pod-template labels, a Rollout's `spec.workloadRef`, and `status.observedGeneration` / `status.readyReplicas`. The
 * pod-template spec, which is most of a workload's size, is not kept.
 */
export function trimWorkload<T>(obj: T): T {
  const w = obj as RawWorkload;
  const spec: NonNullable<RawWorkload['spec']> = {};
  if (w.spec?.replicas !== undefined) spec.replicas = w.spec.replicas;
  if (w.spec?.selector !== undefined) spec.selector = w.spec.selector;
  const labels = w.spec?.template?.metadata?.labels;
  if (w.spec?.template) spec.template = labels ? { metadata: { labels } } : {};
  if (w.spec?.workloadRef !== undefined) spec.workloadRef = w.spec.workloadRef;
  const status: NonNullable<RawWorkload['status']> = {};
  if (w.status?.observedGeneration !== undefined) status.observedGeneration = w.status.observedGeneration;
  if (w.status?.readyReplicas !== undefined) status.readyReplicas = w.status.readyReplicas;
  const out: RawWorkload = { metadata: trimMetadata(w.metadata), spec, status };
  if (w.apiVersion) out.apiVersion = w.apiVersion;
  if (w.kind) out.kind = w.kind;
  return out as T;
}

/** Drops `managedFields` (kept on PDBs we own) and the last-applied annotation of a PDB. */
export function trimPdb<T extends V1PodDisruptionBudget>(pdb: T): T {
  return { ...pdb, metadata: trimMetadata(pdb.metadata, isManaged(pdb)) };
}
