/**
 * LabelSelector evaluation against pod-template labels, with the per-pod-key rule of spec §3.2.
 *
 * Selector semantics follow `metav1.LabelSelectorAsSelector` (k8s.io/apimachinery/pkg/apis/meta/v1):
 * a null selector selects nothing, an empty selector (`{}`) selects everything, otherwise every
 * `matchLabels` entry and every `matchExpressions` requirement must hold. Operators (k8s.io/apimachinery
 * labels.Requirement.Matches): `In` = key present with a listed value; `NotIn` = key absent or value not
 * listed; `Exists` = key present; `DoesNotExist` = key absent.
 */
import type { V1LabelSelector, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { isUserOwned } from './ownership';
import type { Workload, WorkloadKind } from './workload';

/** A label map (`metadata.labels`). */
export type Labels = Readonly<Record<string, string>>;

/**
 * Per-pod label keys by workload kind (spec §3.2.2): set by the workload controller on each pod, so
 * absent from the pod template.
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

/** One selector requirement in normal form (matchLabels `k: v` becomes `k In (v)`). */
interface Requirement {
  key: string;
  operator: string;
  values: readonly string[];
}

function requirements(sel: V1LabelSelector): Requirement[] {
  const out: Requirement[] = Object.entries(sel.matchLabels ?? {}).map(([key, v]) => ({
    key,
    operator: 'In',
    values: [v],
  }));
  for (const e of sel.matchExpressions ?? []) out.push({ key: e.key, operator: e.operator, values: e.values ?? [] });
  return out;
}

/**
 * Whether one requirement holds on `labels`. An unknown operator, `In`/`NotIn` without values, or
 * `Exists`/`DoesNotExist` with values make the selector invalid (LabelSelectorAsSelector returns an
 * error); such a requirement holds on nothing.
 */
function holds(r: Requirement, labels: Labels): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  switch (r.operator) {
    case 'In':
      return r.values.length > 0 && has && r.values.includes(labels[r.key]);
    case 'NotIn':
      return r.values.length > 0 && (!has || !r.values.includes(labels[r.key]));
    case 'Exists':
      return r.values.length === 0 && has;
    case 'DoesNotExist':
      return r.values.length === 0 && !has;
    default:
      return false;
  }
}

/** True for `{}` (no matchLabels entries and no matchExpressions). */
export function isEmptySelector(sel: V1LabelSelector): boolean {
  return Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
}

/**
 * Plain LabelSelector match (k8s.io/apimachinery semantics, see module doc): `null`/`undefined`
 * selects nothing, `{}` selects everything.
 */
export function matchesLabels(sel: V1LabelSelector | null | undefined, labels: Labels): boolean {
  if (sel === null || sel === undefined) return false;
  return requirements(sel).every((r) => holds(r, labels));
}

/**
 * Whether `sel` selects the pods of a template with `templateLabels` of kind `kind` under the
 * per-pod-key rule of spec §3.2.2:
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
 * User PDB P covers workload W (spec §3.2.2): P is user-owned (spec §3.2.1), in W's namespace, and its
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
 * W1 and W2 overlap (spec §3.2.4): distinct workloads of one namespace where W1's `spec.selector`
 * selects W2's template (per-pod keys of W2's kind) or the reverse.
 */
export function overlaps(w1: Workload, w2: Workload): boolean {
  if (w1.namespace !== w2.namespace || (w1.kind === w2.kind && w1.name === w2.name)) return false;
  return (
    selectsTemplate(w1.selector, w2.templateLabels, w2.kind) || selectsTemplate(w2.selector, w1.templateLabels, w1.kind)
  );
}
