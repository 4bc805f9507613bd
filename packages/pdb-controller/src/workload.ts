/**
 * A normalised view of the workloads the controller manages: Deployment, StatefulSet and Argo Rollout
 * (docs/pdb-controller.md#pdb-annotations, #pdb-states).
 */
import type {
  V1Deployment,
  V1LabelSelector,
  V1ObjectMeta,
  V1PodTemplateSpec,
  V1StatefulSet,
} from '@kubernetes/client-node';

/** Supported workload kinds (`kubeaws.io/workload-kind`, docs/pdb-controller.md#pdb-annotations). */
export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'Rollout';

/** All supported kinds, in a fixed order. */
export const WORKLOAD_KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'Rollout'];

/** `apiVersion` of each supported kind, as written in ownerReferences (docs/pdb-controller.md#pdb-content). */
export const API_VERSION: Readonly<Record<WorkloadKind, string>> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  Rollout: 'argoproj.io/v1alpha1',
};

/**
 * The subset of an `argoproj.io/v1alpha1` Rollout the controller reads. `status.observedGeneration`
 * is a string in Argo Rollouts (a decimal generation in current versions).
 */
export interface Rollout {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  spec?: {
    replicas?: number;
    selector?: V1LabelSelector;
    template?: V1PodTemplateSpec;
    workloadRef?: { apiVersion?: string; kind?: string; name?: string; scaleDown?: string };
  };
  status?: {
    observedGeneration?: string | number;
    readyReplicas?: number;
    replicas?: number;
  };
}

/**
 * Normalised workload. `replicas` is R of docs/pdb-controller.md#pdb-ready (`spec.replicas`, absent = 1); `fullyReady`
 * is `status.observedGeneration ≥ metadata.generation && status.readyReplicas ≥ R` (docs/pdb-controller.md#pdb-ready);
 * `selector` is `spec.selector` as written (undefined if absent); `templateLabels` are the
 * pod-template labels (empty for a Rollout with `workloadRef`); `workloadRef` is set only for Rollouts
 * that reference a workload instead of an inline template (unsupported, docs/pdb-controller.md#pdb-states).
 */
export interface Workload {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  uid: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  replicas: number;
  fullyReady: boolean;
  templateLabels: Readonly<Record<string, string>>;
  selector: V1LabelSelector | undefined;
  /** `metadata.deletionTimestamp` is set (state `deleting`, docs/pdb-controller.md#pdb-states). */
  deleting: boolean;
  workloadRef?: { apiVersion?: string; kind?: string; name?: string };
}

/** Work-queue key `<Kind>/<namespace>/<name>` (docs/pdb-controller.md#pdb-triggers). */
export function workloadKey(w: Pick<Workload, 'kind' | 'namespace' | 'name'>): string {
  return `${w.kind}/${w.namespace}/${w.name}`;
}

function readiness(
  meta: V1ObjectMeta | undefined,
  observed: number | undefined,
  ready: number | undefined,
  r: number,
): boolean {
  if (observed === undefined || !Number.isFinite(observed)) return false;
  return observed >= (meta?.generation ?? 0) && (ready ?? 0) >= r;
}

function base(kind: WorkloadKind, meta: V1ObjectMeta | undefined) {
  return {
    kind,
    namespace: meta?.namespace ?? '',
    name: meta?.name ?? '',
    uid: meta?.uid ?? '',
    labels: meta?.labels ?? {},
    annotations: meta?.annotations ?? {},
    deleting: meta?.deletionTimestamp !== undefined && meta?.deletionTimestamp !== null,
  };
}

/** Normalises an `apps/v1` Deployment (docs/pdb-controller.md#pdb-ready). */
export function fromDeployment(d: V1Deployment): Workload {
  const r = d.spec?.replicas ?? 1;
  return {
    ...base('Deployment', d.metadata),
    replicas: r,
    fullyReady: readiness(d.metadata, d.status?.observedGeneration, d.status?.readyReplicas, r),
    templateLabels: d.spec?.template?.metadata?.labels ?? {},
    selector: d.spec?.selector,
  };
}

/** Normalises an `apps/v1` StatefulSet (docs/pdb-controller.md#pdb-ready). */
export function fromStatefulSet(s: V1StatefulSet): Workload {
  const r = s.spec?.replicas ?? 1;
  return {
    ...base('StatefulSet', s.metadata),
    replicas: r,
    fullyReady: readiness(s.metadata, s.status?.observedGeneration, s.status?.readyReplicas, r),
    templateLabels: s.spec?.template?.metadata?.labels ?? {},
    selector: s.spec?.selector,
  };
}

/**
 * Normalises an `argoproj.io/v1alpha1` Rollout (docs/pdb-controller.md#pdb-ready, #pdb-states). A non-numeric
 * `status.observedGeneration` (old Argo versions wrote a hash) counts as not observed, so such a
 * Rollout is never fully ready.
 */
export function fromRollout(ro: Rollout): Workload {
  const r = ro.spec?.replicas ?? 1;
  const og = ro.status?.observedGeneration;
  const observed = typeof og === 'number' ? og : og !== undefined && /^[0-9]+$/.test(og) ? Number(og) : undefined;
  const w: Workload = {
    ...base('Rollout', ro.metadata),
    replicas: r,
    fullyReady: readiness(ro.metadata, observed, ro.status?.readyReplicas, r),
    templateLabels: ro.spec?.template?.metadata?.labels ?? {},
    selector: ro.spec?.selector,
  };
  if (ro.spec?.workloadRef) {
    const { apiVersion, kind, name } = ro.spec.workloadRef;
    w.workloadRef = { apiVersion, kind, name };
  }
  return w;
}

/**
 * Maps an ownerReference `(apiVersion, kind)` to a supported workload kind, or `undefined`.
 * The group must match (`apps` for Deployment/StatefulSet, `argoproj.io` for Rollout); the version
 * is not checked, since ownerReferences keep the version they were written with.
 */
export function supportedKind(apiVersion: string | undefined, kind: string | undefined): WorkloadKind | undefined {
  const group = (apiVersion ?? '').includes('/') ? (apiVersion ?? '').split('/')[0] : '';
  if ((kind === 'Deployment' || kind === 'StatefulSet') && group === 'apps') return kind;
  if (kind === 'Rollout' && group === 'argoproj.io') return kind;
  return undefined;
}
