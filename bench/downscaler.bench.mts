// Benchmark of the downscaler on the local control plane (docs/downscaler.md#ds-budgets).
//
//   npm run bench -- downscaler [--workloads 10000] [--namespaces 1000] [--ticks 10] [--interval 10s]
//                               [--scenario all|scale|boundary] [--boundary-workloads 100] [--boundary-rounds 5]
//
// Scenario `scale` (steps 1-5 below) and scenario `boundary` (step 6) each run on a cluster of their own; `all`
// (the default) runs both.
//
// 1. Starts a local cluster and creates the Deployments (1 replica each, paused, so no pods are needed: the
//    downscaler only reads and writes spec.replicas and annotations) spread over the namespaces.
// 2. Starts the downscaler as a child process (built main.js, admin kubeconfig, leader election on) and measures
//    the time to ready and to the first full evaluation.
// 3. Steady state: over --ticks evaluation ticks, counts the controller's API reads and writes (its own
//    kubeaws_downscaler_api_requests_total, watches, Events and the Lease excluded; writes also from the
//    kube-apiserver audit log), and reads the per-tick evaluation time (cycle_duration_seconds) and the process CPU
//    time per tick.
// 4. Transitions: annotates every Namespace with `downscaler/downtime: always` (and removes it again), waits
//    until every Deployment is down (up), and counts PATCHes and GETs per object.
// 5. Peak RSS (VmHWM), and where the memory is at the highest RSS seen: the process is sampled every second (VmRSS
//    and the V8 heap spaces of its /metrics), each sample labelled with the step it was taken in. Results are printed
//    as JSON and written into docs/benchmarks.md between the downscaler markers, with the machine and the commit.
//
// The downscaler runs with the NODE_OPTIONS of manifests/downscaler/deployment.yaml (the heap limit it is deployed
// with), as in its container.
// 6. Boundary → PATCH (docs/downscaler.md#ds-boundaries): --boundary-workloads Deployments in 10 namespaces, the
//    downscaler started with the longest --interval (60s), then every Deployment gets an absolute downtime
//    `<start>-<end>` whose start lies 15-35 s ahead, spread over --boundary-rounds boundaries 4 s apart, and whose
//    end is 30 s after its start. From the kube-apiserver audit log: the time from each boundary (start: scale-down,
//    end: restore) to the completion of the downscaler's PATCH of that Deployment, p50/p99/max, and the evaluation
//    ticks meanwhile. Written between the downscaler-boundary markers with the machine and the commit.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { cpuSeconds, freePort, log, pollUntil, pool, root, vmStatus, writeBenchmarkSection, manifestNodeOptions, manifestNodeFlags, machine, measuredCommit } from './lib.mts';

const require = createRequire(import.meta.url);
const { startCluster, ensureBinaries } = require(path.join(root, 'dist/packages/testenv/lib/index.js'));
const { sumSamples } = require(path.join(root, 'dist/packages/kubeaws/lib/prometheus.js'));
const k8s = require('@kubernetes/client-node');

const { values: args } = parseArgs({
  options: {
    workloads: { type: 'string', default: '10000' },
    namespaces: { type: 'string' },
    ticks: { type: 'string', default: '10' },
    interval: { type: 'string', default: '10s' },
    nodes: { type: 'string', default: '2' },
    scenario: { type: 'string', default: 'all' },
    'boundary-workloads': { type: 'string', default: '100' },
    'boundary-rounds': { type: 'string', default: '5' },
  },
  allowPositionals: true,
});
const N = Number(args.workloads);
const NS = Number(args.namespaces ?? Math.max(1, Math.round(N / 10)));
const TICKS = Number(args.ticks);
const INTERVAL_S = Number(/^(\d+)s?$/.exec(args.interval)?.[1] ?? 10);
const ANN = 'downscaler/downtime';

const NODE_OPTIONS = manifestNodeOptions('downscaler');
/** Environment of the downscaler child: the bench's own, with the deployed NODE_OPTIONS. */
const childEnv = { ...process.env, POD_NAME: 'downscaler-bench', POD_NAMESPACE: 'kube-system', NODE_OPTIONS };

