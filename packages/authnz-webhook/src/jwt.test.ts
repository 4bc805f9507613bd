import { HEADER_CACHE_MAX_CHARS, decodeHeader, routeToken } from './jwt';
import { TokenRejected } from './errors';

const b64 = (o: unknown) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
const header = b64({ alg: 'RS256', kid: 'k1' });
const payload = b64({ iss: 'https://idp.example', sub: 'u1' });

/** routeToken's outcome: the kind, the decoded parts of a JWS, or the rejection. */
function route(token: string): unknown {
  try {
    const r = routeToken(token);
    return r.kind === 'jws' ? { kind: r.kind, header: { ...r.header }, payload: r.payload } : r;
  } catch (e) {
    expect(e).toBeInstanceOf(TokenRejected);
    return `rejected: ${(e as TokenRejected).error}`;
  }
}

describe('routeToken', () => {
  it.each<[string, string, unknown]>([
    ['empty', '', 'rejected: malformed token'],
    ['one segment', 'opaque-token', { kind: 'opaque' }],
    ['two segments', 'a.b', { kind: 'opaque' }],
    [
      'three segments',
      `${header}.${payload}.c2ln`,
      { kind: 'jws', header: { alg: 'RS256', kid: 'k1' }, payload: { iss: 'https://idp.example', sub: 'u1' } },
    ],
    [
      'three segments, empty signature (alg none)',
      `${header}.${payload}.`,
      { kind: 'jws', header: { alg: 'RS256', kid: 'k1' }, payload: { iss: 'https://idp.example', sub: 'u1' } },
    ],
    ['four segments', 'a.b.c.d', { kind: 'opaque' }],
    ['five segments', 'a.b.c.d.e', { kind: 'jwe' }],
    ['five segments, empty ones', '....', { kind: 'jwe' }],
    ['six segments', 'a.b.c.d.e.f', { kind: 'opaque' }],
    ['header not base64url', `${header}!.${payload}.c2ln`, 'rejected: malformed token'],
    ['payload not base64url', `${header}.${payload}*.c2ln`, 'rejected: malformed token'],
    ['signature not base64url', `${header}.${payload}.c2l+`, 'rejected: malformed token'],
    ['header not JSON', `${b64('{alg')}.${payload}.c2ln`, 'rejected: malformed token'],
    ['payload an array', `${header}.${b64([1])}.c2ln`, 'rejected: malformed token'],
    ['header null', `${b64('null')}.${payload}.c2ln`, 'rejected: malformed token'],
    ['segment length 1 mod 4', `${header}.${payload}A.c2ln`, 'rejected: malformed token'],
    [
      'UTF-8 in the payload',
      `${header}.${b64({ sub: 'Jürgen ✓' })}.c2ln`,
      { kind: 'jws', header: { alg: 'RS256', kid: 'k1' }, payload: { sub: 'Jürgen ✓' } },
    ],
    [
      'a payload longer than the decode buffer',
      `${header}.${b64({ sub: 'x'.repeat(10_000) })}.c2ln`,
      { kind: 'jws', header: { alg: 'RS256', kid: 'k1' }, payload: { sub: 'x'.repeat(10_000) } },
    ],
  ])('%s', (_name, token, expected) => {
    expect(route(token)).toEqual(expected);
  });
});

describe('decodeHeader', () => {
  it('returns the same frozen object for the same segment', () => {
    const a = decodeHeader(b64({ alg: 'ES256', kid: 'same' }));
    expect(decodeHeader(b64({ alg: 'ES256', kid: 'same' }))).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(a).toEqual({ alg: 'ES256', kid: 'same' });
  });

  it.each<[string, string]>([
    ['not base64url', 'e30!'],
    ['not JSON', b64('{')],
    ['not an object', b64('"x"')],
  ])('rejects a header that is %s, every time', (_name, segment) => {
    for (let i = 0; i < 2; i++) expect(() => decodeHeader(segment)).toThrow(TokenRejected);
  });

  it('decodes headers longer than the cached size every time, and stays correct past the cache size', () => {
    const long = b64({ alg: 'RS256', kid: 'k'.repeat(HEADER_CACHE_MAX_CHARS) });
    expect(decodeHeader(long)).not.toBe(decodeHeader(long));
    for (let i = 0; i < 600; i++) expect(decodeHeader(b64({ alg: 'RS256', kid: `k${i}` })).kid).toBe(`k${i}`);
  });
});
