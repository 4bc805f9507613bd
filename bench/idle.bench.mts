// Idle footprint of the component images' code: each component's esbuild bundle (what its image runs), started
// with plain `node`, NODE_ENV=production and its manifest's NODE_OPTIONS against a local cluster with 3 kwok nodes and nothing to do, one at a
// time. Reports, per component, RSS after it is Ready and 60 s idle (VmRSS) split into anonymous and file-backed
// pages (RssAnon, RssFile), its peak (VmHWM) and the V8 heap (nodejs_heap_size_used_bytes from its own /metrics),
// next to a bare `node` process measured the same way. What a component needs in the cluster to become Ready (the
// authnz-webhook's namespace and AccessRequest CRD) is applied from its manifests first.
//
//   npm run bench -- idle [--settle-seconds 60] [--only pdb-controller,downscaler]
//
// Results are printed as JSON and written into docs/benchmarks.md between the idle markers; with --only, the
// other components' rows are kept from the section as it was.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { generateKeyPairSync } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from 'yaml';
import { freePort, log, pollUntil, root, vmStatus, writeBenchmarkSection, manifestNodeOptions, manifestNodeFlags, machine, measuredCommit } from './lib.mts';

const require = createRequire(import.meta.url);
const { startCluster, ensureBinaries } = require(path.join(root, 'dist/packages/testenv/lib/index.js'));
const { KubeClient, resourcePath } = require(path.join(root, 'dist/packages/runtime/lib/index.js'));

const { values: args } = parseArgs({
  options: { 'settle-seconds': { type: 'string', default: '60' }, only: { type: 'string', default: '' } },
  allowPositionals: true,
});
const SETTLE_MS = Number(args['settle-seconds']) * 1000;

/** JWKS of the authnz-webhook's issuer on loopback. */
const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'idle', alg: 'ES256', use: 'sig' };
const jwks = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ keys: [jwk] }));
});
await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;

/** Extra arguments per component beyond the kubeconfig and the probe addresses; none makes an AWS call. */
const COMPONENTS: Record<string, (work: string) => string[] | Promise<string[]>> = {
  'pdb-controller': () => [],
  downscaler: () => [],
  'node-lifecycle-controller': () => ['--cluster-name=idle', '--aws-region=us-east-1', '--rolling-update=false'],
  // The shipped Deployment's flags: a self-signed serving certificate, the SQS collector enabled, no HPA.
  'metrics-adapter': async () => [`--secure-port=${await freePort()}`, '--bind-address=127.0.0.1', '--leader-elect=false', '--aws-region=eu-central-1'],
  // The shipped configuration, its issuer's keys served on loopback (as in the bundle smoke test), no access API.
  'authnz-webhook': (work) => {
    const cm = parseYaml(fs.readFileSync(path.join(root, 'manifests/authnz-webhook/configmap.yaml'), 'utf8')) as {
      data: { 'config.yaml': string };
    };
    const config = parseYaml(cm.data['config.yaml']) as { authentication: { issuers: Record<string, unknown>[] } };
    config.authentication.issuers[0]!.jwksURL = jwksUrl;
    const file = path.join(work, 'authnz.yaml');
    fs.writeFileSync(file, stringifyYaml(config));
    return [`--config=${file}`, '--insecure-loopback-webhook', '--webhook-bind-address=127.0.0.1:0', '--access-api-bind-address='];
  },
};

/**
 * What a component needs in the cluster before it can be Ready, from its shipped manifests: the authnz-webhook
 * reads AccessRequests in the emergency-access namespace (its readiness waits for that informer), so the
 * namespace and the CRD are applied and the bench waits until AccessRequests are served.
 */
