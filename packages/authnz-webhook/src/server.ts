/**
 * HTTP handling of the webhook and access listeners (docs/authnz-webhook.md#authnz-listeners, #authnz-http,
 * #authnz-tls):
 *
 * - `POST /authenticate` (TokenReview) and `POST /authorize` (SubjectAccessReview): 200 for every
 *   decision; 400 for malformed bodies; 413 above `--max-request-bytes` (connection closed); 415 for a
 *   non-JSON `Content-Type` (body not parsed); 503 for upstream outages and unexpected errors; never
 *   500, 504 or 429. Unknown paths 404, wrong methods 405 with `Allow`, all as Status JSON.
 * - HTTP/1.1 with keep-alive; idle keep-alive timeout 125 s (kube-apiserver keeps idle connections 90 s).
 * - The webhook listener requires a client certificate signed by `--client-ca-file` (optionally with a
 *   CN in `--allowed-client-names`); otherwise the connection closes before any HTTP response.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { type Clock, ConnectionDrain, type Logger } from '@kubeaws/runtime';
import type { AccessApi } from './access-api.js';
import type { Authenticator } from './authenticator.js';
import { type Decision, type Policy, authorize } from './authorize.js';
import { type DecisionLog, tokenFingerprint } from './decision-log.js';
import { Unavailable, reasonLabel } from './errors.js';
import type { WebhookMetrics } from './metrics.js';
import { BadRequest, isJsonContentType, parseBody, parseSar, parseTokenReview, statusBody } from './wire.js';

/**
 * Idle keep-alive timeout of every listener (ms); must exceed kube-apiserver's 90 s
 * (docs/authnz-webhook.md#authnz-http).
 */
export const KEEP_ALIVE_TIMEOUT_MS = 125_000;

/** TLS files of a listener; reloaded when their content changes. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Client CA; set for mutual TLS. */
  clientCaFile?: string;
  /** Allowed client certificate CNs (empty = any the CA signed). */
  allowedClientNames?: string[];
}

/** A listener to open. `tls` undefined = plain HTTP (only for `--insecure-loopback-webhook`). */
export interface ListenOptions {
  host?: string;
  port: number;
  tls?: TlsFiles;
}

function readTls(t: TlsFiles): { opts: https.ServerOptions; hash: string } {
  const cert = readFileSync(t.certFile);
  const key = readFileSync(t.keyFile);
  const ca = t.clientCaFile ? readFileSync(t.clientCaFile) : undefined;
  const hash = createHash('sha256')
    .update(cert)
    .update(key)
    .update(ca ?? '')
    .digest('hex');
  return {
    hash,
    opts: {
      cert,
      key,
      ...(ca ? { ca, requestCert: true, rejectUnauthorized: true } : {}),
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
    },
  };
}

interface Listener {
  server: http.Server;
  drain: ConnectionDrain;
  tls?: TlsFiles;
  tlsHash?: string;
  kind: 'webhook' | 'access';
  address: AddressInfo;
}

/** Options of {@link WebhookServer}. */
export interface WebhookServerOptions {
  authenticator: Authenticator;
  policy: () => Policy;
  clock: Clock;
  log: DecisionLog;
  logger: Logger;
  metrics?: WebhookMetrics;
  /** `--max-request-bytes`. */
  maxRequestBytes: number;
  access?: AccessApi;
}

type Endpoint = 'authenticate' | 'authorize' | 'access' | 'other';

/** See the module docs. */
export class WebhookServer {
  private readonly listeners: Listener[] = [];
  private draining = false;

  constructor(private readonly o: WebhookServerOptions) {}

  /** Opens the webhook listener (`/authenticate`, `/authorize`). Resolves with the bound address. */
  listenWebhook(l: ListenOptions): Promise<AddressInfo> {
    return this.listen(l, 'webhook');
  }

  /** Opens the access API listener (`/access/v1/...`). */
  listenAccess(l: ListenOptions): Promise<AddressInfo> {
    return this.listen(l, 'access');
  }

