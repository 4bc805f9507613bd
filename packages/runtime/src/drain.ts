/**
 * Graceful shutdown of an HTTP(S) server without resetting a client's request. A keep-alive client may
 * send its next request on a connection at the moment the server closes it; that request then fails with
 * `ECONNRESET` / `socket hang up`, although nothing was wrong with it. {@link ConnectionDrain} avoids the
 * race the way Go's `http.Server.Shutdown` and the kube-apiserver's graceful termination do:
 *
 * 1. {@link ConnectionDrain.beginDrain} (readiness already failing, the server still accepting): every answer
 *    from then on carries `Connection: close`, so each connection closes after the answer that is on it and
 *    the client opens a new one for its next request; nothing is cut;
 * 2. {@link ConnectionDrain.close}: the listener stops accepting (new connections are refused, which a client
 *    sees before sending anything), connections idle between requests are closed, in-flight requests
 *    complete (their answers carry `Connection: close`), and only what is still open after `graceMs` is
 *    destroyed.
 *
 * Node's HTTP server closes a connection after an answer that carries `Connection: close` (RFC 9112
 * section 9.6, "Tear-down").
 */
import type * as http from 'node:http';
import * as net from 'node:net';
import type { Socket } from 'node:net';

/** Per-connection state: the drain, requests being answered, and whether an answer kept it open before the drain. */
const DRAIN = Symbol('kubeaws.drain');
const ACTIVE = Symbol('kubeaws.activeRequests');
const KEPT_ALIVE = Symbol('kubeaws.keptAlive');
type TrackedSocket = Socket & { [DRAIN]?: ConnectionDrain; [ACTIVE]?: number; [KEPT_ALIVE]?: boolean };

/**
 * A response's `close` listener, shared by every response (no closure per request). Node emits `close` once per
 * response: after `finish` when the answer was sent, or when the connection ended first.
 */
function responseClosed(this: http.ServerResponse): void {
  const sock = this.req.socket as TrackedSocket;
  const drain = sock[DRAIN];
  if (!drain) return;
  sock[ACTIVE] = (sock[ACTIVE] ?? 1) - 1;
  // An answer without `Connection: close` leaves the connection open for the client's next request: checked until
  // the first such answer on a connection.
  if (!sock[KEPT_ALIVE] && !this.getHeader('Connection')?.toString().toLowerCase().includes('close')) sock[KEPT_ALIVE] = true;
  drain.answered();
}

/** See the module docs. One per server, created before the server listens. */
export class ConnectionDrain {
  private draining = false;
  private readonly sockets = new Set<TrackedSocket>();
  private inFlight = 0;
  private onEmpty?: () => void;

  /**
   * @param server an `http.Server` or `https.Server` created without a request listener
   * @param handler the server's request handler: the drain installs it as the server's only `request` listener,
   *   called after the drain's bookkeeping (which adds `Connection: close` to the answer while draining), so that
   *   Node calls one listener per request
   */
  constructor(
    private readonly server: http.Server,
    handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  ) {
    const track = (s: TrackedSocket) => {
      s[DRAIN] = this;
      this.sockets.add(s);
      s.on('close', () => {
        this.sockets.delete(s);
        if (this.sockets.size === 0) this.onEmpty?.();
      });
    };
    // A TLS server's requests arrive on the TLS socket of 'secureConnection', not on the TCP socket.
    server.on('setSecureContext' in server ? 'secureConnection' : 'connection', track);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const sock = req.socket as TrackedSocket;
      sock[ACTIVE] = (sock[ACTIVE] ?? 0) + 1;
      this.inFlight++;
      if (this.draining) res.setHeader('Connection', 'close');
      res.on('close', responseClosed);
      handler(req, res);
    });
  }

  /** An answer was sent or its connection ended: called by {@link responseClosed} only. @internal */
  answered(): void {
    this.inFlight--;
  }

  /** True once {@link beginDrain} was called. */
  get isDraining(): boolean {
    return this.draining;
  }

  /** Requests being answered right now. */
  get inFlightRequests(): number {
    return this.inFlight;
  }

  /** Open connections (idle or busy). */
  get openConnections(): number {
    return this.sockets.size;
  }

  /** From now on every answer carries `Connection: close`. Idempotent. */
  beginDrain(): void {
    this.draining = true;
  }

  /**
   * Stops accepting connections and ends every open one without cutting a request: a connection idle
   * after a keep-alive answer is closed now; a connection with a request in flight, or a new one whose
   * first request has not arrived yet, closes after its answer (which carries `Connection: close`). What
   * is still open after `graceMs` milliseconds is destroyed. Resolves when the server and every
   * connection have closed. Implies {@link beginDrain}.
   */
  async close(graceMs: number): Promise<void> {
    this.beginDrain();
    // net.Server's close stops accepting and nothing else: http.Server's close would also destroy every
    // connection whose first request has not been parsed yet, cutting a request already on its way.
    const closed = new Promise<void>((r) => net.Server.prototype.close.call(this.server, () => r()));
    for (const s of this.sockets) if (!s[ACTIVE] && s[KEPT_ALIVE]) s.destroySoon();
    // Connections accepted just before the listener closed may still be announced after this point.
    const allClosed = new Promise<void>((r) => {
      this.onEmpty = r;
      if (this.sockets.size === 0) r();
    });
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((r) => {
      timer = setTimeout(r, graceMs);
      timer.unref();
    });
    await Promise.race([Promise.all([closed, allClosed]), graceOver]);
    clearTimeout(timer);
    for (const s of this.sockets) s.destroy();
    await Promise.all([closed, allClosed]);
    this.onEmpty = undefined;
  }
}
