// Benchmark of the authnz-webhook (docs/authnz-webhook.md#authnz-budgets) with a load generator on loopback.
//
//   npm run bench -- authnz-webhook [--seconds 3] [--warmup 1] [--connections 32] [--tokens 2000]
//
// Scenarios, each against a fresh server process (pinned to CPU 0 with taskset when available; the load
// generator runs here, on CPU 1):
// 1. a bare node:http endpoint that parses the TokenReview, verifies the JWT with jose and answers: the baseline;
// 2. TokenReview over plain HTTP and over mutual TLS with the token cache off, so every request verifies an
//    RS256-2048 signature (distinct tokens, JWKS already fetched);
// 3. TokenReview with the cache on and filled (every token distinct, cache up to 10,000 entries);
// 4. SubjectAccessReview (a mix of allow, deny and no-opinion) over plain HTTP and mutual TLS.
// Closed-loop load: `connections` keep-alive connections each send the next request when the previous one
// answered. Results (requests/s, p50/p99 latency, peak RSS of the server) are printed as JSON and written into
// docs/benchmarks.md between the authnz-webhook markers.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { log, root, vmStatus, writeBenchmarkSection } from './lib.mts';

const require = createRequire(import.meta.url);

const jose = require('jose');

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '32' },
    tokens: { type: 'string', default: '2000' },
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
  // the component as the container runs it (flags, standalone: no cluster access in `env`), started in-process
  const { authnzWebhook } = require(path.join(root, 'dist/packages/authnz-webhook/lib/index.js'));
  const { createLogger, startComponent } = require(path.join(root, 'dist/packages/runtime/lib/index.js'));
  const rc = await startComponent(authnzWebhook, {
    argv: [
      `--config=${spec.configPath}`,
      '--webhook-bind-address=127.0.0.1:0',
      ...(spec.tls
        ? [`--tls-cert-file=${spec.tls.cert}`, `--tls-private-key-file=${spec.tls.key}`, `--client-ca-file=${spec.tls.ca}`]
        : ['--insecure-loopback-webhook']),
      '--access-api-bind-address=',
      '--metrics-bind-address=0',
      '--health-probe-bind-address=0',
      `--max-request-bytes=${1 << 20}`,
      '--shutdown-delay=0s',
    ],
    env: {},
    // stdout carries the port line only
    logger: createLogger({
      component: 'authnz-webhook',
      level: 'warn',
      destination: { write: (line: string) => process.stderr.write(line) },
    }),
  });
  const app = rc.handle;
  await app.listening;
  const deadline = Date.now() + 10_000;
  while (app.authenticator.readinessProblems().length && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  process.stdout.write(`${JSON.stringify({ port: app.addresses.webhook.port })}\n`);
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

// ---------------------------------------------------------------------------------------------------------
// Load generator
// ---------------------------------------------------------------------------------------------------------

interface LoadResult {
  requests: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  non200: number;
}

/**
 * One keep-alive connection driven with raw HTTP/1.1 bytes: far cheaper than node's http client, so a single
 * load-generator core can saturate the server. Resolves with the status of each response in turn.
 */
class RawConnection {
  private buf = Buffer.alloc(0);
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
}): Promise<LoadResult> {
  const raws = o.bodies.map((b) => rawRequest(o.path, b));
  const conns = await Promise.all(Array.from({ length: o.connections }, () => RawConnection.open(o.port, o.tls)));
  const lat: number[] = [];
  let non200 = 0;
  let next = 0;
  const start = performance.now();
  const measureFrom = start + o.warmupMs;
  const end = measureFrom + o.durationMs;
  await Promise.all(
    conns.map(async (c) => {
      for (;;) {
        const t0 = performance.now();
        if (t0 >= end) return;
        const status = await c.request(raws[next++ % raws.length]!);
        const t1 = performance.now();
        if (t0 >= measureFrom && t1 <= end) {
          lat.push(t1 - t0);
          if (status !== 200) non200++;
        }
      }
    }),
  );
  for (const c of conns) c.close();
  lat.sort((a, b) => a - b);
  const q = (p: number) => Number((lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN).toFixed(2));
  return {
    requests: lat.length,
    rps: Math.round(lat.length / (o.durationMs / 1000)),
    p50ms: q(0.5),
    p99ms: q(0.99),
    non200,
  };
}


const hasTaskset = spawnSync('taskset', ['--version']).status === 0 && os.cpus().length >= 2;

