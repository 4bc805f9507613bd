/**
 * JWT handling (docs/authnz-webhook.md#authnz-token-validation, RFC 7519, RFC 7515): untrusted routing decode,
 * signature and registered-claim verification with jose's `jwtVerify`, and the claim type checks jose does not
 * make. Every rejection is a {@link TokenRejected} carrying the exact error string of
 * docs/authnz-webhook.md#authnz-rejections.
 */
import { type JWTPayload, type JWTVerifyOptions, errors as joseErrors, jwtVerify } from 'jose';
import type { IssuerConfig } from './config.js';
import { TokenRejected, Unavailable } from './errors.js';
import { KeyFetchError, type KeySetFn, type KeyStore } from './keystore.js';

/** Claims every token must carry (docs/authnz-webhook.md#authnz-token-time). */
const REQUIRED_CLAIMS = ['exp', 'iat'];

/** Result of the untrusted decode of a token (docs/authnz-webhook.md#authnz-token-routing). */
export type RoutedToken =
  | { kind: 'jws'; header: Readonly<Record<string, unknown>>; payload: Record<string, unknown> }
  | { kind: 'jwe' }
  | { kind: 'opaque' };

const B64URL = /^[A-Za-z0-9_-]+$/;

/** Reused for decoding segments of at most its size (one thread, and nothing awaits while it is in use). */
const scratch = Buffer.allocUnsafeSlow(4096);

/** The UTF-8 text of a base64url segment, decoded without allocating a buffer for the usual sizes. */
function base64urlText(s: string): string {
  if (s.length > (scratch.length / 3) * 4) return Buffer.from(s, 'base64url').toString('utf8');
  const n = scratch.write(s, 0, 'base64url');
  return scratch.toString('utf8', 0, n);
}

