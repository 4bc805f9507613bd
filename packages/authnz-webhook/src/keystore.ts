/**
 * Per-issuer key store (docs/authnz-webhook.md#authnz-idp-fetch, #authnz-jwks-refresh, #authnz-kid-miss,
 * #authnz-jwks-response): wraps jose's local JWKS verifier around keys fetched from the issuer's JWKS (or discovered
 * through OIDC discovery), with
 *
 * - a fetch at start and every `refreshInterval`, concurrent fetches collapsed into one;
 * - last-known-good keys: a failed fetch keeps the previous set until `staleIfError` has passed since
 *   the last success, after which the issuer is unusable (503, `/readyz` fails);
 * - at most one refetch per `refetchCooldown` on an unknown `kid`;
 * - JWKS responses: HTTP 200, a JSON object with a `keys` array, at most 512 KiB, within
 *   `fetchTimeout`; private and symmetric members are skipped and logged.
 *
 * RFC 7517 (JWK Set), OpenID Connect Discovery 1.0, section 4.
 */
import { readFileSync } from 'node:fs';
import { type JSONWebKeySet, type JWK, createLocalJWKSet } from 'jose';
import type { Clock, Logger } from '@kubeaws/runtime';
import type { IssuerConfig } from './config.js';
import { urlProblem } from './config.js';
import { FetchError, type UpstreamResult, boundedGet, statusResult } from './fetch.js';
import type { WebhookMetrics } from './metrics.js';

/** Maximum JWKS / discovery document size (docs/authnz-webhook.md#authnz-jwks-response). */
export const MAX_JWKS_BYTES = 512 * 1024;

/** The verifier function jose builds from a key set. */
export type KeySetFn = ReturnType<typeof createLocalJWKSet>;

/** Thrown by {@link KeyStore.refresh} when a fetch fails. */
export class KeyFetchError extends Error {
  override readonly name = 'KeyFetchError';
  constructor(
    readonly result: UpstreamResult,
    message: string,
  ) {
    super(message);
  }
}

/** Keeps only public, asymmetric signing members of a JWK Set; returns them and the count skipped. */
export function filterJwks(keys: unknown[]): { keys: JWK[]; skipped: Array<{ kid?: string; why: string }> } {
  const out: JWK[] = [];
  const skipped: Array<{ kid?: string; why: string }> = [];
  for (const k of keys) {
    if (k === null || typeof k !== 'object' || Array.isArray(k)) {
      skipped.push({ why: 'not an object' });
      continue;
    }
    const j = k as Record<string, unknown>;
    const kid = typeof j.kid === 'string' ? j.kid : undefined;
    if (j.kty === 'oct') skipped.push({ kid, why: 'symmetric key' });
    else if (j.d !== undefined || j.p !== undefined || j.q !== undefined || j.k !== undefined)
      skipped.push({ kid, why: 'private key material' });
    else if (!['RSA', 'EC', 'OKP'].includes(j.kty as string))
      skipped.push({ kid, why: `unsupported kty ${String(j.kty)}` });
    else if (j.use !== undefined && j.use !== 'sig') skipped.push({ kid, why: `use ${String(j.use)}` });
    else out.push(j as JWK);
  }
  return { keys: out, skipped };
}

/** Options of {@link KeyStore}. */
export interface KeyStoreOptions {
  issuer: IssuerConfig;
  clock: Clock;
  logger: Logger;
  metrics?: WebhookMetrics;
}

/** The key store of one issuer; see the module docs. */
export class KeyStore {
  readonly cfg: IssuerConfig;
  /**
   * `oidc/<name>`: the `kubeaws.io/authenticator` value of this issuer's identities, one string shared by every cached
   * identity of the issuer (docs/authnz-webhook.md#authnz-token-cache).
   */
  readonly authenticator: string;
  private keySet?: KeySetFn;
  private keyCount = 0;
  private lastSuccessMs?: number;
  private lastKidRefetchMs = -Infinity;
  private inflight?: Promise<void>;
  private kidRefetch?: Promise<void>;
  private jwksUri?: string;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private ca?: Buffer;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly metrics?: WebhookMetrics;

  constructor(opts: KeyStoreOptions) {
    this.cfg = opts.issuer;
    this.authenticator = `oidc/${opts.issuer.name}`;
    this.clock = opts.clock;
    this.log = opts.logger.child({ issuer: opts.issuer.name });
    this.metrics = opts.metrics;
    if (this.cfg.caFile) this.ca = readFileSync(this.cfg.caFile);
    this.jwksUri = this.cfg.jwksURL;
    this.metrics?.jwksUsable.set({ issuer: this.cfg.name }, 0);
  }

