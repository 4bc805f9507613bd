/**
 * JWT handling (docs/authnz-webhook.md#authnz-token-validation, RFC 7519, RFC 7515): untrusted routing decode,
 * signature and registered-claim verification with jose's `jwtVerify`, and the claim type checks jose does not
 * make. Every rejection is a {@link TokenRejected} carrying the exact error string of
 * docs/authnz-webhook.md#authnz-rejections.
 */
import {
  type JWTPayload,
  type JWTVerifyOptions,
  type JWTHeaderParameters,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import type { IssuerConfig } from './config.js';
import { TokenRejected, Unavailable } from './errors.js';
import { KeyFetchError, type KeyStore } from './keystore.js';

/** Result of the untrusted decode of a token (docs/authnz-webhook.md#authnz-token-routing). */
export type RoutedToken =
  | { kind: 'jws'; header: Record<string, unknown>; payload: Record<string, unknown> }
  | { kind: 'jwe' }
  | { kind: 'opaque' };

const B64URL = /^[A-Za-z0-9_-]+$/;

function decodeSegment(s: string): Record<string, unknown> {
  if (!B64URL.test(s) || s.length % 4 === 1) throw new TokenRejected('malformed token');
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    throw new TokenRejected('malformed token');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TokenRejected('malformed token');
  return v as Record<string, unknown>;
}

/**
 * Decodes a token without trust to route it (docs/authnz-webhook.md#authnz-token-routing): 3 segments = compact JWS
 * (header and payload must be base64url JSON objects), 5 = JWE, anything else = opaque. Signatures are not checked
 * here.
 * @throws TokenRejected `malformed token` for an empty token or an undecodable JWS.
 */
export function routeToken(token: string): RoutedToken {
  if (token === '') throw new TokenRejected('malformed token');
  const parts = token.split('.');
  if (parts.length === 5) return { kind: 'jwe' };
  if (parts.length !== 3) return { kind: 'opaque' };
  const header = decodeSegment(parts[0]!);
  const payload = decodeSegment(parts[1]!);
  if (parts[2] === '' || !B64URL.test(parts[2]!)) {
    // An unsigned token (`alg: none`) has an empty signature: decided by the algorithm check.
    if (parts[2] !== '') throw new TokenRejected('malformed token');
  }
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

async function verifyWith(
  token: string,
  keyFn: Parameters<typeof jwtVerify>[1],
  opts: JWTVerifyOptions,
): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, keyFn as never, opts)).payload;
  } catch (e) {
    if (e instanceof joseErrors.JWKSMultipleMatchingKeys) {
      // Several keys match (no kid, or duplicate kids): try each; the first that verifies decides.
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
    throw e;
  }
}

/**
 * Verifies a compact JWS against an issuer's key store (docs/authnz-webhook.md#authnz-token-algorithms,
 * #authnz-token-keys, #authnz-token-audience, #authnz-token-time, #authnz-token-claims, #authnz-kid-miss) and maps its
 * claims. `header` is the untrusted decoded header from {@link routeToken}.
 * @throws TokenRejected for invalid tokens; Unavailable when the key set is unusable or a needed
 *   refetch failed.
 */
export async function verifyJwt(
  token: string,
  header: Record<string, unknown>,
  store: KeyStore,
  opts: VerifyJwtOptions,
): Promise<{ claims: VerifiedClaims; payload: JWTPayload; kid?: string }> {
  const cfg = store.cfg;
  if (typeof header.alg !== 'string' || !cfg.algorithms.includes(header.alg))
    throw new TokenRejected('signing algorithm not allowed');
  if (header.crit !== undefined) throw new TokenRejected('token header not accepted');
  if (header.b64 !== undefined) throw new TokenRejected('token header not accepted');
  const keySet = store.current();
  if (!keySet) throw new Unavailable(store.problem() ?? `issuer ${cfg.name} unusable`);
  const verifyOpts: JWTVerifyOptions = {
    algorithms: cfg.algorithms,
    issuer: cfg.issuer,
    audience: cfg.audiences,
    requiredClaims: ['exp', 'iat'],
    clockTolerance: opts.clockToleranceSeconds,
    maxTokenAge: Math.floor(cfg.maxTokenAgeMs / 1000),
    currentDate: new Date(opts.nowMs),
    ...(cfg.typ ? { typ: cfg.typ } : {}),
  };
  const attempt = async (fn: typeof keySet): Promise<JWTPayload> => {
    try {
      return await verifyWith(token, (h: JWTHeaderParameters) => fn(h), verifyOpts);
    } catch (e) {
      if (e instanceof joseErrors.JWKSNoMatchingKey) throw e;
      const mapped = mapJoseError(e);
      if (mapped) throw mapped;
      throw e;
    }
  };
  let payload: JWTPayload;
  try {
    payload = await attempt(keySet);
  } catch (e) {
    if (!(e instanceof joseErrors.JWKSNoMatchingKey)) throw e;
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
      payload = await attempt(fresh);
    } catch (e2) {
      if (e2 instanceof joseErrors.JWKSNoMatchingKey) throw new TokenRejected('unknown signing key');
      throw e2;
    }
  }
  const claims = mapClaims(payload, cfg);
  return { claims, payload, kid: typeof header.kid === 'string' ? header.kid : undefined };
}
