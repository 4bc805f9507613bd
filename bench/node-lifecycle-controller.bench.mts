// Benchmark of the node-lifecycle-controller on the local control plane and moto (docs/node-lifecycle-controller.md).
//
//   npm run bench -- node-lifecycle-controller [--messages 50] [--pods 30]
//
// 1. Starts a local cluster and moto (SQS queue, one EC2 instance per extra kwok node, providerIDs pointing at them),
//    then the controller as a child process (built main.js, leader election off, production SLA, 20 s long polls).
// 2. Idle RSS after the caches synced and a quiet period.
// 3. Spot latency: one spot interruption message per node, sent one at a time; for each, the time from the
//    SendMessage response to the Node carrying the fencing PATCH (observed by polling the node list every 50 ms).
// 4. Drain: a node with `--pods` pods (a Deployment pinned to it, no PDB) gets a spot interruption; time from the
//    message to the node reaching `terminating` (drained), against the two-minute notice.
// 5. Peak RSS (VmHWM). Results are printed as JSON and written into docs/benchmarks.md.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { execSync } from 'node:child_process';
import { freePort, log, pollUntil, root, vmStatus, writeBenchmarkSection } from './lib.mts';

const require = createRequire(import.meta.url);
const { startCluster, ensureBinaries, startMoto } = require(path.join(root, 'dist/packages/testenv/lib/index.js'));
const { KubeClient } = require(path.join(root, 'dist/packages/runtime/lib/index.js'));
const k8s = require('@kubernetes/client-node');
const { EC2Client, RunInstancesCommand, DescribeImagesCommand } = require('@aws-sdk/client-ec2');
const { SQSClient, CreateQueueCommand, SendMessageCommand } = require('@aws-sdk/client-sqs');

const { values: args } = parseArgs({
  options: { messages: { type: 'string', default: '50' }, pods: { type: 'string', default: '30' } },
  allowPositionals: true,
});
const MESSAGES = Number(args.messages);
const PODS = Number(args.pods);
const REGION = 'us-east-1';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
type NodeLabels = { metadata: { labels?: Record<string, string> } };
const rfc3339 = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

async function main(): Promise<void> {
  const binaries = await ensureBinaries({ onProgress: log });
  const cluster = await startCluster({ binaries, nodes: 1, onProgress: log });
  const moto = await startMoto();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  const kube = new KubeClient({ kubeConfig: kc, component: 'bench', qps: 200, burst: 400 });
  const sdk = { endpoint: moto.endpoint, region: REGION, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } };
  const ec2 = new EC2Client(sdk);
  const sqs = new SQSClient(sdk);
  let child: ReturnType<typeof spawn> | undefined;
  try {
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
    await kube.create('/apis/apps/v1/namespaces/bench-nlc/deployments', {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'pods' },
      spec: {
        replicas: PODS, selector: { matchLabels: { app: 'pods' } },
        template: { metadata: { labels: { app: 'pods' } }, spec: { nodeSelector: { 'kubernetes.io/hostname': drainNode.name }, terminationGracePeriodSeconds: 30, containers: [{ name: 'c', image: 'fake' }] } },
      },
    });
    await pollUntil(`${PODS} pods Running on ${drainNode.name}`, 180_000, 500, async () => {
      const pods = (await kube.list('/api/v1/namespaces/bench-nlc/pods')).items as { spec: { nodeName?: string }; status: { phase?: string } }[];
      return pods.filter((p) => p.spec.nodeName === drainNode.name && p.status.phase === 'Running').length === PODS ? true : undefined;
    });

    const [metricsPort, probePort] = [await freePort(), await freePort()];
    const logFile = path.join(os.tmpdir(), `bench-nlc-${Date.now()}.log`);
    const out = fs.openSync(logFile, 'a');
    child = spawn(process.execPath, [
      path.join(root, 'dist/packages/node-lifecycle-controller/lib/main.js'),
      `--kubeconfig=${cluster.kubeconfigPath}`, '--leader-elect=false', `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${probePort}`, '--cluster-name=bench', `--aws-region=${REGION}`,
      `--sqs-queue-url=${queueUrl}`, '--rolling-update=false', '--log-level=warn',
    ], {
      stdio: ['ignore', out, out],
      env: { ...process.env, NODE_OPTIONS: '', AWS_ENDPOINT_URL: moto.endpoint, AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', POD_NAMESPACE: 'kube-system' },
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

    let commit = 'unknown';
    try {
      commit = execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim();
    } catch {
      /* not a git checkout */
    }
    const result = { messages: latencies.length, p50: pct(latencies, 50), p99: pct(latencies, 99), max: Math.max(...latencies), drainMs, pods: PODS, idleRss, peakRss, readyMs, commit };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    writeBenchmarkSection(
      'node-lifecycle-controller',
      [
        `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB (shared with other jobs), commit ${commit} plus the working tree, local control plane and moto,`,
        `\`npm run bench -- node-lifecycle-controller --messages ${MESSAGES} --pods ${PODS}\`. The controller runs as a child process (production SLA, leader election off, 20 s long polls).`,
        'Latencies are from the SendMessage response to the change observed by polling the API (50 ms / 100 ms), so they include up to one poll interval.',
        '',
        '| Measure | Result | Budget |',
        '|---|---|---|',
        `| Spot message → node fenced, ${latencies.length} messages: p50 / p99 / max | ${result.p50} / ${result.p99} / ${result.max} ms | p99 ≤ 5 s |`,
        `| ${PODS}-pod node, spot message → drained (no PDB, TGP 30 s) | ${(drainMs / 1000).toFixed(1)} s | < 120 s notice |`,
        `| Start-up to ready | ${(readyMs / 1000).toFixed(1)} s | — |`,
        `| Idle RSS (synced, empty queue) / peak RSS (VmHWM) | ${idleRss.toFixed(0)} / ${peakRss.toFixed(0)} MiB | ≤ 384 MiB |`,
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

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
