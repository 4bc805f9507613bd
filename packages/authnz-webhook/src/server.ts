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
import { AnswerBatch, type Clock, ConnectionDrain, type Logger } from '@kubeaws/runtime';
import type { AccessApi } from './access-api.js';
import type { Authenticator } from './authenticator.js';
import { type Decision, type Policy, authorize } from './authorize.js';
import { type DecisionLog, tokenFingerprint } from './decision-log.js';
import { Unavailable, reasonLabel } from './errors.js';
import type { WebhookMetrics } from './metrics.js';
import {
  BadRequest,
  isJsonContentType,
  parseBody,
  parseSar,
  parseTokenReview,
  sarAnswerText,
  statusBody,
} from './wire.js';

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

/** The `endpoint` label of a request. */
export type Endpoint = 'authenticate' | 'authorize' | 'access' | 'other';

/** The endpoint of a webhook listener's request target (`/authenticate`, `/authorize`, a query allowed). */
export function webhookEndpoint(url: string): Endpoint {
  if (url === '/authenticate') return 'authenticate';
  if (url === '/authorize') return 'authorize';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return path === '/authenticate' ? 'authenticate' : path === '/authorize' ? 'authorize' : 'other';
}

/** See the module docs. */
export class WebhookServer {
  private readonly listeners: Listener[] = [];
  private draining = false;
  /** Every listener's answers, written at the end of each event-loop turn (docs/authnz-webhook.md#authnz-http). */
  private readonly answers: AnswerBatch;

  constructor(private readonly o: WebhookServerOptions) {
    this.answers = new AnswerBatch((err) => o.logger.error({ err }, 'answer could not be written'));
  }

  /** Opens the webhook listener (`/authenticate`, `/authorize`). Resolves with the bound address. */
  listenWebhook(l: ListenOptions): Promise<AddressInfo> {
    return this.listen(l, 'webhook');
  }

  /** Opens the access API listener (`/access/v1/...`). */
  listenAccess(l: ListenOptions): Promise<AddressInfo> {
    return this.listen(l, 'access');
  }

  private listen(l: ListenOptions, kind: Listener['kind']): Promise<AddressInfo> {
    // the webhook handler answers every error itself (see failed()); it returns nothing to wait for
    const handler =
      kind === 'webhook'
        ? (req: http.IncomingMessage, res: http.ServerResponse) => this.handleWebhook(req, res)
        : (req: http.IncomingMessage, res: http.ServerResponse) => {
            void this.handleAccess(req, res).catch((err) => this.handlerFailed(res, err));
          };
    let server: http.Server;
    let tlsHash: string | undefined;
    if (l.tls) {
      const { opts, hash } = readTls(l.tls);
      tlsHash = hash;
      server = https.createServer(opts);
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
      server = http.createServer();
    }
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    server.headersTimeout = 60_000;
    server.requestTimeout = 120_000;
    const drain = new ConnectionDrain(server, handler);
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
    extraHeaders?: Record<string, string>,
  ): void {
    this.sendText(res, code, JSON.stringify(body), endpoint, extraHeaders);
  }

  /** Answers with JSON text (written at the end of the event-loop turn, {@link AnswerBatch}) and counts the answer. */
  private sendText(
    res: http.ServerResponse,
    code: number,
    text: string,
    endpoint: Endpoint,
    extraHeaders?: Record<string, string>,
  ): void {
    const length = Buffer.byteLength(text);
    res.writeHead(
      code,
      extraHeaders
        ? { 'Content-Type': 'application/json', 'Content-Length': length, ...extraHeaders }
        : { 'Content-Type': 'application/json', 'Content-Length': length },
    );
    this.answers.end(res, text);
    const m = this.o.metrics;
    if (!m) return;
    if (code === 200 && endpoint === 'authorize') m.authorizeOk.inc();
    else if (code === 200 && endpoint === 'authenticate') m.authenticateOk.inc();
    else m.httpRequestsBy.child(endpoint, code === 200 ? '200' : String(code)).inc();
  }

  private sendStatus(
    res: http.ServerResponse,
    code: number,
    message: string,
    endpoint: Endpoint,
    extraHeaders?: Record<string, string>,
  ): void {
    this.sendJson(res, code, statusBody(code, message), endpoint, extraHeaders);
  }

