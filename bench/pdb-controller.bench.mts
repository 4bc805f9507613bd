// Benchmark of the pdb-controller on the local control plane (docs/pdb-controller.md#pdb-budgets, issue "Foundation"
// item 8).
//
//   npm run bench -- pdb-controller [--deployments 5000] [--quiet-minutes 5] [--namespaces 50]
//                                   [--latency-samples 60] [--latency-interval-ms 500]
//
// 1. Starts a local cluster (kwok nodes sized for the pods), creates the Deployments (2 replicas each) and waits
//    until every one is fully ready.
// 2. Starts the controller as a child process as its image runs it (plain `node` on the esbuild
//    bundle, NODE_ENV=production, the NODE_OPTIONS of manifests/pdb-controller/deployment.yaml; admin kubeconfig,
//    leader election on, default flags) and measures the time until every Deployment has its managed PDB, the API
//    requests it issued (its own kubeaws_pdb_controller_api_requests_total) and its CPU time.
// 3. Waits until the controller has finished the first pass: its work queue empty, no worker busy and no Event
//    write in flight (its own kubeaws_pdb_controller_workqueue_depth, _controller_active_workers and
//    _events_in_flight all 0 on one scrape). The PDBCreated Events of the last creates are written after the PDBs
//    they follow have reached the cache, so without this wait they land in the quiet window. Then watches a quiet
//    window with no changes and counts the controller's requests in that window from the kube-apiserver audit log,
//    by verb and resource (target: no write besides the Lease), and from its write counter.
// 4. Reaction at steady state: creates --latency-samples Deployments (2 replicas) one every --latency-interval-ms
//    in a namespace of their own and measures, per Deployment, the time from the watch event in which it is first
//    fully ready (observedGeneration ≥ generation, readyReplicas ≥ 2) to the watch event that shows its PDB; both
//    watches are this process's own, so their delivery delays largely cancel out.
// 5. Memory: peak RSS (VmHWM) of the process over the whole run, and where it is at the highest RSS seen: VmRSS and
//    the V8 heap spaces of its /metrics sampled every second, each sample labelled with the step it was taken in.
// Results are printed as JSON and written into docs/benchmarks.md between the pdb-controller markers, with the
// machine and the commit.
import { execFileSync, spawn } from 'node:child_process';
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
    deployments: { type: 'string', default: '5000' },
    namespaces: { type: 'string', default: '50' },
    'quiet-minutes': { type: 'string', default: '5' },
    nodes: { type: 'string', default: '20' },
    'latency-samples': { type: 'string', default: '60' },
    'latency-interval-ms': { type: 'string', default: '500' },
  },
  allowPositionals: true,
});
const N = Number(args.deployments);
const NS = Number(args.namespaces);
const QUIET_MS = Number(args['quiet-minutes']) * 60_000;
const SAMPLES = Number(args['latency-samples']);
const SAMPLE_INTERVAL_MS = Number(args['latency-interval-ms']);
const BUNDLE = path.join(root, 'dist/packages/pdb-controller/bundle/main.mjs');

const NODE_OPTIONS = manifestNodeOptions('pdb-controller');

/** One memory sample of the controller process (MiB). */
interface MemorySample {
  step: string;
  rss: number;
  heapUsed: number;
  /** V8 heap used by space: new (young generation), old (old + large objects), code (code + trusted). */
  newSpace: number;
  oldSpace: number;
  codeSpace: number;
  external: number;
}

