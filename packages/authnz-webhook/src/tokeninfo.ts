/**
 * Opaque tokens through a tokeninfo endpoint (docs/authnz-webhook.md#authnz-tokeninfo): a GET with
 * `Authorization: Bearer <token>` (never a query parameter), the endpoint's `timeout`, no redirects,
 * at most 64 KiB. 400/401/403 reject the token; 404, 429, 5xx, timeouts, network errors and 200
 * answers with wrong field types are outages (503).
 */
import { readFileSync } from 'node:fs';
import type { TokeninfoConfig } from './config.js';
import { TokenRejected, Unavailable } from './errors.js';
import { FetchError, type UpstreamResult, boundedGet, statusResult } from './fetch.js';
import type { WebhookMetrics } from './metrics.js';

/** Maximum tokeninfo response size (docs/authnz-webhook.md#authnz-tokeninfo). */
export const MAX_TOKENINFO_BYTES = 64 * 1024;

/** A verified tokeninfo identity, before roles. */
export interface TokeninfoIdentity {
  username: string;
  uid: string;
  groups: string[];
  realm: string;
  /** Lifetime reported by the endpoint, in seconds. */
  expiresIn: number;
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Validates a tokeninfo 200 body (docs/authnz-webhook.md#authnz-tokeninfo) and maps it to an identity.
 * @throws Unavailable for wrong field types; TokenRejected for an unknown realm (`realm not allowed`)
 *   or missing scopes (`required scope missing`), or a reserved username.
 */
export function parseTokeninfo(body: unknown, cfg: TokeninfoConfig): TokeninfoIdentity {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new Unavailable(`tokeninfo ${cfg.name}: body is not a JSON object`);
  const b = body as Record<string, unknown>;
  if (typeof b.uid !== 'string' || b.uid === '' || b.uid.length > 256 || CONTROL.test(b.uid))
    throw new Unavailable(`tokeninfo ${cfg.name}: uid must be a non-empty string`);
  if (typeof b.realm !== 'string') throw new Unavailable(`tokeninfo ${cfg.name}: realm must be a string`);
  let expiresIn: number;
  if (typeof b.expires_in === 'number' && Number.isInteger(b.expires_in)) expiresIn = b.expires_in;
  else if (typeof b.expires_in === 'string' && /^[0-9]{1,12}$/.test(b.expires_in)) expiresIn = Number(b.expires_in);
  else throw new Unavailable(`tokeninfo ${cfg.name}: expires_in must be an integer`);
  if (!(expiresIn > 0)) throw new Unavailable(`tokeninfo ${cfg.name}: expires_in must be > 0`);
  if (!Array.isArray(b.scope) || !b.scope.every((s) => typeof s === 'string'))
    throw new Unavailable(`tokeninfo ${cfg.name}: scope must be an array of strings`);
  if (!Object.prototype.hasOwnProperty.call(cfg.realms, b.realm)) throw new TokenRejected('realm not allowed');
  const realm = cfg.realms[b.realm]!;
  const scopes = new Set(b.scope as string[]);
  if (!cfg.requiredScopes.every((s) => scopes.has(s))) throw new TokenRejected('required scope missing');
  const username = realm.usernamePrefix + b.uid;
  if (username.startsWith('system:')) throw new TokenRejected('reserved username');
  return { username, uid: `${cfg.name}/${b.uid}`, groups: [...realm.groups], realm: b.realm, expiresIn };
}

/** Calls one tokeninfo endpoint. */
export class TokeninfoClient {
  private readonly ca?: Buffer;
  /**
   * `tokeninfo/<name>`: the `kubeaws.io/authenticator` value of this endpoint's identities, one string shared by every
   * cached identity (docs/authnz-webhook.md#authnz-token-cache).
   */
  readonly authenticator: string;
  constructor(
    readonly cfg: TokeninfoConfig,
    private readonly metrics?: WebhookMetrics,
  ) {
    this.authenticator = `tokeninfo/${cfg.name}`;
    if (cfg.caFile) this.ca = readFileSync(cfg.caFile);
  }

  /**
   * Looks a token up (docs/authnz-webhook.md#authnz-tokeninfo).
   * @throws TokenRejected (`token rejected by tokeninfo`, `realm not allowed`, `required scope missing`)
   *   or Unavailable.
   */
  async lookup(token: string): Promise<TokeninfoIdentity> {
    const started = performance.now();
    let result: UpstreamResult = 'ok';
    try {
      let res;
      try {
        res = await boundedGet(this.cfg.url, {
          timeoutMs: this.cfg.timeoutMs,
          maxBytes: MAX_TOKENINFO_BYTES,
          headers: { Authorization: `Bearer ${token}` },
          ca: this.ca,
        });
      } catch (e) {
        result = e instanceof FetchError ? e.result : 'connect_error';
        throw new Unavailable(`tokeninfo ${this.cfg.name}: ${result}`);
      }
      result = statusResult(res.status);
      if (res.status === 400 || res.status === 401 || res.status === 403)
        throw new TokenRejected('token rejected by tokeninfo');
      if (res.status !== 200) {
        if (result === 'ok') result = 'invalid_response';
        throw new Unavailable(`tokeninfo ${this.cfg.name}: HTTP ${res.status}`);
      }
      let body: unknown;
      try {
        body = JSON.parse(res.body.toString('utf8'));
      } catch {
        result = 'invalid_response';
        throw new Unavailable(`tokeninfo ${this.cfg.name}: body is not JSON`);
      }
      try {
        return parseTokeninfo(body, this.cfg);
      } catch (e) {
        if (e instanceof Unavailable) result = 'invalid_response';
        throw e;
      }
    } finally {
      const labels = { upstream: 'tokeninfo', name: this.cfg.name, result };
      this.metrics?.upstreamRequests.inc(labels);
      this.metrics?.upstreamDuration.observe(labels, (performance.now() - started) / 1000);
    }
  }
}
