/**
 * The built entry point with and without cluster access (docs/authnz-webhook.md#authnz-standalone): no
 * --kubeconfig, no KUBECONFIG, no ~/.kube/config and not in a pod with a configuration that enables
 * emergency access exits 2 before serving, with a message naming both ways out; with
 * emergency access disabled it runs standalone (TokenReview and SubjectAccessReview, /readyz 200, one
 * info line, no access API, no errors); with KUBECONFIG for the real cluster it serves the access API.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type ClusterPki, freePorts, generatePki, testKubeConfig } from '@kubeaws/testenv';
import { REPO_ROOT, adminClient, installAccessManifests, webhookKubeConfig } from './cluster';
import { TestIssuer, configYaml, makeKey, until } from './helpers';

const MAIN_JS = path.join(REPO_ROOT, 'dist/packages/authnz-webhook/lib/main.js');

let tmp: string;
let home: string;
let pki: ClusterPki;
let issuer: TestIssuer;

/** A running entry point: its output so far and its exit. */
interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

/**
 * Starts the built entry point with the test environment minus anything that gives cluster access
 * (KUBECONFIG, KUBERNETES_SERVICE_HOST, the KUBEAWS_AUTHNZ_* flags) and with an empty HOME (no
 * ~/.kube/config), plus `env`.
 */
function startMain(args: string[], env: Record<string, string> = {}): Proc {
  const parent: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(NODE_OPTIONS|KUBECONFIG|KUBERNETES_SERVICE_(HOST|PORT)|KUBEAWS_AUTHNZ_.*)$/.test(k)) parent[k] = v;
  const child = spawn(process.execPath, [MAIN_JS, ...args], {
    env: { ...parent, HOME: home, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
  return { child, out: () => out, err: () => err, exited };
}

/** Resolves with the exit code, killing the process when it runs past `timeoutMs`. */
async function exitCode(p: Proc, timeoutMs = 30_000): Promise<number | null> {
  const t = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  try {
    return await p.exited;
  } finally {
    clearTimeout(t);
  }
}

/** The JSON log lines on stdout. */
const logLines = (p: Proc): any[] =>
  p
    .out()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));

/** True when something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function readyz(port: number): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
  } catch {
    return 0;
  }
}

beforeAll(async () => {
  // the entry point is run as built by `nx build` (tsc -b; a no-op when up to date)
  execFileSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-b', 'packages/authnz-webhook/tsconfig.json'],
    {
      cwd: REPO_ROOT,
      stdio: 'inherit',
    },
  );
  tmp = mkdtempSync(path.join(tmpdir(), 'authnz-process-'));
  home = path.join(tmp, 'home');
  mkdirSync(home);
  pki = await generatePki();
  writeFileSync(path.join(tmp, 'server.crt'), pki.apiserver.cert);
  writeFileSync(path.join(tmp, 'server.key'), pki.apiserver.key);
  issuer = await TestIssuer.start([await makeKey('process-1')]);
  writeFileSync(path.join(tmp, 'emergency.yaml'), configYaml({ issuerUrl: issuer.url, jwksURL: issuer.jwksURL }));
  writeFileSync(
    path.join(tmp, 'standalone.yaml'),
    configYaml({ issuerUrl: issuer.url, jwksURL: issuer.jwksURL, emergencyAccess: false }),
  );
}, 180_000);

afterAll(async () => {
  await issuer?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Flags of a loopback process: plain-HTTP webhook, access API with server TLS, probes on the given ports. */
function flags(config: string, ports: { webhook: number; access: number; health: number }): string[] {
  return [
    `--config=${path.join(tmp, config)}`,
    '--insecure-loopback-webhook',
    `--webhook-bind-address=127.0.0.1:${ports.webhook}`,
    `--access-api-bind-address=127.0.0.1:${ports.access}`,
    `--tls-cert-file=${path.join(tmp, 'server.crt')}`,
    `--tls-private-key-file=${path.join(tmp, 'server.key')}`,
    '--metrics-bind-address=0',
    `--health-probe-bind-address=127.0.0.1:${ports.health}`,
    '--shutdown-delay=0s',
  ];
}

async function ports(): Promise<{ webhook: number; access: number; health: number }> {
  const [webhook, access, health] = await freePorts(3);
  return { webhook: webhook!, access: access!, health: health! };
}

