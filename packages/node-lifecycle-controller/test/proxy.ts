/**
 * A recording, fault-injecting HTTP proxy in front of the real moto server. moto 5 lacks the Auto Scaling
 * lifecycle-action calls (it answers HTTP 500 to `CompleteLifecycleAction` and `RecordLifecycleActionHeartbeat`), so
 * tests assert those calls (action and parameters, from the query-protocol form body) through the recording, and
 * exercise the controller's error handling by injecting AWS error responses for chosen actions. Everything not
 * injected is forwarded to moto unchanged; nothing here implements AWS behaviour.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One recorded request: the query-protocol `Action` (or the JSON-protocol target) and its parameters. */
export interface Recorded {
  action: string;
  params: Record<string, string>;
  /** HTTP status answered (moto's, or the injected one). */
  status: number;
  /** Signing name of the service, from the SigV4 credential scope: `ec2`, `autoscaling`, `sqs`. */
  service: string;
  /** The SDK's attempt number (`amz-sdk-request: attempt=N`): 1 for a call, more for its retries. */
  attempt: number;
  /** When the request arrived (ms since the epoch). */
  at: number;
}

/** An AWS error answered instead of forwarding (query-protocol XML error body). */
export interface Fault {
  status: number;
  code: string;
  message: string;
}

/** The proxy. */
export class RecordingProxy {
  readonly calls: Recorded[] = [];
  private readonly faults = new Map<string, Fault>();
  private readonly holds = new Set<string>();
  private readonly parked: { action: string; go: () => void; fail: () => void }[] = [];
  private server?: http.Server;
  endpoint = '';

  constructor(private readonly upstream: string) {}

  /** Answers `action` with `fault` from now on (until {@link clearFault}). */
  inject(action: string, fault: Fault): void {
    this.faults.set(action, fault);
  }

  clearFault(action: string): void {
    this.faults.delete(action);
  }

  /** Parks requests of `action` (unanswered) until {@link release}: a process can be killed in the middle of a call. */
  hold(action: string): void {
    this.holds.add(action);
  }

  /** Requests of `action` parked now. */
  parkedCount(action: string): number {
    return this.parked.filter((p) => p.action === action).length;
  }

  /** Stops holding `action` and forwards what was parked. */
  release(action: string): void {
    this.holds.delete(action);
    for (const p of this.parked.filter((x) => x.action === action)) p.go();
    this.parked.splice(0, this.parked.length, ...this.parked.filter((x) => x.action !== action));
  }

  /** Stops holding `action` and answers what was parked with HTTP 502 instead of forwarding it: the call never reached AWS. */
  drop(action: string): void {
    this.holds.delete(action);
    for (const p of this.parked.filter((x) => x.action === action)) p.fail();
    this.parked.splice(0, this.parked.length, ...this.parked.filter((x) => x.action !== action));
  }

  /** Recorded calls of one action. */
  of(action: string): Recorded[] {
    return this.calls.filter((c) => c.action === action);
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        const target = String(req.headers['x-amz-target'] ?? '');
        let action = target.split('.').pop() ?? '';
        let params: Record<string, string> = {};
        if (!target && text.includes('Action=')) {
          params = Object.fromEntries(new URLSearchParams(text));
          action = params.Action ?? '';
        } else if (target) {
          try {
            params = Object.fromEntries(Object.entries(JSON.parse(text) as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
          } catch {
            params = {};
          }
        }
        const at = Date.now();
        const service = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
        const attempt = Number(/attempt=(\d+)/.exec(String(req.headers['amz-sdk-request'] ?? ''))?.[1] ?? 1);
        const meta = { service, attempt, at };
        const fault = this.faults.get(action);
        if (fault) {
          this.calls.push({ action, params, status: fault.status, ...meta });
          res.writeHead(fault.status, { 'content-type': 'text/xml' });
          res.end(
            `<ErrorResponse><Error><Type>Sender</Type><Code>${fault.code}</Code><Message>${fault.message}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>`,
          );
          return;
        }
        const forward = () => {
        const up = new URL(this.upstream);
        const fwd = http.request(
          { host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } },
          (r) => {
            this.calls.push({ action, params, status: r.statusCode ?? 0, ...meta });
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
          },
        );
        fwd.on('error', () => {
          res.writeHead(502);
          res.end();
        });
        fwd.end(body);
        };
        const fail = () => {
          res.writeHead(502);
          res.end();
        };
        if (this.holds.has(action)) this.parked.push({ action, go: forward, fail });
        else forward();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
