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

/**
 * A label selector string that {@link parseLabelSelector} rejects; `position` is the 0-based character
 * offset where the problem was found.
 */
export class LabelSelectorSyntaxError extends Error {
  override readonly name: string = 'LabelSelectorSyntaxError';
  constructor(
    readonly selector: string,
    readonly position: number,
    readonly problem: string,
  ) {
    super(`label selector ${JSON.stringify(selector)}: ${problem} at position ${position}`);
  }
}

/** The valid forms of a selector string, for error messages. */
export const LABEL_SELECTOR_FORMS = 'comma-joined requirements: k=v, k==v, k!=v, k in (v1,v2), k notin (v1,v2), k, !k, k>n, k<n';

/** Characters that end an identifier (apimachinery `labels` lexer `isSpecialSymbol`, plus whitespace). */
const SPECIAL = new Set(['!', '(', ')', ',', '=', '>', '<', ' ', '\t', '\n', '\r']);
/** A label key: optional DNS-1123 subdomain prefix and `/`, then a name (apimachinery `IsQualifiedName`). */
const KEY_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const KEY_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A label value: empty, or up to 63 characters alphanumeric at both ends (apimachinery `IsValidLabelValue`). */
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

type Token =
  | { kind: 'id'; text: string; at: number }
  | { kind: 'op'; text: '!' | '!=' | '(' | ')' | ',' | '=' | '==' | '>' | '<'; at: number }
  | { kind: 'end'; text: ''; at: number };

function lex(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (SPECIAL.has(c)) {
      const two = s.slice(i, i + 2);
      if (two === '!=' || two === '==') {
        out.push({ kind: 'op', text: two, at: i });
        i += 2;
      } else {
        out.push({ kind: 'op', text: c as '!' | '(' | ')' | ',' | '=' | '>' | '<', at: i });
        i++;
      }
      continue;
    }
    const start = i;
    while (i < s.length && !SPECIAL.has(s[i]!)) i++;
    out.push({ kind: 'id', text: s.slice(start, i), at: start });
  }
  out.push({ kind: 'end', text: '', at: s.length });
  return out;
}

/**
 * Parses a label selector string, the `labelSelector` query parameter of a Kubernetes list or watch, with
 * the grammar and checks of apimachinery `labels.Parse` (k8s.io/apimachinery/pkg/labels/selector.go,
 * https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors): requirements
 * joined by `,`; `k=v` and `k==v` (returned as `k In (v)`), `k!=v` (`k NotIn (v)`), `k in (v1,v2)`,
 * `k notin (v1,v2)`, `k` (`Exists`), `!k` (`DoesNotExist`), and `k>n` / `k<n` (`Gt` / `Lt`, `n` an
 * integer; these two are not `metav1.LabelSelector` operators, so {@link requirementHolds} does not match
 * them). Keys are qualified names (`[prefix/]name`, name at most 63 characters of `[A-Za-z0-9-_.]`
 * alphanumeric at both ends, prefix a DNS-1123 subdomain of at most 253 characters); values are empty or at
 * most 63 such characters. The empty (or all-blank) string is the empty selector: everything.
 * @returns the requirements in the order written
 * @throws LabelSelectorSyntaxError naming the position and what was expected
 */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  const toks = lex(selector);
  let p = 0;
  const fail = (t: Token, problem: string): never => {
    throw new LabelSelectorSyntaxError(selector, t.at, problem);
  };
  const found = (t: Token) => (t.kind === 'end' ? 'the end' : JSON.stringify(t.text));
  const key = (): string => {
    const t = toks[p]!;
    if (t.kind !== 'id' || t.text === 'in' || t.text === 'notin') return fail(t, `expected a label key, found ${found(t)}`);
    p++;
    const slash = t.text.indexOf('/');
    const name = slash < 0 ? t.text : t.text.slice(slash + 1);
    const prefix = slash < 0 ? undefined : t.text.slice(0, slash);
    if (name.length > 63 || !KEY_NAME.test(name) || (prefix !== undefined && (prefix.length > 253 || !KEY_PREFIX.test(prefix)))) {
      fail(t, `invalid label key ${JSON.stringify(t.text)}: expected [prefix/]name, name at most 63 characters of [A-Za-z0-9-_.] alphanumeric at both ends, prefix a lower-case DNS subdomain`);
    }
    return t.text;
  };
  const value = (t: Token, v: string): string => {
    if (v.length > 63 || !VALUE.test(v)) {
      fail(t, `invalid label value ${JSON.stringify(v)}: expected at most 63 characters of [A-Za-z0-9-_.] alphanumeric at both ends`);
    }
    return v;
  };
  const out: LabelRequirement[] = [];
  if (toks[0]!.kind === 'end') return out;
  for (;;) {
    const t = toks[p]!;
    if (t.kind === 'op' && t.text === '!') {
      p++;
      out.push({ key: key(), operator: 'DoesNotExist', values: [] });
    } else {
      const k = key();
      const op = toks[p]!;
      if (op.kind === 'end' || (op.kind === 'op' && op.text === ',')) out.push({ key: k, operator: 'Exists', values: [] });
      else if (op.kind === 'op' && (op.text === '=' || op.text === '==' || op.text === '!=')) {
        p++;
        const v = toks[p]!;
        let text = '';
        if (v.kind === 'id') {
          text = v.text;
          p++;
        } else if (!(v.kind === 'end' || v.text === ',')) fail(v, `expected a label value after ${JSON.stringify(op.text)}, found ${found(v)}`);
        out.push({ key: k, operator: op.text === '!=' ? 'NotIn' : 'In', values: [value(v, text)] });
      } else if (op.kind === 'op' && (op.text === '>' || op.text === '<')) {
        p++;
        const v = toks[p]!;
        if (v.kind !== 'id' || !/^[+-]?\d+$/.test(v.text)) fail(v, `expected an integer after ${JSON.stringify(op.text)}, found ${found(v)}`);
        p++;
        out.push({ key: k, operator: op.text === '>' ? 'Gt' : 'Lt', values: [v.text] });
      } else if (op.kind === 'id' && (op.text === 'in' || op.text === 'notin')) {
        p++;
        const open = toks[p]!;
        if (open.kind !== 'op' || open.text !== '(') fail(open, `expected "(" after ${JSON.stringify(op.text)}, found ${found(open)}`);
        p++;
        const values: string[] = [];
        // apimachinery parseValues: "()" is the set {""}, and an empty item between commas is ""
        for (;;) {
          const v = toks[p]!;
          if (v.kind === 'id') {
            values.push(value(v, v.text));
            p++;
          } else values.push('');
          const sep = toks[p]!;
          p++;
          if (sep.kind === 'op' && sep.text === ',') continue;
          if (sep.kind === 'op' && sep.text === ')') break;
          fail(sep, `expected "," or ")" in the value list, found ${found(sep)}`);
        }
        out.push({ key: k, operator: op.text === 'in' ? 'In' : 'NotIn', values: [...new Set(values)] });
      } else fail(op, `expected one of =, ==, !=, in, notin, >, < or "," after the key ${JSON.stringify(k)}, found ${found(op)}`);
    }
    const sep = toks[p]!;
    if (sep.kind === 'end') return out;
    if (sep.kind !== 'op' || sep.text !== ',') fail(sep, `expected "," between requirements, found ${found(sep)}`);
    p++;
  }
}
