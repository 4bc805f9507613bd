// Benchmark of the authnz-webhook (docs/authnz-webhook.md#authnz-budgets) with a load generator on loopback.
//
//   npm run bench -- authnz-webhook [--seconds 3] [--warmup 5] [--connections 32] [--tokens 2000] [--rounds 2]
//                                   [--slices 6] [--tr-rate 2500] [--sar-rate 4000] [--tr-mtls-rate 2000]
//                                   [--sar-mtls-rate 3200] [--rate-seconds 10]
//
// Scenarios, each against a fresh server process (pinned to CPU 0 with taskset when available; the load
// generator runs here, on CPU 1):
// 1. bare node:http baselines: one parses the TokenReview, verifies the JWT with jose and answers (`bare`), one
//    parses the SubjectAccessReview and answers it from a fixed rule (`bare_sar`);
// 2. TokenReview over plain HTTP and over mutual TLS with the token cache off, so every request verifies an
//    RS256-2048 signature (distinct tokens, JWKS already fetched); the webhook is the image's bundle
//    (dist/packages/authnz-webhook/bundle/main.mjs, built by `npx nx run authnz-webhook:bundle`) run with its flags;
// 3. TokenReview with the cache on and filled (every token distinct, cache up to 10,000 entries);
// 4. SubjectAccessReview (a mix of allow, deny and no-opinion) over plain HTTP and mutual TLS.
// Closed-loop load: `connections` keep-alive connections each send the next request when the previous one
// answered, after `--warmup` seconds of the same load that are not measured: V8 compiles the request path with
// TurboFan in the first seconds under load, on the server's one core, and with a 1 s warm-up that compiling fell
// into the measured window (docs/benchmarks.md, authnz-webhook, runs 13 and 14). Every scenario runs `rounds`
// times, each against fresh server processes. A plain-HTTP webhook row and its baseline run as a pair: both servers
// at once, each warmed up, then `--slices` alternating slices of `seconds / slices` each (the order reversed every
// other pair and every other round), so that the load of other jobs on a shared machine falls on both sides of a
// ratio; the tables give the median round and every round's ratio. Then an open-loop run at a fixed rate below
// saturation (`--tr-rate`, `--sar-rate`, `--tr-mtls-rate`, `--sar-mtls-rate`: half the throughput targets of
// AUTHNZ-BUDGETS, plain HTTP and mTLS) of the webhook and of the plain-HTTP baselines, each after the same
// closed-loop warm-up and 1 s at the rate, measured for `--rate-seconds`, with latency counted from the moment each
// request was due (no coordinated omission). Results (requests/s, p50/p99/p99.9 latency, server CPU time per
// request, peak RSS of the server) are printed as JSON and written into docs/benchmarks.md between the
// authnz-webhook markers.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { cpuSeconds, freePort, log, root, vmStatus, writeBenchmarkSection, manifestNodeOptions, machine, measuredCommit } from './lib.mts';

const require = createRequire(import.meta.url);

const jose = require('jose');

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    tokens: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '2' },
    slices: { type: 'string', default: '6' },
    'tr-rate': { type: 'string', default: '2500' },
    'sar-rate': { type: 'string', default: '4000' },
    'tr-mtls-rate': { type: 'string', default: '2000' },
    'sar-mtls-rate': { type: 'string', default: '3200' },
    'rate-seconds': { type: 'string', default: '10' },
    serve: { type: 'string' },
    spec: { type: 'string' },
    only: { type: 'string' },
  },
  allowPositionals: true,
});


// ---------------------------------------------------------------------------------------------------------
// Server side (child processes)
// ---------------------------------------------------------------------------------------------------------

interface ServeSpec {
  configPath: string;
  tls?: { cert: string; key: string; ca: string };
  jwk?: object;
  issuer?: string;
}

