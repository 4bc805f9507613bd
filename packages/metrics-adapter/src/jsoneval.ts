/**
 * `json-key` (RFC 9535 JSONPath via jsonpath-rfc9535, which has no script expressions) and `json-eval`, a
 * recursive-descent parser for a small arithmetic grammar over JSONPaths (docs/metrics-adapter.md#ma-json-eval).
 * No dynamic code: the AST is a closed set of node kinds evaluated by a switch.
 */
import { query } from 'jsonpath-rfc9535';

/** A node of a parsed `json-eval` expression. */
export type Expr =
  | { kind: 'num'; value: number }
  | { kind: 'path'; path: string }
  | { kind: 'neg'; arg: Expr }
  | { kind: 'bin'; op: '+' | '-' | '*' | '/' | '%'; left: Expr; right: Expr }
  | { kind: 'call'; fn: Func; args: Expr[] };
/** Functions of `json-eval`. */
export type Func = 'ceil' | 'floor' | 'round' | 'abs' | 'min' | 'max' | 'avg' | 'sum';
const FUNCS: readonly Func[] = ['ceil', 'floor', 'round', 'abs', 'min', 'max', 'avg', 'sum'];
const MULTI: readonly Func[] = ['min', 'max', 'avg', 'sum'];
const MAX_LEN = 1024;
const MAX_DEPTH = 32;

/** A JSONPath syntax error message, or undefined when `path` is a valid RFC 9535 query. */
export function validateJsonPath(path: string): string | undefined {
  try {
    query({}, path);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Parses a `json-eval` expression.
 * @throws Error naming the position for a syntax error, a path that is not valid JSONPath, an unknown
 * function, more than 1 KiB or more than 32 levels of nesting.
 */
export function parseJsonEval(src: string): Expr {
  if (src.length > MAX_LEN) throw new Error(`expression is ${src.length} characters; at most ${MAX_LEN}`);
  let i = 0;
  const ws = () => {
    while (i < src.length && /\s/.test(src[i]!)) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`${what} at position ${i}`);
  };
  const expr = (depth: number): Expr => {
    if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`);
    let left = term(depth);
    for (;;) {
      ws();
      const c = src[i];
      if (c !== '+' && c !== '-') return left;
      i++;
      left = { kind: 'bin', op: c, left, right: term(depth) };
    }
  };
  const term = (depth: number): Expr => {
    let left = unary(depth);
    for (;;) {
      ws();
      const c = src[i];
      if (c !== '*' && c !== '/' && c !== '%') return left;
      i++;
      left = { kind: 'bin', op: c, left, right: unary(depth) };
    }
  };
  const unary = (depth: number): Expr => {
    ws();
    if (src[i] === '-') {
      i++;
      if (depth + 1 > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`);
      return { kind: 'neg', arg: unary(depth + 1) };
    }
    return primary(depth);
  };
  const primary = (depth: number): Expr => {
    ws();
    const c = src[i];
    if (c === undefined) return fail('unexpected end of expression');
    if (c === '(') {
      i++;
      const e = expr(depth + 1);
      ws();
      if (src[i] !== ')') fail('expected ")"');
      i++;
      return e;
    }
    if (/[0-9.]/.test(c)) {
      const m = /^(\d+(\.\d+)?|\.\d+)([eE][+-]?\d+)?/.exec(src.slice(i));
      if (!m) return fail('invalid number');
      i += m[0].length;
      return { kind: 'num', value: Number(m[0]) };
    }
    if (c === '$') {
      const start = i;
      let brackets = 0;
      let quote: string | undefined;
      while (i < src.length) {
        const ch = src[i]!;
        if (quote) {
          if (ch === '\\') i++;
          else if (ch === quote) quote = undefined;
        } else if (ch === "'" || ch === '"') quote = ch;
        else if (ch === '[') brackets++;
        else if (ch === ']') brackets--;
        else if (brackets === 0 && (/\s/.test(ch) || '+-*/%(),'.includes(ch))) break;
        i++;
      }
      if (brackets !== 0 || quote) fail('unbalanced brackets or quotes in path');
      const path = src.slice(start, i);
      const e = validateJsonPath(path);
      if (e) fail(`invalid JSONPath "${path}" (${e})`);
      return { kind: 'path', path };
    }
    const m = /^[a-z]+/.exec(src.slice(i));
    if (m) {
      const fn = m[0] as Func;
      if (!FUNCS.includes(fn)) fail(`unknown function "${m[0]}"; valid: ${FUNCS.join(', ')}`);
      i += m[0].length;
      ws();
      if (src[i] !== '(') fail(`expected "(" after ${fn}`);
      i++;
      const args = [expr(depth + 1)];
      for (;;) {
        ws();
        if (src[i] === ',') {
          i++;
          args.push(expr(depth + 1));
          continue;
        }
        if (src[i] === ')') {
          i++;
          break;
        }
        fail('expected "," or ")"');
      }
      if (!MULTI.includes(fn) && args.length !== 1) fail(`${fn} takes exactly one argument`);
      return { kind: 'call', fn, args };
    }
    return fail(`unexpected "${c}"`);
  };
  const e = expr(0);
  ws();
  if (i < src.length) fail(`unexpected "${src[i]}"`);
  return e;
}

