/**
 * The token cache (docs/authnz-webhook.md#authnz-token-cache): an LRU bounded by `maxEntries`, keyed by SHA-256(token)
 * plus the requested audiences, holding only verified identities (or the rejection string for
 * negative entries). Roles and grants are applied after the lookup, so they never wait for the cache.
 * Outages (503) are never cached.
 */

/** A verified identity as cached: no role, no grant, no token material. */
export interface CachedIdentity {
  username: string;
  uid: string;
  /** Prefixed IdP groups (sorted, deduplicated, hygiene applied). */
  groups: string[];
  /** `oidc/<name>`, `tokeninfo/<name>` or `aws-iam/nodes`. */
  authenticator: string;
  source: 'oidc' | 'tokeninfo' | 'node';
  /** Issuer or tokeninfo name. */
  issuer: string;
  /** `status.audiences` to send, or undefined to omit. */
  audiences?: string[];
  sub?: string;
  kid?: string;
  jti?: string;
}

/** One cache entry. */
export type CacheEntry =
  | { ok: true; identity: CachedIdentity; expiresAtMs: number; sourceHash: string }
  | { ok: false; error: string; expiresAtMs: number; issuer: string };

/** The LRU token cache. Not thread-safe (single event loop). */
export class TokenCache {
  private readonly map = new Map<string, CacheEntry>();
  constructor(private maxEntries: number) {}

  /** Cache key for a token hash and the requested audiences. */
  static key(tokenSha256: string, audiences: readonly string[]): string {
    return audiences.length ? `${tokenSha256}|${audiences.join('\u0000')}` : tokenSha256;
  }

  /** Returns a live entry (refreshing its LRU position) or undefined; expired entries are removed. */
  get(key: string, nowMs: number): CacheEntry | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expiresAtMs <= nowMs) {
      this.map.delete(key);
      return undefined;
    }
    this.map.delete(key);
    this.map.set(key, e);
    return e;
  }

  /** Adds an entry, evicting the least recently used ones beyond `maxEntries`. */
  set(key: string, entry: CacheEntry): void {
    if (this.maxEntries <= 0) return;
    this.map.delete(key);
    this.map.set(key, entry);
    while (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
  }

  /** Removes every entry for which `drop` returns true. */
  prune(drop: (e: CacheEntry) => boolean): void {
    for (const [k, e] of this.map) if (drop(e)) this.map.delete(k);
  }

  /** Changes the bound (on config reload). */
  resize(maxEntries: number): void {
    this.maxEntries = maxEntries;
    while (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value as string);
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}