function decodeSegment(s: string): Record<string, unknown> {
  if (!B64URL.test(s) || s.length % 4 === 1) throw new TokenRejected('malformed token');
  let v: unknown;
  try {
    v = JSON.parse(base64urlText(s));
  } catch {
    throw new TokenRejected('malformed token');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TokenRejected('malformed token');
  return v as Record<string, unknown>;
}

/** Decoded headers by their base64url text (see {@link decodeHeader}). */
const headerCache = new Map<string, Readonly<Record<string, unknown>>>();
/** Entries of the header cache; it is emptied when full. */
export const HEADER_CACHE_ENTRIES = 256;
/** Longest header segment (characters) that is cached. */
export const HEADER_CACHE_MAX_CHARS = 1024;

/**
 * Decodes a JWS header segment like the payload ({@link routeToken}'s rules), remembering the result by its text: the
 * tokens of an issuer carry a handful of distinct headers (one per signing key), so most requests find theirs. The
 * result is frozen (shared between requests).
 * @throws TokenRejected `malformed token` (not remembered).
 */
export function decodeHeader(segment: string): Readonly<Record<string, unknown>> {
  const known = headerCache.get(segment);
  if (known) return known;
  const header = Object.freeze(decodeSegment(segment));
  if (segment.length <= HEADER_CACHE_MAX_CHARS) {
    if (headerCache.size >= HEADER_CACHE_ENTRIES) headerCache.clear();
    headerCache.set(segment, header);
  }
  return header;
}

/**
 * Decodes a token without trust to route it (docs/authnz-webhook.md#authnz-token-routing): 3 segments = compact JWS
 * (header and payload must be base64url JSON objects), 5 = JWE, anything else = opaque. Signatures are not checked
 * here. The header is shared between requests ({@link decodeHeader}) and frozen.
 * @throws TokenRejected `malformed token` for an empty token or an undecodable JWS.
 */
export function routeToken(token: string): RoutedToken {
  if (token === '') throw new TokenRejected('malformed token');
  const d1 = token.indexOf('.');
  const d2 = d1 < 0 ? -1 : token.indexOf('.', d1 + 1);
  if (d2 < 0) return { kind: 'opaque' };
  const d3 = token.indexOf('.', d2 + 1);
  if (d3 >= 0) {
    // 4 segments: opaque; 5: JWE; more: opaque
    const d4 = token.indexOf('.', d3 + 1);
    return d4 >= 0 && token.indexOf('.', d4 + 1) < 0 ? { kind: 'jwe' } : { kind: 'opaque' };
  }
  const header = decodeHeader(token.slice(0, d1));
  const payload = decodeSegment(token.slice(d1 + 1, d2));
  const signature = token.slice(d2 + 1);
  // An unsigned token (`alg: none`) has an empty signature: decided by the algorithm check.
  if (signature !== '' && !B64URL.test(signature)) throw new TokenRejected('malformed token');
  return { kind: 'jws', header, payload };
}

/** The claims of a verified token that identity mapping produced (before roles). */
export interface VerifiedClaims {
  username: string;
  uid: string;
  /** Prefixed IdP groups (unsorted, may hold duplicates). */
  groups: string[];
  exp: number;
  sub?: string;
  jti?: string;
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The claim checks jose does not make (docs/authnz-webhook.md#authnz-token-audience for `azp`, #authnz-token-claims):
 * username, `email_verified`, groups, uid.
 * @throws TokenRejected with the error string of docs/authnz-webhook.md#authnz-rejections.
 */
export function mapClaims(payload: JWTPayload, cfg: IssuerConfig): VerifiedClaims {
  const aud = payload.aud;
  if (Array.isArray(aud) && aud.length > 1 && payload.azp !== undefined) {
    if (typeof payload.azp !== 'string' || !cfg.audiences.includes(payload.azp))
      throw new TokenRejected('audience not accepted');
  }
  const uclaim = cfg.claims.username.claim;
  const raw = payload[uclaim];
  if (typeof raw !== 'string' || raw === '' || raw.length > 256 || CONTROL.test(raw))
    throw new TokenRejected('invalid claim: username');
  if (uclaim === 'email' && payload.email_verified !== true) throw new TokenRejected('invalid claim: username');
  const username = cfg.claims.username.prefix + raw;
  if (username.startsWith('system:')) throw new TokenRejected('reserved username');
  const graw = payload[cfg.claims.groups.claim];
  let groups: string[] = [];
  if (graw !== undefined) {
    if (!Array.isArray(graw) || graw.length > 256) throw new TokenRejected('invalid claim: groups');
    for (const g of graw) {
      if (typeof g !== 'string' || g.length < 1 || g.length > 256 || CONTROL.test(g))
        throw new TokenRejected('invalid claim: groups');
    }
    groups = graw.map((g: string) => cfg.claims.groups.prefix + g);
  }
  const uraw = payload[cfg.claims.uid.claim];
  if (typeof uraw !== 'string' || uraw === '' || uraw.length > 256 || CONTROL.test(uraw))
    throw new TokenRejected('invalid claim: uid');
  return {
    username,
    uid: `${cfg.name}/${uraw}`,
    groups,
    exp: payload.exp as number,
    sub: typeof payload.sub === 'string' ? payload.sub : undefined,
    jti: typeof payload.jti === 'string' ? payload.jti : undefined,
  };
}

/**
 * Maps a jose error to a rejection of docs/authnz-webhook.md#authnz-rejections; returns undefined for errors that are
 * not about the token.
 */
export function mapJoseError(e: unknown): TokenRejected | undefined {
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return new TokenRejected('signing algorithm not allowed');
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return new TokenRejected('token signature invalid');
  if (e instanceof joseErrors.JWTExpired) {
    return e.claim === 'iat'
      ? new TokenRejected('token too old or issued in the future')
      : new TokenRejected('token expired');
  }
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = e.claim;
    if (e.reason === 'missing') {
      if (claim === 'aud') return new TokenRejected('audience not accepted');
      if (claim === 'iss') return new TokenRejected('issuer not trusted');
      return new TokenRejected(`required claim missing: ${claim}`);
    }
    if (e.reason === 'invalid') return new TokenRejected(`invalid claim: ${claim}`);
    switch (claim) {
      case 'nbf':
        return new TokenRejected('token not yet valid');
      case 'iat':
        return new TokenRejected('token too old or issued in the future');
      case 'aud':
        return new TokenRejected('audience not accepted');
      case 'iss':
        return new TokenRejected('issuer not trusted');
      case 'typ':
        return new TokenRejected('token header not accepted');
      default:
        return new TokenRejected(`invalid claim: ${claim}`);
    }
  }
  if (e instanceof joseErrors.JOSENotSupported) return new TokenRejected('token header not accepted');
  if (e instanceof joseErrors.JWSInvalid || e instanceof joseErrors.JWTInvalid)
    return new TokenRejected('malformed token');
  if (e instanceof joseErrors.JWKSInvalid) return new TokenRejected('unknown signing key');
  if (e instanceof TypeError) return new TokenRejected('token signature invalid'); // e.g. an RSA key below 2048 bits
  return undefined;
}

/** Options of {@link verifyJwt}. */
export interface VerifyJwtOptions {
  /** Current time (ms since epoch). */
  nowMs: number;
  clockToleranceSeconds: number;
}

/**
 * Continues a failed `jwtVerify` call: when several keys of the set matched the token (no `kid`, or duplicate kids),
 * tries each; the first that verifies decides. Any other error is thrown again.
 */
async function tryEachKey(token: string, e: unknown, opts: JWTVerifyOptions): Promise<JWTPayload> {
  if (!(e instanceof joseErrors.JWKSMultipleMatchingKeys)) throw e;
  let last: unknown = new joseErrors.JWSSignatureVerificationFailed();
  for await (const key of e as unknown as AsyncIterable<CryptoKey>) {
    try {
      return (await jwtVerify(token, key, opts)).payload;
    } catch (inner) {
      last = inner;
      if (!(inner instanceof joseErrors.JWSSignatureVerificationFailed)) break;
    }
  }
  throw last;
}

async function verifyWith(token: string, keySet: KeySetFn, opts: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, keySet, opts)).payload;
  } catch (e) {
    return tryEachKey(token, e, opts);
  }
}

