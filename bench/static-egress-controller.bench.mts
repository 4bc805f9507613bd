// Benchmark of the static-egress-controller (docs/static-egress-controller.md; targets: steady state without
// writes, at most six Describe calls and no mutating call per resync, a burst coalesced into one reconcile, one
// mutating call per changed (table, CIDR), desired set + plan of 1,000 ConfigMaps / 5,000 sources within 50 ms CPU,
// at most 128 MiB RSS).
//
//   npm run bench -- static-egress-controller [--configmaps 1000] [--keys 5] [--cidrs 48] [--quiet-seconds 60]
//     [--entry bundle|lib] [--source-maps true|false]
//
// 1. Pure planning: collectSources + desiredSet + planInfra + planRoutes over the generated input (first
//    provisioning and steady state), median of 20 runs, CPU time of this process.
// 2. End to end: a local cluster (testenv) and moto with a demo VPC (two AZs, one dmz table each), the recording
//    proxy of the integration tests in front of moto; the ConfigMaps are created, then the controller (leader
//    election on, admin kubeconfig) starts as a child process: by default the esbuild bundle the image runs
//    (dist/packages/static-egress-controller/bundle/main.mjs, built with `nx run static-egress-controller:bundle`),
//    with `--entry lib` the tsc output (lib/main.js, which loads whole CommonJS builds, e.g. all of
//    @aws-sdk/client-ec2, instead of the bundle's tree-shaken parts). The bundle runs as the image's ENTRYPOINT runs
//    it, with plain `node` (docs/images.md#stack-traces), NODE_ENV=production and the Deployment's NODE_OPTIONS;
//    `--source-maps true` adds `--enable-source-maps`. Measured: time until every
//    CIDR is routed in both tables, EC2 calls by action from the proxy log, a quiet window (Describe and mutating calls per
//    resync, Kubernetes writes), a burst of edits inside --debounce (reconciles), one added CIDR (mutating calls),
//    idle and peak RSS (VmRSS, VmHWM). The bundle is built as the image's (`nx run static-egress-controller:bundle`:
//    the EC2 client's schemas pruned to the operations the controller calls, tools/images/bundle.mjs --prune-aws-schemas).
import { spawn } from 'node:child_process';
import { execSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { cpuSeconds, freePort, log, pollUntil, pool, root, vmStatus, writeBenchmarkSection, manifestNodeOptions, machine, measuredCommit } from './lib.mts';
import { Ec2Proxy, isMutating } from '../packages/static-egress-controller/test/proxy.ts';

const require = createRequire(import.meta.url);
const { startCluster, ensureBinaries, startMoto } = require(path.join(root, 'dist/packages/testenv/lib/index.js'));
const { sumSamples } = require(path.join(root, 'dist/packages/kubeaws/lib/prometheus.js'));
const { prepareStaticEgress, EGRESS_DEMO } = require(path.join(root, 'dist/packages/kubeaws/lib/up-egress.js'));
const egress = require(path.join(root, 'dist/packages/static-egress-controller/lib/index.js'));
const { EC2Client, DescribeRouteTablesCommand } = require('@aws-sdk/client-ec2');
const k8s = require('@kubernetes/client-node');

const { values: args } = parseArgs({
  options: {
    configmaps: { type: 'string', default: '1000' },
    keys: { type: 'string', default: '5' },
    cidrs: { type: 'string', default: '48' },
    'quiet-seconds': { type: 'string', default: '60' },
    resync: { type: 'string', default: '20' },
    entry: { type: 'string', default: 'bundle' },
    'source-maps': { type: 'string', default: 'false' },
  },
  allowPositionals: true,
});
const CMS = Number(args.configmaps);
const KEYS = Number(args.keys);
const CIDRS = Number(args.cidrs);
const QUIET_MS = Number(args['quiet-seconds']) * 1000;
const RESYNC_S = Number(args.resync);
const NAMESPACES = 20;
if (args.entry !== 'bundle' && args.entry !== 'lib') throw new Error(`--entry ${args.entry}: expected bundle or lib`);
const ENTRY = args.entry === 'bundle' ? 'dist/packages/static-egress-controller/bundle/main.mjs' : 'dist/packages/static-egress-controller/lib/main.js';
/** Node flags of the controller process: `--source-maps true` adds source maps for the bundle. */
const NODE_FLAGS = args.entry === 'bundle' && args['source-maps'] !== 'false' ? ['--enable-source-maps'] : [];
/** NODE_OPTIONS of the controller's container in its shipped Deployment (the process runs as it would in the cluster). */
const MANIFEST_NODE_OPTIONS = manifestNodeOptions('static-egress-controller');
const RUN = `node ${[...NODE_FLAGS, ENTRY].join(' ')}`;

/** The i-th destination: distinct /24s outside every reserved range and the demo VPC. */
const cidr = (i: number) => `198.${18 + Math.floor(i / 256)}.${i % 256}.0/24`;
const configMaps = Array.from({ length: CMS }, (_, i) => ({
  metadata: { namespace: `egress-${i % NAMESPACES}`, name: `partners-${i}` },
  data: Object.fromEntries(Array.from({ length: KEYS }, (_, k) => [`k${k}`, cidr((i * KEYS + k) % CIDRS)])),
}));

function planOnce(tables: any[]) {
  const s = egress.collectSources(configMaps, { minPrefixLength: 8, vpcCidrs: ['10.0.0.0/16'] });
  const desired = egress.desiredSet(s.cidrs.keys());
  const settings = {
    clusterId: 'bench', availabilityZones: ['eu-central-1a', 'eu-central-1b'], routeTableSelector: { Type: 'dmz' },
    routeTableAzTag: 'AvailabilityZone', natSubnetSelector: {}, byoEips: {}, eipRetention: 'retain', natRetention: 'delete',
    natIdleGraceMs: 3_600_000, routeQuota: 50,
  };
  const targets = egress.targetTables(tables, settings);
  const nats = settings.availabilityZones.map((az, i) => ({ id: `nat-${i}`, az, subnetId: `s-${i}`, state: 'available', allocationId: `e-${i}`, createTime: 1, tags: {} }));
  const infra = egress.planInfra(
    { nats, eips: nats.map((n) => ({ allocationId: n.allocationId, publicIp: '3.0.0.1', az: n.az, byo: false })), subnets: new Map(), routesByNat: new Map(), wanted: true, eipQuotaExceeded: false, now: 0 },
    settings,
  );
  return egress.planRoutes({
    desired, targets, tables, ourNats: new Set(nats.map((n) => n.id)), existingNats: new Set(nats.map((n) => n.id)),
    activeNat: infra.activeNat, failed: new Map(), routeQuota: 50,
  });
}

function measurePlanning() {
  const table = (az: string, i: number, routes: any[]) => ({ id: `rtb-${i}`, tags: { Type: 'dmz', AvailabilityZone: az }, subnetIds: [], main: false, routes });
  const empty = [table('eu-central-1a', 0, []), table('eu-central-1b', 1, [])];
  const steady = empty.map((t, i) => ({ ...t, routes: Array.from({ length: CIDRS }, (_, c) => ({ destination: cidr(c), natGatewayId: `nat-${i}`, state: 'active', origin: 'CreateRoute' })) }));
  const runs = (tables: any[]) => {
    const ms: number[] = [];
    let plan: any;
    for (let r = 0; r < 20; r++) {
      const t0 = process.cpuUsage();
      plan = planOnce(tables);
      const d = process.cpuUsage(t0);
      ms.push((d.user + d.system) / 1000);
    }
    ms.sort((a, b) => a - b);
    return { medianMs: Number(ms[10].toFixed(1)), maxMs: Number(ms[19].toFixed(1)), actions: plan.actions.length };
  };
  return { first: runs(empty), steady: runs(steady) };
}

async function main(): Promise<void> {
  // the image's entry point, rebuilt when its sources changed (nx cache)
  if (args.entry === 'bundle') execSync('npx nx run static-egress-controller:bundle', { cwd: root, stdio: ['ignore', process.stderr, process.stderr] });
  const planning = measurePlanning();
  log(`planning: ${JSON.stringify(planning)}`);
  const binaries = await ensureBinaries({ onProgress: log });
  const cluster = await startCluster({ binaries, nodes: 1, onProgress: log, timeoutMs: 300_000 });
  // the demo VPC in a moto of its own (prepareStaticEgress takes the moto it builds in; older builds start one)
  const moto = prepareStaticEgress.length >= 2 ? await startMoto() : undefined;
  const demo = moto ? await prepareStaticEgress(moto, log) : await prepareStaticEgress(log);
  const proxy = new Ec2Proxy(demo.env.AWS_ENDPOINT_URL);
  await proxy.start();
  let controller: ReturnType<typeof spawn> | undefined;
  try {
    const kc = cluster.kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    for (let i = 0; i < NAMESPACES; i++) await core.createNamespace({ body: { metadata: { name: `egress-${i}` } } });
    log(`creating ${CMS} ConfigMaps with ${CMS * KEYS} sources (${CIDRS} distinct CIDRs)`);
    await pool(configMaps, 16, async (cm) => {
      await core.createNamespacedConfigMap({ namespace: cm.metadata.namespace, body: { metadata: { ...cm.metadata, labels: { egress: 'static' } }, data: cm.data } });
    });
    const metricsPort = await freePort();
    const probePort = await freePort();
    const logFile = path.join(cluster.dataDir, 'static-egress-controller.log');
    const out = fs.openSync(logFile, 'a');
    const start = Date.now();
    controller = spawn(
      process.execPath,
      [
        ...NODE_FLAGS,
        path.join(root, ENTRY),
        `--kubeconfig=${cluster.kubeconfigPath}`,
        `--metrics-bind-address=127.0.0.1:${metricsPort}`,
        `--health-probe-bind-address=127.0.0.1:${probePort}`,
        '--lease-namespace=kube-system',
        '--log-level=warn',
        ...demo.args,
        '--poll-interval=2s',
        `--resync-interval=${RESYNC_S}s`,
        '--status-configmap=kube-system/static-egress-status',
      ],
      {
        stdio: ['ignore', out, out],
        env: { ...process.env, ...demo.env, NODE_ENV: 'production', NODE_OPTIONS: MANIFEST_NODE_OPTIONS, AWS_ENDPOINT_URL: proxy.endpoint, POD_NAME: 'static-egress-bench', POD_NAMESPACE: 'kube-system' },
      },
    );
    const pid = controller.pid as number;
    const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text()).catch(() => '')) as string;
    const ec2 = new EC2Client({ endpoint: demo.env.AWS_ENDPOINT_URL, region: EGRESS_DEMO.region, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const routed = async () => {
      const tables = (await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'tag:Type', Values: ['dmz'] }] }))).RouteTables ?? [];
      return tables.length === 2 && tables.every((t: any) => (t.Routes ?? []).filter((r: any) => r.NatGatewayId).length === CIDRS);
    };
    await pollUntil('every CIDR routed in both tables', 300_000, 200, async () => ((await routed()) ? true : undefined));
    const provisionS = (Date.now() - start) / 1000;
    const count = (from: number, to = proxy.calls.length) => {
      const c: Record<string, number> = {};
      for (const call of proxy.calls.slice(from, to)) c[call.action] = (c[call.action] ?? 0) + 1;
      return c;
    };
    const provisioning = count(0);
    log(`provisioned in ${provisionS.toFixed(1)} s: ${JSON.stringify(provisioning)}`);
    const peakAfterProvisioning = vmStatus(pid, 'VmHWM');

    // quiet window
    await new Promise((r) => setTimeout(r, 3_000));
    const quietFrom = proxy.calls.length;
    const m0 = await metrics();
    const cpu0 = cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, QUIET_MS));
    const m1 = await metrics();
    const quietCalls = proxy.calls.slice(quietFrom);
    const resyncs = quietCalls.filter((c) => c.action === 'DescribeVpcs').length;
    // writes by resource: Events (its own budget) and the Lease (leader election) apart from everything else
    const writes = (m: string, resource?: string, not?: string[]) => {
      let n = 0;
      for (const line of m.split('\n')) {
        const x = /^kubeaws_static_egress_controller_api_requests_total\{(.*)\} (\d+)/.exec(line);
        if (!x || !/verb="(create|update|patch|delete)"/.test(x[1])) continue;
        const res = /resource="([^"]*)"/.exec(x[1])?.[1] ?? '';
        if ((resource && res !== resource) || (not && not.includes(res))) continue;
        n += Number(x[2]);
      }
      return n;
    };
    const quiet = {
      seconds: QUIET_MS / 1000,
      resyncs,
      describePerResync: resyncs ? Number((quietCalls.filter((c) => !isMutating(c.action)).length / resyncs).toFixed(1)) : null,
      mutatingCalls: quietCalls.filter((c) => isMutating(c.action)).length,
      kubernetesWrites: writes(m1, undefined, ['events', 'leases']) - writes(m0, undefined, ['events', 'leases']),
      eventWrites: writes(m1, 'events') - writes(m0, 'events'),
      leaseWrites: writes(m1, 'leases') - writes(m0, 'leases'),
      kubernetesLists: sumSamples(m1, 'kubeaws_static_egress_controller_api_requests_total{verb="list"}') - sumSamples(m0, 'kubeaws_static_egress_controller_api_requests_total{verb="list"}'),
      cpuSeconds: Number((cpuSeconds(pid) - cpu0).toFixed(2)),
      idleRssMiB: Number(vmStatus(pid, 'VmRSS').toFixed(1)),
      // what the RSS holds: V8 heap spaces and external memory (prom-client's process metrics of the controller)
      heapMiB: Object.fromEntries(
        [...m1.matchAll(/^nodejs_heap_space_size_total_bytes\{space="([a-z_]+)"\} (\d+)/gm), ...m1.matchAll(/^nodejs_(external)_memory_bytes (\d+)/gm)]
          .map((x) => [x[1], Number((Number(x[2]) / 2 ** 20).toFixed(1))])
          .filter(([, v]) => (v as number) >= 0.5),
      ),
    };
    log(`quiet: ${JSON.stringify(quiet)}`);

    // burst of 50 edits inside --debounce (3 s): one reconcile applying the final state (one new CIDR)
    const r0 = sumSamples(await metrics(), 'kubeaws_static_egress_controller_reconciles_total');
    const burstFrom = proxy.calls.length;
    for (let i = 0; i < 50; i++) {
      await core.patchNamespacedConfigMap({ namespace: 'egress-0', name: 'partners-0', body: { data: { burst: i === 49 ? '192.0.2.0/24' : `203.0.113.${i}/32` } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    }
    await pollUntil('burst applied', 60_000, 200, async () => {
      const tables = (await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'tag:Type', Values: ['dmz'] }] }))).RouteTables ?? [];
      return tables.every((t: any) => (t.Routes ?? []).some((r: any) => r.DestinationCidrBlock === '192.0.2.0/24')) ? true : undefined;
    });
    await new Promise((r) => setTimeout(r, 1_000));
    const burst = {
      edits: 50,
      reconciles: sumSamples(await metrics(), 'kubeaws_static_egress_controller_reconciles_total') - r0,
      mutatingCalls: count(burstFrom),
    };
    log(`burst: ${JSON.stringify(burst)}`);
    const result = {
      commit: measuredCommit(['packages/static-egress-controller', 'packages/runtime', 'manifests/static-egress-controller', 'bench/static-egress-controller.bench.mts']),
      entry: RUN,
      machine: machine(),
      configMaps: CMS,
      sources: CMS * KEYS,
      cidrs: CIDRS,
      planning,
      provisionSeconds: Number(provisionS.toFixed(1)),
      provisioningCalls: provisioning,
      quiet,
      burst,
      peakRssMiB: Number(Math.max(peakAfterProvisioning, vmStatus(pid, 'VmHWM')).toFixed(1)),
    };
    console.log(JSON.stringify(result, null, 2));
    writeBenchmarkSection(
      'static-egress-controller',
      [
        `Measured ${new Date().toISOString().slice(0, 10)} at commit ${result.commit} on ${result.machine}, shared with other jobs; local control plane (testenv) and moto behind the recording proxy, two AZs with one dmz route table each; the controller runs as \`${RUN}\` with \`NODE_OPTIONS=${MANIFEST_NODE_OPTIONS}\`${args.entry === 'bundle' && !NODE_FLAGS.length ? ' (as the image runs it)' : ''}. \`npm run bench -- static-egress-controller --configmaps ${CMS} --keys ${KEYS} --cidrs ${CIDRS} --quiet-seconds ${QUIET_MS / 1000} --resync ${RESYNC_S} --entry ${args.entry}${args.entry === 'bundle' ? ` --source-maps ${NODE_FLAGS.length > 0}` : ''}\`.`,
        '',
        '| Target | Budget | Measured |',
        '|---|---|---|',
        `| Desired set + plan, ${CMS} ConfigMaps / ${CMS * KEYS} sources / ${CIDRS} CIDRs, first provisioning | ≤ 50 ms CPU | median ${planning.first.medianMs} ms, max ${planning.first.maxMs} ms (${planning.first.actions} route calls planned) |`,
        `| Same, steady state | ≤ 50 ms CPU | median ${planning.steady.medianMs} ms, max ${planning.steady.maxMs} ms (${planning.steady.actions} calls) |`,
        `| First provisioning, EC2 calls | per AZ 1 AllocateAddress + 1 CreateNatGateway, then routes | ${Object.entries(provisioning).map(([k, v]) => `${k} ${v}`).join(', ')}; all routed after ${result.provisionSeconds} s |`,
        `| Steady state, AWS per resync (${quiet.resyncs} resyncs in ${quiet.seconds} s) | ≤ 6 Describe, 0 mutating | ${quiet.describePerResync} Describe, ${quiet.mutatingCalls} mutating |`,
        `| Steady state, Kubernetes | 0 writes, 0 LISTs | ${quiet.kubernetesWrites} writes (status ConfigMap and other objects), ${quiet.kubernetesLists} LISTs; besides: ${quiet.leaseWrites} Lease renewals, ${quiet.eventWrites} Event writes (the per-ConfigMap EgressReady Events of ${CMS} ConfigMaps still draining through the Event budget of 10/s) |`,
        `| Burst of ${burst.edits} edits within --debounce | 1 reconcile | ${burst.reconciles} reconcile(s); ${Object.entries(burst.mutatingCalls).filter(([k]) => isMutating(k)).map(([k, v]) => `${k} ${v}`).join(', ') || 'no'} mutating calls for 1 new CIDR × 2 tables |`,
        `| RSS | idle ≤ 128 MiB | idle ${quiet.idleRssMiB} MiB${quiet.idleRssMiB <= 128 ? '' : ': **missed**'}; peak ${result.peakRssMiB} MiB${result.peakRssMiB <= 128 ? '' : ' (above 128 MiB)'}; V8 heap and external memory at idle (MiB): ${Object.entries(quiet.heapMiB).map(([k, v]) => `${k} ${v}`).join(', ')} |`,
      ].join('\n'),
    );
  } finally {
    controller?.kill('SIGTERM');
    await proxy.stop();
    await demo.stop();
    await moto?.stop();
    await cluster.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
