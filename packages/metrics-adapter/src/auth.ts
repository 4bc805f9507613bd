/**
 * Authentication of aggregated requests (front proxy, client certificate, bearer token) and delegated,
 * cached authorization (docs/metrics-adapter.md#ma-authn, #ma-authz). Follows k8s.io/apiserver
 * pkg/authentication/request/headerrequest and pkg/authorization/authorizerfactory (delegating).
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

/** Trust anchors and header names, from the `extension-apiserver-authentication` ConfigMap. */
export interface AuthConfig {
  requestheaderCA: X509Certificate[];
  /** Raw PEM, for the TLS context's acceptable-CA list. */
  requestheaderCAPem: string;
  allowedNames: string[];
  usernameHeaders: string[];
  groupHeaders: string[];
  extraHeaderPrefixes: string[];
  uidHeaders: string[];
  clientCA: X509Certificate[];
  clientCAPem: string;
}

/** An authenticated caller. */
export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
  method: 'front-proxy' | 'client-cert' | 'token';
}

/** Splits a PEM bundle into certificates. */
export function parsePemBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

const jsonList = (s: string | undefined): string[] => {
  if (!s) return [];
  try {
    const v = JSON.parse(s) as unknown;
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
};

/**
 * Reads the `extension-apiserver-authentication` ConfigMap data (keys as kube-apiserver writes them:
 * `requestheader-client-ca-file`, `requestheader-allowed-names` (JSON list), `requestheader-*-headers`
 * (JSON lists), `client-ca-file`).
 */
export function authConfigFromConfigMap(data: Record<string, string>): AuthConfig {
  const rh = data['requestheader-client-ca-file'] ?? '';
  const cc = data['client-ca-file'] ?? '';
  return {
    requestheaderCA: parsePemBundle(rh),
    requestheaderCAPem: rh,
    allowedNames: jsonList(data['requestheader-allowed-names']),
    usernameHeaders: jsonList(data['requestheader-username-headers']),
    groupHeaders: jsonList(data['requestheader-group-headers']),
    extraHeaderPrefixes: jsonList(data['requestheader-extra-headers-prefix']),
    uidHeaders: jsonList(data['requestheader-uid-headers']),
    clientCA: parsePemBundle(cc),
    clientCAPem: cc,
  };
}

/** Operator overrides of the ConfigMap's trust anchors (docs/metrics-adapter.md#ma-authn); unset fields keep the ConfigMap's. */
export interface AuthOverrides {
  /** PEM of `--requestheader-client-ca-file`. */
  requestheaderCAPem?: string;
  /** `--requestheader-allowed-names`; empty keeps the ConfigMap's list. */
  allowedNames?: readonly string[];
  /** PEM of `--client-ca-file`. */
  clientCAPem?: string;
}

/**
 * The ConfigMap's authentication config with the operator's overrides applied, as k8s.io/apiserver's
 * DelegatingAuthenticationOptions prefers its flags over the ConfigMap.
 * @throws Error when an override file holds no PEM certificate.
 */
export function applyAuthOverrides(base: AuthConfig, o: AuthOverrides): AuthConfig {
  const pem = (what: string, text: string) => {
    const certs = parsePemBundle(text);
    if (!certs.length) throw new Error(`${what} holds no PEM certificate`);
    return certs;
  };
  return {
    ...base,
    ...(o.requestheaderCAPem !== undefined ? { requestheaderCA: pem('--requestheader-client-ca-file', o.requestheaderCAPem), requestheaderCAPem: o.requestheaderCAPem } : {}),
    ...(o.allowedNames?.length ? { allowedNames: [...o.allowedNames] } : {}),
    ...(o.clientCAPem !== undefined ? { clientCA: pem('--client-ca-file', o.clientCAPem), clientCAPem: o.clientCAPem } : {}),
  };
}

/** Whether the presented chain (leaf first) verifies against one of `roots`, within validity. */
export function chainVerifies(chain: X509Certificate[], roots: X509Certificate[], now = Date.now()): boolean {
  if (!chain.length || !roots.length) return false;
  const valid = (c: X509Certificate) => Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo);
  let cur = chain[0]!;
  if (!valid(cur)) return false;
  for (let depth = 0; depth < 8; depth++) {
    const root = roots.find((r) => cur.checkIssued(r) && cur.verify(r.publicKey));
    if (root) return valid(root);
    const next = chain.slice(1).find((c) => c.ca && cur.checkIssued(c) && cur.verify(c.publicKey) && valid(c));
    if (!next) return false;
    cur = next;
  }
  return false;
}

