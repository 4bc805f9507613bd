// Benchmark of the authnz-webhook (docs/authnz-webhook.md#authnz-budgets) with a load generator on loopback.
//
//   npm run bench -- authnz-webhook [--seconds 30] [--warmup 10] [--connections 32] [--tokens 10000] [--rounds 2]
//                                   [--slices 6] [--tr-rate 2500] [--sar-rate 4000] [--tr-mtls-rate 2000]
//                                   [--sar-mtls-rate 3200] [--rate-seconds 10] [--only <scenario>,...]
//
// Scenarios, each against a fresh server process (pinned to CPU 0 with taskset when available; the load
// generator runs here, on CPU 1):
// 1. baselines (bench/authnz-webhook-baselines.mjs, plain JavaScript): the TokenReview parsed, its JWT verified with
//    jose and answered by a bare node:http server (`bare`) and by a bare express server (`express`, the baseline
//    AUTHNZ-BUDGETS names); the SubjectAccessReview parsed and answered from a fixed rule (`bare_sar`);
// 2. TokenReview over plain HTTP and over mutual TLS with the token cache off, so every request verifies an
//    RS256-2048 signature (distinct tokens, JWKS already fetched); the webhook is the image's bundle
//    (dist/packages/authnz-webhook/bundle/main.mjs, built by `npx nx run authnz-webhook:bundle`) run as its own
//    process with its flags, as the container runs it;
// 3. TokenReview with the cache on and filled (every token distinct, cache up to 10,000 entries; the entries are
//    read from the webhook's /metrics after the measured window);
// 4. SubjectAccessReview (a mix of allow, deny and no-opinion) over plain HTTP and mutual TLS.
// Closed-loop load: `connections` keep-alive connections each send the next request when the previous one
// answered, after `--warmup` seconds of the same load that are not measured: V8 compiles the request path with
// TurboFan in the first seconds under load, on the server's one core, and with a 1 s warm-up that compiling fell
// into the measured window (docs/benchmarks.md, authnz-webhook, runs 13 and 14). Every scenario runs `rounds`
// times, each against fresh server processes. A plain-HTTP webhook row and its baselines run as a group: all servers
// at once, each warmed up, then `--slices` slices of `seconds / slices` each in which the servers take turns (the
// order reversed every other slice and every other round), so that the load of other jobs on a shared machine
// falls on every side of a ratio; the tables give the median round and every round's ratio. Then an open-loop run at
// a fixed rate below saturation (`--tr-rate`, `--sar-rate`, `--tr-mtls-rate`, `--sar-mtls-rate`: half the
// throughput targets of AUTHNZ-BUDGETS, plain HTTP and mTLS) of the webhook and of the plain-HTTP baselines, each
// after the same closed-loop warm-up and 1 s at the rate, measured for `--rate-seconds`, with latency counted from
// the moment each request was due (no coordinated omission). Results (requests/s, p50/p99/p99.9 latency, server CPU
// time per request, peak RSS of the server) are printed as JSON and written into docs/benchmarks.md between the
// authnz-webhook markers (not with --only).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { cpuSeconds, freePort, log, root, vmStatus, writeBenchmarkSection, manifestNodeOptions, manifestNodeFlags, machine, measuredCommit } from './lib.mts';

const require = createRequire(import.meta.url);

const jose = require('jose');

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    tokens: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '2' },
    slices: { type: 'string', default: '6' },
    'tr-rate': { type: 'string', default: '2500' },
    'sar-rate': { type: 'string', default: '4000' },
    'tr-mtls-rate': { type: 'string', default: '2000' },
    'sar-mtls-rate': { type: 'string', default: '3200' },
    'rate-seconds': { type: 'string', default: '10' },
    only: { type: 'string' },
  },
  allowPositionals: true,
});


// ---------------------------------------------------------------------------------------------------------
// Server side (child processes)
// ---------------------------------------------------------------------------------------------------------

/** What the webhook starts with: its configuration file and, over mutual TLS, its certificate files. */
interface WebhookSpec {
  configPath: string;
  tls?: { cert: string; key: string; ca: string };
}

/** What a baseline of bench/authnz-webhook-baselines.mjs starts with: the issuer's public key and the tokens' `iss`. */
interface BaselineSpec {
  jwk: object;
  issuer: string;
}

type ServeSpec = WebhookSpec | BaselineSpec;

/** The environment of every server process: this one's, without its NODE_OPTIONS (servers get the DaemonSet's). */
function serverEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/** The webhook's bundle, as the image runs it. */
const bundle = path.join(root, 'dist/packages/authnz-webhook/bundle/main.mjs');

/** The baseline servers: a plain JavaScript file, so that their processes load no TypeScript either. */
const baselines = path.join(import.meta.dirname, 'authnz-webhook-baselines.mjs');

/**
 * The webhook's command line and environment as the container runs it: the bundle with its own flags,
 * NODE_ENV=production, standalone (no cluster access: no kubeconfig, an empty home), its `/metrics` served as the
 * DaemonSet serves it, its logs at error level. Ready
 * when /readyz answers 200 (listeners bound, issuer keys fetched): see waitReady.
 */
