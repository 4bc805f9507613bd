/**
 * The token pipeline (docs/authnz-webhook.md#authnz-token-validation, #authnz-identity): size check → cache → routing →
 * OIDC verification or tokeninfo → identity hygiene → cache → roles and grants (applied after the cache, so mapping
 * changes and revocations never wait for it) → TokenReview status.
 *
 * Configuration reloads swap an immutable {@link AuthSnapshot}; key stores and positive cache entries
 * survive for issuers whose settings did not change.
 */
import { createHash } from 'node:crypto';
import type { Clock, Logger } from '@kubeaws/runtime';
import type { AuthnzConfig, IssuerConfig } from './config.js';
import { TokenRejected, Unavailable, reasonLabel } from './errors.js';
import type { AccessRequest, GrantSource } from './grants.js';
import { verifyJwt, routeToken } from './jwt.js';
import { KeyStore } from './keystore.js';
import { NODE_TOKEN_PREFIX, NodeAuthenticator } from './node-token.js';
import type { WebhookMetrics } from './metrics.js';
import { ROLES, type Role, higherRole, mapRole } from './roles.js';
import { type CachedIdentity, TokenCache } from './token-cache.js';
import { TokeninfoClient } from './tokeninfo.js';

/** The `status.user` of a TokenReview. */
export interface UserInfo {
  username: string;
  uid: string;
  groups: string[];
  extra: Record<string, string[]>;
}

/** The outcome of one token review (503s are thrown as {@link Unavailable} instead). */
export interface ReviewOutcome {
  authenticated: boolean;
  /** `status.error` when not authenticated. */
  error?: string;
  user?: UserInfo;
  /** `status.audiences`, when it must be sent. */
  audiences?: string[];
  role?: Role;
  /** The role from `roles.mapping` alone (grants not counted). */
  mappedRole?: Role;
  grant?: AccessRequest;
  identity?: CachedIdentity;
  source: 'oidc' | 'tokeninfo' | 'node' | 'none';
  issuer: string;
  /** Fields for the decision log (token-free). */
  log: Record<string, unknown>;
  cache: 'hit' | 'miss' | 'negative_hit' | 'none';
  /**
   * First 12 hex digits of SHA-256(token), for logs (docs/authnz-webhook.md#authnz-no-token-leaks); empty for oversized
   * tokens. Computed when first read unless the token cache already hashed the token.
   */
  readonly tokenSha256: string;
}

/** Config-derived, immutable state of the pipeline. */
export interface AuthSnapshot {
  config: AuthnzConfig;
  byIssuer: Map<string, KeyStore>;
  tokeninfoByIssuer: Map<string, TokeninfoClient>;
  opaque?: TokeninfoClient;
  /** Node token authentication, when `authentication.nodes` is configured. */
  nodes?: NodeAuthenticator;
  sourceHash: Map<string, string>;
}

/** Options of {@link Authenticator}. */
export interface AuthenticatorOptions {
  config: AuthnzConfig;
  clock: Clock;
  logger: Logger;
  metrics?: WebhookMetrics;
  grants: GrantSource;
  /** Start the key stores' fetch loops (default true). */
  startKeyStores?: boolean;
  /** Environment holding the SDK's STS endpoint setting for node tokens (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

const ROLE_SET = new Set<string>(ROLES);

function sha256hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/**
 * Fills the decision-log fields of a token that was decoded without trust (docs/authnz-webhook.md#authnz-decision-log):
 * `unverified`, then `iss`, `sub`, `kid` and `jti` when they are strings (at most 256 characters each).
 */
function untrustedFields(
  fields: Record<string, unknown>,
  header: Readonly<Record<string, unknown>>,
  payload: Record<string, unknown>,
  unverified: boolean,
): void {
  fields.unverified = unverified;
  fields.iss = typeof payload.iss === 'string' ? payload.iss.slice(0, 256) : undefined;
  fields.sub = typeof payload.sub === 'string' ? payload.sub.slice(0, 256) : undefined;
  fields.kid = typeof header.kid === 'string' ? header.kid.slice(0, 256) : undefined;
  fields.jti = typeof payload.jti === 'string' ? payload.jti.slice(0, 256) : undefined;
}

/**
 * A {@link ReviewOutcome} whose token fingerprint is hashed when first read (the token is held in a private field:
 * it is neither enumerable nor serialised).
 */
class Outcome implements ReviewOutcome {
  error?: string;
  user?: UserInfo;
  audiences?: string[];
  role?: Role;
  mappedRole?: Role;
  grant?: AccessRequest;
  identity?: CachedIdentity;
  readonly #token: string;
  #digest: string | undefined;