  private listen(l: ListenOptions, kind: Listener['kind']): Promise<AddressInfo> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      void (kind === 'webhook' ? this.handleWebhook(req, res) : this.handleAccess(req, res)).catch((err) => {
        this.o.logger.error({ err }, 'request handler failed');
        if (!res.headersSent) this.sendStatus(res, 503, 'internal error', 'other');
      });
    };
    let server: http.Server;
    let tlsHash: string | undefined;
    if (l.tls) {
      const { opts, hash } = readTls(l.tls);
      tlsHash = hash;
      server = https.createServer(opts, handler);
      const allowed = l.tls.allowedClientNames ?? [];
      if (l.tls.clientCaFile && allowed.length > 0) {
        server.on('secureConnection', (sock: TLSSocket) => {
          const cn = sock.getPeerCertificate()?.subject?.CN;
          const names = Array.isArray(cn) ? cn : [cn];
          if (!names.some((n) => n !== undefined && allowed.includes(n))) {
            this.o.logger.warn({ cn: names.filter(Boolean) }, 'client certificate CN not allowed; connection closed');
            sock.destroy();
          }
        });
      }
      server.on('tlsClientError', (err) => this.o.logger.debug({ error: err.message }, 'TLS handshake refused'));
    } else {
      server = http.createServer(handler);
    }
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    server.headersTimeout = 60_000;
    server.requestTimeout = 120_000;
    const drain = new ConnectionDrain(server);
    if (this.draining) drain.beginDrain();
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(l.port, l.host, () => {
        server.off('error', reject);
        const address = server.address() as AddressInfo;
        this.listeners.push({ server, drain, tls: l.tls, tlsHash, kind, address });
        resolve(address);
      });
    });
  }

  /** Re-reads TLS files and swaps the secure context of listeners whose files changed. */
  reloadTls(): void {
    for (const l of this.listeners) {
      if (!l.tls) continue;
      try {
        const { opts, hash } = readTls(l.tls);
        if (hash === l.tlsHash) continue;
        (l.server as https.Server).setSecureContext(opts);
        l.tlsHash = hash;
        this.o.logger.info({ listener: l.kind }, 'TLS files reloaded');
      } catch (err) {
        this.o.logger.error({ err, listener: l.kind }, 'TLS files could not be reloaded; keeping the previous ones');
      }
    }
  }

  /** Addresses of the open listeners. */
  addresses(): Array<{ kind: string; address: AddressInfo }> {
    return this.listeners.map((l) => ({ kind: l.kind, address: l.address }));
  }

  /**
   * Shutdown has begun (`/readyz` fails, the listeners keep serving for `--shutdown-delay`): every answer
   * carries `Connection: close` from now on, so keep-alive clients such as kube-apiserver move to a new
   * connection for each request and none is cut when the listeners close (docs/authnz-webhook.md#authnz-shutdown).
   */
  beginDrain(): void {
    this.draining = true;
    for (const l of this.listeners) l.drain.beginDrain();
  }

  /**
   * Stops accepting connections, closes connections idle between requests, lets in-flight requests finish
   * (at most `graceMs`; their answers carry `Connection: close`), then closes what is left
   * ({@link ConnectionDrain.close}).
   */
  async close(graceMs = 10_000): Promise<void> {
    await Promise.all(this.listeners.map((l) => l.drain.close(graceMs)));
    this.listeners.length = 0;
  }

  private sendJson(
    res: http.ServerResponse,
    code: number,
    body: unknown,
    endpoint: Endpoint,
    extraHeaders: Record<string, string> = {},
  ): void {
    const text = JSON.stringify(body);
    res.writeHead(code, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      ...extraHeaders,
    });
    res.end(text);
    this.o.metrics?.httpRequests.inc({ endpoint, code: String(code) });
  }

  private sendStatus(
    res: http.ServerResponse,
    code: number,
    message: string,
    endpoint: Endpoint,
    extraHeaders: Record<string, string> = {},
  ): void {
    this.sendJson(res, code, statusBody(code, message), endpoint, extraHeaders);
  }

  /** Reads the body up to `max` bytes; answers 413 (and closes) when larger. Returns undefined when answered. */
  private readBody(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    endpoint: Endpoint,
  ): Promise<string | undefined> {
    const max = this.o.maxRequestBytes;
    const tooLarge = () => {
      this.sendStatus(res, 413, `body larger than ${max} bytes (--max-request-bytes)`, endpoint, {
        Connection: 'close',
      });
      res.on('finish', () => req.socket.destroy());
    };
    const len = Number(req.headers['content-length']);
    if (Number.isFinite(len) && len > max) {
      tooLarge();
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      req.on('data', (c: Buffer) => {
        if (done) return;
        size += c.length;
        if (size > max) {
          done = true;
          req.pause();
          tooLarge();
          resolve(undefined);
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (done) return;
        done = true;
        // a small body arrives in one chunk: decode it without copying it first
        resolve((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8'));
      });
      req.on('error', () => {
        if (done) return;
        done = true;
        resolve(undefined);
      });
    });
  }

  private async handleWebhook(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const endpoint: Endpoint =
      path === '/authenticate' ? 'authenticate' : path === '/authorize' ? 'authorize' : 'other';
    try {
      if (endpoint === 'other')
        return this.sendStatus(
          res,
          404,
          `path ${JSON.stringify(path.slice(0, 100))} not found; expected /authenticate or /authorize`,
          endpoint,
        );
      if (req.method !== 'POST')
        return this.sendStatus(res, 405, `method ${req.method} not allowed on ${path}; expected POST`, endpoint, {
          Allow: 'POST',
        });
      if (!isJsonContentType(req.headers['content-type']))
        return this.sendStatus(
          res,
          415,
          `Content-Type ${JSON.stringify(req.headers['content-type'] ?? '')} not supported; expected application/json`,
          endpoint,
        );
      const text = await this.readBody(req, res, endpoint);
      if (text === undefined) return;
      const body = parseBody(text);
      if (endpoint === 'authenticate') await this.tokenReview(body, res);
      else this.sar(body, res);
    } catch (e) {
      if (e instanceof BadRequest) return this.sendStatus(res, 400, e.message, endpoint);
      if (e instanceof Unavailable) {
        this.o.logger.warn({ error: e.message }, 'upstream unavailable; answering 503');
        return this.sendStatus(res, 503, 'authentication upstream unavailable; retry', endpoint);
      }
      this.o.logger.error({ err: e }, 'unexpected error; answering 503');
      return this.sendStatus(res, 503, 'internal error', endpoint);
    } finally {
      this.o.metrics?.httpDuration.observe({ endpoint }, (performance.now() - started) / 1000);
    }
  }

  private async tokenReview(body: Record<string, unknown>, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const tr = parseTokenReview(body);
    let out;
    try {
      out = await this.o.authenticator.review(tr.token, tr.audiences);
    } catch (e) {
      if (e instanceof Unavailable) {
        const fp = tokenFingerprint(tr.token);
        const x = e as Unavailable & { source?: string; issuer?: string };
        this.o.metrics?.tokenReviews.inc({ result: 'error', source: x.source ?? 'none', issuer: x.issuer ?? 'none' });
        this.o.log.decision(
          {
            event: 'authn',
            result: 'error',
            reason: e.message,
            issuer: x.issuer,
            token_sha256: fp,
            duration_ms: Math.round(performance.now() - started),
          },
          true,
          'upstream_unavailable',
        );
      }
      throw e;
    }
    const duration_ms = Math.round((performance.now() - started) * 1000) / 1000;
    const status: Record<string, unknown> = { authenticated: out.authenticated };
    if (out.authenticated) {
      status.user = out.user;
      if (out.audiences) status.audiences = out.audiences;
    } else {
      status.error = out.error;
      this.o.metrics?.tokenReviewFailures.inc({ reason: reasonLabel(out.error!) });
    }
    this.o.metrics?.tokenReviews.inc({
      result: out.authenticated ? 'authenticated' : 'unauthenticated',
      source: out.source,
      issuer: out.issuer,
    });
    this.sendJson(res, 200, { apiVersion: tr.apiVersion, kind: 'TokenReview', status }, 'authenticate');
    const privileged =
      !out.authenticated || out.role === 'Administrator' || out.role === 'Manual' || out.role === 'Emergency';
    // the fingerprint is a SHA-256 of the token: computed only for a line that is written
    const fp = (): string => out.tokenSha256 || tokenFingerprint(tr.token);
    if (this.o.log.wants(privileged))
      this.o.log.decision(
        {
          event: 'authn',
          result: out.authenticated ? 'authenticated' : 'unauthenticated',
          reason: out.error,
          issuer: out.issuer,
          token_sha256: fp(),
          ...out.log,
          username: out.user?.username,
          role: out.role ?? 'none',
          audiences: tr.audiences.length ? tr.audiences : undefined,
          cache: out.cache,
          duration_ms,
        },
        privileged,
        out.error ?? 'authenticated',
      );
    if (out.grant && out.role === out.grant.spec.type) {
      this.o.log.audit('access.role_issued', {
        request: out.grant.metadata.name,
        type: out.grant.spec.type,
        requester: { username: out.grant.spec.user, uid: out.grant.spec.uid },
        approver: out.grant.status?.approvedBy
          ? { username: out.grant.status.approvedBy, uid: out.grant.status.approvedByUid }
          : undefined,
        reason: out.grant.spec.reason,
        incident: out.grant.spec.incident,
        expiresAt: out.grant.status?.expiresAt,
        token_sha256: fp(),
      });
    }
  }

  private sar(body: Record<string, unknown>, res: http.ServerResponse): void {
    const started = performance.now();
    const { apiVersion, input } = parseSar(body);
    const d: Decision = authorize(input, this.o.policy());
    const status: Record<string, unknown> =
      d.decision === 'allow'
        ? { allowed: true, reason: d.reason }
        : d.decision === 'deny'
          ? { allowed: false, denied: true, reason: d.reason }
          : { allowed: false, reason: d.reason };
    this.sendJson(res, 200, { apiVersion, kind: 'SubjectAccessReview', status }, 'authorize');
    this.o.metrics?.sars.inc({
      decision: d.decision === 'no-opinion' ? 'no_opinion' : d.decision,
      rule: d.rule.startsWith('system-user:') ? 'system-user' : d.rule,
      role: d.role,
    });
    const privileged =
      d.decision === 'deny' ||
      d.role === 'Administrator' ||
      d.role === 'Manual' ||
      d.role === 'Emergency' ||
      d.rule.startsWith('system-user:');
    const audit = d.role === 'Manual' || d.role === 'Emergency';
    if (!audit && !this.o.log.wants(privileged)) return;
    const a = input.resource;
    const fields = {
      event: 'authz',
      decision: d.decision,
      rule: d.rule,
      role: d.role,
      user: input.user,
      groups: input.groups,
      verb: a?.verb ?? input.nonResource?.verb,
      apiGroup: a?.group,
      resource: a?.resource,
      subresource: a?.subresource || undefined,
      namespace: a?.namespace || undefined,
      name: a?.name || undefined,
      path: input.nonResource?.path,
      reason: d.reason,
      duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
    };
    this.o.log.decision(fields, privileged, d.rule);
    if (audit) {
      this.o.log.audit('access.decision', {
        ...fields,
        request: input.extra['kubeaws.io/access-request']?.[0],
        type: d.role,
      });
    }
  }

  private async handleAccess(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean);
    try {
      const api = this.o.access;
      const known =
        api &&
        parts[0] === 'access' &&
        parts[1] === 'v1' &&
        parts[2] === 'requests' &&
        (parts.length === 3 ||
          parts.length === 4 ||
          (parts.length === 5 && ['approve', 'reject', 'revoke'].includes(parts[4]!)));
      if (!known)
        return this.sendStatus(
          res,
          404,
          `path ${JSON.stringify(url.pathname.slice(0, 100))} not found; expected /access/v1/requests[/{name}[/approve|reject|revoke]]`,
          'access',
        );
      const allow = parts.length === 3 ? 'GET, POST' : parts.length === 4 ? 'GET' : 'POST';
      if (!allow.split(', ').includes(req.method ?? ''))
        return this.sendStatus(
          res,
          405,
          `method ${req.method} not allowed on ${url.pathname}; expected ${allow}`,
          'access',
          { Allow: allow },
        );
      let text = '';
      if (req.method === 'POST') {
        if (parts.length === 3 && !isJsonContentType(req.headers['content-type']))
          return this.sendStatus(
            res,
            415,
            `Content-Type ${JSON.stringify(req.headers['content-type'] ?? '')} not supported; expected application/json`,
            'access',
          );
        const t = await this.readBody(req, res, 'access');
        if (t === undefined) return;
        text = t;
      }
      const answer = await api!.handle({
        method: req.method!,
        path: url.pathname,
        query: url.searchParams,
        authorization: req.headers.authorization,
        body: text,
        clientIp: req.socket.remoteAddress ?? '',
      });
      this.sendJson(res, answer.code, answer.body, 'access');
    } finally {
      this.o.metrics?.httpDuration.observe({ endpoint: 'access' }, (performance.now() - started) / 1000);
    }
  }
}