  /** Answers 413 for a body above `--max-request-bytes` and closes the connection once the answer is sent. */
  private tooLarge(req: http.IncomingMessage, res: http.ServerResponse, endpoint: Endpoint): void {
    this.sendStatus(res, 413, `body larger than ${this.o.maxRequestBytes} bytes (--max-request-bytes)`, endpoint, {
      Connection: 'close',
    });
    res.on('finish', () => req.socket.destroy());
  }

  /** Reads the body up to `max` bytes; answers 413 (and closes) when larger. Resolves undefined when answered. */
  private readBodyAsync(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    endpoint: Endpoint,
  ): Promise<string | undefined> {
    return new Promise((resolve) => this.readBody(req, res, endpoint, resolve));
  }

  /**
   * Reads the body up to `max` bytes and hands it to `done`; answers 413 (and closes) when larger, and then, or when
   * the request fails, hands over undefined.
   */
  private readBody(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    endpoint: Endpoint,
    done: (text: string | undefined) => void,
  ): void {
    const max = this.o.maxRequestBytes;
    const len = Number(req.headers['content-length']);
    if (Number.isFinite(len) && len > max) {
      this.tooLarge(req, res, endpoint);
      done(undefined);
      return;
    }
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    let size = 0;
    let finished = false;
    req.on('data', (c: Buffer) => {
      if (finished) return;
      size += c.length;
      if (size > max) {
        finished = true;
        req.pause();
        this.tooLarge(req, res, endpoint);
        done(undefined);
        return;
      }
      if (first === undefined) first = c;
      else (more ??= [first]).push(c);
    });
    req.on('end', () => {
      if (finished) return;
      finished = true;
      // a small body arrives in one chunk: decode it without copying it first
      done(more ? Buffer.concat(more).toString('utf8') : first ? first.toString('utf8') : '');
    });
    req.on('error', () => {
      if (finished) return;
      finished = true;
      done(undefined);
    });
  }

  /** Records the latency of a webhook request. */
  private observe(endpoint: Endpoint, started: number): void {
    const m = this.o.metrics;
    if (!m) return;
    const seconds = (performance.now() - started) / 1000;
    if (endpoint === 'authenticate') m.authenticateDuration.observe(seconds);
    else if (endpoint === 'authorize') m.authorizeDuration.observe(seconds);
    else m.httpDuration.observe({ endpoint }, seconds);
  }

  /** The last resort of a handler that threw while answering: logged, and a 503 when nothing was sent yet. */
  private handlerFailed(res: http.ServerResponse, err: unknown): void {
    this.o.logger.error({ err }, 'request handler failed');
    if (!res.headersSent) this.sendStatus(res, 503, 'internal error', 'other');
  }

  /** Answers an error of a webhook request: 400 for bad input, 503 for outages and anything unexpected. */
  private failed(res: http.ServerResponse, endpoint: Endpoint, e: unknown): void {
    try {
      if (e instanceof BadRequest) return this.sendStatus(res, 400, e.message, endpoint);
      if (e instanceof Unavailable) {
        this.o.logger.warn({ error: e.message }, 'upstream unavailable; answering 503');
        return this.sendStatus(res, 503, 'authentication upstream unavailable; retry', endpoint);
      }
      this.o.logger.error({ err: e }, 'unexpected error; answering 503');
      return this.sendStatus(res, 503, 'internal error', endpoint);
    } catch (err) {
      this.handlerFailed(res, err);
    }
  }

  /**
   * A request on the webhook listener: path, method and `Content-Type` checks, then the body is read and answered by
   * {@link webhookBody}. Answers every error itself; the latency is recorded once per request.
   */
  private handleWebhook(req: http.IncomingMessage, res: http.ServerResponse): void {
    const started = performance.now();
    const url = req.url ?? '/';
    const endpoint = webhookEndpoint(url);
    try {
      if (endpoint === 'other') {
        const q = url.indexOf('?');
        const path = q < 0 ? url : url.slice(0, q);
        this.sendStatus(
          res,
          404,
          `path ${JSON.stringify(path.slice(0, 100))} not found; expected /authenticate or /authorize`,
          endpoint,
        );
      } else if (req.method !== 'POST') {
        this.sendStatus(res, 405, `method ${req.method} not allowed on /${endpoint}; expected POST`, endpoint, {
          Allow: 'POST',
        });
      } else if (!isJsonContentType(req.headers['content-type'])) {
        this.sendStatus(
          res,
          415,
          `Content-Type ${JSON.stringify(req.headers['content-type'] ?? '')} not supported; expected application/json`,
          endpoint,
        );
      } else {
        this.readBody(req, res, endpoint, (text) => this.webhookBody(res, endpoint, started, text));
        return;
      }
    } catch (e) {
      this.failed(res, endpoint, e);
    }
    this.observe(endpoint, started);
  }

