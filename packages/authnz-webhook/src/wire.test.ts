import fc from 'fast-check';
import { BadRequest, MAX_JSON_DEPTH, fewOpeningBrackets, jsonDepth, parseBody } from './wire';

/** The error message parseBody gives for `text`, or 'ok'. */
function outcome(text: string): string {
  try {
    parseBody(text);
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(BadRequest);
    return (e as Error).message;
  }
}

const nested = (n: number) => `{"a":${'['.repeat(n - 1)}${']'.repeat(n - 1)}}`;

describe('fewOpeningBrackets', () => {
  it.each([
    ['no brackets', '"x"', 32, true],
    [
      'a TokenReview',
      '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"a.b.c"}}',
      32,
      true,
    ],
    ['exactly the limit', '['.repeat(32), 32, true],
    ['one above the limit', '['.repeat(33), 32, false],
    ['objects and arrays both count', `${'{'.repeat(2)}${'['.repeat(2)}`, 3, false],
    ['brackets inside strings count', `"${'{'.repeat(40)}"`, 32, false],
  ])('%s', (_name, text, limit, expected) => {
    expect(fewOpeningBrackets(text, limit)).toBe(expected);
  });
});

describe('parseBody nesting limit', () => {
  it.each([
    ['32 levels', nested(32), 'ok'],
    ['33 levels', nested(33), `body: JSON nesting deeper than ${MAX_JSON_DEPTH} levels`],
    ['33 levels and not valid JSON', `${nested(33)},`, `body: JSON nesting deeper than ${MAX_JSON_DEPTH} levels`],
    ['many brackets inside a string', `{"a":"${'['.repeat(100)}"}`, 'ok'],
    [
      'many sibling objects, shallow',
      `[${Array.from({ length: 100 }, () => '{}').join(',')}]`,
      'body: expected a JSON object, got array',
    ],
    ['not JSON', '{"a":', 'body: not valid JSON'],
  ])('%s', (_name, text, expected) => {
    expect(outcome(text).split(' (')[0]).toBe(expected);
  });

  it('answers as the full scan does: depth first, then JSON validity, then the object check', () => {
    const reference = (text: string): string => {
      if (jsonDepth(text) > MAX_JSON_DEPTH) return `body: JSON nesting deeper than ${MAX_JSON_DEPTH} levels`;
      try {
        const v = JSON.parse(text);
        return v !== null && typeof v === 'object' && !Array.isArray(v) ? 'ok' : 'not an object';
      } catch {
        return 'invalid';
      }
    };
    const normalize = (m: string) =>
      m.startsWith('body: not valid JSON')
        ? 'invalid'
        : m.startsWith('body: expected a JSON object')
          ? 'not an object'
          : m;
    const deep = fc.integer({ min: 1, max: 40 }).map((n) => ({ a: JSON.parse('['.repeat(n) + ']'.repeat(n)) }));
    fc.assert(
      fc.property(
        fc
          .oneof(fc.jsonValue({ maxDepth: 40 }), deep)
          .chain((v) => fc.tuple(fc.constant(JSON.stringify(v) ?? 'null'), fc.constantFrom('', ',', ']', '"'))),
        ([json, suffix]) => {
          const text = json + suffix;
          expect(normalize(outcome(text))).toBe(reference(text));
        },
      ),
      { numRuns: 500 },
    );
  });
});
