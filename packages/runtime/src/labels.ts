/**
 * Label selectors with `metav1.LabelSelectorAsSelector` semantics (k8s.io/apimachinery/pkg/apis/meta/v1,
 * https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors): a null
 * selector selects nothing, an empty selector (`{}`) selects everything, otherwise every `matchLabels`
 * entry and every `matchExpressions` requirement must hold. Operators (apimachinery
 * `labels.Requirement.Matches`): `In` = key present with a listed value; `NotIn` = key absent or value
 * not listed; `Exists` = key present; `DoesNotExist` = key absent.
 */

/** A label map (`metadata.labels`). */
export type Labels = Readonly<Record<string, string>>;

/** `metav1.LabelSelector`. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/** One selector requirement in normal form (matchLabels `k: v` becomes `k In (v)`). */
export interface LabelRequirement {
  key: string;
  operator: string;
  values: readonly string[];
}

/** The requirements of a selector in normal form, matchLabels first. */
export function labelRequirements(sel: LabelSelector): LabelRequirement[] {
  const out: LabelRequirement[] = Object.entries(sel.matchLabels ?? {}).map(([key, v]) => ({
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
export function requirementHolds(r: LabelRequirement, labels: Labels): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  switch (r.operator) {
    case 'In':
      return r.values.length > 0 && has && r.values.includes(labels[r.key]!);
    case 'NotIn':
      return r.values.length > 0 && (!has || !r.values.includes(labels[r.key]!));
    case 'Exists':
      return r.values.length === 0 && has;
    case 'DoesNotExist':
      return r.values.length === 0 && !has;
    default:
      return false;
  }
}

/** True for `{}` (no matchLabels entries and no matchExpressions). */
export function isEmptySelector(sel: LabelSelector): boolean {
  return Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
}

/** Plain LabelSelector match: `null`/`undefined` selects nothing, `{}` selects everything. */
export function matchesLabels(sel: LabelSelector | null | undefined, labels: Labels): boolean {
  if (sel === null || sel === undefined) return false;
  return labelRequirements(sel).every((r) => requirementHolds(r, labels));
}
