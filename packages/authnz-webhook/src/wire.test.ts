import fc from 'fast-check';
import {
  BODY_FIELD_NAMES,
  BadRequest,
  MAX_JSON_DEPTH,
  fewOpeningBrackets,
  jsonDepth,
  parseBody,
  parseSar,
  parseTokenReview,
  sarAnswerText,
} from './wire';

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

describe('review bodies and Object.prototype', () => {
  const sar = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user: 'oidc:a',
      uid: '1',
      groups: ['ReadOnly'],
      extra: { scopes: ['x'] },
      resourceAttributes: {
        namespace: 'a',
        verb: 'get',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: '',
        name: 'p',
      },
    },
  };
  const sarV1beta1 = {
    apiVersion: 'authorization.k8s.io/v1beta1',
    kind: 'SubjectAccessReview',
    spec: { user: 'oidc:a', group: ['ReadOnly'], nonResourceAttributes: { path: '/metrics', verb: 'get' } },
  };
  const tr = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 't', audiences: ['k'] } };

  /** `o` with every object below it (not arrays, not `spec.extra`'s values) behind a Proxy that records the names read. */
  function recording(o: Record<string, unknown>, read: Set<string>, path = ''): Record<string, unknown> {
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o))
      copy[k] =
        v !== null && typeof v === 'object' && !Array.isArray(v) && path !== 'spec.extra'
          ? recording(v as Record<string, unknown>, read, path ? `${path}.${k}` : k)
          : v;
    if (path === 'spec.extra') return copy;
    return new Proxy(copy, {
      get(t, k, r) {
        if (typeof k === 'string') read.add(k);
        return Reflect.get(t, k, r);
      },
    });
  }

  it('reads no field name outside BODY_FIELD_NAMES, which the prototype check covers', () => {
    const read = new Set<string>();
    parseSar(recording(sar, read));
    parseSar(recording(sarV1beta1, read));
    parseTokenReview(recording(tr, read));
    expect([...read].filter((k) => !(BODY_FIELD_NAMES as readonly string[]).includes(k))).toEqual([]);
    expect([...read].sort()).toEqual([...BODY_FIELD_NAMES].sort());
  });

  it.each(BODY_FIELD_NAMES.map((n) => [n]))(
    'refuses to read bodies while Object.prototype carries %s, naming it',
    (name) => {
      Object.defineProperty(Object.prototype, name, { value: 'polluted', configurable: true, writable: true });
      try {
        for (const parse of [() => parseSar(sar), () => parseTokenReview(tr)]) {
          let err: unknown;
          try {
            parse();
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(Error);
          expect(err).not.toBeInstanceOf(BadRequest);
          expect((err as Error).message).toContain(`Object.prototype carries "${name}"`);
        }
      } finally {
        delete (Object.prototype as Record<string, unknown>)[name];
      }
      expect(parseSar(sar).input.user).toBe('oidc:a');
    },
  );

  it('takes a field named __proto__ in the JSON as an own field, never as the prototype', () => {
    const body = parseBody(
      '{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"__proto__":{"user":"admin"},"resourceAttributes":{"verb":"get"}}}',
    );
    expect(parseSar(body).input.user).toBe('');
  });
});

describe('sarAnswerText', () => {
  /** The answer as JSON.stringify writes the object the server answered before. */
  const viaObject = (apiVersion: string, decision: 'allow' | 'deny' | 'no-opinion', reason: string) =>
    JSON.stringify({
      apiVersion,
      kind: 'SubjectAccessReview',
      status:
        decision === 'allow'
          ? { allowed: true, reason }
          : decision === 'deny'
            ? { allowed: false, denied: true, reason }
            : { allowed: false, reason },
    });

  it.each([
    [
      'authorization.k8s.io/v1',
      'allow',
      'allow rule=administrator role=Administrator user=oidc:a: Administrators may do anything',
    ],
    [
      'authorization.k8s.io/v1beta1',
      'deny',
      'deny rule=protected-secrets role=PowerUser user=oidc:"b": secrets in protected namespace "kube-system"',
    ],
    [
      'authorization.k8s.io/v1',
      'no-opinion',
      'no-opinion rule=no-matching-rule role=none user=\\x\u0000\u2028µ😀: RBAC decides',
    ],
  ] as const)('%s %s is what JSON.stringify writes for the answer object', (v, d, reason) => {
    const text = sarAnswerText(v, { decision: d, reason });
    expect(text).toBe(viaObject(v, d, reason));
    expect(JSON.parse(text).status.reason).toBe(reason);
  });

  it('writes what JSON.stringify writes for any version string and reason', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.constantFrom('allow', 'deny', 'no-opinion'),
        fc.string({ unit: 'binary' }),
        (v, d, reason) => sarAnswerText(v, { decision: d, reason }) === viaObject(v, d, reason),
      ),
    );
  });
});
