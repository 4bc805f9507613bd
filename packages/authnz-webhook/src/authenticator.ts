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
  async review(token: string, audiences: readonly string[]): Promise<ReviewOutcome> {
    const snap = this.snap;
    const cfg = snap.config.authentication;
    const now = this.clock.now();
    if (Buffer.byteLength(token, 'utf8') > cfg.tokenMaxBytes) {
      return {
        authenticated: false,
        error: 'token too large',
        source: 'none',
        issuer: 'none',
        log: {},
        cache: 'none',
        tokenSha256: '',
      };
    }
    // SHA-256 of the token: the cache key, and the fingerprint in logs; hashed only when one of them is used
    let digest: string | undefined;
    const fingerprint = (): string => (digest ??= sha256hex(token)).slice(0, 12);
    const cacheOn = cfg.cache.maxEntries > 0;
    const key = cacheOn ? TokenCache.key((digest ??= sha256hex(token)), audiences) : '';
    const hit = cacheOn ? this.cache.get(key, now) : undefined;
    let identity: CachedIdentity | undefined;
    let cacheResult: ReviewOutcome['cache'] = 'miss';
    const logFields: Record<string, unknown> = {};
    if (hit && hit.ok && snap.sourceHash.get(hit.identity.issuer) === hit.sourceHash) {
      identity = hit.identity;
      cacheResult = 'hit';
    } else if (hit && !hit.ok) {
      this.metrics?.cacheLookups.inc({ result: 'negative_hit' });
      return {
        authenticated: false,
        error: hit.error,
        source: 'none',
        issuer: hit.issuer,
        log: logFields,
        cache: 'negative_hit',
        get tokenSha256() {
          return fingerprint();
        },
      };
    }
    this.metrics?.cacheLookups.inc({ result: cacheResult });
    let source: ReviewOutcome['source'] = identity?.source ?? 'none';
    let issuerName = identity?.issuer ?? 'none';
    if (!identity) {
      try {
        const r = await this.verify(token, audiences, snap, now, logFields);
        identity = r.identity;
        source = identity.source;
        issuerName = identity.issuer;
        this.cache.set(key, {
          ok: true,
          identity,
          expiresAtMs: Math.min(now + cfg.cache.ttlMs, r.expiresAtMs),
          sourceHash: snap.sourceHash.get(identity.issuer) ?? '',
        });
      } catch (e) {
        if (e instanceof TokenRejected) {
          source = (logFields.source as ReviewOutcome['source']) ?? 'none';
          issuerName = (logFields.issuer as string) ?? 'none';
          this.cache.set(key, {
            ok: false,
            error: e.error,
            expiresAtMs: now + cfg.cache.negativeTtlMs,
            issuer: issuerName,
          });
          this.metrics?.cacheEntries.set(this.cache.size);
          return {
            authenticated: false,
            error: e.error,
            source,
            issuer: issuerName,
            log: logFields,
            cache: cacheResult,
            get tokenSha256() {
              return fingerprint();
            },
          };
        }
        if (e instanceof Unavailable) {
          (e as Unavailable & { source?: string; issuer?: string }).source = (logFields.source as string) ?? 'none';
          (e as Unavailable & { source?: string; issuer?: string }).issuer = (logFields.issuer as string) ?? 'none';
        }
        throw e;
      }
      this.metrics?.cacheEntries.set(this.cache.size);
    }
    return this.finish(identity, snap, now, source, issuerName, cacheResult, fingerprint);
  }

  /** Applies roles and grants to a verified identity (never cached). */
  private finish(
    identity: CachedIdentity,
    snap: AuthSnapshot,
    now: number,
    source: ReviewOutcome['source'],
    issuer: string,
    cache: ReviewOutcome['cache'],
    fingerprint: () => string,
  ): ReviewOutcome {
    const mapped = mapRole(snap.config.roles.mapping, identity.username, identity.groups);
    const grant = this.grants.synced() ? this.grants.activeGrant(identity.username, identity.uid, now) : undefined;
    const role = higherRole(mapped, grant?.spec.type);
    const extra: Record<string, string[]> = { 'kubeaws.io/authenticator': [identity.authenticator] };
    if (grant?.metadata.name) extra['kubeaws.io/access-request'] = [grant.metadata.name];
    const groups = role ? [role, ...identity.groups] : [...identity.groups];
    return {
      authenticated: true,
      user: { username: identity.username, uid: identity.uid, groups, extra },
      audiences: identity.audiences,
      role,
      mappedRole: mapped,
      grant,
      identity,
      source,
      issuer,
      log: { sub: identity.sub, kid: identity.kid, jti: identity.jti },
      cache,
      get tokenSha256() {
        return fingerprint();
      },
    };
  }

  /**
   * Identity hygiene (docs/authnz-webhook.md#authnz-identity): drop `system:` groups and role names from IdP groups;
   * sort and dedupe.
   */
  private hygiene(groups: readonly string[]): string[] {
    const out = new Set<string>();
    for (const g of groups) {
      if (g.startsWith('system:')) this.metrics?.groupsDropped.inc({ reason: 'system_prefix' });
      else if (ROLE_SET.has(g)) this.metrics?.groupsDropped.inc({ reason: 'role_name' });
      else out.add(g);
    }
    return [...out].sort();
  }

  private async verify(
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
    logFields.unverified = true;
    logFields.iss = typeof payload.iss === 'string' ? payload.iss.slice(0, 256) : undefined;
    logFields.sub = typeof payload.sub === 'string' ? payload.sub.slice(0, 256) : undefined;
    logFields.kid = typeof header.kid === 'string' ? header.kid.slice(0, 256) : undefined;
    logFields.jti = typeof payload.jti === 'string' ? payload.jti.slice(0, 256) : undefined;
    if (payload.iss !== undefined && typeof payload.iss !== 'string') throw new TokenRejected('invalid claim: iss');
    const iss = payload.iss as string | undefined;
    const store = iss !== undefined ? snap.byIssuer.get(iss) : undefined;
    if (!store) {
      const ti = iss !== undefined ? snap.tokeninfoByIssuer.get(iss) : undefined;
      if (ti) return this.viaTokeninfo(token, ti, logFields, now);
      throw new TokenRejected('issuer not trusted');
    }
    const cfg: IssuerConfig = store.cfg;
    logFields.source = 'oidc';
    logFields.issuer = cfg.name;
    const { claims } = await verifyJwt(token, header, store, {
      nowMs: now,
      clockToleranceSeconds: snap.config.authentication.clockToleranceSeconds,
    });
    logFields.unverified = false;
    let statusAudiences: string[] | undefined;
    if (audiences.length > 0 && cfg.kubernetesAudiences.length > 0) {
      statusAudiences = audiences.filter((a) => cfg.kubernetesAudiences.includes(a));
      if (statusAudiences.length === 0) throw new TokenRejected('token not valid for the requested audiences');
    }
    return {
      identity: {
        username: claims.username,
        uid: claims.uid,
        groups: this.hygiene(claims.groups),
        authenticator: `oidc/${cfg.name}`,
        source: 'oidc',
        issuer: cfg.name,
        audiences: statusAudiences,
        sub: claims.sub,
        kid: logFields.kid as string | undefined,
        jti: claims.jti,
      },
      expiresAtMs: claims.exp * 1000,
    };
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
        authenticator: `tokeninfo/${client.cfg.name}`,
        source: 'tokeninfo',
        issuer: client.cfg.name,
      },
      expiresAtMs: now + ti.expiresIn * 1000,
    };
  }
}

export { reasonLabel };