async function serveWebhook(spec: ServeSpec): Promise<void> {
  // the image's bundle (dist/packages/authnz-webhook/bundle/main.mjs) as the container runs it: its own flags,
  // NODE_ENV=production, standalone (no cluster access); its logs at error level so that stdout carries the port
  // line only. Ready when /readyz answers 200 (listeners bound, issuer keys fetched): see waitReady.
  const bundle = path.join(root, 'dist/packages/authnz-webhook/bundle/main.mjs');
  if (!fs.existsSync(bundle)) throw new Error(`${bundle} missing: run \`npx nx run authnz-webhook:bundle\``);
  const [port, health] = [await freePort(), await freePort()];
  for (const k of ['KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT']) delete process.env[k];
  // an empty home: no ~/.kube/config is found
  process.env.HOME = path.join(os.tmpdir(), 'kubeaws-authnz-bench-home');
  fs.mkdirSync(process.env.HOME, { recursive: true });
  process.env.NODE_ENV = 'production';
  process.argv = [
    process.argv[0]!,
    bundle,
    `--config=${spec.configPath}`,
    `--webhook-bind-address=127.0.0.1:${port}`,
    ...(spec.tls
      ? [`--tls-cert-file=${spec.tls.cert}`, `--tls-private-key-file=${spec.tls.key}`, `--client-ca-file=${spec.tls.ca}`]
      : ['--insecure-loopback-webhook']),
    '--access-api-bind-address=',
    '--metrics-bind-address=0',
    `--health-probe-bind-address=127.0.0.1:${health}`,
    `--max-request-bytes=${1 << 20}`,
    '--shutdown-delay=0s',
    '--log-level=error',
  ];
  await import(pathToFileURL(bundle).href);
  // the load generator polls /readyz from its own process, as kubelet does from outside the container
  process.stdout.write(`${JSON.stringify({ port, health })}\n`);
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

async function serveBare(spec: ServeSpec): Promise<void> {
  const keySet = jose.createLocalJWKSet({ keys: [spec.jwk] });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString());
        const { payload } = await jose.jwtVerify(body.spec.token, keySet, {
          algorithms: ['RS256'],
          issuer: spec.issuer,
          audience: 'kubernetes',
        });
        const out = JSON.stringify({
          apiVersion: body.apiVersion,
          kind: 'TokenReview',
          status: { authenticated: true, user: { username: `oidc:${payload.sub}`, groups: [] } },
        });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) }).end(out);
      } catch {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":{"authenticated":false}}');
      }
    });
  });
  server.keepAliveTimeout = 125_000;
  server.listen(0, '127.0.0.1', () =>
    process.stdout.write(`${JSON.stringify({ port: (server.address() as any).port })}\n`),
  );
}

/** The SubjectAccessReview baseline: parse, one fixed rule (allow in the user's own namespace), answer. */
async function serveBareSar(): Promise<void> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString());
        const spec = body.spec;
        const allowed = spec.resourceAttributes?.namespace === `team-${String(spec.user).slice(5)}`;
        const out = JSON.stringify({
          apiVersion: body.apiVersion,
          kind: 'SubjectAccessReview',
          status: { allowed, reason: allowed ? 'own namespace' : 'no rule' },
        });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) }).end(out);
      } catch {
        res.writeHead(400, { 'Content-Type': 'application/json' }).end('{}');
      }
    });
  });
  server.keepAliveTimeout = 125_000;
  server.listen(0, '127.0.0.1', () =>
    process.stdout.write(`${JSON.stringify({ port: (server.address() as any).port })}\n`),
  );
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
  o.latencies?.push(...lat);
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
 * The Node options the DaemonSet gives the webhook (`NODE_OPTIONS` in manifests/authnz-webhook/daemonset.yaml), so
 * that the webhook is measured with its deployed heap settings; the baselines get the same options.
 */
const deployedNodeOptions: string[] = manifestNodeOptions('authnz-webhook').split(' ').filter(Boolean);

const hasTaskset = spawnSync('taskset', ['--version']).status === 0 && os.cpus().length >= 2;

type Mode = 'webhook' | 'bare' | 'bare_sar';

