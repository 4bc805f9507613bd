/**
 * A small JSON Schema (draft-07) validator for the keywords the configuration schema uses: `type`
 * (incl. `integer`), `properties`, `additionalProperties` (boolean or schema), `required`, `items`,
 * `enum`, `const`, `pattern`, `minLength`, `minItems`, `minimum`, `maximum`. It reports every error (like
 * Ajv's `allErrors`), each with the JSON Pointer of the value, the keyword, its parameters and the
 * schema that failed. Iterative over the document depth of a configuration file; no code generation.
 */

/** One validation error, shaped like an Ajv error object. */
export interface SchemaError {
  keyword: string;
  /** JSON Pointer of the failing value, e.g. `/authentication/issuers/1/algorithms/0`. */
  instancePath: string;
  params: Record<string, unknown>;
  parentSchema: Record<string, unknown>;
  message: string;
}

type Schema = Record<string, any>;

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function typeOk(type: string, v: unknown): boolean {
  switch (type) {
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    default:
      return jsonType(v) === type;
  }
}

function esc(k: string): string {
  return k.replace(/~/g, '~0').replace(/\//g, '~1');
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Validates `value` against `schema`; returns every error (empty when valid). */
export function validateJsonSchema(schema: Schema, value: unknown): SchemaError[] {
  const errors: SchemaError[] = [];
  const stack: Array<{ s: Schema; v: unknown; p: string }> = [{ s: schema, v: value, p: '' }];
  while (stack.length) {
    const { s, v, p } = stack.pop()!;
    const err = (keyword: string, params: Record<string, unknown>, message: string) =>
      errors.push({ keyword, instancePath: p, params, parentSchema: s, message });
    if ('const' in s && !deepEqual(s.const, v)) {
      err('const', { allowedValue: s.const }, 'must be equal to constant');
      continue;
    }
    if (Array.isArray(s.enum) && !s.enum.some((x: unknown) => deepEqual(x, v))) {
      err('enum', { allowedValues: s.enum }, 'must be equal to one of the allowed values');
      continue;
    }
    if (typeof s.type === 'string' && !typeOk(s.type, v)) {
      err('type', { type: s.type }, `must be ${s.type}`);
      continue;
    }
    if (typeof v === 'string') {
      if (typeof s.minLength === 'number' && [...v].length < s.minLength)
        err('minLength', { limit: s.minLength }, `must NOT have fewer than ${s.minLength} characters`);
      if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v))
        err('pattern', { pattern: s.pattern }, `must match pattern "${s.pattern}"`);
    }
    if (typeof v === 'number') {
      if (typeof s.minimum === 'number' && v < s.minimum)
        err('minimum', { limit: s.minimum }, `must be >= ${s.minimum}`);
      if (typeof s.maximum === 'number' && v > s.maximum)
        err('maximum', { limit: s.maximum }, `must be <= ${s.maximum}`);
    }
    if (Array.isArray(v)) {
      if (typeof s.minItems === 'number' && v.length < s.minItems)
        err('minItems', { limit: s.minItems }, `must NOT have fewer than ${s.minItems} items`);
      if (s.items && typeof s.items === 'object')
        for (let i = v.length - 1; i >= 0; i--) stack.push({ s: s.items, v: v[i], p: `${p}/${i}` });
    }
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      for (const r of (s.required as string[] | undefined) ?? [])
        if (!Object.prototype.hasOwnProperty.call(o, r))
          err('required', { missingProperty: r }, `must have required property '${r}'`);
      const props = (s.properties as Record<string, Schema> | undefined) ?? {};
      const keys = Object.keys(o);
      for (let i = keys.length - 1; i >= 0; i--) {
        const k = keys[i]!;
        if (Object.prototype.hasOwnProperty.call(props, k)) stack.push({ s: props[k]!, v: o[k], p: `${p}/${esc(k)}` });
        else if (s.additionalProperties === false)
          err('additionalProperties', { additionalProperty: k }, 'must NOT have additional properties');
        else if (s.additionalProperties && typeof s.additionalProperties === 'object')
          stack.push({ s: s.additionalProperties, v: o[k], p: `${p}/${esc(k)}` });
      }
    }
  }
  return errors;
}
