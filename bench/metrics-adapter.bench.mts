// Benchmark of the metrics-adapter's serving path and collection budget (docs/metrics-adapter.md).
//
//   npm run bench -- metrics-adapter [--seconds 60] [--rate 400] [--hpas 5000] [--interval 1]   (collection interval, s)
//
// The server runs in a child process (pinned to CPU 0 with taskset when available): the real API handler,
// front-proxy authentication over mutual TLS, the authorization cache (warm: a local review function that allows
// every wildcard question, so no API server is involved) and a registry filled with `--hpas` HPAs (a mix of SQS,
// Prometheus and json-path metrics with heavy source sharing) whose backend calls are counted, not made.
// The load generator here sends an open-loop `--rate` requests/s over keep-alive mTLS connections with the
// front-proxy client certificate, in the HPA controller's request shapes (pods, object, external). Recorded:
// p50/p99 latency and errors, polls per distinct source per interval, RSS idle and with the HPAs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as https from 'node:https';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, log, root, writeBenchmarkSection, manifestNodeOptions, machine as machineName, measuredCommit } from './lib.mts';

const require = createRequire(import.meta.url);
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    rate: { type: 'string', default: '400' },
    hpas: { type: 'string', default: '5000' },
    interval: { type: 'string', default: '1' },
    serve: { type: 'string' },
  },
  allowPositionals: true,
});

const lib = (pkg: string) => require(path.join(root, `dist/packages/${pkg}/lib/index.js`));

/** The HPAs of the benchmark: i-th HPA in namespace ns-(i % 50), one metric each, sources shared 10-fold. */
function hpaAt(i: number): any {
  const ns = `ns-${i % 50}`;
  const kind = i % 3;
  const base = { metadata: { namespace: ns, name: `hpa-${i}`, annotations: {} as Record<string, string>, creationTimestamp: '2026-01-01T00:00:00Z' } };
  if (kind === 0)
    return { ...base, spec: { scaleTargetRef: { kind: 'Deployment', name: `w-${i}` }, metrics: [{ type: 'External', external: { metric: { name: 'queue', selector: { matchLabels: { type: 'sqs-queue-length', 'queue-name': `q-${i % 500}`, region: 'eu-central-1' } } } } }] } };
  if (kind === 1) {
    base.metadata.annotations = { 'metric-config.object.rps.prometheus/query': `sum(rate(r{g="${i % 500}"}[1m]))` };
    return { ...base, spec: { scaleTargetRef: { kind: 'Deployment', name: `w-${i}` }, metrics: [{ type: 'Object', object: { metric: { name: 'rps' }, describedObject: { kind: 'Ingress', name: `ing-${i}`, apiVersion: 'networking.k8s.io/v1' } } }] } };
  }
  base.metadata.annotations = { 'metric-config.pods.load.json-path/json-key': '$.load', 'metric-config.pods.load.json-path/path': '/m', 'metric-config.pods.load.json-path/port': '9090', 'metric-config.pods.load.json-path/request-timeout': '500ms' };
  return { ...base, spec: { scaleTargetRef: { kind: 'Deployment', name: `w-${i % 500}` }, metrics: [{ type: 'Pods', pods: { metric: { name: 'load' } } }] } };
}