  constructor(
    readonly authenticated: boolean,
    readonly source: ReviewOutcome['source'],
    readonly issuer: string,
    readonly log: Record<string, unknown>,
    readonly cache: ReviewOutcome['cache'],
    token: string,
    digest: string | undefined,
  ) {
    this.#token = token;
    this.#digest = digest;
  }

  get tokenSha256(): string {
    return (this.#digest ??= sha256hex(this.#token)).slice(0, 12);
  }
}

/**
 * Identity hygiene (docs/authnz-webhook.md#authnz-identity) of prefixed IdP groups: the groups to keep (sorted,
 * deduplicated) and how many were dropped for a `system:` prefix or for being a role name. Returns `groups` itself when
 * nothing is dropped and it is already strictly sorted (the usual case), else a new array.
 */
export function hygieneGroups(groups: string[]): { groups: string[]; systemPrefix: number; roleName: number } {
  let clean = true;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (g.startsWith('system:') || ROLE_SET.has(g) || (i > 0 && !(groups[i - 1]! < g))) {
      clean = false;
      break;
    }
  }
  if (clean) return { groups, systemPrefix: 0, roleName: 0 };
  const out = new Set<string>();
  let systemPrefix = 0;
  let roleName = 0;
  for (const g of groups) {
    if (g.startsWith('system:')) systemPrefix++;
    else if (ROLE_SET.has(g)) roleName++;
    else out.add(g);
  }
  return { groups: [...out].sort(), systemPrefix, roleName };
}

/** See the module docs. */
export class Authenticator {
  private snap: AuthSnapshot;
  readonly cache: TokenCache;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly metrics?: WebhookMetrics;
  private readonly grants: GrantSource;
  private readonly startStores: boolean;
  private readonly env: NodeJS.ProcessEnv;

  constructor(opts: AuthenticatorOptions) {
    this.clock = opts.clock;
    this.log = opts.logger;
    this.metrics = opts.metrics;
    this.grants = opts.grants;
    this.startStores = opts.startKeyStores ?? true;
    this.env = opts.env ?? process.env;
    this.cache = new TokenCache(opts.config.authentication.cache.maxEntries);
    this.snap = this.build(opts.config, new Map(), undefined);
  }

  /** The snapshot in use. */
  get snapshot(): AuthSnapshot {
    return this.snap;
  }

  private build(config: AuthnzConfig, previous: Map<string, KeyStore>, prevNodes?: NodeAuthenticator): AuthSnapshot {
    const byIssuer = new Map<string, KeyStore>();
    const reuse = new Map<string, KeyStore>();
    for (const ks of previous.values()) reuse.set(ks.cfg.hash, ks);
    const sourceHash = new Map<string, string>();
    for (const iss of config.authentication.issuers) {
      let ks = reuse.get(iss.hash);
      if (ks) reuse.delete(iss.hash);
      else {
        ks = new KeyStore({ issuer: iss, clock: this.clock, logger: this.log, metrics: this.metrics });
        if (this.startStores) ks.start();
      }
      byIssuer.set(iss.issuer, ks);
      sourceHash.set(iss.name, iss.hash);
    }
    for (const ks of reuse.values()) ks.stop();
    const tokeninfoByIssuer = new Map<string, TokeninfoClient>();
    let opaque: TokeninfoClient | undefined;
    for (const t of config.authentication.tokeninfo) {
      const c = new TokeninfoClient(t, this.metrics);
      if (t.issuer) tokeninfoByIssuer.set(t.issuer, c);
      if (t.opaque) opaque = c;
      sourceHash.set(t.name, t.hash);
    }
    const nodesCfg = config.authentication.nodes;
    let nodes: NodeAuthenticator | undefined;
    if (nodesCfg && prevNodes?.config.hash === nodesCfg.hash) nodes = prevNodes;
    else {
      prevNodes?.stop();
      if (nodesCfg) nodes = new NodeAuthenticator({ config: nodesCfg, env: this.env, metrics: this.metrics });
    }
    if (nodesCfg) sourceHash.set('nodes', nodesCfg.hash);
    return { config, byIssuer, tokeninfoByIssuer, opaque, nodes, sourceHash };
  }