/** The peer's certificate chain (leaf first), or [] when none was presented. */
export function peerChain(socket: TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  const leaf = socket.getPeerX509Certificate?.();
  if (!leaf) return out;
  out.push(leaf);
  // intermediates the client sent
  let d = socket.getPeerCertificate(true) as { raw?: Buffer; issuerCertificate?: unknown } | undefined;
  const seen = new Set<unknown>();
  while (d && !seen.has(d)) {
    seen.add(d);
    const next = d.issuerCertificate as { raw?: Buffer; issuerCertificate?: unknown } | undefined;
    if (next && next !== d && next.raw) out.push(new X509Certificate(next.raw));
    d = next;
  }
  return out;
}

/** The CN (or every O) of a certificate subject. */
function subjectField(cert: X509Certificate, field: 'CN' | 'O'): string[] {
  return cert.subject.split('\n').filter((l) => l.startsWith(`${field}=`)).map((l) => l.slice(field.length + 1));
}

/**
 * Adds `system:authenticated`, as the kube-apiserver's authenticator does for every authenticated user
 * (k8s.io/apiserver pkg/authentication/group AuthenticatedGroupAdder). The aggregator's legacy discovery requests
 * carry the user `system:kube-aggregator` without groups; RBAC's `system:discovery` admits it only through this group.
 */
export function withAuthenticated(groups: string[]): string[] {
  return groups.includes('system:authenticated') ? groups : [...groups, 'system:authenticated'];
}

interface PeerVerdict {
  cfg: AuthConfig | undefined;
  chain: X509Certificate[];
  frontProxy: boolean;
  clientCert: boolean;
}
/** Per TLS connection: the peer chain and its verdicts, valid while the trust anchors stay the same object. */
const peerVerdicts = new WeakMap<object, PeerVerdict>();

/**
 * The peer chain of a request's connection and whether it verifies against the requestheader CA and the client
 * CA, computed once per keep-alive connection and trust-anchor set (a connection's certificate cannot change).
 */
function verifiedPeer(req: IncomingMessage, cfg: AuthConfig | undefined): PeerVerdict {
  const socket = req.socket;
  const cached = peerVerdicts.get(socket);
  if (cached && cached.cfg === cfg) return cached;
  const chain = 'getPeerX509Certificate' in socket ? peerChain(socket as TLSSocket) : [];
  const v: PeerVerdict = {
    cfg,
    chain,
    frontProxy: !!cfg && chain.length > 0 && chainVerifies(chain, cfg.requestheaderCA),
    clientCert: !!cfg && chain.length > 0 && chainVerifies(chain, cfg.clientCA),
  };
  peerVerdicts.set(socket, v);
  return v;
}

/** The outcome of {@link authenticate}. */
export type AuthnResult = { ok: true; user: UserInfo } | { ok: false; method: UserInfo['method'] | 'none'; reason: string };

/**
 * Authenticates a request, first applicable path wins: front proxy (chain verifies against the requestheader CA
 * itself, CN in allowed names when that list is non-empty), then client certificate against `client-ca-file`,
 * then a bearer token through `reviewToken` (TokenReview, cached by the caller). `X-Remote-*` headers are read
 * only on the front-proxy path; repeated group headers are read from `headersDistinct`.
 */
export async function authenticate(
  req: IncomingMessage,
  cfg: AuthConfig | undefined,
  reviewToken?: (token: string) => Promise<UserInfo | undefined>,
): Promise<AuthnResult> {
  const v = verifiedPeer(req, cfg);
  const chain = v.chain;
  if (cfg && v.frontProxy) {
    const cn = subjectField(chain[0]!, 'CN')[0] ?? '';
    if (cfg.allowedNames.length && !cfg.allowedNames.includes(cn))
      return { ok: false, method: 'front-proxy', reason: `front-proxy certificate CN "${cn}" is not in requestheader-allowed-names` };
    const headers = req.headersDistinct;
    const first = (names: string[]) => {
      for (const n of names) for (const v of headers[n.toLowerCase()] ?? []) if (v) return v;
      return undefined;
    };
    const name = first(cfg.usernameHeaders);
    if (!name) return { ok: false, method: 'front-proxy', reason: 'front-proxy request without a username header' };
    const groups = cfg.groupHeaders.flatMap((n) => headers[n.toLowerCase()] ?? []).filter((g) => g !== '');
    const extra: Record<string, string[]> = {};
    for (const prefix of cfg.extraHeaderPrefixes.map((p) => p.toLowerCase()))
      for (const [h, vs] of Object.entries(headers))
        if (h.startsWith(prefix) && vs) {
          const key = decodeURIComponent(h.slice(prefix.length)).toLowerCase();
          extra[key] = [...(extra[key] ?? []), ...vs];
        }
    const uid = first(cfg.uidHeaders);
    return { ok: true, user: { name, groups: withAuthenticated(groups), extra, method: 'front-proxy', ...(uid ? { uid } : {}) } };
  }
  if (cfg && v.clientCert) {
    const cn = subjectField(chain[0]!, 'CN')[0];
    if (cn) return { ok: true, user: { name: cn, groups: withAuthenticated(subjectField(chain[0]!, 'O')), extra: {}, method: 'client-cert' } };
  }
  const authz = req.headers.authorization;
  if (authz?.startsWith('Bearer ') && reviewToken) {
    const user = await reviewToken(authz.slice(7).trim());
    if (user) return { ok: true, user };
    return { ok: false, method: 'token', reason: 'token not authenticated by TokenReview' };
  }
  return { ok: false, method: 'none', reason: chain.length ? 'client certificate not issued by a trusted CA' : 'no credentials' };
}