  /** Answers a webhook request whose body was read (`text` undefined: already answered). */
  private webhookBody(res: http.ServerResponse, endpoint: Endpoint, started: number, text: string | undefined): void {
    if (text !== undefined) {
      try {
        const body = parseBody(text);
        if (endpoint === 'authenticate') {
          void this.tokenReview(body, res, started);
          return;
        }
        this.sar(body, res);
      } catch (e) {
        this.failed(res, endpoint, e);
      }
    }
    this.observe(endpoint, started);
  }

  /** Answers a TokenReview; never rejects (errors are answered by {@link failed}); records the request's latency. */
  private async tokenReview(
    body: Record<string, unknown>,
    res: http.ServerResponse,
    requestStarted: number,
  ): Promise<void> {
    try {
      const started = performance.now();
      const tr = parseTokenReview(body);
      let out;
      try {
        out = await this.o.authenticator.review(tr.token, tr.audiences);
      } catch (e) {
        if (e instanceof Unavailable) {
          const fp = tokenFingerprint(tr.token);
          const x = e as Unavailable & { source?: string; issuer?: string };
          this.o.metrics?.tokenReviewsBy.child('error', x.source ?? 'none', x.issuer ?? 'none').inc();
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
      // keys in the order of the answer; JSON leaves out the undefined ones
      const status = out.authenticated
        ? { authenticated: true, user: out.user, audiences: out.audiences }
        : { authenticated: false, error: out.error };
      if (!out.authenticated) this.o.metrics?.tokenReviewFailures.inc({ reason: reasonLabel(out.error!) });
      this.o.metrics?.tokenReviewsBy
        .child(out.authenticated ? 'authenticated' : 'unauthenticated', out.source, out.issuer)
        .inc();
      this.sendJson(res, 200, { apiVersion: tr.apiVersion, kind: 'TokenReview', status }, 'authenticate');
      const privileged =
        !out.authenticated || out.role === 'Administrator' || out.role === 'Manual' || out.role === 'Emergency';
      const issued = out.grant !== undefined && out.role === out.grant.spec.type;
      const wanted = this.o.log.wants(privileged);
      if (!issued && !wanted) return;
      // the fingerprint is a SHA-256 of the token: computed only for a line that is written
      const fp = out.tokenSha256 || tokenFingerprint(tr.token);
      if (wanted)
        this.o.log.decision(
          {
            event: 'authn',
            result: out.authenticated ? 'authenticated' : 'unauthenticated',
            reason: out.error,
            issuer: out.issuer,
            token_sha256: fp,
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
      if (issued) {
        const grant = out.grant!;
        this.o.log.audit('access.role_issued', {
          request: grant.metadata.name,
          type: grant.spec.type,
          requester: { username: grant.spec.user, uid: grant.spec.uid },
          approver: grant.status?.approvedBy
            ? { username: grant.status.approvedBy, uid: grant.status.approvedByUid }
            : undefined,
          reason: grant.spec.reason,
          incident: grant.spec.incident,
          expiresAt: grant.status?.expiresAt,
          token_sha256: fp,
        });
      }
    } catch (e) {
      this.failed(res, 'authenticate', e);
    } finally {
      this.observe('authenticate', requestStarted);
    }
  }

  private sar(body: Record<string, unknown>, res: http.ServerResponse): void {
    const started = performance.now();
    const { apiVersion, input } = parseSar(body);
    const d: Decision = authorize(input, this.o.policy());
    this.sendText(res, 200, sarAnswerText(apiVersion, d), 'authorize');
    const systemUser = d.rule.startsWith('system-user:');
    this.o.metrics?.sarsBy
      .child(d.decision === 'no-opinion' ? 'no_opinion' : d.decision, systemUser ? 'system-user' : d.rule, d.role)
      .inc();
    const privileged =
      d.decision === 'deny' ||
      d.role === 'Administrator' ||
      d.role === 'Manual' ||
      d.role === 'Emergency' ||
      systemUser;
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
        const t = await this.readBodyAsync(req, res, 'access');
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
