import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ConnectionDrain } from './drain.js';
import { type Logger, silentLogger } from './logging.js';

/**
 * A named health or readiness check: passes when it returns (or resolves) `true` or nothing; fails
 * when it returns `false`, a string (the reason), or throws.
 */
export type HealthCheck = () => boolean | string | void | Promise<boolean | string | void>;

/** A parsed bind address; `host` undefined means all interfaces. */
export interface BindAddress {
  host?: string;
  port: number;
}

/**
 * Parses a controller-runtime style bind address: `:8080`, `0.0.0.0:8080`, `127.0.0.1:0` (port 0 =
 * pick a free port), `[::1]:8080`, or `0` (disabled, returns undefined). Throws an Error describing the
 * expected form otherwise.
 */
export function parseBindAddress(s: string): BindAddress | undefined {
  const v = s.trim();
  if (v === '0') return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(v);
  if (!m)
    throw new Error(`expected [host]:port (e.g. ":8080", "127.0.0.1:0") or "0" to disable, got ${JSON.stringify(s)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`port out of range in ${JSON.stringify(s)}`);
  const host = m[1] ?? m[2];
  return host ? { host, port } : { port };
}

/** Options of {@link ProbeServer}. */
export interface ProbeServerOptions {
  /** `/metrics` address (`--metrics-bind-address`), e.g. ":8080"; "0" disables. */
  metricsBindAddress: string;
  /** `/healthz` and `/readyz` address (`--health-probe-bind-address`), e.g. ":8081"; "0" disables. */
  healthProbeBindAddress: string;
  /** prom-client registry served on `/metrics`. */
  registry: Registry;
  /** `/healthz` fails when the event loop did not tick for this long (ms); default 10 000. */
  eventLoopStallMs?: number;
  logger?: Logger;
}

/** Result of running a set of checks. */
export interface CheckReport {
  ok: boolean;
  checks: Array<{ name: string; ok: boolean; reason?: string }>;
}

/** The actual listening addresses after {@link ProbeServer.start} (undefined when disabled). */
export interface ListeningAddresses {
  metrics?: { host: string; port: number; url: string };
  health?: { host: string; port: number; url: string };
}

async function runChecks(checks: Map<string, HealthCheck>): Promise<CheckReport> {
  const out: CheckReport['checks'] = [];
  for (const [name, fn] of checks) {
    try {
      const r = await fn();
      if (r === false) out.push({ name, ok: false, reason: 'check failed' });
      else if (typeof r === 'string') out.push({ name, ok: false, reason: r });
      else out.push({ name, ok: true });
    } catch (e) {
      out.push({ name, ok: false, reason: (e as Error)?.message ?? String(e) });
    }
  }
  return { ok: out.every((c) => c.ok), checks: out };
}

/**
 * HTTP servers for probes and metrics, as controller-runtime's manager: `/healthz` (liveness: the
 * built-in `event-loop` check plus registered health checks), `/readyz` (readiness: registered ready
 * checks such as caches synced and config valid), and `/metrics` (Prometheus text format). Failing
 * probes answer 500 with one `[+]name ok` / `[-]name failed: reason` line per check (like the
 * kube-apiserver's `?verbose` output); passing probes answer 200 `ok` (the full list with `?verbose`).
 * When both addresses are the same, one server serves all three paths.
 */
export class ProbeServer {
  private readonly health = new Map<string, HealthCheck>();
  private readonly ready = new Map<string, HealthCheck>();
  private servers: Array<{ server: http.Server; drain: ConnectionDrain }> = [];
  private tick = Date.now();
  private ticker?: NodeJS.Timeout;
  private draining = false;
  private readonly log: Logger;

  constructor(private readonly opts: ProbeServerOptions) {
    this.log = opts.logger ?? silentLogger();
    const stallMs = opts.eventLoopStallMs ?? 10_000;
    this.health.set('event-loop', () => {
      const lag = Date.now() - this.tick;
      return lag > stallMs ? `event loop did not tick for ${lag} ms` : true;
    });
  }

  /** Adds a liveness check (`/healthz`). */
  addHealthzCheck(name: string, check: HealthCheck): void {
    this.health.set(name, check);
  }

  /** Adds a readiness check (`/readyz`). */
  addReadyzCheck(name: string, check: HealthCheck): void {
    this.ready.set(name, check);
  }

  /** Runs the liveness checks. */
  healthz(): Promise<CheckReport> {
    return runChecks(this.health);
  }

  /** Runs the readiness checks. */
  readyz(): Promise<CheckReport> {
    return runChecks(this.ready);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, paths: Set<string>): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'Content-Type': 'text/plain' }).end('method not allowed\n');
        return;
      }
      if (path === '/metrics' && paths.has('/metrics')) {
        const body = await this.opts.registry.metrics();
        res.writeHead(200, { 'Content-Type': this.opts.registry.contentType }).end(body);
        return;
      }
      if ((path === '/healthz' || path === '/livez') && paths.has('/healthz'))
        return this.probe(res, await this.healthz(), 'healthz', url);
      if (path === '/readyz' && paths.has('/readyz')) return this.probe(res, await this.readyz(), 'readyz', url);
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    } catch (err) {
      this.log.error({ err, path }, 'probe/metrics handler failed');
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('internal error\n');
    }
  }

  private probe(res: http.ServerResponse, r: CheckReport, what: string, url: URL): void {
    const verbose = url.searchParams.has('verbose') || !r.ok;
    let body = 'ok\n';
    if (verbose) {
      body = r.checks.map((c) => (c.ok ? `[+]${c.name} ok` : `[-]${c.name} failed: ${c.reason}`)).join('\n') + '\n';
      body += r.ok ? `${what} check passed\n` : `${what} check failed\n`;
    }
    res
      .writeHead(r.ok ? 200 : 500, {
        'Content-Type': 'text/plain; charset=utf-8',
        'X-Content-Type-Options': 'nosniff',
      })
      .end(body);
  }

  /** Starts listening; resolves with the actual addresses (useful with port 0). */
  async start(): Promise<ListeningAddresses> {
    this.ticker = setInterval(() => (this.tick = Date.now()), 500);
    this.ticker.unref();
    const metrics = parseBindAddress(this.opts.metricsBindAddress);
    const health = parseBindAddress(this.opts.healthProbeBindAddress);
    const out: ListeningAddresses = {};
    const same =
      metrics &&
      health &&
      metrics.port !== 0 &&
      metrics.port === health.port &&
      (metrics.host ?? '') === (health.host ?? '');
    if (same) {
      const a = await this.listen(metrics!, new Set(['/metrics', '/healthz', '/readyz']));
      out.metrics = a;
      out.health = a;
    } else {
      if (metrics) out.metrics = await this.listen(metrics, new Set(['/metrics']));
      if (health) out.health = await this.listen(health, new Set(['/healthz', '/readyz']));
    }
    this.log.info({ metrics: out.metrics?.url, health: out.health?.url }, 'probe and metrics servers listening');
    return out;
  }

  private listen(addr: BindAddress, paths: Set<string>): Promise<{ host: string; port: number; url: string }> {
    const server = http.createServer();
    server.keepAliveTimeout = 5000;
    const drain = new ConnectionDrain(server, (req, res) => void this.handle(req, res, paths));
    if (this.draining) drain.beginDrain();
    this.servers.push({ server, drain });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(addr.port, addr.host, () => {
        server.off('error', reject);
        const a = server.address() as AddressInfo;
        const host = a.address === '::' || a.address === '0.0.0.0' ? '127.0.0.1' : a.address;
        const urlHost = host.includes(':') ? `[${host}]` : host;
        resolve({
          host: a.address,
          port: a.port,
          url: `http://${urlHost}:${a.port}`,
        });
      });
    });
  }

  /**
   * Shutdown has begun (readiness is failing, the servers still answer): every answer carries
   * `Connection: close` from now on, so no keep-alive connection is left for {@link stop} to cut
   * ({@link ConnectionDrain}).
   */
  beginDrain(): void {
    this.draining = true;
    for (const s of this.servers) s.drain.beginDrain();
  }

  /**
   * Closes the servers without resetting a request: stops accepting, closes idle connections, lets in-flight
   * scrapes and probes finish for at most `graceMs` (default 5 000 ms), then closes what is left.
   */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    const ss = this.servers;
    this.servers = [];
    await Promise.all(ss.map((s) => s.drain.close(graceMs)));
  }
}