/** One memory sample of the downscaler process (MiB). */
interface MemorySample {
  step: string;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  /** V8 heap used by space: new (young generation), old (old + large objects), code (code + trusted), other. */
  newSpace: number;
  oldSpace: number;
  codeSpace: number;
  external: number;
}

/**
 * Samples VmRSS and the V8 heap (prom-client's nodejs_* metrics) of the process every second; `peak` is the sample
 * with the highest VmRSS, `last` the latest.
 */
function memorySampler(pid: number, metrics: () => Promise<string>) {
  const state = { step: 'start', peak: undefined as MemorySample | undefined, last: undefined as MemorySample | undefined };
  const mib = (x: number) => Number((x / 2 ** 20).toFixed(1));
  const sample = async () => {
    let rss: number;
    try {
      rss = vmStatus(pid, 'VmRSS');
    } catch {
      return; // exited
    }
    let text = '';
    try {
      text = await metrics();
    } catch {
      return;
    }
    const space = new Map<string, number>();
    for (const m of text.matchAll(/^nodejs_heap_space_size_used_bytes\{space="(\w+)"\} (\S+)$/gm)) space.set(m[1]!, Number(m[2]));
    const one = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    const sum = (...names: string[]) => names.reduce((a, n) => a + (space.get(n) ?? 0), 0);
    const used = [...space.values()].reduce((a, b) => a + b, 0);
    const newSpace = sum('new', 'new_large_object');
    const oldSpace = sum('old', 'large_object');
    const codeSpace = sum('code', 'code_large_object', 'trusted', 'trusted_large_object');
    const s: MemorySample = {
      step: state.step,
      rss: Number(rss.toFixed(1)),
      heapTotal: mib(one('nodejs_heap_size_total_bytes')),
      heapUsed: mib(used),
      newSpace: mib(newSpace),
      oldSpace: mib(oldSpace),
      codeSpace: mib(codeSpace),
      external: mib(one('nodejs_external_memory_bytes')),
    };
    state.last = s;
    if (!state.peak || s.rss > state.peak.rss) state.peak = s;
  };
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void sample().finally(() => (busy = false));
  }, 1000);
  return {
    state,
    step(name: string) {
      state.step = name;
    },
    stop() {
      clearInterval(timer);
    },
  };
}






/** API requests of the controller by verb, without watches, Events and the Lease. */
function requests(text: string, verb: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    const m = /^kubeaws_downscaler_api_requests_total\{(.*)\}\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (labels.verb !== verb || labels.resource === 'events' || labels.resource === 'leases') continue;
    n += Number(m[2]);
  }
  return n;
}