  /** Fetches now and then every `refreshInterval`. Never throws; failures are logged and counted. */
  start(): void {
    this.stopped = false;
    void this.refresh().catch(() => undefined);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.refresh()
        .catch(() => undefined)
        .finally(() => this.schedule());
    }, this.cfg.keys.refreshIntervalMs);
    this.timer.unref();
  }

  /** Stops the periodic refresh. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /**
   * True while a key set is loaded and the last success is at most `staleIfError` old
   * (docs/authnz-webhook.md#authnz-jwks-refresh).
   */
  usable(): boolean {
    return (
      this.keySet !== undefined &&
      this.lastSuccessMs !== undefined &&
      this.clock.now() - this.lastSuccessMs <= this.cfg.keys.staleIfErrorMs
    );
  }

  /** Why the store is not usable (for `/readyz`), or undefined when it is. */
  problem(): string | undefined {
    if (this.usable()) return undefined;
    if (!this.keySet) return `issuer ${this.cfg.name}: no key set fetched yet`;
    return `issuer ${this.cfg.name}: key set older than staleIfError`;
  }

  /** The current verifier, or undefined when the store is unusable. */
  current(): KeySetFn | undefined {
    return this.usable() ? this.keySet : undefined;
  }

  /** Number of keys in the current set. */
  get keys(): number {
    return this.keyCount;
  }

  /** Updates the age gauges (call before scraping). */
  updateGauges(): void {
    if (!this.metrics) return;
    const name = this.cfg.name;
    this.metrics.jwksUsable.set({ issuer: name }, this.usable() ? 1 : 0);
    if (this.lastSuccessMs !== undefined)
      this.metrics.jwksAge.set({ issuer: name }, (this.clock.now() - this.lastSuccessMs) / 1000);
  }

  /**
   * Called on a `kid` miss (docs/authnz-webhook.md#authnz-kid-miss): refetches at most once per `refetchCooldown` (a
   * refetch in flight is joined). Resolves `'refetched'` after a successful refetch, `'cooldown'` when none was
   * allowed.
   * @throws KeyFetchError when the refetch fails (the answer is then 503).
   */
  async onKidMiss(): Promise<'refetched' | 'cooldown'> {
    if (this.kidRefetch) {
      await this.kidRefetch;
      return 'refetched';
    }
    const now = this.clock.now();
    if (now - this.lastKidRefetchMs < this.cfg.keys.refetchCooldownMs) return 'cooldown';
    this.lastKidRefetchMs = now;
    this.kidRefetch = this.refresh().finally(() => (this.kidRefetch = undefined));
    await this.kidRefetch;
    return 'refetched';
  }

  /** Fetches the key set now (collapsed with a fetch in flight). @throws KeyFetchError on failure. */
  refresh(): Promise<void> {
    if (!this.inflight) this.inflight = this.doRefresh().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async get(kind: 'jwks' | 'discovery', url: string): Promise<unknown> {
    const started = performance.now();
    let result: UpstreamResult = 'ok';
    try {
      const problem = urlProblem(url);
      if (problem) {
        result = 'invalid_response';
        throw new KeyFetchError(result, `${kind} URL ${url}: ${problem}`);
      }
      let res;
      try {
        res = await boundedGet(url, { timeoutMs: this.cfg.keys.fetchTimeoutMs, maxBytes: MAX_JWKS_BYTES, ca: this.ca });
      } catch (e) {
        result = e instanceof FetchError ? e.result : 'connect_error';
        throw new KeyFetchError(result, `${kind} ${url}: ${(e as Error).message}`);
      }
      if (res.status !== 200) {
        result = statusResult(res.status);
        if (result === 'ok') result = 'invalid_response';
        throw new KeyFetchError(result, `${kind} ${url}: HTTP ${res.status}`);
      }
      try {
        return JSON.parse(res.body.toString('utf8'));
      } catch {
        result = 'invalid_response';
        throw new KeyFetchError(result, `${kind} ${url}: body is not JSON`);
      }
    } finally {
      const labels = { upstream: kind, name: this.cfg.name, result };
      this.metrics?.upstreamRequests.inc(labels);
      this.metrics?.upstreamDuration.observe(labels, (performance.now() - started) / 1000);
    }
  }

  private async discover(): Promise<string> {
    const url = `${this.cfg.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const doc = (await this.get('discovery', url)) as Record<string, unknown> | null;
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
      throw new KeyFetchError('invalid_response', `discovery ${url}: not a JSON object`);
    if (doc.issuer !== this.cfg.issuer)
      throw new KeyFetchError(
        'invalid_response',
        `discovery ${url}: issuer ${JSON.stringify(doc.issuer)} is not ${this.cfg.issuer}`,
      );
    if (typeof doc.jwks_uri !== 'string') throw new KeyFetchError('invalid_response', `discovery ${url}: no jwks_uri`);
    return doc.jwks_uri;
  }

  private async doRefresh(): Promise<void> {
    try {
      const uri = this.jwksUri ?? (await this.discover());
      let doc: unknown;
      try {
        doc = await this.get('jwks', uri);
      } catch (e) {
        if (!this.cfg.jwksURL) this.jwksUri = undefined; // rediscover next time
        throw e;
      }
      if (!this.cfg.jwksURL) this.jwksUri = uri;
      if (
        doc === null ||
        typeof doc !== 'object' ||
        Array.isArray(doc) ||
        !Array.isArray((doc as { keys?: unknown }).keys)
      )
        throw new KeyFetchError('invalid_response', `jwks ${uri}: not a JSON object with a keys array`);
      const { keys, skipped } = filterJwks((doc as { keys: unknown[] }).keys);
      for (const s of skipped) this.log.warn({ kid: s.kid, why: s.why }, 'skipped a JWKS member');
      const set: JSONWebKeySet = { keys };
      this.keySet = createLocalJWKSet(set);
      this.keyCount = keys.length;
      this.lastSuccessMs = this.clock.now();
      this.metrics?.jwksKeys.set({ issuer: this.cfg.name }, keys.length);
      this.metrics?.jwksLastSuccess.set({ issuer: this.cfg.name }, this.lastSuccessMs / 1000);
      this.updateGauges();
      this.log.debug({ keys: keys.length }, 'key set fetched');
    } catch (e) {
      this.updateGauges();
      this.log.warn({ error: (e as Error).message }, 'key set fetch failed; keeping the last known good set');
      throw e instanceof KeyFetchError ? e : new KeyFetchError('invalid_response', (e as Error).message);
    }
  }
}