function webhookCommand(spec: WebhookSpec, port: number, health: number, metrics: number): { args: string[]; env: NodeJS.ProcessEnv } {
  if (!fs.existsSync(bundle)) throw new Error(`${bundle} missing: run \`npx nx run authnz-webhook:bundle\``);
  const env: NodeJS.ProcessEnv = { ...serverEnv(), NODE_ENV: 'production', HOME: path.join(os.tmpdir(), 'kubeaws-authnz-bench-home') };
  for (const k of ['KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT']) delete env[k];
  fs.mkdirSync(env.HOME!, { recursive: true });
  const args = [
    bundle,
    `--config=${spec.configPath}`,
    `--webhook-bind-address=127.0.0.1:${port}`,
    ...(spec.tls
      ? [`--tls-cert-file=${spec.tls.cert}`, `--tls-private-key-file=${spec.tls.key}`, `--client-ca-file=${spec.tls.ca}`]
      : ['--insecure-loopback-webhook']),
    '--access-api-bind-address=',
    `--metrics-bind-address=127.0.0.1:${metrics}`,
    `--health-probe-bind-address=127.0.0.1:${health}`,
    `--max-request-bytes=${1 << 20}`,
    '--shutdown-delay=0s',
    '--log-level=error',
  ];
  return { args, env };
}

/**
 * Status code of a GET over node:http (0 when the connection failed). The load generator polls the webhook's
 * `/readyz` with this, from its own process and closing the connection right after the answer, as kubelet's probes
 * do from outside the container (the baselines run no probe client either). With Node's default keep-alive agent the
 * idle probe socket closed 5 s later, in the middle of the warm-up, and that first run of the connection close path
 * de-optimized the request path, which V8 compiled again inside the measured window (docs/benchmarks.md,
 * authnz-webhook: "The readiness probe de-optimized the request path").
 */
function fetchStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', () => resolve(0));
  });
}

/**
 * The webhook's `token_cache_entries` gauge (docs/authnz-webhook.md, metrics) read from its `/metrics`.
 * @throws when the gauge is not there.
 */
function tokenCacheEntries(metricsPort: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://127.0.0.1:${metricsPort}/metrics`, { agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          const m = /^\w*token_cache_entries(?:\{[^}]*\})? (\S+)$/m.exec(text);
          if (m) resolve(Number(m[1]));
          else reject(new Error(`token_cache_entries not in /metrics of 127.0.0.1:${metricsPort}`));
        });
      })
      .on('error', reject);
  });
}

/** Polls a webhook's `/readyz` until it answers 200. @throws after 20 s. */
async function waitReady(health: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await fetchStatus(`http://127.0.0.1:${health}/readyz`);
    if (r === 200) return;
    if (Date.now() > deadline) throw new Error(`webhook bundle not ready after 20 s (/readyz ${r})`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Load generator
// ---------------------------------------------------------------------------------------------------------

interface LoadResult {
  requests: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  /** The 99.9th percentile: stalls (garbage collection, compiling) that are too rare for p99 show here. */
  p999ms: number;
  non200: number;
  /** Requests answered including the warm-up. */
  all: number;
  /** Requests sent after the warm-up (the server's CPU time is measured from the first to the last answer). */
  windowed?: number;
}

/**
 * One keep-alive connection driven with raw HTTP/1.1 bytes: far cheaper than node's http client, so a single
 * load-generator core can saturate the server. Resolves with the status of each response in turn.
 */
class RawConnection {
  private buf: Buffer = Buffer.alloc(0);
  private waiter?: (status: number) => void;
  private readonly sock: net.Socket;
  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.drain();
    });
  }
  static open(port: number, tlsOpts?: { ca: string; cert: string; key: string }): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const sock = tlsOpts
        ? tls.connect(
            { host: '127.0.0.1', port, ...tlsOpts, servername: 'localhost', ALPNProtocols: ['http/1.1'] },
            () => resolve(new RawConnection(sock)),
          )
        : net.connect({ host: '127.0.0.1', port }, () => resolve(new RawConnection(sock)));
      sock.setNoDelay(true);
      sock.once('error', reject);
    });
  }
  private drain(): void {
    const head = this.buf.indexOf('\r\n\r\n');
    if (head < 0 || !this.waiter) return;
    const headers = this.buf.subarray(0, head).toString('latin1');
    const len = Number(/content-length: *(\d+)/i.exec(headers)?.[1] ?? 0);
    if (this.buf.length < head + 4 + len) return;
    this.buf = this.buf.subarray(head + 4 + len);
    const w = this.waiter;
    this.waiter = undefined;
    w(Number(headers.slice(9, 12)));
  }
  request(raw: Buffer): Promise<number> {
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.sock.write(raw);
    });
  }
  close(): void {
    this.sock.destroy();
  }
}