/** Samples VmRSS and the V8 heap (prom-client's nodejs_* metrics) every second; `peak` has the highest VmRSS. */
function memorySampler(pid: number, metrics: () => Promise<string>) {
  const state = { step: 'start', peak: undefined as MemorySample | undefined, last: undefined as MemorySample | undefined };
  const mib = (x: number) => Number((x / 2 ** 20).toFixed(1));
  const sample = async () => {
    let rss: number;
    let text: string;
    try {
      rss = vmStatus(pid, 'VmRSS');
      text = await metrics();
    } catch {
      return;
    }
    const space = new Map<string, number>();
    for (const m of text.matchAll(/^nodejs_heap_space_size_used_bytes\{space="(\w+)"\} (\S+)$/gm)) space.set(m[1]!, Number(m[2]));
    const sum = (...names: string[]) => names.reduce((a, n) => a + (space.get(n) ?? 0), 0);
    const s: MemorySample = {
      step: state.step,
      rss: Number(rss.toFixed(1)),
      heapUsed: mib([...space.values()].reduce((a, b) => a + b, 0)),
      newSpace: mib(sum('new', 'new_large_object')),
      oldSpace: mib(sum('old', 'large_object')),
      codeSpace: mib(sum('code', 'code_large_object', 'trusted', 'trusted_large_object')),
      external: mib(Number(/^nodejs_external_memory_bytes (\S+)$/m.exec(text)?.[1] ?? NaN)),
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
  return { state, step: (name: string) => void (state.step = name), stop: () => clearInterval(timer) };
}

/** Audit events (stage ResponseComplete) of the controller's user agent from byte offset `from`, complete lines only. */
function controllerAuditEvents(file: string, from: number): Array<{ verb: string; resource: string }> {
  const fd = fs.openSync(file, 'r');
  const size = fs.fstatSync(fd).size;
  const buf = Buffer.alloc(size - from);
  fs.readSync(fd, buf, 0, buf.length, from);
  fs.closeSync(fd);
  const text = buf.toString('utf8');
  const out: Array<{ verb: string; resource: string }> = [];
  for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      continue; // empty, or cut by the offset taken while the line was written
    }
    if (e.stage !== 'ResponseComplete' || !/kubeaws-pdb-controller/.test(e.userAgent ?? '')) continue;
    const r = e.objectRef ?? {};
    out.push({ verb: e.verb, resource: `${r.resource ?? e.requestURI}${r.subresource ? `/${r.subresource}` : ''}${r.apiGroup ? `.${r.apiGroup}` : ''}` });
  }
  return out;
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** `{ "<verb> <resource>": count }`, sorted by key. */
function countBy(events: Array<{ verb: string; resource: string }>, filter: (e: { verb: string; resource: string }) => boolean): Record<string, number> {
  const m = new Map<string, number>();
  for (const e of events.filter(filter)) m.set(`${e.verb} ${e.resource}`, (m.get(`${e.verb} ${e.resource}`) ?? 0) + 1);
  return Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}






async function main(): Promise<void> {
  const perNodePods = Math.ceil((N * 2 * 1.2) / Number(args.nodes));
  const binaries = await ensureBinaries({ onProgress: log });
  const cluster = await startCluster({
    binaries,
    nodes: Number(args.nodes),
    nodeCapacity: { cpu: '1000', memory: '4Ti', pods: String(perNodePods) },
    // The defaults (20 QPS for the controller manager, 50 for the scheduler) would take most of an hour to
    // create 10,000 pods; the workloads' readiness is set-up, not what is measured.
    controllerManagerExtraArgs: {
      'kube-api-qps': '400',
      'kube-api-burst': '800',
      'concurrent-deployment-syncs': '10',
      'concurrent-replicaset-syncs': '10',
    },
    schedulerExtraArgs: { 'kube-api-qps': '400', 'kube-api-burst': '800' },
    onProgress: log,
    timeoutMs: 300_000,
  });
  let controller: ReturnType<typeof spawn> | undefined;
  try {
    const kc = cluster.kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const namespaces = Array.from({ length: NS }, (_, i) => `bench-${i}`);
    for (const ns of namespaces) await core.createNamespace({ body: { metadata: { name: ns } } });
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
              replicas: 2,
              selector: { matchLabels: { app: name } },
              template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'bench' }] } },
            },
          },
        });
      },
    );
    log(`created in ${((Date.now() - t0) / 1000).toFixed(0)} s; waiting for every Deployment to be fully ready`);
    await pollUntil('all Deployments ready', 60 * 60_000, 5000, async () => {
      let ready = 0;
      let cont: string | undefined;
      do {
        const page = await apps.listDeploymentForAllNamespaces({ limit: 500, _continue: cont });
        ready += page.items.filter((d: any) => (d.status?.readyReplicas ?? 0) >= 2 && (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0)).length;
        cont = page.metadata?._continue;
      } while (cont);
      log(`  ${ready}/${N} ready`);
      return ready >= N ? ready : undefined;
    });

    log('bundling the pdb-controller (as its image runs it)');
    execFileSync(process.execPath, [path.join(root, 'tools/images/bundle.mjs'), 'pdb-controller', '--budget-kb', '6144'], { cwd: root, stdio: 'ignore' });
    const metricsPort = await freePort();
    const probePort = await freePort();
    const logFile = path.join(cluster.dataDir, 'pdb-controller.log');
    const out = fs.openSync(logFile, 'a');
    const start = Date.now();
    controller = spawn(
      process.execPath,
      [
        ...manifestNodeFlags('pdb-controller'),
        BUNDLE,
        `--kubeconfig=${cluster.kubeconfigPath}`,
        `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        `--health-probe-bind-address=127.0.0.1:${probePort}`,
        '--lease-namespace=kube-system',
        '--log-level=warn',
      ],
      {
        stdio: ['ignore', out, out],
        env: { PATH: process.env.PATH, HOME: cluster.dataDir, NODE_ENV: 'production', NODE_OPTIONS, POD_NAME: 'pdb-controller-bench', POD_NAMESPACE: 'kube-system' },
      },
    );
    const pid = controller.pid as number;
    const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const mem = memorySampler(pid, metrics);
    mem.step('convergence');
    const converged = await pollUntil('convergence', 30 * 60_000, 250, async () => {
      try {
        const m = await metrics();
        return sumSamples(m, 'kubeaws_pdb_controller_managed_pdbs') >= N ? m : undefined;
      } catch {
        return undefined;
      }
    });
    const convergenceS = (Date.now() - start) / 1000;
    const requestsAtConvergence = sumSamples(converged, 'kubeaws_pdb_controller_api_requests_total');
    const listsAtConvergence = sumSamples(converged, 'kubeaws_pdb_controller_api_requests_total{verb="list"}');
    const writesAtConvergence = sumSamples(converged, 'kubeaws_pdb_controller_pdb_writes_total');
    const cpuAtConvergence = cpuSeconds(pid);
    const peakAtConvergence = vmStatus(pid, 'VmHWM');
    log(`converged in ${convergenceS.toFixed(1)} s (VmHWM ${peakAtConvergence.toFixed(0)} MiB); quiet window of ${QUIET_MS / 60_000} min`);

    // The first pass is done once no key is queued or being reconciled and every Event write has finished.
    const settleStart = Date.now();
    await pollUntil('work queue, workers and Event writes idle', 5 * 60_000, 250, async () => {
      const m = await metrics();
      const idle =
        sumSamples(m, 'kubeaws_pdb_controller_workqueue_depth') === 0 &&
        sumSamples(m, 'kubeaws_pdb_controller_controller_active_workers') === 0 &&
        sumSamples(m, 'kubeaws_pdb_controller_events_in_flight') === 0;
      return idle ? true : undefined;
    });
    const settleS = (Date.now() - settleStart) / 1000;

    // Quiet window: nothing changes; every request of the controller is read from the audit log.
    mem.step('quiet');
    const auditBefore = fs.statSync(cluster.auditLogPath).size;
    const before = await metrics();
    await new Promise((r) => setTimeout(r, QUIET_MS));
    const after = await metrics();
    const quietWrites = sumSamples(after, 'kubeaws_pdb_controller_pdb_writes_total') - sumSamples(before, 'kubeaws_pdb_controller_pdb_writes_total');
    const quiet = controllerAuditEvents(cluster.auditLogPath, auditBefore);
    const isLease = (e: { resource: string }) => e.resource.startsWith('leases.');
    const quietWritesByResource = countBy(quiet, (e) => WRITE_VERBS.has(e.verb) && !isLease(e));
    const quietLeaseRequests = countBy(quiet, isLease);
    const quietOtherRequests = countBy(quiet, (e) => !WRITE_VERBS.has(e.verb) && !isLease(e));
    const rssAfterQuiet = vmStatus(pid, 'VmRSS');

    // Reaction at steady state: Deployment fully ready → its PDB exists.
    mem.step('latency');
    const latencyNs = 'bench-latency';
    await core.createNamespace({ body: { metadata: { name: latencyNs } } });
    const readyAt = new Map<string, number>();
    const pdbAt = new Map<string, number>();
    const watch = new k8s.Watch(kc);
    const fullyReady = (d: any) => (d.status?.observedGeneration ?? -1) >= (d.metadata?.generation ?? 0) && (d.status?.readyReplicas ?? 0) >= (d.spec?.replicas ?? 1);
    const watches = await Promise.all([
      watch.watch(`/apis/apps/v1/namespaces/${latencyNs}/deployments`, {}, (type: string, d: any) => {
        if (type !== 'DELETED' && fullyReady(d) && !readyAt.has(d.metadata.name)) readyAt.set(d.metadata.name, performance.now());
      }, () => undefined),
      watch.watch(`/apis/policy/v1/namespaces/${latencyNs}/poddisruptionbudgets`, {}, (type: string, p: any) => {
        const owner = p.metadata?.ownerReferences?.find((o: any) => o.kind === 'Deployment')?.name;
        if (type !== 'DELETED' && owner && !pdbAt.has(owner)) pdbAt.set(owner, performance.now());
      }, () => undefined),
    ]);
    const writesBeforeLatency = sumSamples(await metrics(), 'kubeaws_pdb_controller_pdb_writes_total');
    for (let i = 0; i < SAMPLES; i++) {
      const name = `lat-${i}`;
      const t = Date.now();
      await apps.createNamespacedDeployment({
        namespace: latencyNs,
        body: {
          metadata: { name, labels: { app: name } },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: name } },
            template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'bench' }] } },
          },
        },
      });
      await new Promise((r) => setTimeout(r, Math.max(0, SAMPLE_INTERVAL_MS - (Date.now() - t))));
    }
    await pollUntil('a PDB for every latency sample', 10 * 60_000, 250, async () => (pdbAt.size >= SAMPLES ? true : undefined));
    for (const w of watches) w.abort();
    const latencies = [...pdbAt].map(([name, t]) => t - (readyAt.get(name) ?? NaN)).filter(Number.isFinite).sort((x, y) => x - y);
    const latencyWrites = sumSamples(await metrics(), 'kubeaws_pdb_controller_pdb_writes_total') - writesBeforeLatency;
    mem.stop();
    const peakRss = vmStatus(pid, 'VmHWM');
    const peak = mem.state.peak;
    const result = {
      machine: machine(),
      commit: measuredCommit(['packages/pdb-controller', 'packages/runtime', 'manifests/pdb-controller', 'bench/pdb-controller.bench.mts']),
      nodeOptions: NODE_OPTIONS,
      deployments: N,
      namespaces: NS,
      convergenceSeconds: Number(convergenceS.toFixed(1)),
      cpuSecondsToConvergence: Number(cpuAtConvergence.toFixed(2)),
      apiRequestsToConvergence: requestsAtConvergence,
      listRequestsToConvergence: listsAtConvergence,
      pdbWritesToConvergence: writesAtConvergence,
      settleSecondsAfterConvergence: Number(settleS.toFixed(1)),
      peakRssAtConvergenceMiB: Number(peakAtConvergence.toFixed(0)),
      peakRssMiB: Number(peakRss.toFixed(0)),
      rssAfterQuietMiB: Number(rssAfterQuiet.toFixed(0)),
      peakSample: peak,
      quietMinutes: QUIET_MS / 60_000,
      quietWritesCounter: quietWrites,
      quietWritesByResource,
      quietLeaseRequests,
      quietOtherRequests,
      latencySamples: latencies.length,
      latencyP50Ms: Math.round(percentile(latencies, 50)),
      latencyP99Ms: Math.round(percentile(latencies, 99)),
      latencyMaxMs: Math.round(latencies[latencies.length - 1] ?? NaN),
      latencyPdbWrites: latencyWrites,
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

function writeReport(r: any): void {
  const kv = (o: Record<string, number>) => (Object.keys(o).length ? Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ') : 'none');
  const total = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  const p = r.peakSample;
  const body = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${r.machine} (shared with other jobs), commit ${r.commit}; local control plane with ${args.nodes} kwok nodes, \`npm run bench -- pdb-controller ${process.argv.slice(2).join(' ')}\`. The controller runs as its image runs it (plain \`node\` on the bundle, \`NODE_ENV=production\`, \`NODE_OPTIONS=${r.nodeOptions}\` from the manifest) with the default flags and leader election on.`,
    '',
    '| Measure | Result | Budget ([PDB-BUDGETS](pdb-controller.md#pdb-budgets)) |',
    '|---|---|---|',
    `| Deployments (2 replicas each, ${r.namespaces} namespaces) | ${r.deployments} | 5,000 |`,
    `| Time from controller start to every managed PDB created (default \`--qps\`/\`--burst\`) | ${r.convergenceSeconds} s | ≤ 60 s |`,
    `| Controller CPU time to convergence | ${r.cpuSecondsToConvergence} s | — |`,
    `| API requests issued to convergence (of which LIST pages) | ${r.apiRequestsToConvergence} (${r.listRequestsToConvergence}) | paginated, 1 write per PDB |`,
    `| PDB writes to convergence | ${r.pdbWritesToConvergence} | ${r.deployments} |`,
    `| Deployment fully ready → its PDB exists, p50 / p99 / max (${r.latencySamples} Deployments created one every ${SAMPLE_INTERVAL_MS} ms at steady state) | ${r.latencyP50Ms} ms / ${r.latencyP99Ms} ms / ${r.latencyMaxMs} ms | p99 ≤ 1 s |`,
    `| Peak RSS (VmHWM) over the run / at convergence | ${r.peakRssMiB} MiB / ${r.peakRssAtConvergenceMiB} MiB | ≤ 150 MiB |`,
    `| RSS after the quiet window (VmRSS) | ${r.rssAfterQuietMiB} MiB | — |`,
    `| At the highest RSS sampled (step ${p?.step}): RSS / V8 heap used (new, old, code) / external | ${p?.rss} MiB / ${p?.heapUsed} MiB (${p?.newSpace}, ${p?.oldSpace}, ${p?.codeSpace}) / ${p?.external} MiB | — |`,
    `| Writes in ${r.quietMinutes} quiet minutes besides the Lease (the window opens when the work queue, the workers and the Event writes are idle, ${r.settleSecondsAfterConvergence} s after convergence), audit log by resource / write counter | ${total(r.quietWritesByResource)} (${kv(r.quietWritesByResource)}) / ${r.quietWritesCounter} | 0 |`,
    `| Lease requests in the quiet window (audit log) | ${total(r.quietLeaseRequests)} (${kv(r.quietLeaseRequests)}) | leader election: GET + UPDATE every 2 s |`,
    `| Other requests in the quiet window (audit log: watches reopened, no LIST expected) | ${kv(r.quietOtherRequests)} | open watches only |`,
  ].join('\n');
  writeBenchmarkSection('pdb-controller', body);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
