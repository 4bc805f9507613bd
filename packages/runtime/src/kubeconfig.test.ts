/**
 * The kubeconfig loader against files on disk and a real exec credential plugin process: what each
 * request gets (TLS material and Authorization), client-go's merge and path rules, token-file refresh,
 * exec credential caching, the service-account mount, and the refusals.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import type * as https from 'node:https';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Kubeconfig, KubeconfigError, loadDefaultKubeconfig } from './kubeconfig';

let dir: string;
beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'runtime-kubeconfig-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const b64 = (s: string) => Buffer.from(s).toString('base64');

function write(name: string, content: string): string {
  const f = path.join(dir, name);
  mkdirSync(path.dirname(f), { recursive: true });
  writeFileSync(f, content);
  return f;
}

async function apply(kc: Kubeconfig): Promise<https.RequestOptions & { headers: Record<string, string> }> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  return opts as https.RequestOptions & { headers: Record<string, string> };
}

describe('Kubeconfig.fromFiles', () => {
  it('inline data: CA, client certificate and key, TLS server name', async () => {
    const f = write(
      'k',
      `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://10.0.0.1:6443", certificate-authority-data: ${b64('CA')}, tls-server-name: api.internal}
users:
- name: u
  user: {client-certificate-data: ${b64('CERT')}, client-key-data: ${b64('KEY')}}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
`,
    );
    const kc = Kubeconfig.fromFiles([f]);
    expect([kc.getCurrentContext(), kc.getCurrentCluster()]).toEqual(['ctx', { name: 'c', server: 'https://10.0.0.1:6443' }]);
    const o = await apply(kc);
    expect([String(o.ca), String(o.cert), String(o.key), o.servername, o.rejectUnauthorized, o.headers.Authorization]).toEqual([
      'CA',
      'CERT',
      'KEY',
      'api.internal',
      undefined,
      undefined,
    ]);
  });

  it('file paths are relative to the kubeconfig that names them; a bearer token; insecure-skip-tls-verify', async () => {
    write('sub/ca.crt', 'CA-FILE');
    const f = write(
      'sub/k',
      `clusters: [{name: c, cluster: {server: "https://h", certificate-authority: ca.crt, insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
    );
    const o = await apply(Kubeconfig.fromFiles([f]));
    expect([String(o.ca), o.rejectUnauthorized, o.headers.Authorization]).toEqual(['CA-FILE', false, 'Bearer abc']);
  });

  it('merges files as client-go does: the first definition of a name and the first current-context win', () => {
    const a = write(
      'a',
      `clusters: [{name: c, cluster: {server: "https://first"}}]
contexts: [{name: x, context: {cluster: c}}]
`,
    );
    const b = write(
      'b',
      `clusters: [{name: c, cluster: {server: "https://second"}}, {name: d, cluster: {server: "https://d"}}]
contexts: [{name: x, context: {cluster: d}}, {name: y, context: {cluster: d}}]
current-context: x
`,
    );
    expect(Kubeconfig.fromFiles([a, b]).getCurrentCluster()).toEqual({ name: 'c', server: 'https://first' });
    expect(Kubeconfig.fromFiles([a, b], { context: 'y' }).getCurrentCluster()).toEqual({ name: 'd', server: 'https://d' });
  });

  it('basic auth when there is no token', async () => {
    const f = write(
      'k',
      `clusters: [{name: c, cluster: {server: "http://h"}}]
users: [{name: u, user: {username: admin, password: "s3cret"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
    );
    expect((await apply(Kubeconfig.fromFiles([f]))).headers.Authorization).toBe(`Basic ${b64('admin:s3cret')}`);
  });

  it('re-reads a token file at most once a minute and keeps the last token while the file is briefly gone', async () => {
    const token = write('token', 'one\n');
    const f = write(
      'k',
      `clusters: [{name: c, cluster: {server: "https://h"}}]
users: [{name: u, user: {tokenFile: token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
    );
    let now = 1_000_000;
    const kc = Kubeconfig.fromFiles([f], { now: () => now });
    expect((await apply(kc)).headers.Authorization).toBe('Bearer one');
    writeFileSync(token, 'two');
    now += 59_000;
    expect((await apply(kc)).headers.Authorization).toBe('Bearer one');
    now += 2_000;
    expect((await apply(kc)).headers.Authorization).toBe('Bearer two');
    rmSync(token);
    now += 61_000;
    expect((await apply(kc)).headers.Authorization).toBe('Bearer two');
  });

  it('runs an exec credential plugin with KUBERNETES_EXEC_INFO and caches its credential until it expires', async () => {
    const calls = path.join(dir, 'calls');
    writeFileSync(calls, '');
    const plugin = write(
      'plugin.js',
      `const fs = require('fs');
fs.appendFileSync(${JSON.stringify(calls)}, process.env.KUBERNETES_EXEC_INFO + '|' + process.env.PLUGIN_ENV + '\\n');
const n = fs.readFileSync(${JSON.stringify(calls)}, 'utf8').trim().split('\\n').length;
process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential',
  status: { token: 'exec-' + n, expirationTimestamp: '2030-01-01T00:10:00Z' } }));
`,
    );
    const f = write(
      'k',
      `clusters: [{name: c, cluster: {server: "https://h"}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ${JSON.stringify(process.execPath)}
      args: [${JSON.stringify(plugin)}]
      env: [{name: PLUGIN_ENV, value: from-kubeconfig}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
    );
    let now = Date.parse('2030-01-01T00:00:00Z');
    const kc = Kubeconfig.fromFiles([f], { now: () => now });
    const [o1, o2] = await Promise.all([apply(kc), apply(kc)]);
    expect([o1.headers.Authorization, o2.headers.Authorization]).toEqual(['Bearer exec-1', 'Bearer exec-1']);
    now = Date.parse('2030-01-01T00:09:59Z');
    expect((await apply(kc)).headers.Authorization).toBe('Bearer exec-1');
    now = Date.parse('2030-01-01T00:10:00Z');
    expect((await apply(kc)).headers.Authorization).toBe('Bearer exec-2');
    const lines = readFileSync(calls, 'utf8').trim().split('\n');
    expect(lines).toEqual([
      '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}|from-kubeconfig',
      '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}|from-kubeconfig',
    ]);
  });

  it('an exec plugin that fails names the user, the command and its stderr', async () => {
    const plugin = write('fail.js', `process.stderr.write('no credentials configured'); process.exit(3);`);
    const f = write(
      'k',
      `clusters: [{name: c, cluster: {server: "https://h"}}]
users: [{name: u, user: {exec: {command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(plugin)}]}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
    );
    await expect(apply(Kubeconfig.fromFiles([f]))).rejects.toThrow(
      new RegExp(`^user "u": exec ${process.execPath.replace(/[/.]/g, '\\$&')}: .*: no credentials configured$`),
    );
  });

  it.each([
    [
      'an auth-provider',
      `clusters: [{name: c, cluster: {server: "https://h"}}]
users: [{name: u, user: {auth-provider: {name: oidc}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x`,
      'user "u": auth-provider is not supported (removed from kubectl in Kubernetes 1.26); use an exec credential plugin',
    ],
    [
      'a context naming an undefined cluster',
      `contexts: [{name: x, context: {cluster: nope}}]
current-context: x`,
      'context "x" names cluster "nope", which is not defined',
    ],
    [
      'a context naming an undefined user',
      `clusters: [{name: c, cluster: {server: "https://h"}}]
contexts: [{name: x, context: {cluster: c, user: ghost}}]
current-context: x`,
      'context "x" names user "ghost", which is not defined',
    ],
    [
      'a certificate file that does not exist',
      `clusters: [{name: c, cluster: {server: "https://h", certificate-authority: missing.crt}}]
contexts: [{name: x, context: {cluster: c}}]
current-context: x`,
      'cluster "c": certificate-authority ',
    ],
    ['a YAML list', '- a\n- b\n', 'not a kubeconfig (expected a mapping)'],
  ])('refuses %s, naming the entry and the field', (_name, content, message) => {
    const f = write('k', content);
    let err: unknown;
    try {
      Kubeconfig.fromFiles([f]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KubeconfigError);
    expect((err as Error).message).toContain(message);
  });

  it('no current context: no cluster', () => {
    const f = write('k', `clusters: [{name: c, cluster: {server: "https://h"}}]\n`);
    expect(Kubeconfig.fromFiles([f]).getCurrentCluster()).toBeNull();
  });
});

describe('Kubeconfig.inCluster and the default loading rules', () => {
  it("uses the pod's service account: server from the environment, the mounted CA and token", async () => {
    write('sa/ca.crt', 'SA-CA');
    write('sa/token', 'sa-token');
    const kc = Kubeconfig.inCluster({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, path.join(dir, 'sa'));
    expect(kc.getCurrentCluster()).toEqual({ name: 'in-cluster', server: 'https://[fd00::1]:443' });
    const o = await apply(kc);
    expect([String(o.ca), o.headers.Authorization]).toEqual(['SA-CA', 'Bearer sa-token']);
  });

  it('KUBECONFIG first, then ~/.kube/config, else nothing', () => {
    const k = write('k', `clusters: [{name: c, cluster: {server: "https://from-env"}}]\ncontexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n`);
    write('home/.kube/config', `clusters: [{name: c, cluster: {server: "https://from-home"}}]\ncontexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n`);
    const home = path.join(dir, 'home');
    expect(loadDefaultKubeconfig({ KUBECONFIG: k, HOME: home })?.getCurrentCluster()?.server).toBe('https://from-env');
    expect(loadDefaultKubeconfig({ HOME: home })?.getCurrentCluster()?.server).toBe('https://from-home');
    expect(loadDefaultKubeconfig({ HOME: path.join(dir, 'nohome') })).toBeUndefined();
  });
});