async function startServer(mode: 'webhook' | 'bare', spec: ServeSpec): Promise<{ child: ChildProcess; port: number }> {
  const extra = (process.env.AUTHNZ_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const nodeArgs = [
    '--max-old-space-size=192',
    ...extra,
    import.meta.filename,
    `--serve=${mode}`,
    `--spec=${JSON.stringify(spec)}`,
  ];
  const child = hasTaskset
    ? spawn('taskset', ['-c', '0', process.execPath, ...nodeArgs], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, nodeArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const line = buf.split('\n')[0];
      if (buf.includes('\n')) resolve(JSON.parse(line!).port);
    });
    child.once('exit', (c) => reject(new Error(`server exited with ${c}`)));
  });
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

  const results: Record<string, LoadResult & { rssMiB: number }> = {};
  const run = async (
    name: string,
    mode: 'webhook' | 'bare',
    spec: ServeSpec,
    p: string,
    bodies: string[],
    useTls: boolean,
  ) => {
    if (args.only && !args.only.split(',').includes(name)) return;
    const { child, port } = await startServer(mode, spec);
    try {
      const r = await load({
        port,
        tls: useTls ? clientTls : undefined,
        path: p,
        bodies,
        connections,
        warmupMs: warmup * 1000,
        durationMs: seconds * 1000,
      });
      results[name] = { ...r, rssMiB: Math.round(vmStatus(child.pid!, 'VmHWM')) };
      log(
        `${name}: ${r.rps}/s p50 ${r.p50ms} ms p99 ${r.p99ms} ms non-200 ${r.non200} RSS ${results[name]!.rssMiB} MiB`,
      );
    } finally {
      await stopServer(child);
    }
  };
  try {
    await run('bare', 'bare', { configPath: '', jwk, issuer }, '/authenticate', trBodies, false);
    await run('tokenreview_plain', 'webhook', { configPath: f('nocache.yaml') }, '/authenticate', trBodies, false);
    await run('tokenreview_mtls', 'webhook', { configPath: f('nocache.yaml'), tls }, '/authenticate', trBodies, true);
    await run('tokenreview_cached_plain', 'webhook', { configPath: f('cache.yaml') }, '/authenticate', trBodies, false);
    await run('sar_plain', 'webhook', { configPath: f('nocache.yaml') }, '/authorize', sarBodies, false);
    await run('sar_mtls', 'webhook', { configPath: f('nocache.yaml'), tls }, '/authorize', sarBodies, true);
  } finally {
    jwks.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const out = { seconds, warmup, connections, tokens: nTokens, pinned: hasTaskset, results };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  if (!args.only) writeReport(out);
}

function writeReport(o: {
  seconds: number;
  warmup: number;
  connections: number;
  tokens: number;
  pinned: boolean;
  results: Record<string, LoadResult & { rssMiB: number }>;
}): void {
  const r = o.results;
  const row = (label: string, k: string, budget: string) =>
    `| ${label} | ${r[k]!.rps.toLocaleString('en-US')} | ${r[k]!.p50ms} | ${r[k]!.p99ms} | ${r[k]!.rssMiB} | ${budget} |`;
  const ratio = (r.tokenreview_plain!.rps / r.bare!.rps).toFixed(2);
  const body = [
    `Measured ${new Date().toISOString().slice(0, 10)} on the 2-core build machine, \`npm run bench -- authnz-webhook --seconds ${o.seconds} --connections ${o.connections} --tokens ${o.tokens}\`: closed-loop load, ${o.connections} keep-alive connections over loopback, ${o.warmup} s warm-up then ${o.seconds} s measured per row; ${o.pinned ? 'server pinned to CPU 0, load generator on CPU 1' : 'server and load generator share the CPUs'}. Latencies are at saturation (the load generator shares the machine), so they are upper bounds for the fixed-rate p99 of AUTHNZ-BUDGETS. TokenReviews use ${o.tokens} distinct RS256-2048 tokens with the token cache off (every request verifies a signature) unless marked cached.`,
    '',
    '| Scenario | Requests/s | p50 ms | p99 ms | Server peak RSS MiB | Budget ([AUTHNZ-BUDGETS](authnz-webhook.md#authnz-budgets)) |',
    '|---|---|---|---|---|---|',
    row('Bare node:http + jose endpoint (baseline)', 'bare', '—'),
    row('TokenReview, plain HTTP', 'tokenreview_plain', `≥ 5,000/s and ≥ 0.9× bare (here ${ratio}×)`),
    row('TokenReview, mTLS', 'tokenreview_mtls', '≥ 4,000/s'),
    row('TokenReview, plain HTTP, cache on (filled)', 'tokenreview_cached_plain', '—'),
    row('SubjectAccessReview mix, plain HTTP', 'sar_plain', '≥ 8,000/s'),
    row('SubjectAccessReview mix, mTLS', 'sar_mtls', '≥ 6,400/s'),
    '',
    `Peak RSS across all runs: ${Math.max(...Object.values(r).map((x) => x.rssMiB))} MiB (budget < 100 MB). Non-200 answers: ${Object.values(r).reduce((a, x) => a + x.non200, 0)}.`,
  ].join('\n');
  writeBenchmarkSection('authnz-webhook', body);
}

if (args.serve) {
  process.on('SIGINT', () => process.exit(0));
  const spec = JSON.parse(args.spec!) as ServeSpec;
  (args.serve === 'bare' ? serveBare(spec) : serveWebhook(spec)).catch((err) => {
    process.stderr.write(`${err.stack ?? err}\n`);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    process.stderr.write(`${err.stack ?? err}\n`);
    process.exit(1);
  });
}