/** The attributes of one authorization question (SubjectAccessReview spec minus the user). */
export type AccessAttributes =
  | { kind: 'resource'; group: string; version: string; resource: string; subresource?: string; name?: string; namespace?: string; verb: string }
  | { kind: 'nonResource'; path: string; verb: string };

/** Answer of a review call. */
export type Review = (user: UserInfo, attrs: AccessAttributes, signal: AbortSignal) => Promise<{ allowed: boolean; reason?: string }>;

/** Options of {@link AuthorizationCache}. TTLs in ms. */
export interface AuthorizationCacheOptions {
  review: Review;
  allowedTtlMs: number;
  deniedTtlMs: number;
  maxEntries?: number;
  now?: () => number;
  timeoutMs?: number;
}

/** How a decision was made, for `authorization_total{cache}`. */
export type CacheOutcome = 'hit' | 'miss' | 'wildcard';

/**
 * Delegated authorization with an LRU cache keyed by every attribute, separate TTLs for allowed and denied,
 * shared in-flight misses, and a wildcard pre-check per (user, groups, API group, verb): RBAC has no deny
 * rules, so `resource: "*"` allowed means every request of that group is allowed.
 * A failed review rejects (the caller answers 500 and never allows).
 */
export class AuthorizationCache {
  private readonly entries = new Map<string, { allowed: boolean; reason?: string; expires: number }>();
  private readonly inflight = new Map<string, Promise<{ allowed: boolean; reason?: string }>>();
  private readonly now: () => number;
  /** Reviews sent (tests, metrics). */
  reviews = 0;

  constructor(private readonly o: AuthorizationCacheOptions) {
    this.now = o.now ?? Date.now;
  }

  private userKey(u: UserInfo): string {
    return JSON.stringify([u.name, u.uid ?? '', [...u.groups].sort(), Object.entries(u.extra).sort()]);
  }

  private async cached(key: string, user: UserInfo, attrs: AccessAttributes): Promise<{ allowed: boolean; reason?: string; hit: boolean }> {
    const e = this.entries.get(key);
    if (e && e.expires > this.now()) {
      this.entries.delete(key);
      this.entries.set(key, e); // LRU touch
      return { ...e, hit: true };
    }
    let p = this.inflight.get(key);
    if (!p) {
      this.reviews++;
      p = this.o.review(user, attrs, AbortSignal.timeout(this.o.timeoutMs ?? 5000)).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    const r = await p;
    this.entries.set(key, { ...r, expires: this.now() + (r.allowed ? this.o.allowedTtlMs : this.o.deniedTtlMs) });
    while (this.entries.size > (this.o.maxEntries ?? 10_000)) this.entries.delete(this.entries.keys().next().value!);
    return { ...r, hit: false };
  }

  /** Decides one request. @throws when the review call fails. */
  async authorize(user: UserInfo, attrs: AccessAttributes): Promise<{ allowed: boolean; reason?: string; cache: CacheOutcome }> {
    const uk = this.userKey(user);
    const exactKey = JSON.stringify([uk, attrs]);
    const e = this.entries.get(exactKey);
    if (e && e.expires > this.now()) return { allowed: e.allowed, cache: 'hit', ...(e.reason ? { reason: e.reason } : {}) };
    if (attrs.kind === 'resource') {
      const wild: AccessAttributes = { kind: 'resource', group: attrs.group, version: '*', resource: '*', namespace: '', verb: attrs.verb };
      const w = await this.cached(JSON.stringify([uk, 'wildcard', attrs.group, attrs.verb]), user, wild);
      if (w.allowed) return { allowed: true, cache: w.hit ? 'hit' : 'wildcard' };
    }
    const r = await this.cached(exactKey, user, attrs);
    return { allowed: r.allowed, cache: r.hit ? 'hit' : 'miss', ...(r.reason ? { reason: r.reason } : {}) };
  }
}

/** A SHA-256 of a token, the TokenReview cache key (tokens are never stored or logged). */
export function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