const CLUSTER_SETUP: Record<string, (kc: unknown) => Promise<void>> = {
  'authnz-webhook': async (kubeConfig) => {
    const client = new KubeClient({ kubeConfig, component: 'idle-bench' });
    const plural: Record<string, string> = { Namespace: 'namespaces', CustomResourceDefinition: 'customresourcedefinitions' };
    let namespace = '';
    for (const file of ['namespace.yaml', 'crds.yaml']) {
      for (const doc of parseAllDocuments(fs.readFileSync(path.join(root, 'manifests/authnz-webhook', file), 'utf8'))) {
        const obj = doc.toJS() as { apiVersion: string; kind: string; metadata: { name: string } } | null;
        if (!obj) continue;
        if (obj.kind === 'Namespace') namespace = obj.metadata.name;
        const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
        await client.apply(resourcePath({ group, version, resource: plural[obj.kind], name: obj.metadata.name }), obj, {
          force: true,
          fieldManager: 'idle-bench',
        });
      }
    }
    await pollUntil('AccessRequests served', 60_000, 250, () =>
      client.list(`/apis/authnz.kubeaws.io/v1alpha1/namespaces/${namespace}/accessrequests`).then(() => true, () => undefined),
    );
  },
};

interface Result {
  component: string;
  rssMiB: number;
  peakMiB: number;
  heapUsedMiB?: number;
  /** RssAnon and RssFile of /proc/<pid>/status: anonymous memory (heap, stacks, malloc) and file-backed pages (the node binary, shared libraries). */
  anonMiB: number;
  fileMiB: number;
  ready: boolean;
}

/** MiB to one decimal: a whole MiB hides the half-MiB differences that an A/B run of one change looks for. */
const mib = (v: number) => Math.round(v * 10) / 10;
const f1 = (v: number) => v.toFixed(1);

async function measure(name: string, argv: string[], env: NodeJS.ProcessEnv, metricsUrl?: string, readyUrl?: string): Promise<Result> {
  const child: ChildProcess = spawn(process.execPath, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  try {
    let ready = true;
    if (readyUrl) {
      ready = await pollUntil(`${name} /readyz`, 60_000, 200, async () => {
        if (child.exitCode !== null) throw new Error(`${name} exited ${child.exitCode}: ${stderr}`);
        const r = await fetch(readyUrl).catch(() => undefined);
        return r?.status === 200 ? true : undefined;
      }).catch(() => false);
    }
    const until = Date.now() + SETTLE_MS;
    while (Date.now() < until) await new Promise((r) => setTimeout(r, 1000));
    if (child.exitCode !== null) throw new Error(`${name} exited ${child.exitCode}: ${stderr}`);
    const rss = vmStatus(child.pid!, 'VmRSS');
    const peak = vmStatus(child.pid!, 'VmHWM');
    let heapUsedMiB: number | undefined;
    if (metricsUrl) {
      const body = await (await fetch(metricsUrl)).text();
      const m = /^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?)/m.exec(body);
      if (m) heapUsedMiB = mib(Number(m[1]) / 1048576);
    }
    const anonMiB = mib(vmStatus(child.pid!, 'RssAnon'));
    const fileMiB = mib(vmStatus(child.pid!, 'RssFile'));
    return { component: name, rssMiB: mib(rss), peakMiB: mib(peak), heapUsedMiB, anonMiB, fileMiB, ready };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
  }
}

