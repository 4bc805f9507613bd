/**
 * A recording, fault-injecting HTTP proxy in front of the real moto server: every EC2 call's `Action`
 * and parameters are logged in order; rules answer chosen calls with an EC2 error (throttling, quotas,
 * RouteAlreadyExists …) instead of forwarding, rewrite responses, or cut the network after a chosen
 * call (a controller "killed" right after it). Never an imitation of EC2: everything else is moto's.
 * Plain erasable TypeScript, so the benchmarks import it with Node's type stripping.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One recorded call. */
export interface Call {
  action: string;
  params: Record<string, string>;
  /** The injected error code, if any. */
  injected?: string;
  /** HTTP status moto (or the rule) answered with. */
  status?: number;
}

/** A fault rule: the first `times` matching calls get `code` (HTTP `status`, default 400). */
export interface Fault {
  action: string;
  match?: (params: Record<string, string>) => boolean;
  code: string;
  status?: number;
  times?: number;
  /** Instead of an error answer, the connection is reset without a response (a network error); `code` then only labels the log. */
  reset?: boolean;
  /**
   * Runs against the real moto before the error is answered, e.g. a concurrent writer creating the route the
   * call then finds existing (a race made deterministic). Never answers in moto's place.
   */
  before?: (params: Record<string, string>) => Promise<void>;
}

/** Mutating EC2 actions (everything not Describe/Get). */
export function isMutating(action: string): boolean {
  return !/^(Describe|Get)/.test(action);
}

/** The proxy. */
export class Ec2Proxy {
  readonly calls: Call[] = [];
  private faults: Array<Fault & { left: number }> = [];
  private cutAfter: ((c: Call) => boolean) | undefined;
  /** The network is cut: every request's socket is destroyed. */
  cut = false;
  /** Response rewrites: (action, body) -> body. */
  rewrite: ((action: string, body: string) => string) | undefined;
  private server!: Server;
  endpoint = '';

  private readonly upstream: string;

  /** @param upstream base URL of the moto server */
  constructor(upstream: string) {
    this.upstream = upstream;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Adds a fault rule. */
  inject(f: Fault): void {
    this.faults.push({ ...f, left: f.times ?? 1 });
  }

  /** Cuts the network right after the first call matching `pred` was answered. */
  cutAfterCall(pred: (c: Call) => boolean): void {
    this.cutAfter = pred;
  }

  /** Restores the network and clears faults and rewrites. */
  heal(): void {
    this.cut = false;
    this.cutAfter = undefined;
    this.faults = [];
    this.rewrite = undefined;
  }

  /** Recorded actions, optionally only mutating ones. */
  actions(opts: { mutating?: boolean; since?: number } = {}): string[] {
    return this.calls
      .slice(opts.since ?? 0)
      .filter((c) => !opts.mutating || isMutating(c.action))
      .map((c) => c.action);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (this.cut) {
      req.socket.destroy();
      return;
    }
    const params = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
    const call: Call = { action: params.Action ?? '', params };
    this.calls.push(call);
    const fault = this.faults.find((f) => f.left > 0 && f.action === call.action && (!f.match || f.match(params)));
    if (fault) {
      fault.left--;
      if (fault.before) await fault.before(params);
      call.injected = fault.code;
      if (fault.reset) {
        req.socket.destroy();
        return;
      }
      call.status = fault.status ?? 400;
      res.writeHead(call.status, { 'content-type': 'text/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${fault.code}</Code><Message>injected by the test proxy</Message></Error></Errors><RequestID>proxy-${this.calls.length}</RequestID></Response>`,
      );
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
    const up = await fetch(this.upstream + (req.url ?? '/'), { method: req.method, headers, body: req.method === 'GET' ? undefined : body });
    let text = await up.text();
    if (this.rewrite) text = this.rewrite(call.action, text);
    call.status = up.status;
    res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'text/xml' });
    res.end(text);
    if (this.cutAfter?.(call)) {
      this.cut = true;
      this.cutAfter = undefined;
    }
  }
}

/**
 * Rewrites a DescribeNatGateways response so that the NAT gateway `natGatewayId`, while moto reports it
 * `available`, reads `failed` with `failureCode` (moto never fails a NAT gateway by itself). Works on the
 * top-level `<item>`s of the response.
 */
export function failNatGateway(body: string, natGatewayId: string, failureCode: string): string {
  const re = /<(\/?)item>/g;
  let depth = 0;
  let start = -1;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    if (!m[1]) {
      if (depth++ === 0) start = m.index;
    } else if (--depth === 0) {
      const end = m.index + m[0].length;
      const item = body.slice(start, end);
      if (item.includes(`<natGatewayId>${natGatewayId}</natGatewayId>`) && item.includes('<state>available</state>')) {
        const failed = item.replace('<state>available</state>', `<state>failed</state><failureCode>${failureCode}</failureCode>`);
        return body.slice(0, start) + failed + body.slice(end);
      }
    }
  }
  return body;
}
