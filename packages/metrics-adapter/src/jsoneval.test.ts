import * as fs from 'node:fs';
import * as path from 'node:path';
import { aggregate, evalJsonEval, numbersAt, parseJsonEval } from './jsoneval';

describe('json-eval (docs/metrics-adapter.md#ma-json-eval)', () => {
  const doc = { 'active processes': 3, 'total processes': 8, a: { b: [1, 2, 3] }, q: 4, z: 0 };
  it.each([
    ["ceil($['active processes'] / $['total processes'] * 100)", 38],
    ['$.q * 2 + 1', 9],
    ['-$.q % 3', -1],
    ['max($.a.b[*])', 3],
    ['sum($.a.b[*], $.q)', 10],
    ['avg($.a.b)', 2],
    ['round(2.5) + floor(1.9) + abs(-1)', 5],
    ['(1 + 2) * 3', 9],
  ])('%s = %p', (src, want) => expect(evalJsonEval(parseJsonEval(src), doc)).toBe(want));

  it.each([
    ['eval($.a)', /unknown function/],
    ['$.q +', /end of expression/],
    ['$.a[0', /unbalanced/],
    ['$.q $.q', /unexpected/],
    ['ceil(1, 2)', /exactly one/],
    ['x'.repeat(1025), /at most 1024/],
    ['('.repeat(40) + '1' + ')'.repeat(40), /nesting/],
  ])('refuses %s', (src, re) => expect(() => parseJsonEval(src)).toThrow(re));

  it.each([
    ['$.q / $.z', /division by zero/],
    ['$.a.b[*] + 1', /yields 3 numbers/],
    ['$.missing', /yields 0 numbers/],
  ])('fails evaluating %s', (src, re) => expect(() => evalJsonEval(parseJsonEval(src), doc)).toThrow(re));

  it('numbersAt and aggregate', () => {
    expect(numbersAt(doc, '$.a.b')).toEqual([1, 2, 3]);
    expect(numbersAt(doc, '$..b[*]')).toEqual([1, 2, 3]);
    expect(aggregate('avg', [1, 2, 3])).toBe(2);
    expect(aggregate('min', [4, 2])).toBe(2);
  });

  it('imports no JSONPath library with script expressions and no dynamic code', () => {
    const dir = __dirname;
    const files = fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    for (const f of files) {
      const src = fs.readFileSync(path.join(dir, f), 'utf8');
      expect(src).not.toMatch(/from '(jsonpath|jsonpath-plus|expr-eval)'/);
      expect(src).not.toMatch(/\beval\(|new Function\(|from 'node:vm'/);
    }
  });
});