/** A jose error as the rejection it means ({@link mapJoseError}); a missing key and other errors unchanged. */
function rejection(e: unknown): unknown {
  if (e instanceof joseErrors.JWKSNoMatchingKey) return e;
  return mapJoseError(e) ?? e;
}

/**
 * Verifies a compact JWS against an issuer's key store (docs/authnz-webhook.md#authnz-token-algorithms,
 * #authnz-token-keys, #authnz-token-audience, #authnz-token-time, #authnz-token-claims, #authnz-kid-miss) and maps its
 * claims. `header` is the untrusted decoded header from {@link routeToken}.
 * @throws TokenRejected for invalid tokens; Unavailable when the key set is unusable or a needed
 *   refetch failed.
 */
export function verifyJwt(
  token: string,
  header: Readonly<Record<string, unknown>>,
  store: KeyStore,
  opts: VerifyJwtOptions,
): Promise<{ claims: VerifiedClaims; payload: JWTPayload; kid?: string }> {
  const cfg = store.cfg;
  if (typeof header.alg !== 'string' || !cfg.algorithms.includes(header.alg))
    return Promise.reject(new TokenRejected('signing algorithm not allowed'));
  if (header.crit !== undefined || header.b64 !== undefined)
    return Promise.reject(new TokenRejected('token header not accepted'));
  const keySet = store.current();
  if (!keySet) return Promise.reject(new Unavailable(store.problem() ?? `issuer ${cfg.name} unusable`));
  const verifyOpts: JWTVerifyOptions = {
    algorithms: cfg.algorithms,
    issuer: cfg.issuer,
    audience: cfg.audiences,
    requiredClaims: REQUIRED_CLAIMS,
    clockTolerance: opts.clockToleranceSeconds,
    maxTokenAge: Math.floor(cfg.maxTokenAgeMs / 1000),
    currentDate: new Date(opts.nowMs),
    typ: cfg.typ,
  };
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  // a promise chain rather than an async function: the usual case (one matching key, valid token) is one step
  return jwtVerify(token, keySet, verifyOpts).then(
    (r) => ({ claims: mapClaims(r.payload, cfg), payload: r.payload, kid }),
    async (e: unknown) => {
      const payload = await verifyAfterFailure(token, e, store, verifyOpts);
      return { claims: mapClaims(payload, cfg), payload, kid };
    },
  );
}

/**
 * The rest of {@link verifyJwt} after jose's first attempt failed with `e`: several matching keys are tried one by one,
 * an unknown `kid` triggers a key refetch (docs/authnz-webhook.md#authnz-kid-miss), and errors become rejections.
 */
async function verifyAfterFailure(
  token: string,
  e: unknown,
  store: KeyStore,
  verifyOpts: JWTVerifyOptions,
): Promise<JWTPayload> {
  const cfg = store.cfg;
  try {
    return await tryEachKey(token, e, verifyOpts);
  } catch (e1) {
    if (!(e1 instanceof joseErrors.JWKSNoMatchingKey)) throw rejection(e1);
  }
  let outcome: 'refetched' | 'cooldown';
  try {
    outcome = await store.onKidMiss();
  } catch (fe) {
    if (fe instanceof KeyFetchError)
      throw new Unavailable(`issuer ${cfg.name}: refetch after an unknown kid failed: ${fe.message}`);
    throw fe;
  }
  const fresh = store.current();
  if (outcome === 'cooldown' || !fresh) throw new TokenRejected('unknown signing key');
  try {
    return await verifyWith(token, fresh, verifyOpts);
  } catch (e2) {
    if (e2 instanceof joseErrors.JWKSNoMatchingKey) throw new TokenRejected('unknown signing key');
    throw rejection(e2);
  }
}