async function startServer(mode: Mode, spec: ServeSpec): Promise<{ child: ChildProcess; port: number }> {
  const extra = (process.env.AUTHNZ_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const nodeArgs = [
    ...deployedNodeOptions,
    ...extra,
    import.meta.filename,
    `--serve=${mode}`,
    `--spec=${JSON.stringify(spec)}`,
  ];
  const child = hasTaskset
    ? spawn('taskset', ['-c', '0', process.execPath, ...nodeArgs], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, nodeArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  const { port, health } = await new Promise<{ port: number; health?: number }>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const line = buf.split('\n')[0];
      if (buf.includes('\n')) resolve(JSON.parse(line!));
    });
    child.once('exit', (c) => reject(new Error(`server exited with ${c}`)));
  });
  if (health !== undefined) await waitReady(health);
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

  type Result = LoadResult & { rssMiB: number; cpuUsPerRequest: number };
  interface Scenario {
    name: string;
    mode: Mode;
    spec: ServeSpec;
    path: string;
    bodies: string[];
    tls: boolean;
  }
  const bareSpec = { configPath: '', jwk, issuer };
  const scenarios: Record<string, Scenario> = {};
  for (const s of [
    { name: 'bare', mode: 'bare', spec: bareSpec, path: '/authenticate', bodies: trBodies, tls: false },
    { name: 'tokenreview_plain', mode: 'webhook', spec: { configPath: f('nocache.yaml') }, path: '/authenticate', bodies: trBodies, tls: false },
    { name: 'bare_sar', mode: 'bare_sar', spec: bareSpec, path: '/authorize', bodies: sarBodies, tls: false },
    { name: 'sar_plain', mode: 'webhook', spec: { configPath: f('nocache.yaml') }, path: '/authorize', bodies: sarBodies, tls: false },
    { name: 'tokenreview_mtls', mode: 'webhook', spec: { configPath: f('nocache.yaml'), tls }, path: '/authenticate', bodies: trBodies, tls: true },
    { name: 'tokenreview_cached_plain', mode: 'webhook', spec: { configPath: f('cache.yaml') }, path: '/authenticate', bodies: trBodies, tls: false },
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
    const { child, port } = await startServer(s.mode, s.spec);
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
      return result(`${s.name}${rate ? ` @${rate}/s` : ''}`, r, (cpu.end ?? NaN) - (cpu.start ?? NaN), child.pid!);
    } finally {
      await stopServer(child);
    }
  };

  /**
   * A webhook row and its baseline in one round, both servers running at once (each pinned to CPU 0; the one not under
   * load idles): each warmed up alone for `warmup` s, then `slices` slices of `seconds / slices` s each that alternate
   * between the two (the order reversed every other pair), each after SLICE_SETTLE_MS of load that is not measured.
   * A change in the speed of the shared machine that lasts longer than a slice so falls on both sides of the ratio.
   * `baseFirst` says which server starts, warms up and is loaded first. Each result sums its server's slices;
   * `sliceRatios` are the webhook's requests/s over the baseline's, pair by pair.
   */
  const measurePair = async (
    base: Scenario,
    hook: Scenario,
    baseFirst: boolean,
  ): Promise<{ results: Record<string, Result>; sliceRatios: number[] }> => {
    const scen = baseFirst ? [base, hook] : [hook, base];
    const h = baseFirst ? 1 : 0;
    const servers: Array<{ child: ChildProcess; port: number }> = [];
    const conns: RawConnection[][] = [];
    try {
      for (const x of scen) servers.push(await startServer(x.mode, x.spec));
      for (let i = 0; i < 2; i++) conns.push(await openConnections(servers[i]!.port, connections, scen[i]!.tls ? clientTls : undefined));
      const common = (i: number) => ({ port: servers[i]!.port, path: scen[i]!.path, bodies: scen[i]!.bodies, connections, conns: conns[i] });
      for (let i = 0; i < 2; i++) await load({ ...common(i), warmupMs: warmup * 1000, durationMs: 0 });
      const acc = scen.map(() => ({ cpu: 0, windowed: 0, non200: 0, all: 0, lat: [] as number[] }));
      const sliceMs = (seconds * 1000) / slices;
      const sliceRatios: number[] = [];
      for (let k = 0; k < slices; k++) {
        const rps = [0, 0];
        for (const i of k % 2 ? [1, 0] : [0, 1]) {
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
          rps[i] = r.rps;
        }
        sliceRatios.push(Number((rps[h]! / rps[1 - h]!).toFixed(2)));
      }
      const results: Record<string, Result> = {};
      for (let i = 0; i < 2; i++) {
        const a = acc[i]!;
        const r = { ...summarize(a.lat, seconds * 1000, a.non200, a.all), windowed: a.windowed };
        results[scen[i]!.name] = result(scen[i]!.name, r, a.cpu, servers[i]!.child.pid!);
      }
      log(`${hook.name} / ${base.name} by slice: ${sliceRatios.map((x) => `${x.toFixed(2)}×`).join(' ')}`);
      return { results, sliceRatios };
    } finally {
      for (const cs of conns) for (const c of cs) c.close();
      for (const x of servers) await stopServer(x.child);
    }
  };

  const roundResults: Array<Record<string, Result>> = [];
  const sliceRatios: { tokenreview: number[][]; sar: number[][] } = { tokenreview: [], sar: [] };
  const rated: Record<string, Result & { rate: number }> = {};
  // each webhook scenario next to its baseline; every other round in reverse order
  const order = Object.keys(scenarios).filter(wanted);
  try {
    for (let round = 0; round < rounds; round++) {
      log(`round ${round + 1} of ${rounds}`);
      const res: Record<string, Result> = {};
      const pairs: string[][] = [order.filter((n) => n === 'bare' || n === 'tokenreview_plain'), order.filter((n) => n === 'bare_sar' || n === 'sar_plain')];
      const rest = order.filter((n) => !pairs.flat().includes(n));
      for (const [i, group] of pairs.entries()) {
        if (group.length === 2) {
          const [base, hook] = group.map((n) => scenarios[n]!);
          const p = await measurePair(base!, hook!, round % 2 === 0);
          Object.assign(res, p.results);
          sliceRatios[i ? 'sar' : 'tokenreview']!.push(p.sliceRatios);
        } else for (const n of group) res[n] = await measure(scenarios[n]!);
      }
      for (const n of rest) res[n] = await measure(scenarios[n]!);
      roundResults.push(res);
    }
    for (const [n, rate] of [
      ['bare', trRate],
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
    commit: measuredCommit(['packages/authnz-webhook', 'packages/runtime', 'manifests/authnz-webhook', 'bench/authnz-webhook.bench.mts']),
    ratios: {
      tokenreview: ratios('tokenreview_plain', 'bare'),
      sar: ratios('sar_plain', 'bare_sar'),
      tokenreviewCpu: cpuRatios('tokenreview_plain', 'bare'),
      sarCpu: cpuRatios('sar_plain', 'bare_sar'),
      peakRss: rssRatios,
    },
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
  ratios: { tokenreview: number[]; sar: number[]; tokenreviewCpu: number[]; sarCpu: number[]; peakRss: number[] };
  sliceRatios: { tokenreview: number[][]; sar: number[][] };
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
  const sar = o.ratios.sar;
  const rss = o.ratios.peakRss;
  const spread = (xs: number[][]) =>
    xs.flat().length ? `${Math.min(...xs.flat()).toFixed(2)}× to ${Math.max(...xs.flat()).toFixed(2)}×` : 'not run';
  const body = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${o.machine} (shared with other jobs), commit ${o.commit}, \`npm run bench -- authnz-webhook --seconds ${o.seconds} --warmup ${o.warmup} --connections ${o.connections} --tokens ${o.tokens} --rounds ${o.rounds} --slices ${o.slices}\`: closed-loop load, ${o.connections} keep-alive connections over loopback, ${o.warmup} s warm-up (V8 compiles the request path in it) then ${o.seconds} s measured per row, every row run ${o.rounds} times against fresh server processes; a plain-HTTP webhook row and its baseline run as a pair, both servers at once, the ${o.seconds} s of each cut into ${o.slices} slices that alternate between the two (each after ${SLICE_SETTLE_MS} ms of load not measured; order reversed every other pair and every other round), so that a slower or faster spell of the shared machine falls on both sides of the ratio; the table shows the median round (the slower one of two). ${o.pinned ? 'Server pinned to CPU 0, load generator on CPU 1' : 'Server and load generator share the CPUs'}. TokenReviews use ${o.tokens} distinct RS256-2048 tokens with the token cache off (every request verifies a signature) unless marked cached. CPU is the server process's user + system time per request of the measured window. Every server runs with the DaemonSet's \`NODE_OPTIONS\` (\`${deployedNodeOptions.join(' ')}\`).`,
    '',
    '| Scenario | Requests/s | p50 ms | p99 ms | CPU µs/request | Server peak RSS MiB | Budget ([AUTHNZ-BUDGETS](authnz-webhook.md#authnz-budgets)) |',
    '|---|---|---|---|---|---|---|',
    row('Bare node:http + jose TokenReview endpoint (baseline)', 'bare', '—'),
    row('TokenReview, plain HTTP', 'tokenreview_plain', `≥ 5,000/s and ≥ 0.9× bare (rounds: ${fmt(tr)})`),
    row('Bare node:http SubjectAccessReview endpoint (baseline)', 'bare_sar', '—'),
    row('SubjectAccessReview mix, plain HTTP', 'sar_plain', `≥ 8,000/s and ≥ 0.9× bare (rounds: ${fmt(sar)})`),
    row('TokenReview, mTLS', 'tokenreview_mtls', '≥ 4,000/s'),
    row('TokenReview, plain HTTP, cache on (filled)', 'tokenreview_cached_plain', '—'),
    row('SubjectAccessReview mix, mTLS', 'sar_mtls', '≥ 6,400/s'),
    '',
    `Ratios to the bare endpoint in the same round: requests/s TokenReview ${fmt(tr)} (worst ${worst(tr).toFixed(2)}×), SubjectAccessReview ${fmt(sar)} (worst ${worst(sar).toFixed(2)}×); single slices of ${(o.seconds / o.slices).toFixed(1)} s ranged from ${spread(o.sliceRatios.tokenreview)} (TokenReview) and ${spread(o.sliceRatios.sar)} (SubjectAccessReview), which is why a ratio is taken over whole rounds; CPU time per request, bare over webhook (the capacity ratio of a saturated core, less sensitive to other jobs than requests/s), TokenReview ${fmt(o.ratios.tokenreviewCpu)}, SubjectAccessReview ${fmt(o.ratios.sarCpu)}; peak RSS of the webhook (plain HTTP rows) over the bare endpoints' ${fmt(rss)} (budget ≤ 1.15×). Non-200 answers: ${Object.values(r).reduce((a, x) => a + x.non200, 0)}.`,
    '',
    `Open loop at a fixed rate below saturation (half the throughput targets), after the same ${o.warmup} s closed-loop warm-up and ${RATE_SETTLE_MS / 1000} s at the rate, ${o.rateSeconds} s measured, latency from the moment each request was due (the bare rows show what the machine and the load generator add by themselves):`,
    '',
    '| Scenario | Rate/s | p50 ms | p99 ms | p99.9 ms | CPU µs/request | non-200 | Budget |',
    '|---|---|---|---|---|---|---|---|',
    rateRow('Bare TokenReview endpoint', 'bare', '—'),
    rateRow('TokenReview, plain HTTP', 'tokenreview_plain', 'p99 < 10 ms'),
    rateRow('Bare SubjectAccessReview endpoint', 'bare_sar', '—'),
    rateRow('SubjectAccessReview mix, plain HTTP', 'sar_plain', 'p99 < 10 ms'),
    rateRow('TokenReview, mTLS', 'tokenreview_mtls', 'p99 < 10 ms'),
    rateRow('SubjectAccessReview mix, mTLS', 'sar_mtls', 'p99 < 10 ms'),
  ].join('\n');
  writeBenchmarkSection('authnz-webhook', body);
}

if (args.serve) {
  process.on('SIGINT', () => process.exit(0));
  const spec = JSON.parse(args.spec!) as ServeSpec;
  (args.serve === 'bare' ? serveBare(spec) : args.serve === 'bare_sar' ? serveBareSar() : serveWebhook(spec)).catch((err) => {
    process.stderr.write(`${err.stack ?? err}\n`);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    process.stderr.write(`${err.stack ?? err}\n`);
    process.exit(1);
  });
}
