// Benchmark of the node-lifecycle-controller on the local control plane and moto (docs/node-lifecycle-controller.md).
//
//   npm run bench -- node-lifecycle-controller [--messages 50] [--pods 30]
//     [--scale-nodes 2000] [--pods-per-node 30] [--workloads 5000] [--pdbs 5000] [--draining 50] [--namespaces 50]
//     [--scale-only]
//
// `--scale-only` runs part 2 alone and prints its JSON without touching docs/benchmarks.md (for iterating on the
// controller's memory at a smaller scale).
//
// Part 1, latency (51 kwok nodes backed by moto instances, an SQS queue):
// 1. The controller as its image runs it (plain `node` on the bundle, NODE_ENV=production, the manifest's NODE_OPTIONS; leader election off, production SLA, 20 s long polls); idle
//    RSS after the caches synced and a quiet period.
// 2. Spot latency: one spot interruption message per node, sent one at a time; for each, the time from the
//    SendMessage response to the Node carrying the fencing PATCH (observed by polling the node every 50 ms).
// 3. Drain: a node with `--pods` pods (no PDB) gets a spot interruption; time from the message to the node reaching
//    `terminating` (drained), against the two-minute notice. Peak RSS (VmHWM).
// Part 2, scale (spec budgets, docs/benchmarks.md): `--scale-nodes` Nodes × `--pods-per-node` pods of `--workloads`
// ReplicaSets with `--pdbs` PDBs (minAvailable 100 %, so every Eviction is refused) in `--namespaces` namespaces.
// The ReplicaSet, node-lifecycle, taint-eviction, pod-GC, garbage-collector and disruption controllers of
// kube-controller-manager and the API server's audit log are off for the whole run, so the pods can be created bound to
// their nodes directly, fast enough, and stay where they are (the objects the controller caches are the same; PDB
// status stays unobserved, so Evictions get 429 "still being processed"); kwok runs the first `--draining` nodes and
// their pods (Running, Ready), the other nodes have no kubelet and their pods stay Pending.
// 4. A fresh controller process (production SLA, 10 s drain poll, `--qps 200`): time to ready with every cache
//    synced, RSS after a quiet period.
// 5. `--draining` nodes are requested at once (`--max-concurrent-drains` as many): process CPU time per Eviction and
//    per minute while every pod is PDB-blocked; peak RSS (VmHWM) of the process over the whole part.
// 6. The decision CPU of one drain round over all draining nodes: `planRound` (the controller's pure planner) over
//    the trimmed views of the same objects (listed from the API server), with every pod PDB-blocked, once with the
//    drain just started (G1 fails first) and once 80 h later (G1–G3 hold, so the PDB siblings are evaluated).
// Results are printed as JSON and written into docs/benchmarks.md.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { cpuSeconds, freePort, log, pollUntil, pool, root, vmStatus, writeBenchmarkSection, manifestNodeOptions, manifestNodeFlags, machine, measuredCommit } from './lib.mts';

const require = createRequire(import.meta.url);
const { startCluster, ensureBinaries, startMoto } = require(path.join(root, 'dist/packages/testenv/lib/index.js'));
const { KubeClient } = require(path.join(root, 'dist/packages/runtime/lib/index.js'));
const { trimPod, podView, pdbView, planRound, SLA_PROFILES } = require(path.join(root, 'dist/packages/node-lifecycle-controller/lib/index.js'));
const k8s = require('@kubernetes/client-node');

/** The image's entry point (Dockerfile: plain `node /app/main.mjs`), rebuilt from the working tree at start. */
const BUNDLE = path.join(root, 'dist/packages/node-lifecycle-controller/bundle/main.mjs');