describe('authnz-webhook process without a cluster', () => {
  it('exits 2 before serving when the configuration enables emergency access', async () => {
    const p = startMain(flags('emergency.yaml', await ports()));
    expect(await exitCode(p)).toBe(2);
    expect(p.err()).toBe(
      'error: no cluster access: --kubeconfig not given, KUBECONFIG unset, no ~/.kube/config and not running in a pod; ' +
        'the access API and four-eyes grants need the AccessRequest CRD (emergencyAccess.manual.requesterGroups and ' +
        `emergencyAccess.emergency.requesterGroups set in ${path.join(tmp, 'emergency.yaml')}). Pass --kubeconfig ` +
        '(or set KUBECONFIG), or run standalone (TokenReview and SubjectAccessReview only) with emergency access ' +
        'disabled: empty emergencyAccess.manual.requesterGroups and emergencyAccess.emergency.requesterGroups\n',
    );
    // nothing was served: no listener was opened, no stack trace
    expect(logLines(p).filter((l) => /listening|started/.test(l.msg))).toEqual([]);
    expect(p.out() + p.err()).not.toContain('    at ');
  }, 60_000);

  it('runs standalone when emergency access is disabled: reviews work, /readyz 200, one info line, no access API', async () => {
    const port = await ports();
    const p = startMain(flags('standalone.yaml', port));
    try {
      await until(async () => (await readyz(port.health)) === 200, '/readyz 200', 30_000, 100);
      const token = await issuer.sign({ sub: 'jdoe', groups: ['oncall', 'k8s-readonly'] });
      const tr = await fetch(`http://127.0.0.1:${port.webhook}/authenticate`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }),
      });
      expect(((await tr.json()) as any).status).toMatchObject({
        authenticated: true,
        user: { username: 'oidc:jdoe', groups: ['ReadOnly', 'oidc:k8s-readonly', 'oidc:oncall'] },
      });
      const sar = await fetch(`http://127.0.0.1:${port.webhook}/authorize`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: 'oidc:jdoe',
            groups: ['ReadOnly'],
            resourceAttributes: { namespace: 'a', verb: 'list', resource: 'pods' },
          },
        }),
      });
      expect(((await sar.json()) as any).status).toMatchObject({ allowed: true });
      expect(await listening(port.access)).toBe(false);
      expect(p.child.exitCode).toBeNull();
    } finally {
      p.child.kill('SIGTERM');
    }
    expect(await exitCode(p)).toBe(0);
    const lines = logLines(p);
    expect(lines.filter((l) => String(l.msg).startsWith('standalone mode'))).toEqual([
      expect.objectContaining({
        level: 'info',
        msg: expect.stringContaining('emergency access is disabled in the configuration, so no grants are issued'),
      }),
    ]);
    expect(lines.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      'the webhook listener serves plain HTTP on loopback (--insecure-loopback-webhook)',
    ]);
    expect(p.err()).toBe('');
  }, 60_000);
});

describe('authnz-webhook process with a cluster', () => {
  it('with KUBECONFIG and emergency access enabled: ready once the AccessRequest informer synced, serves the access API', async () => {
    const adminKc = testKubeConfig();
    await installAccessManifests(adminClient(adminKc));
    const kubeconfig = path.join(tmp, 'webhook.kubeconfig');
    writeFileSync(kubeconfig, (await webhookKubeConfig(adminKc)).exportConfig());
    const port = await ports();
    const p = startMain([...flags('emergency.yaml', port), '--leader-elect=false'], { KUBECONFIG: kubeconfig });
    try {
      await until(async () => (await readyz(port.health)) === 200, '/readyz 200', 60_000, 200);
      const token = await issuer.sign({ sub: `process-${Date.now().toString(36)}`, groups: ['oncall'] });
      const list = await new Promise<{ status: number; body: any }>((resolve, reject) => {
        https
          .get(
            `https://127.0.0.1:${port.access}/access/v1/requests`,
            { ca: pki.ca.cert, headers: { Authorization: `Bearer ${token}` } },
            (res) => {
              let text = '';
              res.on('data', (d) => (text += d));
              res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
            },
          )
          .on('error', reject);
      });
      expect(list).toMatchObject({ status: 200, body: { kind: 'AccessRequestList', items: expect.any(Array) } });
    } finally {
      p.child.kill('SIGTERM');
    }
    expect(await exitCode(p)).toBe(0);
    expect(logLines(p).filter((l) => String(l.msg).startsWith('standalone mode'))).toEqual([]);
    expect(logLines(p).filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
  }, 120_000);
});