  /**
   * Swaps in a new configuration atomically. Key stores and positive cache entries of unchanged issuers
   * survive; negative entries are dropped.
   */
  reload(config: AuthnzConfig): void {
    const next = this.build(config, this.snap.byIssuer, this.snap.nodes);
    this.snap = next;
    this.cache.resize(config.authentication.cache.maxEntries);
    this.cache.prune((e) => !e.ok || next.sourceHash.get(e.identity.issuer) !== e.sourceHash);
    this.metrics?.cacheEntries.set(this.cache.size);
  }

  /** Key stores of the current configuration. */
  keyStores(): KeyStore[] {
    return [...this.snap.byIssuer.values()];
  }

  /** Problems that make `/readyz` fail: issuers without a usable key set. */
  readinessProblems(): string[] {
    return this.keyStores()
      .map((k) => k.problem())
      .filter((p): p is string => !!p);
  }

  /** Stops the key stores' timers. */
  stop(): void {
    for (const k of this.snap.byIssuer.values()) k.stop();
    this.snap.nodes?.stop();
  }

  /**
   * Reviews one token (TokenReview `spec.token`, `spec.audiences`).
   * @throws Unavailable for upstream outages (the caller answers 503).
   */
  review(token: string, audiences: readonly string[]): Promise<ReviewOutcome> {
    try {
      return this.reviewOrThrow(token, audiences);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * {@link review} as a promise chain rather than an async function (one step per token on a cache miss, none on a
   * hit); may throw at once, which {@link review} turns into a rejection.
   */
  private reviewOrThrow(token: string, audiences: readonly string[]): Promise<ReviewOutcome> {
    const snap = this.snap;
    const cfg = snap.config.authentication;
    const now = this.clock.now();
    // a string holds at most 3 UTF-8 bytes per UTF-16 unit: most tokens need no byte count
    if (token.length * 3 > cfg.tokenMaxBytes && Buffer.byteLength(token, 'utf8') > cfg.tokenMaxBytes) {
      return Promise.resolve({
        authenticated: false,
        error: 'token too large',
        source: 'none',
        issuer: 'none',
        log: {},
        cache: 'none',
        tokenSha256: '',
      });
    }
    // SHA-256 of the token: the cache key, and the fingerprint in logs; hashed only when one of them is used
    const cacheOn = cfg.cache.maxEntries > 0;
    const digest = cacheOn ? sha256hex(token) : undefined;
    const key = cacheOn ? TokenCache.key(digest!, audiences) : '';
    const hit = cacheOn ? this.cache.get(key, now) : undefined;
    const logFields: Record<string, unknown> = {};
    if (hit && hit.ok && snap.sourceHash.get(hit.identity.issuer) === hit.sourceHash) {
      this.metrics?.cacheLookupsBy.child('hit').inc();
      const id = hit.identity;
      return Promise.resolve(this.finish(id, snap, now, id.source, id.issuer, 'hit', token, digest));
    }
    if (hit && !hit.ok) {
      this.metrics?.cacheLookupsBy.child('negative_hit').inc();
      const o = new Outcome(false, 'none', hit.issuer, logFields, 'negative_hit', token, digest);
      o.error = hit.error;
      return Promise.resolve(o);
    }
    this.metrics?.cacheLookupsBy.child('miss').inc();
    const failed = (e: unknown): ReviewOutcome => {
      if (e instanceof TokenRejected) {
        const source = (logFields.source as ReviewOutcome['source']) ?? 'none';
        const issuerName = (logFields.issuer as string) ?? 'none';
        if (cacheOn) {
          this.cache.set(key, {
            ok: false,
            error: e.error,
            expiresAtMs: now + cfg.cache.negativeTtlMs,
            issuer: issuerName,
          });
          this.metrics?.cacheEntries.set(this.cache.size);
        }
        const o = new Outcome(false, source, issuerName, logFields, 'miss', token, digest);
        o.error = e.error;
        return o;
      }
      if (e instanceof Unavailable) {
        (e as Unavailable & { source?: string; issuer?: string }).source = (logFields.source as string) ?? 'none';
        (e as Unavailable & { source?: string; issuer?: string }).issuer = (logFields.issuer as string) ?? 'none';
      }
      throw e;
    };
    let verified: Promise<{ identity: CachedIdentity; expiresAtMs: number }>;
    try {
      verified = this.verify(token, audiences, snap, now, logFields);
    } catch (e) {
      verified = Promise.reject(e);
    }
    return verified.then((r) => {
      const identity = r.identity;
      if (cacheOn) {
        this.cache.set(key, {
          ok: true,
          identity,
          expiresAtMs: Math.min(now + cfg.cache.ttlMs, r.expiresAtMs),
          sourceHash: snap.sourceHash.get(identity.issuer) ?? '',
        });
        this.metrics?.cacheEntries.set(this.cache.size);
      }
      return this.finish(identity, snap, now, identity.source, identity.issuer, 'miss', token, digest);
    }, failed);
  }

  /** Applies roles and grants to a verified identity (never cached). */
  private finish(
    identity: CachedIdentity,
    snap: AuthSnapshot,
    now: number,
    source: ReviewOutcome['source'],
    issuer: string,
    cache: ReviewOutcome['cache'],
    token: string,
    digest: string | undefined,
  ): ReviewOutcome {
    const mapped = mapRole(snap.config.roles.mapping, identity.username, identity.groups);
    const grant = this.grants.synced() ? this.grants.activeGrant(identity.username, identity.uid, now) : undefined;
    const role = higherRole(mapped, grant?.spec.type);
    const extra: Record<string, string[]> = { 'kubeaws.io/authenticator': [identity.authenticator] };
    if (grant?.metadata.name) extra['kubeaws.io/access-request'] = [grant.metadata.name];
    const groups: string[] = role ? [role as string].concat(identity.groups) : identity.groups.slice();
    const o = new Outcome(
      true,
      source,
      issuer,
      { sub: identity.sub, kid: identity.kid, jti: identity.jti },
      cache,
      token,
      digest,
    );
    o.user = { username: identity.username, uid: identity.uid, groups, extra };
    o.audiences = identity.audiences;
    o.role = role;
    o.mappedRole = mapped;
    o.grant = grant;
    o.identity = identity;
    return o;
  }

  /**
   * Identity hygiene (docs/authnz-webhook.md#authnz-identity): drop `system:` groups and role names from IdP groups;
   * sort and dedupe ({@link hygieneGroups}); counts the dropped groups.
   */
  private hygiene(groups: string[]): string[] {
    const h = hygieneGroups(groups);
    if (h.systemPrefix) this.metrics?.groupsDropped.inc({ reason: 'system_prefix' }, h.systemPrefix);
    if (h.roleName) this.metrics?.groupsDropped.inc({ reason: 'role_name' }, h.roleName);
    return h.groups;
  }

  /**
   * Routes and verifies a token that missed the cache. Throws {@link TokenRejected} either at once (routing) or through
   * the promise; the caller awaits it inside one `try`, which handles both alike.
   */
  private verify(
    token: string,
    audiences: readonly string[],
    snap: AuthSnapshot,
    now: number,
    logFields: Record<string, unknown>,
  ): Promise<{ identity: CachedIdentity; expiresAtMs: number }> {
    if (token.startsWith(NODE_TOKEN_PREFIX)) return this.viaNodes(token, snap, now, logFields);
    const routed = routeToken(token);
    if (routed.kind === 'jwe') throw new TokenRejected('encrypted tokens are not supported');
    if (routed.kind === 'opaque') {
      if (!snap.opaque) throw new TokenRejected('malformed token');
      return this.viaTokeninfo(token, snap.opaque, logFields, now);
    }
    const { header, payload } = routed;
    if (payload.iss !== undefined && typeof payload.iss !== 'string') {
      untrustedFields(logFields, header, payload, true);
      throw new TokenRejected('invalid claim: iss');
    }
    const iss = payload.iss as string | undefined;
    const store = iss !== undefined ? snap.byIssuer.get(iss) : undefined;
    if (!store) {
      untrustedFields(logFields, header, payload, true);
      const ti = iss !== undefined ? snap.tokeninfoByIssuer.get(iss) : undefined;
      if (ti) return this.viaTokeninfo(token, ti, logFields, now);
      throw new TokenRejected('issuer not trusted');
    }
    const cfg: IssuerConfig = store.cfg;
    // the log fields are filled only when the token is rejected (or its issuer is unavailable): an accepted token's
    // fields come from its verified claims. A promise chain rather than an async function: one step per token.
    const rejected = (e: unknown, verified: boolean): never => {
      untrustedFields(logFields, header, payload, !verified);
      logFields.source = 'oidc';
      logFields.issuer = cfg.name;
      throw e;
    };
    return verifyJwt(token, header, store, {
      nowMs: now,
      clockToleranceSeconds: snap.config.authentication.clockToleranceSeconds,
    }).then(
      ({ claims }) => {
        let statusAudiences: string[] | undefined;
        if (audiences.length > 0 && cfg.kubernetesAudiences.length > 0) {
          statusAudiences = audiences.filter((a) => cfg.kubernetesAudiences.includes(a));
          if (statusAudiences.length === 0)
            rejected(new TokenRejected('token not valid for the requested audiences'), true);
        }
        return {
          identity: {
            username: claims.username,
            uid: claims.uid,
            groups: this.hygiene(claims.groups),
            authenticator: store.authenticator,
            source: 'oidc' as const,
            issuer: cfg.name,
            audiences: statusAudiences,
            sub: claims.sub,
            kid: typeof header.kid === 'string' ? header.kid.slice(0, 256) : undefined,
            jti: claims.jti,
          },
          expiresAtMs: claims.exp * 1000,
        };
      },
      (e: unknown) => rejected(e, false),
    );
  }

  /**
   * `k8s-aws-v1.` tokens (docs/authnz-webhook.md#authnz-node-tokens): never sent to a tokeninfo endpoint; rejected
   * when `authentication.nodes` is not configured.
   */
  private async viaNodes(
    token: string,
    snap: AuthSnapshot,
    now: number,
    logFields: Record<string, unknown>,
  ): Promise<{ identity: CachedIdentity; expiresAtMs: number }> {
    logFields.source = 'node';
    logFields.issuer = 'nodes';
    if (!snap.nodes) throw new TokenRejected('node tokens are not accepted');
    const n = await snap.nodes.review(token, now, snap.config.authentication.clockToleranceSeconds * 1000);
    logFields.unverified = false;
    return {
      identity: {
        username: n.username,
        uid: n.uid,
        groups: n.groups,
        authenticator: 'aws-iam/nodes',
        source: 'node',
        issuer: 'nodes',
      },
      expiresAtMs: n.expiresAtMs,
    };
  }

  private async viaTokeninfo(
    token: string,
    client: TokeninfoClient,
    logFields: Record<string, unknown>,
    now: number,
  ): Promise<{ identity: CachedIdentity; expiresAtMs: number }> {
    logFields.source = 'tokeninfo';
    logFields.issuer = client.cfg.name;
    const ti = await client.lookup(token);
    logFields.unverified = false;
    return {
      identity: {
        username: ti.username,
        uid: ti.uid,
        groups: this.hygiene(ti.groups),
        authenticator: client.authenticator,
        source: 'tokeninfo',
        issuer: client.cfg.name,
      },
      expiresAtMs: now + ti.expiresIn * 1000,
    };
  }
}

export { reasonLabel };
