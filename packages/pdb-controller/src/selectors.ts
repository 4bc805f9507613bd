/**
 * LabelSelector evaluation against pod-template labels, with the per-pod-key rule of
 * docs/pdb-controller.md#pdb-coverage.
 *
 * Selector semantics follow `metav1.LabelSelectorAsSelector` (k8s.io/apimachinery/pkg/apis/meta/v1):
 * a null selector selects nothing, an empty selector (`{}`) selects everything, otherwise every
 * `matchLabels` entry and every `matchExpressions` requirement must hold. Operators (k8s.io/apimachinery
 * labels.Requirement.Matches): `In` = key present with a listed value; `NotIn` = key absent or value not
 * listed; `Exists` = key present; `DoesNotExist` = key absent.
 */
import type { V1LabelSelector, V1PodDisruptionBudget } from '@kubernetes/client-node';
import {
  type Labels,
  isEmptySelector,
  labelRequirements as requirements,
  matchesLabels,
  requirementHolds as holds,
} from '@kubeaws/runtime';
import { isUserOwned } from './ownership';
import type { Workload, WorkloadKind } from './workload';

export { type Labels, isEmptySelector, matchesLabels };

/**
 * Per-pod label keys by workload kind (docs/pdb-controller.md#pdb-coverage): set by the workload controller on each
 * pod, so absent from the pod template.
 */
export const PER_POD_KEYS: Readonly<Record<WorkloadKind, ReadonlySet<string>>> = {
  Deployment: new Set(['pod-template-hash']),
  StatefulSet: new Set([
    'controller-revision-hash',
    'statefulset.kubernetes.io/pod-name',
    'apps.kubernetes.io/pod-index',
  ]),
  Rollout: new Set(['rollouts-pod-template-hash']),
};

/**
 * Whether `sel` selects the pods of a template with `templateLabels` of kind `kind` under the
 * per-pod-key rule of docs/pdb-controller.md#pdb-coverage:
 * - `null`/`undefined` selects nothing; `{}` selects everything;
 * - otherwise every requirement holds, where a requirement on a per-pod key of `kind` that is absent
 *   from the template holds by assumption, and at least one requirement is on a key that is not a
 *   per-pod key.
 */
export function selectsTemplate(
  sel: V1LabelSelector | null | undefined,
  templateLabels: Labels,
  kind: WorkloadKind,
): boolean {
  if (sel === null || sel === undefined) return false;
  if (isEmptySelector(sel)) return true;
  const perPod = PER_POD_KEYS[kind];
  const reqs = requirements(sel);
  if (!reqs.some((r) => !perPod.has(r.key))) return false;
  return reqs.every(
    (r) =>
      (perPod.has(r.key) && !Object.prototype.hasOwnProperty.call(templateLabels, r.key)) || holds(r, templateLabels),
  );
}

/**
 * User PDB P covers workload W (docs/pdb-controller.md#pdb-coverage): P is user-owned, in W's namespace, and its
 * `spec.selector` selects W's pod template under {@link selectsTemplate}. A PDB with no selector
 * (null) covers nothing; `{}` covers every workload of its namespace.
 */
export function covers(pdb: V1PodDisruptionBudget, w: Workload): boolean {
  return (
    isUserOwned(pdb) &&
    pdb.metadata?.namespace === w.namespace &&
    selectsTemplate(pdb.spec?.selector, w.templateLabels, w.kind)
  );
}

/**
 * W1 and W2 overlap (docs/pdb-controller.md#pdb-overlap): distinct workloads of one namespace where W1's
 * `spec.selector` selects W2's template (per-pod keys of W2's kind) or the reverse.
 */
export function overlaps(w1: Workload, w2: Workload): boolean {
  if (w1.namespace !== w2.namespace || (w1.kind === w2.kind && w1.name === w2.name)) return false;
  return (
    selectsTemplate(w1.selector, w2.templateLabels, w2.kind) || selectsTemplate(w2.selector, w1.templateLabels, w1.kind)
  );
}
