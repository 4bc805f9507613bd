// Benchmark of the downscaler on the local control plane (docs/downscaler.md#ds-budgets).
//
//   npm run bench -- downscaler [--workloads 10000] [--namespaces 1000] [--ticks 10] [--interval 10s]
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
// 5. Peak RSS (VmHWM). Results are printed as JSON and written into docs/benchmarks.md between the downscaler
//    markers.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { cpuSeconds, freePort, log, pollUntil, pool, root, vmStatus, writeBenchmarkSection } from './lib.mts';

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
  },
  allowPositionals: true,
});
const N = Number(args.workloads);
const NS = Number(args.namespaces ?? Math.max(1, Math.round(N / 10)));
const TICKS = Number(args.ticks);
const INTERVAL_S = Number(/^(\d+)s?$/.exec(args.interval)?.[1] ?? 10);
const ANN = 'downscaler/downtime';






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
  return fs
    .readFileSync(file, 'utf8')
    .slice(from)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter(
      (e) =>
        e.stage === 'ResponseComplete' &&
        /kubeaws-downscaler/.test(e.userAgent ?? '') &&
        e.objectRef?.resource === resource,
    ).length;
}

async function main(): Promise<void> {
  const binaries = await ensureBinaries({ onProgress: log });
  const cluster = await startCluster({ binaries, nodes: Number(args.nodes), onProgress: log, timeoutMs: 300_000 });
  let controller: ReturnType<typeof spawn> | undefined;
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
        path.join(root, 'dist/packages/downscaler/lib/main.js'),
        `--kubeconfig=${cluster.kubeconfigPath}`,
        `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        `--health-probe-bind-address=127.0.0.1:${probePort}`,
        '--lease-namespace=kube-system',
        `--interval=${INTERVAL_S}s`,
        '--grace-period=0',
        '--log-level=warn',
      ],
      {
        stdio: ['ignore', out, out],
        env: { ...process.env, POD_NAME: 'downscaler-bench', POD_NAMESPACE: 'kube-system' },
      },
    );
    const pid = controller.pid as number;
    const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
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

    // transitions
    const transition = async (value: string | null, direction: 'down' | 'up') => {
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
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    writeReport(result);
  } finally {
    if (controller && controller.exitCode === null) {
      controller.kill('SIGTERM');
      await new Promise((r) => controller!.once('exit', r));
    }
    await cluster.stop();
  }
}

function writeReport(r: Record<string, number>): void {
  const per = (n: number) => (n / r.workloads).toFixed(2);
  const body = [
    `Measured ${new Date().toISOString().slice(0, 10)} on the 2-core build machine, local control plane, \`npm run bench -- downscaler --workloads ${r.workloads} --namespaces ${r.namespaces} --interval ${r.intervalSeconds}s\`. Reads and writes are the controller's own API requests without watches, Events and Lease renewals; writes are also counted in the kube-apiserver audit log.`,
    '',
    '| Measure | Result | Budget ([DS-BUDGETS](downscaler.md#ds-budgets)) |',
    '|---|---|---|',
    `| Deployments (${r.namespaces} namespaces) | ${r.workloads} | 10,000 / 1,000 |`,
    `| Start-up to ready / to the first full evaluation | ${r.readySeconds} s / ${r.firstEvaluationSeconds} s | ≤ 30 s |`,
    `| Steady state over ${r.steadyTicks} ticks: reads (of which LIST) / writes (audit log) | ${r.steadyReads} (${r.steadyLists}) / ${r.steadyWrites} (${r.steadyAuditWrites}) | 0 / 0 |`,
    `| Evaluation per tick, mean / p99 bucket | ${r.evaluationMsPerTick} ms / ≤ ${r.evaluationP99Ms} ms | ≤ 100 ms CPU (p99) |`,
    `| Process CPU time per tick (all work, incl. watches and metrics) | ${r.processCpuMsPerTick} ms | — |`,
    `| Scale-down transition: PATCHes per object (audit log), GETs, time to drain | ${per(r.downPatches)} (${per(r.downAuditPatches)}), ${r.downGets}, ${r.downSeconds} s | 1 PATCH, no GET |`,
    `| Restore transition: PATCHes per object (audit log), GETs, time to drain | ${per(r.upPatches)} (${per(r.upAuditPatches)}), ${r.upGets}, ${r.upSeconds} s | 1 PATCH, no GET; ≈ C / qps |`,
    `| LISTs during both transitions | ${r.transitionLists} | 0 |`,
    `| Events dropped by the Event rate limit (both transitions) | ${r.eventsDropped} | best effort |`,
    `| Peak RSS (VmHWM) | ${r.peakRssMiB} MiB | ≤ 256 MiB |`,
  ].join('\n');
  writeBenchmarkSection('downscaler', body);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
