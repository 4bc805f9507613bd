// Idle footprint of the component images' code: each component's esbuild bundle (what its image runs), started
// with plain `node`, NODE_ENV=production and its manifest's NODE_OPTIONS against a local cluster with 3 kwok nodes and nothing to do, one at a
// time. Reports, per component, RSS after it is Ready and 60 s idle (VmRSS), its peak (VmHWM), the V8 heap
// (nodejs_heap_size_used_bytes from its own /metrics) and the modules it loaded, next to a bare `node` process
// measured the same way.
//
//   npm run bench -- idle [--settle-seconds 60] [--only pdb-controller,downscaler]
//
// Results are printed as JSON and written into docs/benchmarks.md between the idle markers.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { generateKeyPairSync } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { freePort, log, pollUntil, root, vmStatus, writeBenchmarkSection, manifestNodeOptions } from './lib.mts';

const require = createRequire(import.meta.url);
const { startCluster, ensureBinaries } = require(path.join(root, 'dist/packages/testenv/lib/index.js'));

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
const COMPONENTS: Record<string, (work: string) => string[]> = {
  'pdb-controller': () => [],
  downscaler: () => [],
  'node-lifecycle-controller': () => ['--cluster-name=idle', '--aws-region=us-east-1', '--rolling-update=false'],
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


interface Result {
  component: string;
  rssMiB: number;
  peakMiB: number;
  heapUsedMiB?: number;
  ready: boolean;
}

const mib = (v: number) => Math.round(v);

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
      if (m) heapUsedMiB = Math.round(Number(m[1]) / 1048576);
    }
    return { component: name, rssMiB: mib(rss), peakMiB: mib(peak), heapUsedMiB, ready };
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
      log(`${name}: starting`);
      const r = await measure(
        name,
        [
          bundle,
          `--kubeconfig=${cluster.kubeconfigPath}`,
          `--metrics-bind-address=127.0.0.1:${metrics}`,
          `--health-probe-bind-address=127.0.0.1:${health}`,
          ...extra(work),
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
  const commit = require('node:child_process').execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
  writeBenchmarkSection(
    'idle',
    [
      `Measured ${new Date().toISOString().slice(0, 10)} at ${commit} on the 2-core build machine (${os.cpus().length} CPUs, ` +
        `${Math.round(os.totalmem() / 2 ** 30)} GiB, shared with other jobs), \`npm run bench -- idle --settle-seconds ${SETTLE_MS / 1000}\`: each component's ` +
        'bundle (what its image runs) with `NODE_ENV=production` and its manifest\'s `NODE_OPTIONS` against a local cluster with 3 kwok nodes and nothing to do, ' +
        `Ready and then ${SETTLE_MS / 1000} s idle.`,
      '',
      '| process | RSS idle (VmRSS) | peak RSS (VmHWM) | V8 heap used | Ready |',
      '|---|---|---|---|---|',
      ...results.map(
        (r) => `| ${r.component} | ${r.rssMiB} MiB | ${r.peakMiB} MiB | ${r.heapUsedMiB === undefined ? '—' : `${r.heapUsedMiB} MiB`} | ${r.ready ? 'yes' : 'no'} |`,
      ),
    ].join('\n'),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