function rawRequest(p: string, body: string): Buffer {
  return Buffer.from(
    `POST ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

async function load(o: {
  port: number;
  tls?: { ca: string; cert: string; key: string };
  path: string;
  bodies: string[];
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** Called when the measured window starts and when it ends. */
  onWindow?: (edge: 'start' | 'end') => void;
  /** Connections already open (left open at the end); otherwise `connections` are opened and closed. */
  conns?: RawConnection[];
  /** Receives every latency of the measured window (ms). */
  latencies?: number[];
}): Promise<LoadResult> {
  const raws = o.bodies.map((b) => rawRequest(o.path, b));
  const conns = o.conns ?? (await openConnections(o.port, o.connections, o.tls));
  const lat: number[] = [];
  let non200 = 0;
  let next = 0;
  let all = 0;
  let windowed = 0;
  let started = false;
  const start = performance.now();
  const measureFrom = start + o.warmupMs;
  const end = measureFrom + o.durationMs;
  await Promise.all(
    conns.map(async (c) => {
      for (;;) {
        const t0 = performance.now();
        if (t0 >= end) return;
        if (t0 >= measureFrom) {
          if (!started) o.onWindow?.('start');
          started = true;
          windowed++;
        }
        const status = await c.request(raws[next++ % raws.length]!);
        const t1 = performance.now();
        all++;
        if (t0 >= measureFrom && t1 <= end) {
          lat.push(t1 - t0);
          if (status !== 200) non200++;
        }
      }
    }),
  );
  o.onWindow?.('end');
  if (!o.conns) for (const c of conns) c.close();
  // one by one: a window of 30 s holds more latencies than a spread call takes arguments
  if (o.latencies) for (const x of lat) o.latencies.push(x);
  return { ...summarize(lat, o.durationMs, non200, all), windowed };
}

/** Opens `n` keep-alive connections to a server on loopback. */
function openConnections(port: number, n: number, tlsOpts?: { ca: string; cert: string; key: string }): Promise<RawConnection[]> {
  return Promise.all(Array.from({ length: n }, () => RawConnection.open(port, tlsOpts)));
}

/** Load before each measured slice of a paired round that is not measured (the server was idle until then). */
const SLICE_SETTLE_MS = 100;

/** Time at the fixed rate before the measured window of an open-loop row, after its closed-loop warm-up. */
const RATE_SETTLE_MS = 1000;

function summarize(lat: number[], durationMs: number, non200: number, all: number): LoadResult {
  lat.sort((a, b) => a - b);
  const q = (p: number) => Number((lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN).toFixed(2));
  return {
    requests: lat.length,
    rps: Math.round(lat.length / (durationMs / 1000)),
    p50ms: q(0.5),
    p99ms: q(0.99),
    p999ms: q(0.999),
    non200,
    all,
  };
}

/**
 * Open-loop load at a fixed rate: request i is due at start + i / rate and goes out on the first free
 * connection; its latency counts from when it was due, so a stalled server is not hidden by requests that were
 * never sent.
 */
async function loadAtRate(o: {
  port: number;
  tls?: { ca: string; cert: string; key: string };
  path: string;
  bodies: string[];
  connections: number;
  rate: number;
  warmupMs: number;
  durationMs: number;
  onWindow?: (edge: 'start' | 'end') => void;
}): Promise<LoadResult> {
  const raws = o.bodies.map((b) => rawRequest(o.path, b));
  const conns = await Promise.all(Array.from({ length: o.connections }, () => RawConnection.open(o.port, o.tls)));
  let windowed = 0;
  let started = false;
  const free = [...conns];
  const lat: number[] = [];
  let non200 = 0;
  let all = 0;
  let sent = 0;
  const start = performance.now();
  const measureFrom = start + o.warmupMs;
  const end = measureFrom + o.durationMs;
  const total = Math.floor(((o.warmupMs + o.durationMs) / 1000) * o.rate);
  const backlog: number[] = [];
  let outstanding = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (backlog.length && free.length) {
        const due = backlog.shift()!;
        const c = free.pop()!;
        if (due >= measureFrom) {
          if (!started) o.onWindow?.('start');
          started = true;
          windowed++;
        }
        outstanding++;
        void c.request(raws[all % raws.length]!).then((status) => {
          const t1 = performance.now();
          all++;
          outstanding--;
          if (due >= measureFrom && due < end) {
            lat.push(t1 - due);
            if (status !== 200) non200++;
          }
          free.push(c);
          pump();
          if (sent === total && outstanding === 0 && !backlog.length) resolve();
        });
      }
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + (sent * 1000) / o.rate <= now) backlog.push(start + (sent++ * 1000) / o.rate);
      pump();
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  o.onWindow?.('end');
  for (const c of conns) c.close();
  return { ...summarize(lat, o.durationMs, non200, all), windowed };
}


/**
 * The node options the DaemonSet gives the webhook (manifests/authnz-webhook/daemonset.yaml: `NODE_OPTIONS`, and the
 * node flags of its args before the bundle, such as `--no-maglev`), so that the webhook is measured with its deployed
 * heap and compiler settings; the baselines get the same options.
 */
const deployedNodeOptions: string[] = [
  ...manifestNodeOptions('authnz-webhook').split(' ').filter(Boolean),
  ...manifestNodeFlags('authnz-webhook'),
];

const hasTaskset = spawnSync('taskset', ['--version']).status === 0 && os.cpus().length >= 2;

/** A server of a scenario: the webhook's bundle, or one of the baselines of bench/authnz-webhook-baselines.mjs. */
type Mode = 'webhook' | 'bare' | 'express' | 'bare_sar';

/**
 * Starts a scenario's server pinned to CPU 0 (when taskset is there) with the DaemonSet's Node options, and resolves
 * once it serves: the webhook when its /readyz answers 200, a baseline when it prints its port.
 */
async function startServer(
  mode: Mode,
  spec: ServeSpec,
): Promise<{ child: ChildProcess; port: number; metrics?: number }> {
  const extra = (process.env.AUTHNZ_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const webhook =
    'configPath' in spec ? { spec, port: await freePort(), health: await freePort(), metrics: await freePort() } : undefined;
  const cmd = webhook
    ? webhookCommand(webhook.spec, webhook.port, webhook.health, webhook.metrics)
    : { args: [baselines, mode, JSON.stringify(spec)], env: serverEnv() };
  const nodeArgs = [...deployedNodeOptions, ...extra, ...cmd.args];
  const child = hasTaskset
    ? spawn('taskset', ['-c', '0', process.execPath, ...nodeArgs], { stdio: ['ignore', 'pipe', 'inherit'], env: cmd.env })
    : spawn(process.execPath, nodeArgs, { stdio: ['ignore', 'pipe', 'inherit'], env: cmd.env });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (c) => reject(new Error(`${mode} server exited with ${c}`))),
  );
  exited.catch(() => {});
  if (webhook) {
    child.stdout!.resume();
    await Promise.race([waitReady(webhook.health), exited]);
    return { child, port: webhook.port, metrics: webhook.metrics };
  }
  const port = await Promise.race([
    new Promise<number>((resolve) => {
      let buf = '';
      child.stdout!.on('data', (d) => {
        buf += d;
        if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0]!).port);
      });
    }),
    exited,
  ]);
  return { child, port };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill(process.env.AUTHNZ_BENCH_SERVER_NODE_ARGS ? 'SIGINT' : 'SIGKILL');
  await new Promise((r) => child.once('exit', r));
}

async function main(): Promise<void> {
  if (hasTaskset) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)]);
  const seconds = Number(args.seconds);
  const warmup = Number(args.warmup);
  const connections = Number(args.connections);
  const nTokens = Number(args.tokens);
  const rounds = Number(args.rounds);
  const slices = Math.max(1, Number(args.slices));
  const trRate = Number(args['tr-rate']);
  const sarRate = Number(args['sar-rate']);
  const trMtlsRate = Number(args['tr-mtls-rate']);
  const sarMtlsRate = Number(args['sar-mtls-rate']);
  const rateSeconds = Number(args['rate-seconds']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authnz-bench-'));
  const { generatePki } = require(path.join(root, 'dist/packages/testenv/lib/index.js'));
  const pki = await generatePki();
  const f = (n: string) => path.join(dir, n);
  fs.writeFileSync(f('ca.crt'), pki.ca.cert);
  fs.writeFileSync(f('server.crt'), pki.apiserver.cert);
  fs.writeFileSync(f('server.key'), pki.apiserver.key);
  const tls = { cert: f('server.crt'), key: f('server.key'), ca: f('ca.crt') };
  const clientTls = { ca: pki.ca.cert, cert: pki.admin.cert, key: pki.admin.key };

  const { privateKey, publicKey } = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' };
  const jwks = http.createServer((_req, res) =>
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
  );
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(jwks.address() as any).port}`;
  log(`signing ${nTokens} RS256-2048 tokens`);
  const now = Math.floor(Date.now() / 1000);
  const tokens: string[] = [];
  for (let i = 0; i < nTokens; i++) {
    tokens.push(
      await new jose.SignJWT({
        iss: issuer,
        aud: 'kubernetes',
        sub: `user-${i}`,
        groups: ['k8s-poweruser', `team-${i % 50}`],
        iat: now,
        exp: now + 3600,
      })
        .setProtectedHeader({ alg: 'RS256', kid: 'bench' })
        .sign(privateKey),
    );
  }
  const trBodies = tokens.map((t) =>
    JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: t } }),
  );
  const sarBodies = [
    {
      user: 'oidc:a',
      groups: ['PowerUser', 'oidc:team-a'],
      resourceAttributes: { namespace: 'team-a', verb: 'create', group: 'apps', resource: 'deployments' },
    },
    {
      user: 'oidc:b',
      groups: ['PowerUser', 'oidc:team-b'],
      resourceAttributes: { namespace: 'kube-system', verb: 'get', resource: 'secrets', name: 'x' },
    },
    {
      user: 'oidc:c',
      groups: ['ReadOnly'],
      resourceAttributes: { namespace: 'team-c', verb: 'delete', resource: 'pods', name: 'p' },
    },
    {
      user: 'oidc:d',
      groups: ['ReadOnly'],
      resourceAttributes: { namespace: 'team-d', verb: 'list', resource: 'pods' },
    },
    {
      user: 'system:serviceaccount:x:y',
      groups: [],
      resourceAttributes: { namespace: 'x', verb: 'get', resource: 'pods' },
    },
    { user: 'oidc:e', groups: ['Administrator'], nonResourceAttributes: { path: '/metrics', verb: 'get' } },
  ].map((spec) => JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec }));

  const config = (maxEntries: number) =>
    [
      'apiVersion: authnz.kubeaws.io/v1alpha1',
      'kind: AuthnzConfiguration',
      'authentication:',
      `  cache: {ttl: 60s, negativeTtl: 10s, maxEntries: ${maxEntries}}`,
      '  issuers:',
      `  - {name: corp, issuer: "${issuer}", jwksURL: "${issuer}/keys", audiences: [kubernetes], algorithms: [RS256], claims: {username: {prefix: "oidc:"}, groups: {prefix: "oidc:"}}}`,
      'roles: {mapping: [{group: "oidc:k8s-poweruser", role: PowerUser}]}',
    ].join('\n') + '\n';
  fs.writeFileSync(f('nocache.yaml'), config(0));
  fs.writeFileSync(f('cache.yaml'), config(10000));

  /** A row's figures; `cacheEntries`: the webhook's token cache entries after the measured window (cached rows). */
  type Result = LoadResult & { rssMiB: number; cpuUsPerRequest: number; cacheEntries?: number };
  interface Scenario {
    name: string;
    mode: Mode;
    spec: ServeSpec;
    path: string;
    bodies: string[];
    tls: boolean;
    /** The token cache is on (its entries are read after the measured window). */
    cached?: boolean;
  }
  const bareSpec: BaselineSpec = { jwk, issuer };
  const scenarios: Record<string, Scenario> = {};
  for (const s of [
    { name: 'bare', mode: 'bare', spec: bareSpec, path: '/authenticate', bodies: trBodies, tls: false },
    { name: 'express', mode: 'express', spec: bareSpec, path: '/authenticate', bodies: trBodies, tls: false },
    { name: 'tokenreview_plain', mode: 'webhook', spec: { configPath: f('nocache.yaml') }, path: '/authenticate', bodies: trBodies, tls: false },
    { name: 'bare_sar', mode: 'bare_sar', spec: bareSpec, path: '/authorize', bodies: sarBodies, tls: false },
    { name: 'sar_plain', mode: 'webhook', spec: { configPath: f('nocache.yaml') }, path: '/authorize', bodies: sarBodies, tls: false },
    { name: 'tokenreview_mtls', mode: 'webhook', spec: { configPath: f('nocache.yaml'), tls }, path: '/authenticate', bodies: trBodies, tls: true },
    { name: 'tokenreview_cached_plain', mode: 'webhook', spec: { configPath: f('cache.yaml') }, path: '/authenticate', bodies: trBodies, tls: false, cached: true },
    { name: 'sar_mtls', mode: 'webhook', spec: { configPath: f('nocache.yaml'), tls }, path: '/authorize', bodies: sarBodies, tls: true },
  ] as Scenario[])
    scenarios[s.name] = s;
  const wanted = (name: string) => !args.only || args.only.split(',').includes(name);

  /**
   * A row's result: the load's figures, the server's CPU time per request of the measured window (`serverCpuS`
   * seconds over the requests sent in it) and its peak RSS; logged under `label`.
   */
  const result = (label: string, r: LoadResult, serverCpuS: number, pid: number): Result => {
    const cpuUsPerRequest = Math.round((serverCpuS * 1e6) / Math.max(1, r.windowed ?? r.requests));
    const out = { ...r, rssMiB: Math.round(vmStatus(pid, 'VmHWM')), cpuUsPerRequest };
    log(
      `${label}: ${r.rps}/s p50 ${r.p50ms} ms p99 ${r.p99ms} ms non-200 ${r.non200} CPU ${cpuUsPerRequest} µs/request RSS ${out.rssMiB} MiB`,
    );
    return out;
  };

  /** One scenario against a fresh server: closed loop, or open loop at `rate`. */
  const measure = async (s: Scenario, rate?: number): Promise<Result> => {
    const { child, port, metrics } = await startServer(s.mode, s.spec);
    try {
      // server CPU time over the measured window (after the warm-up, so start-up and JIT warm-up are not counted)
      const cpu: Record<string, number> = {};
      const onWindow = (edge: 'start' | 'end') => (cpu[edge] = cpuSeconds(child.pid!));
      // a fixed-rate row first runs the closed loop for the warm-up time (not measured): at half the target rate
      // alone, V8 was still compiling the request path with TurboFan 15 s after the start, on the server's one core
      if (rate)
        await load({ port, tls: s.tls ? clientTls : undefined, path: s.path, bodies: s.bodies, connections, warmupMs: warmup * 1000, durationMs: 0 });
      const r = rate
        ? await loadAtRate({ port, tls: s.tls ? clientTls : undefined, path: s.path, bodies: s.bodies, connections, rate, warmupMs: RATE_SETTLE_MS, durationMs: rateSeconds * 1000, onWindow })
        : await load({
            port,
            tls: s.tls ? clientTls : undefined,
            path: s.path,
            bodies: s.bodies,
            connections,
            warmupMs: warmup * 1000,
            durationMs: seconds * 1000,
            onWindow,
          });
      const out = result(`${s.name}${rate ? ` @${rate}/s` : ''}`, r, (cpu.end ?? NaN) - (cpu.start ?? NaN), child.pid!);
      if (s.cached && metrics) {
        out.cacheEntries = await tokenCacheEntries(metrics);
        log(`${s.name}: ${out.cacheEntries} entries in the token cache`);
      }
      return out;
    } finally {
      await stopServer(child);
    }
  };

  /**
   * A webhook row and its baselines in one round, all servers running at once (each pinned to CPU 0; those not under
   * load idle): each warmed up alone for `warmup` s, then `slices` slices of `seconds / slices` s each in which the
   * servers take turns (the order reversed every other slice), each turn after SLICE_SETTLE_MS of load that is not
   * measured. A change in the speed of the shared machine that lasts longer than a slice so falls on every side of a
   * ratio. `group` lists the baselines first and the webhook last; `reverse` starts, warms up and loads them in the
   * opposite order. Each result sums its server's slices; `sliceRatios[base]` are the webhook's requests/s over that
   * baseline's, slice by slice.
   */
  const measureGroup = async (
    group: Scenario[],
    reverse: boolean,
  ): Promise<{ results: Record<string, Result>; sliceRatios: Record<string, number[]> }> => {
    const hook = group[group.length - 1]!;
    const bases = group.slice(0, -1);
    const scen = reverse ? [...group].reverse() : group;
    const n = scen.length;
    const servers: Array<{ child: ChildProcess; port: number }> = [];
    const conns: RawConnection[][] = [];
    try {
      for (const x of scen) servers.push(await startServer(x.mode, x.spec));
      for (let i = 0; i < n; i++) conns.push(await openConnections(servers[i]!.port, connections, scen[i]!.tls ? clientTls : undefined));
      const common = (i: number) => ({ port: servers[i]!.port, path: scen[i]!.path, bodies: scen[i]!.bodies, connections, conns: conns[i] });
      for (let i = 0; i < n; i++) await load({ ...common(i), warmupMs: warmup * 1000, durationMs: 0 });
      const acc = scen.map(() => ({ cpu: 0, windowed: 0, non200: 0, all: 0, lat: [] as number[] }));
      const sliceMs = (seconds * 1000) / slices;
      const sliceRatios: Record<string, number[]> = Object.fromEntries(bases.map((b) => [b.name, []]));
      const turns = scen.map((_, i) => i);
      for (let k = 0; k < slices; k++) {
        const rps: Record<string, number> = {};
        for (const i of k % 2 ? [...turns].reverse() : turns) {
          const cpu: Record<string, number> = {};
          const r = await load({
            ...common(i),
            warmupMs: SLICE_SETTLE_MS,
            durationMs: sliceMs,
            latencies: acc[i]!.lat,
            onWindow: (edge) => (cpu[edge] = cpuSeconds(servers[i]!.child.pid!)),
          });
          acc[i]!.cpu += (cpu.end ?? NaN) - (cpu.start ?? NaN);
          acc[i]!.windowed += r.windowed ?? r.requests;
          acc[i]!.non200 += r.non200;
          acc[i]!.all += r.all;
          rps[scen[i]!.name] = r.rps;
        }
        for (const b of bases) sliceRatios[b.name]!.push(Number((rps[hook.name]! / rps[b.name]!).toFixed(2)));
      }
      const results: Record<string, Result> = {};
      for (let i = 0; i < n; i++) {
        const a = acc[i]!;
        const r = { ...summarize(a.lat, seconds * 1000, a.non200, a.all), windowed: a.windowed };
        results[scen[i]!.name] = result(scen[i]!.name, r, a.cpu, servers[i]!.child.pid!);
      }
      for (const b of bases)
        log(`${hook.name} / ${b.name} by slice: ${sliceRatios[b.name]!.map((x) => `${x.toFixed(2)}×`).join(' ')}`);
      return { results, sliceRatios };
    } finally {
      for (const cs of conns) for (const c of cs) c.close();
      for (const x of servers) await stopServer(x.child);
    }
  };

  const roundResults: Array<Record<string, Result>> = [];
  // slice ratios of each webhook row over each of its baselines, one list per round
  const sliceRatios: Record<'tokenreview' | 'express' | 'sar', number[][]> = { tokenreview: [], express: [], sar: [] };
  const rated: Record<string, Result & { rate: number }> = {};
  // each plain-HTTP webhook row next to its baselines (listed first); every other round in reverse order
  const order = Object.keys(scenarios).filter(wanted);
  const groups = [
    ['bare', 'express', 'tokenreview_plain'],
    ['bare_sar', 'sar_plain'],
  ].map((g) => g.filter((n) => order.includes(n)));
  try {
    for (let round = 0; round < rounds; round++) {
      log(`round ${round + 1} of ${rounds}`);
      const res: Record<string, Result> = {};
      for (const group of groups) {
        if (group.length >= 2 && scenarios[group[group.length - 1]!]!.mode === 'webhook') {
          const p = await measureGroup(group.map((n) => scenarios[n]!), round % 2 === 1);
          Object.assign(res, p.results);
          for (const [base, key] of [['bare', 'tokenreview'], ['express', 'express'], ['bare_sar', 'sar']] as const)
            if (p.sliceRatios[base]) sliceRatios[key].push(p.sliceRatios[base]);
        } else for (const n of group) res[n] = await measure(scenarios[n]!);
      }
      for (const n of order.filter((x) => !groups.flat().includes(x))) res[n] = await measure(scenarios[n]!);
      roundResults.push(res);
    }
    for (const [n, rate] of [
      ['bare', trRate],
      ['express', trRate],
      ['tokenreview_plain', trRate],
      ['bare_sar', sarRate],
      ['sar_plain', sarRate],
      ['tokenreview_mtls', trMtlsRate],
      ['sar_mtls', sarMtlsRate],
    ] as const) {
      if (wanted(n) && rate > 0) rated[n] = { ...(await measure(scenarios[n]!, rate)), rate };
    }
  } finally {
    jwks.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // the median round of each scenario by requests/s
  const results: Record<string, Result> = {};
  for (const n of order) {
    const rs = roundResults.map((r) => r[n]!).sort((a, b) => a.rps - b.rps);
    results[n] = rs[Math.floor((rs.length - 1) / 2)]!;
  }
  const ratios = (w: string, b: string) =>
    roundResults.filter((r) => r[w] && r[b]).map((r) => Number((r[w]!.rps / r[b]!.rps).toFixed(2)));
  // capacity: the bare endpoint's CPU time per request over the webhook's (1.0 = the same cost)
  const cpuRatios = (w: string, b: string) =>
    roundResults
      .filter((r) => r[w] && r[b])
      .map((r) => Number((r[b]!.cpuUsPerRequest / r[w]!.cpuUsPerRequest).toFixed(2)));
  const rssRatios = roundResults
    .filter((r) => r.bare && r.bare_sar && r.tokenreview_plain && r.sar_plain)
    .map((r) =>
      Number(
        (Math.max(r.tokenreview_plain!.rssMiB, r.sar_plain!.rssMiB) / Math.max(r.bare!.rssMiB, r.bare_sar!.rssMiB)).toFixed(2),
      ),
    );
  // the webhook's peak RSS over every row it served, each a process of its own (the spec's budget: across all runs)
  const webhookRows = [...roundResults.flatMap((r) => Object.entries(r)), ...Object.entries(rated)].filter(
    ([n]) => scenarios[n]!.mode === 'webhook',
  );
  const webhookPeak = webhookRows.length ? Math.max(...webhookRows.map(([, x]) => x.rssMiB)) : NaN;
  const cacheEntries = roundResults.flatMap((r) => (r.tokenreview_cached_plain?.cacheEntries !== undefined ? [r.tokenreview_cached_plain.cacheEntries] : []));
  const out = {
    seconds,
    warmup,
    rateSeconds,
    connections,
    tokens: nTokens,
    rounds,
    slices,
    pinned: hasTaskset,
    machine: machine(),
    commit: measuredCommit(['packages/authnz-webhook', 'packages/runtime', 'manifests/authnz-webhook', 'bench/authnz-webhook.bench.mts', 'bench/authnz-webhook-baselines.mjs']),
    ratios: {
      tokenreview: ratios('tokenreview_plain', 'bare'),
      express: ratios('tokenreview_plain', 'express'),
      sar: ratios('sar_plain', 'bare_sar'),
      tokenreviewCpu: cpuRatios('tokenreview_plain', 'bare'),
      expressCpu: cpuRatios('tokenreview_plain', 'express'),
      sarCpu: cpuRatios('sar_plain', 'bare_sar'),
      peakRss: rssRatios,
    },
    webhookPeak,
    cacheEntries,
    results,
    sliceRatios,
    rounds_detail: roundResults,
    rated,
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  if (!args.only) writeReport(out);
}

type Report = {
  seconds: number;
  warmup: number;
  rateSeconds: number;
  connections: number;
  tokens: number;
  rounds: number;
  slices: number;
  pinned: boolean;
  machine: string;
  commit: string;
  ratios: {
    tokenreview: number[];
    express: number[];
    sar: number[];
    tokenreviewCpu: number[];
    expressCpu: number[];
    sarCpu: number[];
    peakRss: number[];
  };
  /** The webhook's highest VmHWM (MiB) over all its rows and rounds. */
  webhookPeak: number;
  /** Entries in the token cache after each round of the cached row. */
  cacheEntries: number[];
  sliceRatios: { tokenreview: number[][]; express: number[][]; sar: number[][] };
  results: Record<string, LoadResult & { rssMiB: number; cpuUsPerRequest: number }>;
  rated: Record<string, LoadResult & { rssMiB: number; cpuUsPerRequest: number; rate: number }>;
};

function writeReport(o: Report): void {
  const r = o.results;
  const fmt = (xs: number[]) => xs.map((x) => `${x.toFixed(2)}×`).join(', ');
  const worst = (xs: number[]) => (xs.length ? Math.min(...xs) : NaN);
  const row = (label: string, k: string, budget: string) =>
    r[k]
      ? `| ${label} | ${r[k]!.rps.toLocaleString('en-US')} | ${r[k]!.p50ms} | ${r[k]!.p99ms} | ${r[k]!.cpuUsPerRequest} | ${r[k]!.rssMiB} | ${budget} |`
      : `| ${label} | not run | | | | | ${budget} |`;
  const rateRow = (label: string, k: string, budget: string) =>
    o.rated[k]
      ? `| ${label} | ${o.rated[k]!.rate.toLocaleString('en-US')} | ${o.rated[k]!.p50ms} | ${o.rated[k]!.p99ms} | ${o.rated[k]!.p999ms} | ${o.rated[k]!.cpuUsPerRequest} | ${o.rated[k]!.non200} | ${budget} |`
      : `| ${label} | not run | | | | | | ${budget} |`;
  const tr = o.ratios.tokenreview;
  const ex = o.ratios.express;
  const sar = o.ratios.sar;
  const rss = o.ratios.peakRss;
  const spread = (xs: number[][]) =>
    xs.flat().length ? `${Math.min(...xs.flat()).toFixed(2)}× to ${Math.max(...xs.flat()).toFixed(2)}×` : 'not run';
  const body = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${o.machine} (shared with other jobs), commit ${o.commit}, \`npm run bench -- authnz-webhook --seconds ${o.seconds} --warmup ${o.warmup} --connections ${o.connections} --tokens ${o.tokens} --rounds ${o.rounds} --slices ${o.slices}\`: closed-loop load, ${o.connections} keep-alive connections over loopback, ${o.warmup} s warm-up (V8 compiles the request path in it) then ${o.seconds} s measured per row, every row run ${o.rounds} times against fresh server processes; a plain-HTTP webhook row and its baselines run as a group, all servers at once, the ${o.seconds} s of each cut into ${o.slices} slices in which the servers take turns (each turn after ${SLICE_SETTLE_MS} ms of load not measured; order reversed every other slice and every other round), so that a slower or faster spell of the shared machine falls on every side of a ratio; the table shows the median round (the slower one of two). The webhook runs its image's bundle with the DaemonSet's flags (\`/metrics\` served), the baselines \`bench/authnz-webhook-baselines.mjs\`; no server process loads TypeScript. ${o.pinned ? 'Server pinned to CPU 0, load generator on CPU 1' : 'Server and load generator share the CPUs'}. TokenReviews use ${o.tokens.toLocaleString('en-US')} distinct RS256-2048 tokens with the token cache off (every request verifies a signature) unless marked cached. CPU is the server process's user + system time per request of the measured window. Every server runs with the DaemonSet's node options (its \`NODE_OPTIONS\` and the node flags of its args: \`${deployedNodeOptions.join(' ')}\`).`,
    '',
    '| Scenario | Requests/s | p50 ms | p99 ms | CPU µs/request | Server peak RSS MiB | Budget ([AUTHNZ-BUDGETS](authnz-webhook.md#authnz-budgets)) |',
    '|---|---|---|---|---|---|---|',
    row('Bare node:http + jose TokenReview endpoint (baseline)', 'bare', '—'),
    row('Bare express + jose TokenReview endpoint (baseline)', 'express', '—'),
    row(
      'TokenReview, plain HTTP',
      'tokenreview_plain',
      `≥ 5,000/s; ≥ 0.9× the express endpoint (rounds: ${fmt(ex)}); ≥ 0.9× the node:http endpoint (rounds: ${fmt(tr)})`,
    ),
    row('Bare node:http SubjectAccessReview endpoint (baseline)', 'bare_sar', '—'),
    row('SubjectAccessReview mix, plain HTTP', 'sar_plain', `≥ 8,000/s and ≥ 0.9× bare (rounds: ${fmt(sar)})`),
    row('TokenReview, mTLS', 'tokenreview_mtls', '≥ 4,000/s'),
    row(
      'TokenReview, plain HTTP, cache on (filled)',
      'tokenreview_cached_plain',
      `peak RSS < 100 MB (95.4 MiB) across all rows, cache full (entries after each round: ${o.cacheEntries.map((n) => n.toLocaleString('en-US')).join(', ') || 'not read'})`,
    ),
    row('SubjectAccessReview mix, mTLS', 'sar_mtls', '≥ 6,400/s'),
    '',
    `Ratios to the bare endpoints in the same round: requests/s TokenReview ${fmt(ex)} of the express endpoint (worst ${worst(ex).toFixed(2)}×) and ${fmt(tr)} of the node:http endpoint (worst ${worst(tr).toFixed(2)}×), SubjectAccessReview ${fmt(sar)} (worst ${worst(sar).toFixed(2)}×); single slices of ${(o.seconds / o.slices).toFixed(1)} s ranged from ${spread(o.sliceRatios.express)} (TokenReview, express), ${spread(o.sliceRatios.tokenreview)} (TokenReview, node:http) and ${spread(o.sliceRatios.sar)} (SubjectAccessReview), which is why a ratio is taken over whole rounds; CPU time per request, bare over webhook (the capacity ratio of a saturated core, less sensitive to other jobs than requests/s), TokenReview ${fmt(o.ratios.expressCpu)} (express) and ${fmt(o.ratios.tokenreviewCpu)} (node:http), SubjectAccessReview ${fmt(o.ratios.sarCpu)}; peak RSS of the webhook (plain HTTP rows) over the bare endpoints' ${fmt(rss)} (budget ≤ 1.15×); the webhook's highest peak RSS over all its rows and rounds, each a process of its own, ${o.webhookPeak} MiB (budget < 100 MB, 95.4 MiB). Non-200 answers: ${Object.values(r).reduce((a, x) => a + x.non200, 0)}.`,
    '',
    `Open loop at a fixed rate below saturation (half the throughput targets), after the same ${o.warmup} s closed-loop warm-up and ${RATE_SETTLE_MS / 1000} s at the rate, ${o.rateSeconds} s measured, latency from the moment each request was due (the bare rows show what the machine and the load generator add by themselves):`,
    '',
    '| Scenario | Rate/s | p50 ms | p99 ms | p99.9 ms | CPU µs/request | non-200 | Budget |',
    '|---|---|---|---|---|---|---|---|',
    rateRow('Bare node:http TokenReview endpoint', 'bare', '—'),
    rateRow('Bare express TokenReview endpoint', 'express', '—'),
    rateRow('TokenReview, plain HTTP', 'tokenreview_plain', 'p99 < 10 ms'),
    rateRow('Bare SubjectAccessReview endpoint', 'bare_sar', '—'),
    rateRow('SubjectAccessReview mix, plain HTTP', 'sar_plain', 'p99 < 10 ms'),
    rateRow('TokenReview, mTLS', 'tokenreview_mtls', 'p99 < 10 ms'),
    rateRow('SubjectAccessReview mix, mTLS', 'sar_mtls', 'p99 < 10 ms'),
  ].join('\n');
  writeBenchmarkSection('authnz-webhook', body);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