const NODE_OPTIONS = manifestNodeOptions('node-lifecycle-controller');
/** The environment the image gives the process. */
const imageEnv = () => ({ ...process.env, NODE_ENV: 'production', NODE_OPTIONS });
const { EC2Client, RunInstancesCommand, DescribeImagesCommand } = require('@aws-sdk/client-ec2');
const { SQSClient, CreateQueueCommand, SendMessageCommand } = require('@aws-sdk/client-sqs');

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '50' },
    pods: { type: 'string', default: '30' },
    'scale-nodes': { type: 'string', default: '2000' },
    'pods-per-node': { type: 'string', default: '30' },
    workloads: { type: 'string', default: '5000' },
    pdbs: { type: 'string', default: '5000' },
    draining: { type: 'string', default: '50' },
    namespaces: { type: 'string', default: '50' },
    'scale-only': { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const MESSAGES = Number(args.messages);
const PODS = Number(args.pods);
const SCALE_NODES = Number(args['scale-nodes']);
const PODS_PER_NODE = Number(args['pods-per-node']);
const WORKLOADS = Number(args.workloads);
const PDBS = Number(args.pdbs);
const DRAINING = Number(args.draining);
const NAMESPACES = Number(args.namespaces);
const SCALE_ONLY = args['scale-only'] === true;
const REGION = 'us-east-1';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
type NodeLabels = { metadata: { labels?: Record<string, string> } };
const rfc3339 = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

async function main(): Promise<void> {
  log('bundling the node-lifecycle-controller');
  // the project's own bundle command (packages/node-lifecycle-controller/project.json), as the image build runs it
  const bundleCommand: string = JSON.parse(fs.readFileSync(path.join(root, 'packages/node-lifecycle-controller/project.json'), 'utf8'))
    .targets.bundle.options.command;
  const [, script, ...bundleArgs] = bundleCommand.split(' ');
  execFileSync(process.execPath, [path.join(root, script!), ...bundleArgs], { cwd: root, stdio: 'ignore' });
  const binaries = await ensureBinaries({ onProgress: log });
  const cluster = await startCluster({
    binaries,
    nodes: 1,
    onProgress: log,
    // Pods are created bound to their nodes and must stay there: no ReplicaSet controller to reconcile them, no node
    // lifecycle / taint eviction for the nodes without a kubelet, no pod GC. Without the garbage collector and the
    // disruption controller (and the audit log) the API server keeps up with creating 60,000 pods on two cores; the
    // PDBs' status then stays unobserved and the API server refuses their Evictions with 429 "still being processed".
    controllerManagerExtraArgs: {
      controllers: '*,-replicaset-controller,-node-lifecycle-controller,-taint-eviction-controller,-pod-garbage-collector-controller,-garbage-collector-controller,-disruption-controller',
    },
    apiserverExtraArgs: { 'audit-policy-file': null, 'audit-log-path': null, 'audit-log-format': null, 'audit-log-mode': null, 'audit-log-maxsize': null },
  });
  const moto = await startMoto();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  const kube = new KubeClient({ kubeConfig: kc, component: 'bench', qps: 200, burst: 400 });
  const sdk = { endpoint: moto.endpoint, region: REGION, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } };
  const ec2 = new EC2Client(sdk);
  const sqs = new SQSClient(sdk);
  let child: ReturnType<typeof spawn> | undefined;
  try {
    if (SCALE_ONLY) {
      process.stdout.write(`${JSON.stringify({ scale: await scalePart(cluster.kubeconfigPath, kc) })}\n`);
      return;
    }
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'bench-interruptions' }))).QueueUrl;
    const image = (await ec2.send(new DescribeImagesCommand({}))).Images[0].ImageId;
    const nodes: { name: string; id: string }[] = [];
    log(`creating ${MESSAGES + 1} kwok nodes backed by moto instances`);
    for (let i = 0; i <= MESSAGES; i++) {
      const r = await ec2.send(new RunInstancesCommand({ ImageId: image, MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: `${REGION}a` } }));
      const id = r.Instances[0].InstanceId;
      const name = `bench-nlc-${i}`;
      await kube.create('/api/v1/nodes', {
        apiVersion: 'v1', kind: 'Node',
        metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': name, type: 'kwok', bench: 'nlc' } },
        spec: { providerID: `aws:///${REGION}a/${id}` },
        status: { capacity: { cpu: '64', memory: '256Gi', pods: '110' }, allocatable: { cpu: '64', memory: '256Gi', pods: '110' } },
      });
      nodes.push({ name, id });
    }
    const drainNode = nodes.pop()!;
    await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench-nlc' } });
    const rs = await kube.create('/apis/apps/v1/namespaces/bench-nlc/replicasets', replicaSet('pods', PODS));
    await pool(Array.from({ length: PODS }, (_, i) => i), 16, async (i) => {
      await kube.create('/api/v1/namespaces/bench-nlc/pods', boundPod(`pods-${i}`, 'pods', rs.metadata.uid, drainNode.name, 30));
    });
    await pollUntil(`${PODS} pods Running on ${drainNode.name}`, 180_000, 500, async () => {
      const pods = (await kube.list('/api/v1/namespaces/bench-nlc/pods')).items as { spec: { nodeName?: string }; status: { phase?: string } }[];
      return pods.filter((p) => p.spec.nodeName === drainNode.name && p.status.phase === 'Running').length === PODS ? true : undefined;
    });

    const [metricsPort, probePort] = [await freePort(), await freePort()];
    const logFile = path.join(os.tmpdir(), `bench-nlc-${Date.now()}.log`);
    const out = fs.openSync(logFile, 'a');
    child = spawn(process.execPath, [
      ...manifestNodeFlags('node-lifecycle-controller'),
      BUNDLE,
      `--kubeconfig=${cluster.kubeconfigPath}`, '--leader-elect=false', `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${probePort}`, '--cluster-name=bench', `--aws-region=${REGION}`,
      `--sqs-queue-url=${queueUrl}`, '--rolling-update=false', '--log-level=warn',
    ], {
      stdio: ['ignore', out, out],
      env: { ...imageEnv(), AWS_ENDPOINT_URL: moto.endpoint, AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', POD_NAMESPACE: 'kube-system' },
    });
    const t0 = Date.now();
    await pollUntil('controller ready', 60_000, 100, async () => {
      const r = await fetch(`http://127.0.0.1:${probePort}/readyz`).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    });
    const readyMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 10_000));
    const idleRss = vmStatus(child.pid!, 'VmRSS');
    log(`ready in ${readyMs} ms, idle RSS ${idleRss.toFixed(0)} MiB`);

    const send = (id: string) =>
      sqs.send(new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify({
          version: '0', id: `bench-${id}-${Date.now()}`, source: 'aws.ec2', 'detail-type': 'EC2 Spot Instance Interruption Warning',
          time: rfc3339(Date.now()), account: '000000000000', region: REGION, resources: [], detail: { 'instance-id': id, 'instance-action': 'terminate' },
        }),
      }));
    const latencies: number[] = [];
    for (const n of nodes) {
      await send(n.id);
      const sent = Date.now();
      await pollUntil(`${n.name} fenced`, 60_000, 50, async () => {
        const node = (await kube.get(`/api/v1/nodes/${n.name}`)) as NodeLabels;
        return node.metadata.labels?.['kubeaws.io/lifecycle-state'] ? true : undefined;
      });
      latencies.push(Date.now() - sent);
    }
    log(`spot → fenced over ${latencies.length} messages: p50 ${pct(latencies, 50)} ms, p99 ${pct(latencies, 99)} ms`);

    await send(drainNode.id);
    const sentDrain = Date.now();
    let fencedAt = 0;
    await pollUntil(`${drainNode.name} drained`, 300_000, 100, async () => {
      const node = (await kube.get(`/api/v1/nodes/${drainNode.name}`)) as NodeLabels;
      const s = node.metadata.labels?.['kubeaws.io/lifecycle-state'];
      if (s && !fencedAt) fencedAt = Date.now();
      return s === 'terminating' || s === 'drained' ? true : undefined;
    });
    const drainMs = Date.now() - sentDrain;
    const peakRss = vmStatus(child.pid!, 'VmHWM');
    log(`${PODS}-pod node drained ${drainMs} ms after the message (fenced after ${fencedAt - sentDrain} ms); peak RSS ${peakRss.toFixed(0)} MiB`);
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));

    const scale = await scalePart(cluster.kubeconfigPath, kc);

    const commit = measuredCommit(['packages/node-lifecycle-controller', 'packages/runtime', 'manifests/node-lifecycle-controller', 'bench/node-lifecycle-controller.bench.mts']);
    const perPodKiB = ((scale.syncedRss - idleRss) * 1024) / scale.pods;
    const result = { perPodKiB, messages: latencies.length, p50: pct(latencies, 50), p99: pct(latencies, 99), max: Math.max(...latencies), drainMs, pods: PODS, idleRss, peakRss, readyMs, scale, commit };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    writeBenchmarkSection(
      'node-lifecycle-controller',
      [
        `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()} (shared with other jobs), commit ${commit}, local control plane and moto,`,
        `\`npm run bench -- node-lifecycle-controller --messages ${MESSAGES} --pods ${PODS} --scale-nodes ${SCALE_NODES} --pods-per-node ${PODS_PER_NODE} --workloads ${WORKLOADS} --pdbs ${PDBS} --draining ${DRAINING}\`.`,
        `The controller runs as its image runs it: a child process \`node\` on the bundle (no source maps), \`NODE_ENV=production\`, \`NODE_OPTIONS=${NODE_OPTIONS}\` from the manifest; production SLA, leader election off. kube-controller-manager runs without its ReplicaSet, node-lifecycle, taint-eviction, pod-GC,`,
        'garbage-collector and disruption controllers and the API server without audit log, so tens of thousands of pods can be created bound to their nodes in minutes on two shared cores and stay there',
        '(see the script header); PDB status is therefore never observed and Evictions are refused with 429 "still being processed".',
        '',
        `Latency (${MESSAGES + 1} kwok nodes backed by moto instances, 20 s long polls). Latencies are from the SendMessage response to the change observed by polling the API (50 ms / 100 ms), so they include up to one poll interval.`,
        '',
        '| Measure | Result | Budget |',
        '|---|---|---|',
        `| Spot message → node fenced, ${latencies.length} messages: p50 / p99 / max | ${result.p50} / ${result.p99} / ${result.max} ms | p99 ≤ 5 s (issue: ≤ 1 s) |`,
        `| ${PODS}-pod node, spot message → drained (no PDB, TGP 30 s) | ${(drainMs / 1000).toFixed(1)} s | < 120 s notice |`,
        `| Start-up to ready | ${(readyMs / 1000).toFixed(1)} s | — |`,
        `| Idle RSS (synced, empty queue) / peak RSS (VmHWM) | ${idleRss.toFixed(0)} / ${peakRss.toFixed(0)} MiB | ≤ 384 MiB |`,
        '',
        `Scale: ${scale.nodes} Nodes × ${PODS_PER_NODE} pods (${scale.pods} pods in ${NAMESPACES} namespaces), ${scale.workloads} ReplicaSets, ${scale.pdbs} PDBs (minAvailable 100 %);`,
        `${DRAINING} draining nodes run by kwok (pods Running and Ready), the rest without kubelet (pods Pending). Objects created in ${(scale.createMs / 1000).toFixed(0)} s. Controller flags: production SLA, \`--drain-poll-interval=10s --max-concurrent-drains=${DRAINING} --qps=200 --burst=400\`.`,
        ...(scale.pods < 60_000
          ? [`The spec scale (2,000 Nodes × 30 pods, 5,000 ReplicaSets, 5,000 PDBs: the script's defaults) needs about ${Math.round(((scale.createMs / 1000) * 60_000) / scale.pods / 60)} min of object creation at this run's rate, beyond the time a run may take on this machine, so this run used ${Math.round((scale.pods / 60_000) * 100)} % of it; the ${DRAINING}-node drain round is at the spec scale.`]
          : []),
        '',
        '| Measure | Result | Budget |',
        '|---|---|---|',
        `| Start-up to ready (Node, Pod, PDB caches synced) | ${(scale.readyMs / 1000).toFixed(1)} s | — |`,
        ...(scale.pods < 60_000
          ? [`| V8 heap in use after sync divided by the cached pods (an upper bound per pod: it includes the fixed heap); the same bound for 60,000 pods. RSS at 60,000 pods is not measured | ${((scale.heapUsed * 1024) / scale.pods).toFixed(1)} KiB; ≤ ${((scale.heapUsed * 60_000) / scale.pods).toFixed(0)} MiB of heap | ≤ 384 MiB RSS at 60,000 pods |`]
          : []),
        `| RSS after sync and ${scale.quietSeconds} s quiet (V8 heap in use) / peak RSS (VmHWM) over the whole part | ${scale.syncedRss.toFixed(0)} (${scale.heapUsed.toFixed(0)}) / ${scale.peakRss.toFixed(0)} MiB | ≤ 384 MiB |`,
        `| The same RSS: file-backed (node binary, libraries) + anonymous; of the anonymous, V8 heap committed (in use) and memory outside the heap held by ArrayBuffers and external strings | ${scale.memory.rssFile.toFixed(0)} + ${scale.memory.rssAnon.toFixed(0)} MiB; ${scale.memory.heapTotal.toFixed(0)} (${scale.memory.heapUsed.toFixed(0)}) and ${scale.memory.external.toFixed(0)} MiB | — |`,
        `| Process CPU during the start-up (sync and the first reconcile of every Node) | ${scale.startCpu.toFixed(1)} s | — |`,
        `| Process CPU while ${DRAINING} nodes × ${PODS_PER_NODE} pods drain, every Eviction refused (429): per minute / per Eviction call | ${scale.drainCpuPerMin.toFixed(1)} s / ${scale.cpuPerEvictionMs.toFixed(2)} ms (${scale.evictions} Evictions in ${scale.drainWindowSeconds} s) | — |`,
        `| Decision CPU of one round over all ${DRAINING} draining nodes (\`planRound\`, ${DRAINING * PODS_PER_NODE} PDB-blocked pods), drain just started: median / max of ${scale.rounds} | ${scale.roundFresh.median.toFixed(1)} / ${scale.roundFresh.max.toFixed(1)} ms | ≤ 100 ms |`,
        `| Same, 80 h later (G1–G3 hold: PDB siblings evaluated, oldest pod first, until one pod per node may be forced) | ${scale.roundLate.median.toFixed(1)} / ${scale.roundLate.max.toFixed(1)} ms | ≤ 100 ms |`,
      ].join('\n'),
    );
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    await moto.stop();
    await cluster.stop();
  }
}

