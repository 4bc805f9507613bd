// Benchmark of the pdb-controller on the local control plane (docs/pdb-controller.md#pdb-budgets, issue "Foundation"
// item 8).
//
//   npm run bench -- pdb-controller [--deployments 5000] [--quiet-minutes 5] [--namespaces 50]
//
// 1. Starts a local cluster (kwok nodes sized for the pods), creates the Deployments (2 replicas each) and waits
//    until every one is fully ready.
// 2. Starts the controller as a child process (built main.js, admin kubeconfig, leader election on) and measures
//    the time until every Deployment has its managed PDB, the API requests it issued (its own
//    kubeaws_pdb_controller_api_requests_total), its CPU time and its peak RSS (VmHWM).
// 3. Watches a quiet window with no changes and counts the controller's writes in that window (target 0), from its
//    write counter and from the kube-apiserver audit log.
// Results are printed as JSON and written into docs/benchmarks.md between the pdb-controller markers.
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
    deployments: { type: 'string', default: '5000' },
    namespaces: { type: 'string', default: '50' },
    'quiet-minutes': { type: 'string', default: '5' },
    nodes: { type: 'string', default: '20' },
  },
  allowPositionals: true,
});
const N = Number(args.deployments);
const NS = Number(args.namespaces);
const QUIET_MS = Number(args['quiet-minutes']) * 60_000;






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

    const metricsPort = await freePort();
    const probePort = await freePort();
    const logFile = path.join(cluster.dataDir, 'pdb-controller.log');
    const out = fs.openSync(logFile, 'a');
    const start = Date.now();
    controller = spawn(
      process.execPath,
      [
        path.join(root, 'dist/packages/pdb-controller/lib/main.js'),
        `--kubeconfig=${cluster.kubeconfigPath}`,
        `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        `--health-probe-bind-address=127.0.0.1:${probePort}`,
        '--lease-namespace=kube-system',
        '--log-level=warn',
      ],
      { stdio: ['ignore', out, out], env: { ...process.env, POD_NAME: 'pdb-controller-bench', POD_NAMESPACE: 'kube-system' } },
    );
    const pid = controller.pid as number;
    const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const converged = await pollUntil('convergence', 30 * 60_000, 500, async () => {
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
    log(`converged in ${convergenceS.toFixed(1)} s; quiet window of ${QUIET_MS / 60_000} min`);
    const auditBefore = fs.statSync(cluster.auditLogPath).size;
    let peakRss = vmStatus(pid, 'VmHWM');
    const quietEnd = Date.now() + QUIET_MS;
    while (Date.now() < quietEnd) {
      await new Promise((r) => setTimeout(r, Math.min(10_000, Math.max(0, quietEnd - Date.now()))));
      peakRss = Math.max(peakRss, vmStatus(pid, 'VmHWM'));
    }
    const after = await metrics();
    const quietWrites = sumSamples(after, 'kubeaws_pdb_controller_pdb_writes_total') - writesAtConvergence;
    // Lease renewals (a GET and an UPDATE every 2 s while leading) are leader election, not reconcile traffic.
    const leaseRequests = (m: string) => sumSamples(m, 'kubeaws_pdb_controller_api_requests_total{group="coordination.k8s.io"}');
    const quietLeaseRequests = leaseRequests(after) - leaseRequests(converged);
    const quietRequests = sumSamples(after, 'kubeaws_pdb_controller_api_requests_total') - requestsAtConvergence - quietLeaseRequests;
    const auditTail = fs.readFileSync(cluster.auditLogPath, 'utf8').slice(auditBefore);
    const quietAuditWrites = auditTail
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .filter((e) => e.stage === 'ResponseComplete' && /pdb-controller/.test(e.userAgent ?? ''))
      .filter((e) => e.objectRef?.resource !== 'leases').length;
    const result = {
      deployments: N,
      namespaces: NS,
      convergenceSeconds: Number(convergenceS.toFixed(1)),
      cpuSecondsToConvergence: Number(cpuAtConvergence.toFixed(2)),
      apiRequestsToConvergence: requestsAtConvergence,
      listRequestsToConvergence: listsAtConvergence,
      pdbWritesToConvergence: writesAtConvergence,
      peakRssMiB: Number(peakRss.toFixed(0)),
      quietMinutes: QUIET_MS / 60_000,
      quietWritesCounter: quietWrites,
      quietWritesAuditLog: quietAuditWrites,
      quietApiRequests: quietRequests,
      quietLeaseRequests,
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
  const body = [
    `Measured ${new Date().toISOString().slice(0, 10)} on the 2-core build machine, local control plane (kwok nodes), \`npm run bench -- pdb-controller --deployments ${r.deployments} --quiet-minutes ${r.quietMinutes}\`.`,
    '',
    '| Measure | Result | Budget ([PDB-BUDGETS](pdb-controller.md#pdb-budgets)) |',
    '|---|---|---|',
    `| Deployments (2 replicas each, ${r.namespaces} namespaces) | ${r.deployments} | 5,000 |`,
    `| Time from controller start to every managed PDB created | ${r.convergenceSeconds} s | — |`,
    `| Controller CPU time to convergence | ${r.cpuSecondsToConvergence} s | first full pass ≤ 2 s CPU after sync |`,
    `| API requests issued to convergence (of which LIST pages) | ${r.apiRequestsToConvergence} (${r.listRequestsToConvergence}) | paginated, 1 write per PDB |`,
    `| PDB writes to convergence | ${r.pdbWritesToConvergence} | ${r.deployments} |`,
    `| Peak RSS (VmHWM) | ${r.peakRssMiB} MiB | ≤ 200 MiB |`,
    `| Writes in ${r.quietMinutes} quiet minutes, Lease renewals excluded (write counter / audit log) | ${r.quietWritesCounter} / ${r.quietWritesAuditLog} | 0 |`,
    `| API requests in the quiet window (watches and Lease renewals excluded) | ${r.quietApiRequests} | open watches only |`,
    `| Lease renewal requests in the quiet window (GET + UPDATE every 2 s) | ${r.quietLeaseRequests} | leader election |`,
  ].join('\n');
  writeBenchmarkSection('pdb-controller', body);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