async function serve(spec: { port: number; hpas: number; pki: any; intervalMs: number }): Promise<void> {
  const ma = lib('metrics-adapter');
  const rt = lib('runtime');
  const https2 = require('node:https');
  const polls = new Map<string, number>();
  const registry = new ma.Registry({
    clock: rt.realClock, stalenessFactor: 3, jitter: 0.1, maxBackoffMs: 60_000,
    collect: async (info: any) => {
      polls.set(info.key, (polls.get(info.key) ?? 0) + 1);
      const c = info.spec.config.collector;
      if (c === 'sqs-queue-length') return { kind: 'sqs', attributes: { ApproximateNumberOfMessages: 42 } };
      if (c === 'prometheus') return { kind: 'prometheus', value: 12.5 };
      return { kind: 'pods', selector: 'app=w', pods: Array.from({ length: 4 }, (_, k) => ({ name: `p-${k}`, labels: { app: 'w' }, doc: { load: k } })) };
    },
  });
  const settings = {
    enableCustom: true, enableExternal: true, prometheusServer: 'http://prometheus:9090', prometheusAliases: {}, awsRegions: ['eu-central-1'],
    sqsEndpointHost: (r: string) => `sqs.${r}.amazonaws.com`, defaultIntervalMs: spec.intervalMs, minIntervalMs: 1000,
    // what API discovery reports for the kinds these HPAs name
    kinds: new ma.KindIndex([
      { groupVersion: 'apps/v1', resources: [{ name: 'deployments', kind: 'Deployment', namespaced: true }] },
      { groupVersion: 'networking.k8s.io/v1', resources: [{ name: 'ingresses', kind: 'Ingress', namespaced: true }] },
    ]),
  };
  const idleRss = process.memoryUsage().rss / 2 ** 20;
  const t0 = Date.now();
  for (let i = 0; i < spec.hpas; i++) {
    const h = hpaAt(i);
    registry.setHpa(`${h.metadata.namespace}/${h.metadata.name}`, { namespace: h.metadata.namespace, name: h.metadata.name, creationTimestamp: h.metadata.creationTimestamp }, ma.parseHpa(h, settings));
  }
  const loadMs = Date.now() - t0;
  const auth = ma.authConfigFromConfigMap({
    'requestheader-client-ca-file': spec.pki.frontProxyCa.cert, 'requestheader-allowed-names': '["front-proxy-client"]',
    'requestheader-username-headers': '["X-Remote-User"]', 'requestheader-group-headers': '["X-Remote-Group"]',
    'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
  });
  const authz = new ma.AuthorizationCache({ allowedTtlMs: 3_600_000, deniedTtlMs: 10_000, review: async () => ({ allowed: true }) });
  const handler = ma.createApiHandler({
    registry, enableCustom: true, enableExternal: true, alwaysAllowPaths: [], ready: () => true, logger: rt.silentLogger(),
    authenticate: (req: any) => ma.authenticate(req, auth), authorize: (u: any, a: any) => authz.authorize(u, a),
  });
  const server = https2.createServer({ cert: spec.pki.apiserver.cert, key: spec.pki.apiserver.key, ca: [spec.pki.frontProxyCa.cert], requestCert: true, rejectUnauthorized: false, keepAliveTimeout: 120_000 }, handler);
  server.listen(spec.port, '127.0.0.1');
  // the server's own share: CPU time and event-loop delay, which other load on the machine does not inflate as much
  // as the latency seen by the client
  const { monitorEventLoopDelay } = require('node:perf_hooks');
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  process.on('message', (m: any) => {
    if (m === 'stats') {
      const counts = [...polls.values()];
      const cpu = process.cpuUsage();
      process.send!({
        idleRss, rss: process.memoryUsage().rss / 2 ** 20, sources: registry.sources.size, polls: counts.reduce((a, b) => a + b, 0), maxPolls: Math.max(0, ...counts), loadMs,
        cpuMs: (cpu.user + cpu.system) / 1000, eldP99Ms: eld.percentile(99) / 1e6, eldMaxMs: eld.max / 1e6,
      });
      polls.clear();
      eld.reset();
    }
  });
  // exit through process.exit so that `--cpu-prof` / `--heap-prof` in NODE_OPTIONS write their profiles
  process.on('SIGTERM', () => process.exit(0));
  process.send!('ready');
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

async function main(): Promise<void> {
  if (args.serve) return serve(JSON.parse(args.serve));
  const seconds = Number(args.seconds);
  const rate = Number(args.rate);
  const hpas = Number(args.hpas);
  const intervalMs = Number(args.interval) * 1000;
  const pki = await lib('testenv').generatePki();
  const port = await freePort();
  const taskset = spawnSync('taskset', ['--version']).status === 0;
  // the server runs with the V8 flags the Deployment ships (NODE_OPTIONS of manifests/metrics-adapter/deployment.yaml)
  const nodeOptions = manifestNodeOptions('metrics-adapter');
  const cmd = [process.execPath, ...nodeOptions.split(/\s+/).filter(Boolean), path.join(import.meta.dirname, 'metrics-adapter.bench.mts'), '--serve', JSON.stringify({ port, hpas, pki, intervalMs })];
  const child: ChildProcess = spawn(taskset ? 'taskset' : cmd[0], taskset ? ['-c', '0', ...cmd] : cmd.slice(1), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((r) => child.once('message', () => r()));
  const stats = () => new Promise<any>((r) => { child.once('message', r); child.send('stats'); });
  log(`server up with ${hpas} HPAs`);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 64, cert: pki.frontProxyClient.cert, key: pki.frontProxyClient.key, rejectUnauthorized: false });
  /** The request the HPA controller sends for the metric of HPA `j` (see hpaAt). */
  const paths = (j: number) => {
    const ns = `ns-${j % 50}`;
    const k = j % 3;
    if (k === 0) return `/apis/external.metrics.k8s.io/v1beta1/namespaces/${ns}/queue?labelSelector=${encodeURIComponent(`type=sqs-queue-length,queue-name=q-${j % 500},region=eu-central-1`)}`;
    if (k === 1) return `/apis/custom.metrics.k8s.io/v1beta2/namespaces/${ns}/ingresses.networking.k8s.io/ing-${j}/rps`;
    return `/apis/custom.metrics.k8s.io/v1beta2/namespaces/${ns}/pods/%2A/load?labelSelector=app%3Dw`;
  };
  const get = (p: string) => new Promise<number>((resolve) => {
    const req = https.request({ host: '127.0.0.1', port, path: p, agent, headers: { 'X-Remote-User': 'system:serviceaccount:kube-system:horizontal-pod-autoscaler', 'X-Remote-Group': 'system:serviceaccounts', accept: 'application/vnd.kubernetes.protobuf, */*' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
  // warm the caches (authorization wildcard, connections)
  await Promise.all(Array.from({ length: 64 }, (_, i) => get(paths(i))));
  // a reference: an idle Node process on the server's CPU, measuring only how long the machine keeps it waiting
  const refScript = `const h=require('node:perf_hooks').monitorEventLoopDelay({resolution:10});h.enable();setInterval(()=>{},1000);` +
    `setTimeout(()=>{process.stdout.write(JSON.stringify({p99:h.percentile(99)/1e6,max:h.max/1e6}));process.exit(0)},${seconds * 1000})`;
  const ref = spawn(taskset ? 'taskset' : process.execPath, [...(taskset ? ['-c', '0', process.execPath] : []), '-e', refScript], { stdio: ['ignore', 'pipe', 'inherit'] });
  let refOut = '';
  ref.stdout!.on('data', (d) => (refOut += d));
  const refDone = new Promise<{ p99: number; max: number }>((r) => ref.once('exit', () => r(JSON.parse(refOut || '{"p99":0,"max":0}'))));
  const before = await stats();
  const lat: number[] = [];
  const codes = new Map<number, number>();
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  const total = seconds * rate;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t = performance.now();
    inflight.push(get(paths((i * 7919) % hpas)).then((code) => {
      lat.push(performance.now() - due); // open loop: measured from the scheduled send time
      codes.set(code, (codes.get(code) ?? 0) + 1);
      void t;
    }));
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - start) / 1000;
  const s = await stats();
  const reference = await refDone;
  child.kill('SIGTERM');
  lat.sort((a, b) => a - b);
  const errors = [...codes].filter(([c]) => c !== 200).reduce((a, [, n]) => a + n, 0);
  const pollsPerSourcePerInterval = s.sources ? s.polls / s.sources / (elapsed / (intervalMs / 1000)) : 0;
  const result = {
    rate, seconds, requests: lat.length, errors, codes: Object.fromEntries(codes),
    p50Ms: Number(percentile(lat, 50).toFixed(2)), p99Ms: Number(percentile(lat, 99).toFixed(2)),
    hpas, sources: s.sources, pollsPerSourcePerInterval: Number(pollsPerSourcePerInterval.toFixed(3)), maxPollsOneSource: s.maxPolls,
    rssIdleMiB: Math.round(s.idleRss), rssMiB: Math.round(s.rss), loadHpasMs: s.loadMs,
    serverCpuMsPerRequest: Number(((s.cpuMs - before.cpuMs) / lat.length).toFixed(3)), serverCpuShare: Number(((s.cpuMs - before.cpuMs) / 1000 / elapsed).toFixed(2)),
    eventLoopDelayP99Ms: Number(s.eldP99Ms.toFixed(1)), eventLoopDelayMaxMs: Number(s.eldMaxMs.toFixed(1)), loadAverage: Number(os.loadavg()[0]!.toFixed(1)),
    idleReferenceDelayP99Ms: Number(reference.p99.toFixed(1)), idleReferenceDelayMaxMs: Number(reference.max.toFixed(1)),
  };
  console.log(JSON.stringify(result));
  const commit = measuredCommit(['packages/metrics-adapter', 'packages/runtime', 'manifests/metrics-adapter', 'bench/metrics-adapter.bench.mts']);
  const machine = `${machineName()}${taskset ? ', server pinned to CPU 0' : ''}, shared with other test runs (load average ${os.loadavg()[0]!.toFixed(1)} at the end)`;
  writeBenchmarkSection('metrics-adapter', [
    `Run ${new Date().toISOString().slice(0, 16)}Z on commit ${commit}, ${machine}.`,
    `\`npm run bench -- metrics-adapter --seconds ${seconds} --rate ${rate} --hpas ${hpas}\`: the API handler in a child process with the Deployment's \`NODE_OPTIONS\` (\`${nodeOptions}\`), front-proxy mTLS keep-alive, warm authorization cache, no API server in the path.`,
    '',
    '| Measure | Result | Budget |',
    '|---|---|---|',
    `| Open-loop ${rate} req/s for ${seconds} s (pods, object, external) | p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, ${errors} errors of ${result.requests} | p50 < 5 ms, p99 < 50 ms, no errors |`,
    `| Server CPU (serving and polling every source each second), per request / share of one core | ${result.serverCpuMsPerRequest} ms / ${result.serverCpuShare} | < 0.5 core |`,
    `| Server event-loop delay during the load, p99 / max | ${result.eventLoopDelayP99Ms} ms / ${result.eventLoopDelayMaxMs} ms | |`,
    `| The same for an idle Node process on the server's CPU (the machine's own scheduling delay) | ${result.idleReferenceDelayP99Ms} ms / ${result.idleReferenceDelayMaxMs} ms | |`,
    `| Logical polls per distinct source per ${intervalMs / 1000} s interval (${s.sources} sources for ${hpas} HPAs) | ${result.pollsPerSourcePerInterval} (max ${s.maxPolls} on one source in ${elapsed.toFixed(0)} s) | ≤ 1 |`,
    `| RSS idle / with ${hpas} HPAs, after the load | ${result.rssIdleMiB} MiB / ${result.rssMiB} MiB | < 100 MiB / < 512 MiB |`,
    `| Parsing and subscribing ${hpas} HPAs | ${s.loadMs} ms | |`,
    '',
    'Anchor: KEDA\'s users report a metrics-server p99 of about 5 s at 300 or more ScaledObjects (kedacore/keda#5624).',
    'Latency through the kube-apiserver aggregator, 20,000 watched pods and real backends (moto SQS, Debian\'s Prometheus, pod endpoints): [metrics-adapter-cluster](#metrics-adapter-cluster).',
  ].join('\n'));
}

await main();
