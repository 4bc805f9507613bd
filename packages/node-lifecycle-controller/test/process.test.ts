/**
 * The built entry point (dist/…/main.js, as `nx build` makes it) exits with code 2 on invalid flags or
 * environment, naming the flag, the value and the expected form on stderr, before any Kubernetes or AWS call
 * (docs/node-lifecycle-controller.md#nlc-flags): the kubeconfig and AWS_ENDPOINT_URL both point at a server
 * that counts connections.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type CountingApiServer, startCountingApiServer } from '@kubeaws/testenv';

const REPO_ROOT = path.resolve(__dirname, '../../..');
const MAIN = path.join(REPO_ROOT, 'dist/packages/node-lifecycle-controller/lib/main.js');
let tmp: string;
let api: CountingApiServer;

function runMain(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve, reject) => {
    const { NODE_OPTIONS: _n, AWS_ENDPOINT_URL: _a, AWS_REGION: _r, CLUSTER_NAME: _c, ...parent } = process.env;
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { ...parent, AWS_ENDPOINT_URL: `http://127.0.0.1:${new URL(apiServer()).port}`, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (c) => (err += c));
    const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, err });
    });
  });
}

let server = '';
const apiServer = () => server;

beforeAll(async () => {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'packages/node-lifecycle-controller/tsconfig.json'], { cwd: REPO_ROOT, stdio: 'inherit' });
  tmp = mkdtempSync(path.join(tmpdir(), 'nlc-process-'));
  api = await startCountingApiServer(path.join(tmp, 'kubeconfig'));
  server = (JSON.parse(readFileSync(api.kubeconfigPath, 'utf8')) as { clusters: { cluster: { server: string } }[] }).clusters[0].cluster.server;
}, 180_000);

afterAll(async () => {
  await api?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

it('exits with code 2 and names flag, value and expected form, before any API or AWS call', async () => {
  const base = [`--kubeconfig=${api.kubeconfigPath}`, '--metrics-bind-address=0', '--health-probe-bind-address=0', '--leader-elect=false'];
  const ok = ['--cluster-name=c1', '--aws-region=us-east-1'];
  const cases: { args: string[]; env?: Record<string, string>; says: string[] }[] = [
    { args: ['--aws-region=us-east-1'], says: ['--cluster-name'] },
    { args: [...ok, '--drain-grace-period=6x'], says: ['--drain-grace-period', '6x', 'a duration like 30s'] },
    { args: [...ok, '--replacement-timeout=366d'], says: ['--replacement-timeout', '366d'] },
    { args: [...ok, '--event-repeat-interval=soon'], says: ['--event-repeat-interval', 'soon'] },
    { args: [...ok, '--delete-terminated-nodes=maybe'], says: ['--delete-terminated-nodes', 'maybe', 'true or false'] },
    { args: ok, env: { NODE_REPLACEMENT_PREPARE: 'yes' }, says: ['NODE_REPLACEMENT_PREPARE', 'yes', 'true or false'] },
    { args: [...ok, '--sqs-wait-time=30s'], says: ['--sqs-wait-time', '30s', '1s to 20s'] },
    { args: [...ok, '--no-such-flag'], says: ['--no-such-flag'] },
  ];
  for (const c of cases) {
    const r = await runMain([...base, ...c.args], c.env);
    expect({ args: c.args, code: r.code }).toEqual({ args: c.args, code: 2 });
    for (const s of c.says) expect(r.err).toContain(s);
  }
  expect(api.connections()).toBe(0);
}, 120_000);
