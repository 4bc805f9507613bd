/**
 * Graceful shutdown without resets (docs/authnz-webhook.md#authnz-shutdown): the built entry point with a
 * mutual-TLS webhook listener and `--shutdown-delay=3s`; four keep-alive mTLS clients loop `POST /authorize`
 * and two keep-alive clients loop `GET /metrics` and `GET /readyz`, then SIGTERM. Readiness fails at once,
 * answers during the delay carry `Connection: close`, and no request is lost: every request the process read
 * was answered, and no keep-alive connection was cut under a client. The loops end when connections are
 * refused (the listener is gone). A connection the kernel queued in the instant a listener closed is reset
 * before the process reads a byte of it; such a request was never processed (like a refused connection) and
 * is counted apart (a connection the process accepted is never cut before its answer within the 10 s grace).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type ClusterPki, freePorts, generatePki } from '@kubeaws/testenv';
import { REPO_ROOT } from './cluster';
import { TestIssuer, configYaml, makeKey, until } from './helpers';

const MAIN_JS = path.join(REPO_ROOT, 'dist/packages/authnz-webhook/lib/main.js');

let tmp: string;
let pki: ClusterPki;
let issuer: TestIssuer;

beforeAll(async () => {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'packages/authnz-webhook/tsconfig.json'], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
  });
  tmp = mkdtempSync(path.join(tmpdir(), 'authnz-shutdown-'));
  pki = await generatePki();
  writeFileSync(path.join(tmp, 'server.crt'), pki.apiserver.cert);
  writeFileSync(path.join(tmp, 'server.key'), pki.apiserver.key);
  writeFileSync(path.join(tmp, 'ca.crt'), pki.ca.cert);
  issuer = await TestIssuer.start([await makeKey('shutdown-1')]);
  writeFileSync(
    path.join(tmp, 'config.yaml'),
    configYaml({ issuerUrl: issuer.url, jwksURL: issuer.jwksURL, emergencyAccess: false }),
  );
}, 180_000);

afterAll(async () => {
  await issuer?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** What one looping client saw. */
interface Tally {
  ok: number;
  connectionClose: number;
  /** Requests lost after the process read them, or cut on a reused keep-alive connection. */
  failed: string[];
  /** Fresh connections reset before anything was read (a listener closing). */
  unread: number;
  refused: boolean;
}

const SAR = JSON.stringify({
  apiVersion: 'authorization.k8s.io/v1',
  kind: 'SubjectAccessReview',
  spec: { user: 'oidc:jdoe', groups: ['ReadOnly'], resourceAttributes: { namespace: 'a', verb: 'list', resource: 'pods' } },
});

/**
 * Loops one request on one keep-alive connection (a new one after `Connection: close`) until the server
 * refuses connections or `deadline` passes.
 */
async function loop(send: (agent: http.Agent) => http.ClientRequest, agent: http.Agent, deadline: number): Promise<Tally> {
  const t: Tally = { ok: 0, connectionClose: 0, failed: [], unread: 0, refused: false };
  while (Date.now() < deadline) {
    const r = await new Promise<{ status?: number; close?: boolean; code?: string; reused?: boolean; answered?: boolean }>(
      (resolve) => {
        const req = send(agent);
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode, close: res.headers.connection === 'close' }));
          res.on('error', (e: NodeJS.ErrnoException) => resolve({ code: e.code, reused: req.reusedSocket, answered: true }));
        });
        req.on('error', (e: NodeJS.ErrnoException) => resolve({ code: e.code ?? e.message, reused: req.reusedSocket }));
      },
    );
    if (r.code === 'ECONNREFUSED') {
      t.refused = true;
      break;
    }
    if (r.code && !r.reused && !r.answered) t.unread++;
    else if (r.code || r.status !== 200) t.failed.push(`${r.code ?? `HTTP ${r.status}`}${r.reused ? ' (reused connection)' : ''}`);
    else {
      t.ok++;
      if (r.close) t.connectionClose++;
    }
  }
  agent.destroy();
  return t;
}

function metric(body: string, re: RegExp): number {
  return body
    .split('\n')
    .filter((l) => re.test(l))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

it('SIGTERM with --shutdown-delay=3s and keep-alive mTLS clients looping POST /authorize: no request is lost', async () => {
  const [webhook, metricsPort, health] = await freePorts(3);
  const child: ChildProcess = spawn(
    process.execPath,
    [
      MAIN_JS,
      `--config=${path.join(tmp, 'config.yaml')}`,
      `--tls-cert-file=${path.join(tmp, 'server.crt')}`,
      `--tls-private-key-file=${path.join(tmp, 'server.key')}`,
      `--client-ca-file=${path.join(tmp, 'ca.crt')}`,
      `--webhook-bind-address=127.0.0.1:${webhook}`,
      '--access-api-bind-address=0',
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${health}`,
      '--shutdown-delay=3s',
    ],
    { env: { PATH: process.env.PATH, HOME: tmp }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const readyz = async () => {
      try {
        return (await fetch(`http://127.0.0.1:${health}/readyz`)).status;
      } catch {
        return 0;
      }
    };
    await until(async () => (await readyz()) === 200, '/readyz 200', 30_000, 100);

    const deadline = Date.now() + 60_000;
    const tlsAgent = () =>
      new https.Agent({
        keepAlive: true,
        maxSockets: 1,
        ca: pki.ca.cert,
        cert: pki.admin.cert,
        key: pki.admin.key,
      });
    const authorize = Array.from({ length: 4 }, () =>
      loop(
        (agent) =>
          https
            .request({
              host: '127.0.0.1',
              port: webhook,
              method: 'POST',
              path: '/authorize',
              agent,
              headers: { 'Content-Type': 'application/json' },
            })
            .end(SAR),
        tlsAgent(),
        deadline,
      ),
    );
    const plain = (port: number, p: string) =>
      loop(
        (agent) => http.request({ host: '127.0.0.1', port, path: p, agent }).end(),
        new http.Agent({ keepAlive: true, maxSockets: 1 }),
        deadline,
      );
    const scrapes = plain(metricsPort, '/metrics');
    const probes = plain(health, '/healthz');

    // Some answers before the signal, on kept-alive connections.
    await until(
      async () => {
        const body = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        return metric(body, /^kubeaws_authnz_webhook_http_requests_total\{.*endpoint="authorize"/) >= 50;
      },
      '50 answered SubjectAccessReviews',
      10_000,
      100,
    );
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    await until(async () => (await readyz()) !== 200, '/readyz failing after SIGTERM', 2_000, 20);
    expect(Date.now() - signalledAt).toBeLessThan(2_000);

    const results = await Promise.all([...authorize, scrapes, probes]);
    expect(await exited).toBe(0);
    const [a1, a2, a3, a4, m, h] = results;
    const auth = [a1!, a2!, a3!, a4!];
    expect({
      authorizeFailed: auth.flatMap((t) => t.failed),
      metricsFailed: m!.failed,
      probesFailed: h!.failed,
      allRefusedAtTheEnd: results.every((t) => t.refused),
    }).toEqual({ authorizeFailed: [], metricsFailed: [], probesFailed: [], allRefusedAtTheEnd: true });
    // Answers kept flowing during the 3 s delay, and carried Connection: close.
    expect(auth.reduce((s, t) => s + t.connectionClose, 0)).toBeGreaterThan(4);
    const lines = stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number | string; msg: string });
    expect(lines.filter((l) => l.level === 'error' || l.level === 50).map((l) => l.msg)).toEqual([]);
    expect(stderr).toBe('');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}, 120_000);