/** p99 upper bound of a Prometheus histogram (seconds), from its cumulative buckets. */
function p99(text: string, name: string): number {
  const buckets: Array<[number, number]> = [];
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}\\s+(\\S+)$`).exec(line);
    if (m) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  }
  const total = buckets.at(-1)?.[1] ?? 0;
  return buckets.find(([, c]) => c >= total * 0.99)?.[0] ?? NaN;
}

function auditWrites(file: string, from: number, resource: string): number {
  // `from` is a byte offset; complete lines only (the API server may be writing the last one)
  const text = fs.readFileSync(file).subarray(from).toString('utf8');
  let n = 0;
  for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      continue; // empty, or cut by the offset taken while the line was written
    }
    if (e.stage === 'ResponseComplete' && /kubeaws-downscaler/.test(e.userAgent ?? '') && e.objectRef?.resource === resource) n++;
  }
  return n;
}

async function main(): Promise<void> {
  if (!['all', 'scale', 'boundary'].includes(args.scenario!)) throw new Error(`--scenario ${args.scenario}: expected all, scale or boundary`);
  if (args.scenario !== 'boundary') await scaleBench();
  if (args.scenario !== 'scale') await boundaryBench();
}

async function scaleBench(): Promise<void> {
  const binaries = await ensureBinaries({ onProgress: log });
  const cluster = await startCluster({ binaries, nodes: Number(args.nodes), onProgress: log, timeoutMs: 300_000 });
  let controller: ReturnType<typeof spawn> | undefined;
  let sampler: ReturnType<typeof memorySampler> | undefined;
  try {
    const kc = cluster.kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const namespaces = Array.from({ length: NS }, (_, i) => `bench-${i}`);
    await pool(namespaces, 16, async (ns) => {
      await core.createNamespace({ body: { metadata: { name: ns } } });
    });
    log(`creating ${N} Deployments in ${NS} namespaces`);
    const t0 = Date.now();
    await pool(
      Array.from({ length: N }, (_, i) => i),
      16,
      async (i) => {
        const name = `app-${i}`;
        await apps.createNamespacedDeployment({
          namespace: namespaces[i % NS],
          body: {
            metadata: { name, labels: { app: name } },
            spec: {
              replicas: 1,
              paused: true,
              selector: { matchLabels: { app: name } },
              template: {
                metadata: { labels: { app: name } },
                spec: {
                  containers: [
                    { name: 'app', image: 'bench', resources: { requests: { cpu: '100m', memory: '128Mi' } } },
                  ],
                },
              },
            },
          },
        });
      },
    );
    log(`created in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    const metricsPort = await freePort();
    const probePort = await freePort();
    const out = fs.openSync(path.join(cluster.dataDir, 'downscaler.log'), 'a');
    const start = Date.now();
    controller = spawn(
      process.execPath,
      [
        ...manifestNodeFlags('downscaler'),
        path.join(root, 'dist/packages/downscaler/lib/main.js'),
        `--kubeconfig=${cluster.kubeconfigPath}`,
        `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        `--health-probe-bind-address=127.0.0.1:${probePort}`,
        '--lease-namespace=kube-system',
        `--interval=${INTERVAL_S}s`,
        '--grace-period=0',
        '--log-level=warn',
      ],
      { stdio: ['ignore', out, out], env: childEnv },
    );
    const pid = controller.pid as number;
    const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    sampler = memorySampler(pid, metrics);
    sampler.step('list and first evaluation');
    await pollUntil('ready', 10 * 60_000, 250, async () => {
      try {
        return (await fetch(`http://127.0.0.1:${probePort}/readyz`)).status === 200 ? true : undefined;
      } catch {
        return undefined;
      }
    });
    const readyS = (Date.now() - start) / 1000;
    await pollUntil('first evaluation', 10 * 60_000, 250, async () =>
      sumSamples(await metrics(), 'kubeaws_downscaler_cycles_total') >= 1 ? true : undefined,
    );
    const firstEvalS = (Date.now() - start) / 1000;
    log(
      `ready in ${readyS.toFixed(1)} s, first evaluation after ${firstEvalS.toFixed(1)} s; steady state for ${TICKS} ticks`,
    );

    // steady state
    sampler.step('steady state');
    const m0 = await metrics();
    const cpu0 = cpuSeconds(pid);
    const audit0 = fs.statSync(cluster.auditLogPath).size;
    const cycles0 = sumSamples(m0, 'kubeaws_downscaler_cycles_total');
    await pollUntil('steady-state ticks', (TICKS + 5) * INTERVAL_S * 1000 + 60_000, INTERVAL_S * 500, async () =>
      sumSamples(await metrics(), 'kubeaws_downscaler_cycles_total') >= cycles0 + TICKS ? true : undefined,
    );
    const m1 = await metrics();
    const ticks = sumSamples(m1, 'kubeaws_downscaler_cycles_total') - cycles0;
    const cpuPerTickMs = ((cpuSeconds(pid) - cpu0) / ticks) * 1000;
    const cycleSum =
      sumSamples(m1, 'kubeaws_downscaler_cycle_duration_seconds_sum') -
      sumSamples(m0, 'kubeaws_downscaler_cycle_duration_seconds_sum');
    const steady = {
      ticks,
      reads: ['get', 'list'].reduce((s, v) => s + requests(m1, v) - requests(m0, v), 0),
      lists: requests(m1, 'list') - requests(m0, 'list'),
      writes: ['patch', 'update', 'create', 'delete'].reduce((s, v) => s + requests(m1, v) - requests(m0, v), 0),
      auditWrites: auditWrites(cluster.auditLogPath, audit0, 'deployments'),
      evaluationMsPerTick: (cycleSum / ticks) * 1000,
      evaluationP99Ms: p99(m1, 'kubeaws_downscaler_cycle_duration_seconds') * 1000,
      processCpuMsPerTick: cpuPerTickMs,
    };
    log(`steady: ${JSON.stringify(steady)}`);
    const steadySample = sampler.state.last;

    // transitions
    const transition = async (value: string | null, direction: 'down' | 'up') => {
      sampler!.step(direction === 'down' ? 'scale-down transition' : 'restore transition');
      const before = await metrics();
      const a0 = fs.statSync(cluster.auditLogPath).size;
      const t = Date.now();
      await pool(namespaces, 16, async (ns) => {
        await core.patchNamespace(
          { name: ns, body: { metadata: { annotations: { [ANN]: value } } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
      });
      await pollUntil(`every Deployment ${direction}`, 30 * 60_000, 500, async () => {
        const m = await metrics();
        const n = sumSamples(m, 'kubeaws_downscaler_downscaled_workloads{kind="Deployment"}');
        const pending = sumSamples(m, 'kubeaws_downscaler_pending_writes');
        return (direction === 'down' ? n >= N : n === 0) && pending === 0 ? m : undefined;
      });
      const seconds = (Date.now() - t) / 1000;
      await new Promise((r) => setTimeout(r, 2 * INTERVAL_S * 1000)); // two more ticks: no further writes
      const after = await metrics();
      return {
        seconds,
        patches: requests(after, 'patch') - requests(before, 'patch'),
        auditPatches: auditWrites(cluster.auditLogPath, a0, 'deployments'),
        gets: requests(after, 'get') - requests(before, 'get'),
        lists: requests(after, 'list') - requests(before, 'list'),
        eventsDropped:
          sumSamples(after, 'kubeaws_downscaler_events_dropped_total') -
          sumSamples(before, 'kubeaws_downscaler_events_dropped_total'),
      };
    };
    const down = await transition('always', 'down');
    log(`down: ${JSON.stringify(down)}`);
    const up = await transition(null, 'up');
    log(`up: ${JSON.stringify(up)}`);
    const peakRss = vmStatus(pid, 'VmHWM');
    sampler.stop();
    const steadyMem = steadySample;
    const peak = sampler.state.peak;
    const result = {
      workloads: N,
      namespaces: NS,
      intervalSeconds: INTERVAL_S,
      readySeconds: Number(readyS.toFixed(1)),
      firstEvaluationSeconds: Number(firstEvalS.toFixed(1)),
      steadyTicks: steady.ticks,
      steadyReads: steady.reads,
      steadyLists: steady.lists,
      steadyWrites: steady.writes,
      steadyAuditWrites: steady.auditWrites,
      evaluationMsPerTick: Number(steady.evaluationMsPerTick.toFixed(1)),
      evaluationP99Ms: steady.evaluationP99Ms,
      processCpuMsPerTick: Number(steady.processCpuMsPerTick.toFixed(1)),
      downSeconds: Number(down.seconds.toFixed(1)),
      downPatches: down.patches,
      downAuditPatches: down.auditPatches,
      downGets: down.gets,
      upSeconds: Number(up.seconds.toFixed(1)),
      upPatches: up.patches,
      upAuditPatches: up.auditPatches,
      upGets: up.gets,
      transitionLists: down.lists + up.lists,
      eventsDropped: down.eventsDropped + up.eventsDropped,
      peakRssMiB: Number(peakRss.toFixed(0)),
      nodeOptions: NODE_OPTIONS,
      steadyMemory: steadyMem,
      peakMemory: peak,
      ...provenance(),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    writeReport(result);
  } finally {
    sampler?.stop();
    if (controller && controller.exitCode === null) {
      controller.kill('SIGTERM');
      await new Promise((r) => controller!.once('exit', r));
    }
    await cluster.stop();
  }
}

function writeReport(r: Record<string, any>): void {
  const per = (n: number) => (n / r.workloads).toFixed(2);
  const mem = (m: MemorySample | undefined) =>
    m
      ? `${m.rss} MiB RSS: V8 heap ${m.heapTotal} MiB committed, ${m.heapUsed} MiB used (young generation ${m.newSpace}, old ${m.oldSpace}, code ${m.codeSpace}), external ${m.external} MiB`
      : 'not sampled';
  const body = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${r.machine}, commit ${r.commit}; local control plane, \`npm run bench -- downscaler --workloads ${r.workloads} --namespaces ${r.namespaces} --interval ${r.intervalSeconds}s\`; the downscaler runs \`dist/packages/downscaler/lib/main.js\` with the Deployment's \`NODE_OPTIONS=${r.nodeOptions}\`. Reads and writes are the controller's own API requests without watches, Events and Lease renewals; writes are also counted in the kube-apiserver audit log.`,
    '',
    '| Measure | Result | Budget ([DS-BUDGETS](downscaler.md#ds-budgets)) |',
    '|---|---|---|',
    `| Deployments (${r.namespaces} namespaces) | ${r.workloads} | 10,000 / 1,000 |`,
    `| Start-up to ready / to the first full evaluation | ${r.readySeconds} s / ${r.firstEvaluationSeconds} s | ≤ 30 s |`,
    `| Steady state over ${r.steadyTicks} ticks: reads (of which LIST) / writes (audit log) | ${r.steadyReads} (${r.steadyLists}) / ${r.steadyWrites} (${r.steadyAuditWrites}) | 0 / 0 |`,
    `| Evaluation per tick, mean / p99 bucket | ${r.evaluationMsPerTick} ms / ≤ ${r.evaluationP99Ms} ms | ≤ 100 ms CPU (p99) |`,
    `| Process CPU time per tick (all work, incl. watches and metrics) | ${r.processCpuMsPerTick} ms | — |`,
    `| Scale-down transition: PATCHes per object (audit log), GETs, time to drain | ${per(r.downPatches)} (${per(r.downAuditPatches)}), ${r.downGets}, ${r.downSeconds} s | 1 PATCH; a GET and a second PATCH only after a 409 ([DS-CONFLICTS](downscaler.md#ds-conflicts)) |`,
    `| Restore transition: PATCHes per object (audit log), GETs, time to drain | ${per(r.upPatches)} (${per(r.upAuditPatches)}), ${r.upGets}, ${r.upSeconds} s | 1 PATCH; a GET and a second PATCH only after a 409 ([DS-CONFLICTS](downscaler.md#ds-conflicts)); ≈ C / qps |`,
    `| LISTs during both transitions | ${r.transitionLists} | 0 |`,
    `| Events dropped by the Event rate limit (both transitions) | ${r.eventsDropped} | best effort |`,
    `| Memory after the steady-state ticks (all objects cached) | ${mem(r.steadyMemory)} | — |`,
    `| Highest RSS sampled (during the ${r.peakMemory?.step ?? '—'}) | ${mem(r.peakMemory)} | — |`,
    `| Peak RSS (VmHWM) | ${r.peakRssMiB} MiB | ≤ 192 MiB |`,
  ].join('\n');
  writeBenchmarkSection('downscaler', body);
}

/** Starts the built downscaler against a cluster (admin kubeconfig, leader election on); returns it and a metrics reader. */
function startDownscaler(cluster: any, metricsPort: number, probePort: number, extra: string[]) {
  const out = fs.openSync(path.join(cluster.dataDir, 'downscaler.log'), 'a');
  const child = spawn(
    process.execPath,
    [
      ...manifestNodeFlags('downscaler'),
      path.join(root, 'dist/packages/downscaler/lib/main.js'),
      `--kubeconfig=${cluster.kubeconfigPath}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
      '--lease-namespace=kube-system',
      ...extra,
    ],
    { stdio: ['ignore', out, out], env: childEnv },
  );
  const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return { child, metrics };
}

/** The q-quantile (0..1) of `xs` by the nearest-rank method. */
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/** An RFC 3339 instant with whole seconds, as the downscaler's grammar reads it. */
const rfc3339 = (t: number): string => new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');

/** Machine and commit of this run, for the report. */
function provenance(): { machine: string; commit: string } {
  return {
    machine: machine(),
    commit: measuredCommit(['packages/downscaler', 'packages/runtime', 'manifests/downscaler', 'bench/downscaler.bench.mts']),
  };
}

async function boundaryBench(): Promise<void> {
  const W = Number(args['boundary-workloads']);
  const R = Number(args['boundary-rounds']);
  if (!(W >= 50)) throw new Error('--boundary-workloads: at least 50');
  const binaries = await ensureBinaries({ onProgress: log });
  const cluster = await startCluster({ binaries, nodes: 1, onProgress: log, timeoutMs: 300_000 });
  let controller: ReturnType<typeof spawn> | undefined;
  try {
    const kc = cluster.kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const namespaces = Array.from({ length: 10 }, (_, i) => `boundary-${i}`);
    for (const ns of namespaces) await core.createNamespace({ body: { metadata: { name: ns } } });
    const workloads = Array.from({ length: W }, (_, i) => ({ namespace: namespaces[i % namespaces.length], name: `app-${i}`, round: i % R }));
    log(`creating ${W} Deployments`);
    await pool(workloads, 16, async (w) => {
      await apps.createNamespacedDeployment({
        namespace: w.namespace,
        body: {
          metadata: { name: w.name, labels: { app: w.name } },
          spec: {
            replicas: 2,
            paused: true,
            selector: { matchLabels: { app: w.name } },
            template: { metadata: { labels: { app: w.name } }, spec: { containers: [{ name: 'app', image: 'bench' }] } },
          },
        },
      });
    });
    const metricsPort = await freePort();
    const probePort = await freePort();
    const ds = startDownscaler(cluster, metricsPort, probePort, ['--interval=60s', '--grace-period=0', '--log-level=warn']);
    controller = ds.child;
    await pollUntil('first evaluation', 120_000, 250, async () => {
      try {
        return sumSamples(await ds.metrics(), 'kubeaws_downscaler_cycles_total') >= 1 ? true : undefined;
      } catch {
        return undefined;
      }
    });
    const base = Math.ceil((Date.now() + 15_000) / 1000) * 1000;
    const SPAN = 30_000;
    const boundaryOf = (w: { round: number }) => base + w.round * 4000;
    const audit0 = fs.statSync(cluster.auditLogPath).size;
    const cycles0 = sumSamples(await ds.metrics(), 'kubeaws_downscaler_cycles_total');
    log(`annotating: boundaries from ${rfc3339(base)}, ${R} rounds 4 s apart, restores ${SPAN / 1000} s later`);
    await pool(workloads, 16, async (w) => {
      const from = boundaryOf(w);
      await apps.patchNamespacedDeployment(
        { namespace: w.namespace, name: w.name, body: { metadata: { annotations: { 'downscaler/downtime': `${rfc3339(from)}-${rfc3339(from + SPAN)}` } } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    });
    if (Date.now() >= base) throw new Error('annotating took longer than the lead time before the first boundary');
    const last = base + (R - 1) * 4000 + SPAN;
    await pollUntil('every Deployment down and restored', last - Date.now() + 120_000, 1000, async () => {
      const patches = auditPatches(cluster.auditLogPath, audit0);
      return workloads.every((w) => (patches.get(`${w.namespace}/${w.name}`)?.length ?? 0) >= 2) ? true : undefined;
    });
    const patches = auditPatches(cluster.auditLogPath, audit0);
    const down: number[] = [];
    const up: number[] = [];
    const sent: number[] = [];
    for (const w of workloads) {
      const ps = patches.get(`${w.namespace}/${w.name}`)!;
      for (const [b, into] of [[boundaryOf(w), down], [boundaryOf(w) + SPAN, up]] as const) {
        const p = ps.find((x) => x.done >= b)!;
        into.push(p.done - b);
        sent.push(p.received - b);
      }
    }
    const all = [...down, ...up];
    const ms = (x: number) => Math.round(x);
    const result = {
      workloads: W,
      rounds: R,
      intervalSeconds: 60,
      samples: all.length,
      patchesPerWorkload: [...patches.values()].reduce((s, v) => s + v.length, 0) / W,
      p50Ms: ms(quantile(all, 0.5)),
      p99Ms: ms(quantile(all, 0.99)),
      maxMs: ms(Math.max(...all)),
      downP50Ms: ms(quantile(down, 0.5)),
      downP99Ms: ms(quantile(down, 0.99)),
      upP50Ms: ms(quantile(up, 0.5)),
      upP99Ms: ms(quantile(up, 0.99)),
      receivedP50Ms: ms(quantile(sent, 0.5)),
      receivedP99Ms: ms(quantile(sent, 0.99)),
      ticks: sumSamples(await ds.metrics(), 'kubeaws_downscaler_cycles_total') - cycles0,
      ...provenance(),
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    writeBoundaryReport(result);
  } finally {
    if (controller && controller.exitCode === null) {
      controller.kill('SIGTERM');
      await new Promise((r) => controller!.once('exit', r));
    }
    await cluster.stop();
  }
}

/**
 * The downscaler's PATCHes of each Deployment (`namespace/name`) in the audit log, in order: when the API server
 * received each and when it completed it (ms since the epoch).
 */
function auditPatches(file: string, from: number): Map<string, Array<{ received: number; done: number }>> {
  const out = new Map<string, Array<{ received: number; done: number }>>();
  // `from` is a byte offset; complete lines only (the API server may be writing the last one)
  const text = fs.readFileSync(file).subarray(from).toString('utf8');
  for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      continue; // empty, or cut by the offset taken while the line was written
    }
    if (e.stage !== 'ResponseComplete' || e.verb !== 'patch' || e.objectRef?.resource !== 'deployments') continue;
    if (!/kubeaws-downscaler/.test(e.userAgent ?? '') || e.responseStatus?.code !== 200) continue;
    const key = `${e.objectRef.namespace}/${e.objectRef.name}`;
    const p = { received: Date.parse(e.requestReceivedTimestamp), done: Date.parse(e.stageTimestamp) };
    out.set(key, [...(out.get(key) ?? []), p]);
  }
  for (const v of out.values()) v.sort((a, b) => a.done - b.done);
  return out;
}

function writeBoundaryReport(r: Record<string, number | string>): void {
  const body = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${r.machine}, commit ${r.commit}; local control plane, \`npm run bench -- downscaler --scenario boundary --boundary-workloads ${r.workloads} --boundary-rounds ${r.rounds}\`. ${r.workloads} Deployments, each with an absolute downtime whose start (scale-down) and end (restore) are schedule boundaries, ${r.rounds} boundaries 4 s apart; the downscaler runs with \`--interval=${r.intervalSeconds}s\`. Latency is from the boundary to the completion of the downscaler's PATCH of the Deployment in the kube-apiserver audit log.`,
    '',
    '| Measure | Result | Budget ([DS-BUDGETS](downscaler.md#ds-budgets)) |',
    '|---|---|---|',
    `| Boundary → PATCH, p50 / p99 / max (${r.samples} transitions) | ${r.p50Ms} ms / ${r.p99Ms} ms / ${r.maxMs} ms | p99 ≤ 2 s |`,
    `| Boundary → PATCH received by the API server, p50 / p99 | ${r.receivedP50Ms} ms / ${r.receivedP99Ms} ms | — |`,
    `| Scale-down p50 / p99 | ${r.downP50Ms} ms / ${r.downP99Ms} ms | — |`,
    `| Restore p50 / p99 | ${r.upP50Ms} ms / ${r.upP99Ms} ms | — |`,
    `| PATCHes per Deployment (audit log) | ${r.patchesPerWorkload} | 2 (one per transition) |`,
    `| Evaluation ticks during the measurement | ${r.ticks} | — |`,
  ].join('\n');
  writeBenchmarkSection('downscaler-boundary', body);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
