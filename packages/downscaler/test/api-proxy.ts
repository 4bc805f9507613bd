/**
 * A plain-HTTP proxy on loopback in front of the real kube-apiserver, for tests that need one API request held back
 * or refused: requests whose path matches a held prefix are parked until {@link ApiProxy.release}; a refused prefix
 * is answered with a Kubernetes `Status` of the given code. Everything else (watches included) is forwarded
 * unchanged over TLS with the caller's `Authorization` header; nothing here implements API behaviour.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

/** The proxy. */
export class ApiProxy {
  private server?: http.Server;
  private readonly holds = new Set<string>();
  private readonly refusals = new Map<string, number>();
  private readonly parked: { path: string; go: () => void }[] = [];
  private readonly upstream: URL;
  private readonly ca?: Buffer;
  /** Every forwarded or refused request path, in order. */
  readonly seen: string[] = [];

  /** `kc`: the kubeconfig whose cluster (server and CA) is proxied; its user is what clients of the proxy send. */
  constructor(private readonly kc: KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('ApiProxy: kubeconfig has no current cluster');
    this.upstream = new URL(cluster.server);
    this.ca = cluster.caData ? Buffer.from(cluster.caData, 'base64') : undefined;
  }

  /** Parks every request whose path (with query) starts with `prefix` from now until {@link release}. */
  hold(prefix: string): void {
    this.holds.add(prefix);
  }

  /** Requests parked now. */
  parkedCount(): number {
    return this.parked.length;
  }

  /** Stops holding `prefix` and forwards what was parked under it. */
  release(prefix: string): void {
    this.holds.delete(prefix);
    const go = this.parked.filter((p) => p.path.startsWith(prefix));
    this.parked.splice(0, this.parked.length, ...this.parked.filter((p) => !p.path.startsWith(prefix)));
    for (const p of go) p.go();
  }

  /** Answers every request whose path starts with `prefix` with a `Status` of HTTP `code` from now on. */
  refuse(prefix: string, code: number): void {
    this.refusals.set(prefix, code);
  }

  /** Starts listening on a free loopback port. */
  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const path = req.url ?? '/';
      this.seen.push(path);
      const refusal = [...this.refusals].find(([p]) => path.startsWith(p));
      if (refusal) {
        res.writeHead(refusal[1], { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            status: 'Failure',
            code: refusal[1],
            reason: refusal[1] === 404 ? 'NotFound' : 'Forbidden',
            message: `refused by the test proxy: ${path}`,
          }),
        );
        return;
      }
      const forward = () => {
        const up = https.request(
          {
            host: this.upstream.hostname,
            port: this.upstream.port,
            method: req.method,
            path,
            headers: { ...req.headers, host: this.upstream.host },
            ca: this.ca,
          },
          (r) => {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
          },
        );
        up.on('error', () => res.destroy());
        res.on('close', () => up.destroy());
        req.pipe(up);
      };
      if ([...this.holds].some((p) => path.startsWith(p))) this.parked.push({ path, go: forward });
      else forward();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  /** A copy of the proxied kubeconfig whose server is this proxy (plain HTTP on loopback). */
  kubeConfig(): KubeConfig {
    const port = (this.server!.address() as AddressInfo).port;
    const user = this.kc.getCurrentUser()!;
    const out = new KubeConfig();
    out.loadFromOptions({
      // plain HTTP on loopback: client-node accepts an http:// server only with TLS verification off
      clusters: [{ name: 'proxy', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ ...user }],
      contexts: [{ name: 'proxy', cluster: 'proxy', user: user.name }],
      currentContext: 'proxy',
    });
    return out;
  }

  /** Closes the listener and every connection; parked requests are dropped. */
  async stop(): Promise<void> {
    this.parked.splice(0);
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