/** A ReplicaSet (its controller is off during the benchmark: it only owns the pods, as in a cluster). */
function replicaSet(name: string, replicas: number) {
  return {
    apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name, labels: { app: name } },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'registry.example/app:1.0' }] } } },
  };
}

/** A pod of `workload` bound to `node`: the size and shape of a typical application pod. */
function boundPod(name: string, workload: string, ownerUid: string, node: string, tgp: number) {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name,
      labels: { app: workload, 'pod-template-hash': '7d4b9c8f6d', 'app.kubernetes.io/part-of': 'bench', team: 'platform' },
      annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: workload, uid: ownerUid, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: tgp,
      automountServiceAccountToken: false,
      tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
      containers: [{
        name: 'app', image: 'registry.example/app:1.0', ports: [{ name: 'http', containerPort: 8080 }],
        env: [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'REGION', value: REGION }, { name: 'WORKLOAD', value: workload }],
        resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } },
        readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 10 },
      }],
    },
  };
}

/** Metrics text of the controller's /metrics: the sum over series of one metric whose line contains `labels`. */
async function scrape(port: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`kubeaws_node_lifecycle_controller_${name}`) && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/** A `kB` field of /proc/<pid>/status (RssAnon, RssFile) in MiB. */
function procStatus(pid: number, field: 'RssAnon' | 'RssFile'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function stats(xs: number[]): { median: number; max: number } {
  return { median: pct(xs, 50), max: Math.max(...xs) };
}

/** Part 2 of the benchmark (see the header). */
async function scalePart(kubeconfigPath: string, kc: unknown) {
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `bench-scale-${i}`);
  const fast = new KubeClient({ kubeConfig: kc, component: 'bench', qps: 5000, burst: 5000 });
  const total = SCALE_NODES * PODS_PER_NODE;
  const perWorkload = Math.ceil(total / WORKLOADS);
  const t0 = Date.now();
  for (const ns of namespaces) await fast.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const wl = (w: number) => ({ ns: namespaces[w % NAMESPACES], name: `w-${w}` });
  const uids: string[] = new Array(WORKLOADS);
  log(`creating ${WORKLOADS} ReplicaSets and ${PDBS} PDBs`);
  await pool(Array.from({ length: WORKLOADS }, (_, w) => w), 32, async (w) => {
    const { ns, name } = wl(w);
    uids[w] = (await fast.create(`/apis/apps/v1/namespaces/${ns}/replicasets`, replicaSet(name, perWorkload))).metadata.uid;
  });
  await pool(Array.from({ length: PDBS }, (_, i) => i), 32, async (i) => {
    const { ns, name } = wl(i % WORKLOADS);
    await fast.create(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`, {
      apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: i < WORKLOADS ? name : `${name}-${i}` },
      spec: { minAvailable: '100%', selector: { matchLabels: { app: name } } },
    });
  });
  log(`creating ${SCALE_NODES} Nodes (${DRAINING} run by kwok)`);
  const nodeName = (i: number) => `scale-${i}`;
  await pool(Array.from({ length: SCALE_NODES }, (_, i) => i), 32, async (i) => {
    const name = nodeName(i);
    const zone = `${REGION}${'abc'[i % 3]}`;
    await fast.create('/api/v1/nodes', {
      apiVersion: 'v1', kind: 'Node',
      metadata: {
        name,
        annotations: { ...(i < DRAINING ? { 'kwok.x-k8s.io/node': 'fake' } : {}), 'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
        labels: {
          'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok',
          'node.kubernetes.io/instance-type': 'm6i.2xlarge', 'topology.kubernetes.io/zone': zone, 'topology.kubernetes.io/region': REGION,
          'node.kubernetes.io/role': 'worker', 'kubeaws.io/pool': 'default', bench: 'scale',
        },
      },
      spec: { providerID: `aws:///${zone}/i-${(0x10000000000000000n + BigInt(i)).toString(16).slice(1)}` },
      status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
    });
  });
  log(`creating ${total} pods bound to their nodes`);
  let created = 0;
  await pool(Array.from({ length: total }, (_, k) => k), 64, async (k) => {
    const w = Math.min(WORKLOADS - 1, Math.floor(k / perWorkload));
    const { ns, name } = wl(w);
    await fast.create(`/api/v1/namespaces/${ns}/pods`, boundPod(`${name}-${k}`, name, uids[w], nodeName(k % SCALE_NODES), 30));
    if (++created % 10000 === 0) log(`${created} pods (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  });
  const createMs = Date.now() - t0;
  const draining = Array.from({ length: DRAINING }, (_, i) => nodeName(i));
  await pollUntil(`pods on the ${DRAINING} kwok nodes Ready`, 300_000, 2000, async () => {
    let ready = 0;
    for (const ns of namespaces) {
      const items = (await fast.list(`/api/v1/namespaces/${ns}/pods`, { fieldSelector: 'status.phase=Running' })).items as { spec: { nodeName: string } }[];
      ready += items.filter((p) => draining.includes(p.spec.nodeName)).length;
    }
    return ready >= DRAINING * PODS_PER_NODE ? true : undefined;
  });
  log(`objects created in ${(createMs / 1000).toFixed(0)} s; kwok pods Running`);

  const [metricsPort, probePort] = [await freePort(), await freePort()];
  const out = fs.openSync(path.join(os.tmpdir(), `bench-nlc-scale-${Date.now()}.log`), 'a');
  const child = spawn(process.execPath, [
    BUNDLE,
    `--kubeconfig=${kubeconfigPath}`, '--leader-elect=false', `--metrics-bind-address=127.0.0.1:${metricsPort}`,
    `--health-probe-bind-address=127.0.0.1:${probePort}`, '--cluster-name=bench', `--aws-region=${REGION}`,
    '--rolling-update=false', '--log-level=warn', '--drain-poll-interval=10s', `--max-concurrent-drains=${DRAINING}`, '--qps=200', '--burst=400',
  ], { stdio: ['ignore', out, out], env: { ...imageEnv(), AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', POD_NAMESPACE: 'kube-system' } });
  try {
    const t1 = Date.now();
    await pollUntil('scale controller ready', 300_000, 200, async () => {
      const r = await fetch(`http://127.0.0.1:${probePort}/readyz`).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    });
    const readyMs = Date.now() - t1;
    // The first reconcile of every Node follows the sync; wait until the queue has been quiet.
    await pollUntil('first reconcile of every node', 300_000, 1000, async () => ((await scrape(metricsPort, 'reconcile_total')) >= SCALE_NODES ? true : undefined));
    const quietSeconds = 10;
    await new Promise((r) => setTimeout(r, quietSeconds * 1000));
    const startCpu = cpuSeconds(child.pid!);
    const syncedRss = vmStatus(child.pid!, 'VmRSS');
    const metricsText = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metricsText)?.[1] ?? NaN) / 2 ** 20;
    const heapUsed = gauge('nodejs_heap_size_used_bytes');
    // Where the RSS is: anonymous memory (V8 heap committed, memory outside it: ArrayBuffers, external strings,
    // malloc) and file-backed pages (the node binary and libraries).
    const memory = {
      rssAnon: procStatus(child.pid!, 'RssAnon'),
      rssFile: procStatus(child.pid!, 'RssFile'),
      heapTotal: gauge('nodejs_heap_size_total_bytes'),
      heapUsed,
      external: gauge('nodejs_external_memory_bytes'),
    };
    log(`scale: ready in ${readyMs} ms, RSS ${syncedRss.toFixed(0)} MiB (${JSON.stringify(memory)}), start-up CPU ${startCpu.toFixed(1)} s`);

    await pool(draining, 16, async (n) => {
      await fast.mergePatch(`/api/v1/nodes/${n}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
    });
    await pollUntil('every pod of the draining nodes tried once', 300_000, 1000, async () =>
      (await scrape(metricsPort, 'evictions_total')) >= DRAINING * PODS_PER_NODE ? true : undefined,
    );
    const drainWindowSeconds = 30;
    const cpu0 = cpuSeconds(child.pid!);
    const ev0 = await scrape(metricsPort, 'evictions_total');
    await new Promise((r) => setTimeout(r, drainWindowSeconds * 1000));
    const cpu1 = cpuSeconds(child.pid!);
    const evictions = (await scrape(metricsPort, 'evictions_total')) - ev0;
    const blocked = await scrape(metricsPort, 'evictions_total', 'result="pdb_blocked"');
    const peakRss = vmStatus(child.pid!, 'VmHWM');
    log(`scale: ${evictions} Evictions in ${drainWindowSeconds} s (${blocked} PDB-blocked in all), CPU ${(cpu1 - cpu0).toFixed(1)} s, peak RSS ${peakRss.toFixed(0)} MiB`);

    // Decision CPU of one round over all draining nodes, from the same objects.
    type View = { uid: string; namespace: string; nodeName?: string };
    const pods: View[] = [];
    for (const ns of namespaces) pods.push(...(await fast.list(`/api/v1/namespaces/${ns}/pods`)).items.map((p: unknown) => podView(trimPod(p))));
    const pdbs: View[] = [];
    for (const ns of namespaces) pdbs.push(...(await fast.list(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`)).items.map(pdbView));
    const group = (xs: View[], key: (x: View) => string | undefined) => {
      const m = new Map<string, View[]>();
      for (const x of xs) {
        const k = key(x);
        if (k === undefined) continue;
        const list = m.get(k);
        if (list) list.push(x);
        else m.set(k, [x]);
      }
      return m;
    };
    const byNs = group(pods, (p) => p.namespace);
    const pdbByNs = group(pdbs, (b) => b.namespace);
    const byNode = group(pods, (p) => p.nodeName);
    const now = Date.now();
    const pdbBlocked = new Map(pods.filter((p) => p.nodeName !== undefined && draining.includes(p.nodeName)).map((p) => [p.uid, now]));
    const round = (at: number) => {
      const s0 = process.cpuUsage();
      let forced = 0;
      for (const n of draining) {
        const plan = planRound({
          now: at, sla: SLA_PROFILES.production, podsOnNode: byNode.get(n) ?? [], podsInNamespace: (ns: string) => byNs.get(ns) ?? [],
          pdbsInNamespace: (ns: string) => pdbByNs.get(ns) ?? [], pdbBlocked, lastEviction: new Map(), accepted: new Set(), drainStart: now,
          marginMs: 10_000, headroomMs: 30_000, voluntary: true, paused: false,
        });
        if (plan.force) forced++;
      }
      const u = process.cpuUsage(s0);
      return { ms: (u.user + u.system) / 1000, forced };
    };
    const rounds = 20;
    const fresh: number[] = [];
    const late: number[] = [];
    let lateForced = 0;
    for (let i = 0; i < rounds; i++) fresh.push(round(now + 1000).ms);
    for (let i = 0; i < rounds; i++) {
      const r = round(now + 80 * 3_600_000);
      late.push(r.ms);
      lateForced = r.forced;
    }
    log(`round over ${DRAINING} nodes: fresh median ${pct(fresh, 50).toFixed(1)} ms, 80 h later median ${pct(late, 50).toFixed(1)} ms (${lateForced} nodes force a pod)`);
    return {
      nodes: SCALE_NODES, pods: pods.length, workloads: WORKLOADS, pdbs: pdbs.length, createMs, readyMs, quietSeconds, syncedRss, heapUsed, memory, startCpu,
      evictions, drainWindowSeconds, drainCpuPerMin: ((cpu1 - cpu0) / drainWindowSeconds) * 60, cpuPerEvictionMs: evictions ? ((cpu1 - cpu0) * 1000) / evictions : NaN,
      peakRss, rounds, roundFresh: stats(fresh), roundLate: stats(late), lateForced,
    };
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
