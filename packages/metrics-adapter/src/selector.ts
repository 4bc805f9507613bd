/**
 * Label selectors in their string form, as the HPA controller sends them in `labelSelector` and
 * `metricLabelSelector` (apimachinery `labels.Parse`: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`,
 * `k`, `!k`, comma-joined), and their semantic equality (docs/metrics-adapter.md#ma-selectors).
 */
import { type LabelRequirement, type LabelSelector, type Labels, labelRequirements, requirementHolds } from '@kubeaws/runtime';

/** Thrown by {@link parseSelector}; the message names the position and what was expected. */
export class SelectorError extends Error {}

const NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(k: string): void {
  const name = k.includes('/') ? k.slice(k.indexOf('/') + 1) : k;
  const prefix = k.includes('/') ? k.slice(0, k.indexOf('/')) : '';
  if (!NAME.test(k) || name.length > 63 || prefix.length > 253)
    throw new SelectorError(`invalid label key "${k}": expected [prefix/]name, name at most 63 characters of [A-Za-z0-9-_.]`);
}

function checkValue(v: string): void {
  if (v.length > 63 || !VALUE.test(v))
    throw new SelectorError(`invalid label value "${v}": expected at most 63 characters of [A-Za-z0-9-_.], alphanumeric at both ends`);
}

/**
 * Parses a selector string into requirements (`=`/`==` become `In`, `!=` becomes `NotIn`).
 * The empty string is the empty selector (everything).
 * @throws SelectorError for a syntax error or an invalid key or value.
 */
export function parseSelector(s: string): LabelRequirement[] {
  const out: LabelRequirement[] = [];
  let i = 0;
  const ws = () => {
    while (i < s.length && s[i] === ' ') i++;
  };
  const word = (): string => {
    ws();
    const start = i;
    while (i < s.length && !' ,()=!'.includes(s[i]!)) i++;
    return s.slice(start, i);
  };
  ws();
  if (i === s.length) return out;
  for (;;) {
    ws();
    if (s[i] === '!') {
      i++;
      const key = word();
      checkKey(key);
      out.push({ key, operator: 'DoesNotExist', values: [] });
    } else {
      const key = word();
      if (!key) throw new SelectorError(`expected a label key at position ${i}`);
      checkKey(key);
      ws();
      if (i >= s.length || s[i] === ',') out.push({ key, operator: 'Exists', values: [] });
      else if (s.startsWith('==', i) || s[i] === '=' || s.startsWith('!=', i)) {
        const op = s.startsWith('!=', i) ? 'NotIn' : 'In';
        i += s.startsWith('==', i) || s.startsWith('!=', i) ? 2 : 1;
        const v = word();
        checkValue(v);
        out.push({ key, operator: op, values: [v] });
      } else {
        const opWord = word();
        if (opWord !== 'in' && opWord !== 'notin')
          throw new SelectorError(`expected one of =, ==, !=, in, notin after "${key}" at position ${i}`);
        ws();
        if (s[i] !== '(') throw new SelectorError(`expected "(" at position ${i}`);
        i++;
        const values: string[] = [];
        for (;;) {
          const v = word();
          checkValue(v);
          values.push(v);
          ws();
          if (s[i] === ',') {
            i++;
            continue;
          }
          if (s[i] === ')') {
            i++;
            break;
          }
          throw new SelectorError(`expected "," or ")" at position ${i}`);
        }
        out.push({ key, operator: opWord === 'in' ? 'In' : 'NotIn', values });
      }
    }
    ws();
    if (i >= s.length) return out;
    if (s[i] !== ',') throw new SelectorError(`expected "," at position ${i}`);
    i++;
  }
}

/**
 * A canonical string of a requirement set: equal for semantically equal selectors whatever the order of
 * requirements or `in` values and `=` versus `==` (duplicates removed).
 */
export function canonicalRequirements(reqs: readonly LabelRequirement[]): string {
  const parts = reqs.map((r) => {
    const values = [...new Set(r.values)].sort();
    switch (r.operator) {
      case 'Exists':
        return r.key;
      case 'DoesNotExist':
        return `!${r.key}`;
      case 'In':
        return values.length === 1 ? `${r.key}=${values[0]}` : `${r.key} in (${values.join(',')})`;
      default:
        return values.length === 1 ? `${r.key}!=${values[0]}` : `${r.key} notin (${values.join(',')})`;
    }
  });
  return [...new Set(parts)].sort().join(',');
}

/** The canonical string of a `metav1.LabelSelector` (null/undefined = the empty selector). */
export function canonicalSelector(sel: LabelSelector | null | undefined): string {
  return canonicalRequirements(sel ? labelRequirements(sel) : []);
}

/** Whether every requirement holds on `labels`. */
export function matchesRequirements(reqs: readonly LabelRequirement[], labels: Labels): boolean {
  return reqs.every((r) => requirementHolds(r, labels));
}