async function main(): Promise<void> {
  const binaries = await ensureBinaries({ onProgress: log });
  const cluster = await startCluster({ binaries, nodes: 3, onProgress: log });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-idle-'));
  const results: Result[] = [];
  try {
    results.push(await measure('bare node', ['-e', 'setInterval(() => {}, 1000)'], { PATH: process.env.PATH }));
    const only = args.only ? args.only.split(',') : Object.keys(COMPONENTS);
    for (const [name, extra] of Object.entries(COMPONENTS).filter(([n]) => only.includes(n))) {
      const bundle = path.join(root, 'dist/packages', name, 'bundle/main.mjs');
      if (!fs.existsSync(bundle)) throw new Error(`${bundle} missing: run \`npx nx run ${name}:bundle\``);
      const [metrics, health] = [await freePort(), await freePort()];
      if (CLUSTER_SETUP[name]) await CLUSTER_SETUP[name](cluster.kubeConfig());
      log(`${name}: starting`);
      const r = await measure(
        name,
        [
          // node's own flags from the manifest's args (V8 flags that NODE_OPTIONS does not take), then the bundle
          ...manifestNodeFlags(name),
          bundle,
          `--kubeconfig=${cluster.kubeconfigPath}`,
          `--metrics-bind-address=127.0.0.1:${metrics}`,
          `--health-probe-bind-address=127.0.0.1:${health}`,
          ...(await extra(work)),
        ],
        {
          PATH: process.env.PATH,
          HOME: work,
          NODE_ENV: 'production',
          NODE_OPTIONS: manifestNodeOptions(name),
          POD_NAME: `idle-${name}`,
          POD_NAMESPACE: 'kube-system',
        },
        `http://127.0.0.1:${metrics}/metrics`,
        `http://127.0.0.1:${health}/readyz`,
      );
      log(`${name}: ${JSON.stringify(r)}`);
      results.push(r);
    }
  } finally {
    jwks.close();
    await cluster.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  console.log(JSON.stringify(results, null, 2));
  const commit = measuredCommit(['packages', 'manifests', 'tools/images', 'bench/idle.bench.mts']);
  const header = '| process | RSS idle (VmRSS) | anonymous / file-backed | peak RSS (VmHWM) | V8 heap used | Ready |';
  const row = (r: Result) =>
    `| ${r.component} | ${f1(r.rssMiB)} MiB | ${f1(r.anonMiB)} / ${f1(r.fileMiB)} MiB | ${f1(r.peakMiB)} MiB | ` +
    `${r.heapUsedMiB === undefined ? '—' : `${f1(r.heapUsedMiB)} MiB`} | ${r.ready ? 'yes' : 'no'} |`;
  const measured = new Set(results.map((r) => r.component));
  // With --only, the rows of the other components stay as the section held them.
  const previous = args.only ? previousIdleRows().filter((r) => !measured.has(r.name)) : [];
  const date = new Date().toISOString().slice(0, 10);
  const command = `npm run bench -- idle --settle-seconds ${SETTLE_MS / 1000}${args.only ? ` --only ${args.only}` : ''}`;
  writeBenchmarkSection(
    'idle',
    [
      `Measured ${date} at ${commit} on ${machine()} (shared with other jobs), \`${command}\`: each component's ` +
        'bundle (what its image runs) with `NODE_ENV=production`, its manifest\'s `NODE_OPTIONS` and the node flags of its args against a local cluster with 3 kwok nodes and nothing to do ' +
        '(the authnz-webhook with its namespace and AccessRequest CRD applied), ' +
        `Ready and then ${SETTLE_MS / 1000} s idle. Anonymous memory is the V8 heap, stacks and malloc; file-backed pages are mostly the node binary's.` +
        (previous.length ? ` Rows of ${previous.map((r) => r.name).join(', ')} are from the run before (${previous[0]!.note}).` : ''),
      'Budgets (issue targets): pdb-controller and downscaler idle ≤ 80 MiB, authnz-webhook idle ≤ 64 MiB, metrics-adapter idle < 100 MiB ([MA-BUDGETS](metrics-adapter.md#ma-budgets)).',
      '',
      header,
      '|---|---|---|---|---|---|',
      ...results.filter((r) => r.component === 'bare node').map(row),
      ...previous.map((r) => r.line),
      ...results.filter((r) => r.component !== 'bare node').map(row),
    ].join('\n'),
  );
}

/** The component rows of the idle section in docs/benchmarks.md, with the date and commit of the run that wrote them. */
function previousIdleRows(): { name: string; line: string; note: string }[] {
  const text = fs.readFileSync(path.join(root, 'docs/benchmarks.md'), 'utf8');
  const section = /<!-- idle:begin -->([\s\S]*?)<!-- idle:end -->/.exec(text)?.[1] ?? '';
  // the commit as measuredCommit() wrote it, "with uncommitted changes to ..." included; the machine follows
  const when = /Measured (\S+) at (.+?) on /.exec(section);
  const note = when ? `${when[1]} at ${when[2]}` : 'an earlier run';
  return section
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| process') && !l.startsWith('| bare node'))
    .map((line) => {
      const cells = line.split('|');
      // rows written before the anonymous / file-backed column get a dash there
      if (cells.length === 7) cells.splice(3, 0, ' — ');
      return { name: cells[1]!.trim(), line: cells.join('|'), note };
    });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