/** Every number a JSONPath yields on `doc` (arrays of numbers are flattened one level). */
export function numbersAt(doc: unknown, path: string): number[] {
  const out: number[] = [];
  for (const v of query(doc as never, path)) {
    if (typeof v === 'number') out.push(v);
    else if (Array.isArray(v)) for (const x of v) if (typeof x === 'number') out.push(x);
  }
  return out;
}

/**
 * Evaluates an expression on a JSON document.
 * @throws Error when a path does not yield exactly one number (outside min/max/avg/sum), on division by zero,
 * or when the result is not finite.
 */
export function evalJsonEval(e: Expr, doc: unknown): number {
  const one = (x: Expr): number => {
    switch (x.kind) {
      case 'num':
        return x.value;
      case 'path': {
        const ns = numbersAt(doc, x.path);
        if (ns.length !== 1) throw new Error(`path ${x.path} yields ${ns.length} numbers; expected exactly one`);
        return ns[0]!;
      }
      case 'neg':
        return -one(x.arg);
      case 'bin': {
        const l = one(x.left);
        const r = one(x.right);
        if ((x.op === '/' || x.op === '%') && r === 0) throw new Error('division by zero');
        return x.op === '+' ? l + r : x.op === '-' ? l - r : x.op === '*' ? l * r : x.op === '/' ? l / r : l % r;
      }
      case 'call': {
        if (!MULTI.includes(x.fn)) {
          const v = one(x.args[0]!);
          return x.fn === 'ceil' ? Math.ceil(v) : x.fn === 'floor' ? Math.floor(v) : x.fn === 'round' ? Math.round(v) : Math.abs(v);
        }
        const vals = x.args.flatMap((a) => (a.kind === 'path' ? numbersAt(doc, a.path) : [one(a)]));
        if (vals.length === 0) throw new Error(`${x.fn} of no numbers`);
        return aggregate(x.fn as 'min' | 'max' | 'avg' | 'sum', vals);
      }
    }
  };
  const v = one(e);
  if (!Number.isFinite(v)) throw new Error('result is not a finite number');
  return v;
}

/** Aggregates numbers (`avg`, `sum`, `max`, `min`); `values` must not be empty. */
export function aggregate(fn: 'avg' | 'sum' | 'max' | 'min', values: readonly number[]): number {
  switch (fn) {
    case 'sum':
      return values.reduce((a, b) => a + b, 0);
    case 'avg':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'max':
      return Math.max(...values);
    case 'min':
      return Math.min(...values);
  }
}
