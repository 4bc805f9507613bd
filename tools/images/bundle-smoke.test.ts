/**
 * Bundle smoke of one service (KUBEAWS_SERVICE): the esbuild bundle copied into an empty directory with no
 * node_modules anywhere above it, run with plain `node` (the project's pinned Node, `process.execPath`) and
 * NODE_ENV=production against the local kube-apiserver. /healthz, /readyz (caches synced) and /metrics answer,
 * stdout is JSON log lines throughout, and SIGTERM ends the process with exit code 0 within 30 s. Started with a
 * `--kubeconfig` that names a missing file, it exits 2 with a one-line error naming the flag, the path and the problem. The
 * authnz-webhook variant runs with a loopback issuer and also answers one TokenReview on loopback.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CustomObjectsApi, KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { EC2Client } from '@aws-sdk/client-ec2';
import { freePorts, startMoto, TEST_ENV, waitFor } from '@kubeaws/testenv';
import { AZS, createVpc } from '../../packages/static-egress-controller/test/support';
import { parse, parseAllDocuments, stringify } from 'yaml';

const ROOT = path.resolve(__dirname, '../..');
const SERVICE = process.env.KUBEAWS_SERVICE!;
const BUNDLE = path.join(ROOT, 'dist/packages', SERVICE, 'bundle');

async function get(url: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

/** What a service needs beyond the shared flags: extra args, fixtures to stop, a check once it is ready. */
interface Variant {
  args: string[];
  /** Extra environment of the process (e.g. the AWS SDK's own endpoint settings). */
  env?: Record<string, string>;
  cleanup?: () => Promise<void>;
  check?: (urls: { metricsUrl: string; probesUrl: string }) => Promise<void>;
}

/**
 * authnz-webhook: the shipped configuration with its issuer's keys on a loopback JWKS endpoint, the AccessRequest
 * CRD and namespace applied, the webhook listener as plain HTTP on loopback, no access API.
 */
async function authnzVariant(workDir: string): Promise<Variant> {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'smoke', alg: 'ES256', use: 'sig' };
  const jwks = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  const cm = parse(fs.readFileSync(path.join(ROOT, 'manifests/authnz-webhook/configmap.yaml'), 'utf8')) as {
    data: { 'config.yaml': string };
  };
  const config = parse(cm.data['config.yaml']) as { authentication: { issuers: Record<string, unknown>[] } };
  config.authentication.issuers[0].jwksURL = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
  const configFile = path.join(workDir, 'config.yaml');
  fs.writeFileSync(configFile, stringify(config));

  const kc = new KubeConfig();
  kc.loadFromFile(process.env[TEST_ENV.kubeconfig]!);
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const file of ['namespace.yaml', 'crds.yaml']) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(ROOT, 'manifests/authnz-webhook', file), 'utf8'))) {
      const o = doc.toJS() as KubernetesObject;
      await api.patch(o, undefined, undefined, 'kubeaws-bundle-smoke', true, 'application/apply-patch+yaml');
    }
  }
  const custom = kc.makeApiClient(CustomObjectsApi);
  await waitFor(
    async () =>
      custom
        .listNamespacedCustomObject({
          group: 'authnz.kubeaws.io',
          version: 'v1alpha1',
          namespace: 'kubeaws-access',
          plural: 'accessrequests',
        })
        .then(
          () => true,
          () => false,
        ),
    { timeoutMs: 30_000, description: 'the AccessRequest CRD is served' },
  );
  const [webhook] = await freePorts(1);
  return {
    args: [
      `--config=${configFile}`,
      '--insecure-loopback-webhook',
      `--webhook-bind-address=127.0.0.1:${webhook}`,
      '--access-api-bind-address=',
      '--shutdown-delay=1s',
    ],
    cleanup: () => new Promise<void>((r) => jwks.close(() => r())),
    check: async () => {
      const res = await fetch(`http://127.0.0.1:${webhook}/authenticate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token: 'not-a-token' },
        }),
      });
      const review = (await res.json()) as { kind: string; status: { authenticated?: boolean } };
      expect({ status: res.status, kind: review.kind, authenticated: review.status.authenticated ?? false }).toEqual({
        status: 200,
        kind: 'TokenReview',
        authenticated: false,
      });
    },
  };
}

/**
 * metrics-adapter: the HTTPS metrics API on a free loopback port with its self-signed certificate; the probes on
 * the secure port answer without credentials and the metrics API refuses a caller without any with a 401 Status.
 */
async function metricsAdapterVariant(): Promise<Variant> {
  const [secure] = await freePorts(1);
  const getInsecure = (p: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: secure, path: p, rejectUnauthorized: false, agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  return {
    args: [`--secure-port=${secure}`, '--bind-address=127.0.0.1', '--shutdown-delay=1s', '--shutdown-grace-period=5s'],
    check: async () => {
      expect((await getInsecure('/healthz')).status).toBe(200);
      const r = await getInsecure('/apis/external.metrics.k8s.io/v1beta1');
      expect({ status: r.status, reason: (JSON.parse(r.body) as { reason?: string }).reason }).toEqual({ status: 401, reason: 'Unauthorized' });
    },
  };
}

const VARIANTS: Record<string, (workDir: string) => Promise<Variant>> = {
  'authnz-webhook': authnzVariant,
  'metrics-adapter': metricsAdapterVariant,
  // The two required flags; no SQS queue and no ASG sync, so the smoke run makes no AWS call.
  // A moto server (testenv) with a VPC fixture; the SDK's own AWS_ENDPOINT_URL points at it. Ready once the first
  // discovery is done; no input ConfigMaps, so nothing is created.
  'static-egress-controller': async () => {
    const moto = await startMoto();
    const ec2 = new EC2Client({ endpoint: moto.endpoint, region: 'eu-central-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const vpc = await createVpc(ec2, 'smoke');
    ec2.destroy();
    return {
      args: ['--cluster-id=smoke', `--availability-zones=${AZS.join(',')}`, `--vpc-id=${vpc.vpcId}`],
      env: { AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: 'eu-central-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' },
      cleanup: () => moto.stop(),
      // One successful reconcile against moto: discovery done through the SDK's endpoint setting, nothing created.
      check: async ({ metricsUrl }) => {
        const body = await waitFor(
          async () => {
            const b = (await get(`${metricsUrl}/metrics`))?.body ?? '';
            return /^kubeaws_static_egress_controller_reconciles_total\{result="success"\} [1-9]/m.test(b) ? b : undefined;
          },
          { timeoutMs: 30_000, description: 'reconciles_total{result="success"} > 0' },
        );
        expect(body).toMatch(/aws_requests_total\{operation="DescribeVpcs",outcome="success"\} [1-9]/);
        expect(body).not.toMatch(/aws_requests_total\{operation="(AllocateAddress|CreateNatGateway)"/);
      },
    };
  },
  'node-lifecycle-controller': async () => ({
    args: ['--cluster-name=smoke', '--aws-region=us-east-1', '--rolling-update=false'],
    // Every kwok node reconciled from the caches: counted as `ready`, nothing written.
    check: async ({ metricsUrl }) => {
      const r = await waitFor(
        async () => {
          const body = (await get(`${metricsUrl}/metrics`))?.body ?? '';
          return /^kubeaws_node_lifecycle_controller_nodes\{state="ready"\} [1-9]/m.test(body) ? body : undefined;
        },
        { timeoutMs: 30_000, description: 'nodes{state="ready"} > 0' },
      );
      expect(r).not.toMatch(/kubeaws_node_lifecycle_controller_api_requests_total\{verb="patch"/);
    },
  }),
};

describe(`${SERVICE} bundle`, () => {
  let dir: string;
  let child: ChildProcess;
  let stdout = '';
  let stderr = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let metricsUrl: string;
  let probesUrl: string;
  let variant: Variant;
  let work: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `kubeaws-smoke-${SERVICE}-`));
    work = fs.mkdtempSync(path.join(os.tmpdir(), `kubeaws-smoke-${SERVICE}-files-`));
    variant = VARIANTS[SERVICE] ? await VARIANTS[SERVICE](work) : { args: [] };
    for (const f of fs.readdirSync(BUNDLE)) fs.copyFileSync(path.join(BUNDLE, f), path.join(dir, f));
    const [metrics, probes] = await freePorts(2);
    metricsUrl = `http://127.0.0.1:${metrics}`;
    probesUrl = `http://127.0.0.1:${probes}`;
    child = spawn(
      process.execPath,
      [
        'main.mjs',
        `--kubeconfig=${process.env[TEST_ENV.kubeconfig]}`,
        `--metrics-bind-address=127.0.0.1:${metrics}`,
        `--health-probe-bind-address=127.0.0.1:${probes}`,
        ...variant.args,
      ],
      {
        cwd: dir,
        // A clean environment: no NODE_OPTIONS or NODE_PATH from the test runner.
        env: {
          PATH: process.env.PATH,
          HOME: dir,
          NODE_ENV: 'production',
          POD_NAME: `smoke-${SERVICE}`,
          POD_NAMESPACE: 'kube-system',
          ...variant.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }, 60_000);

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await variant?.cleanup?.();
    for (const d of [dir, work]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('runs from a directory with nothing but the bundle', () => {
    expect(fs.readdirSync(dir).sort()).toEqual(fs.readdirSync(BUNDLE).sort());
    expect(fs.readdirSync(dir)).toEqual(expect.arrayContaining(['THIRD_PARTY_LICENSES.txt', 'main.mjs', 'main.mjs.map']));
    for (let d = dir; ; d = path.dirname(d)) {
      expect(fs.existsSync(path.join(d, 'node_modules'))).toBe(false);
      if (path.dirname(d) === d) break;
    }
  });

  it('answers /healthz', async () => {
    const r = await waitFor(
      async () => (await get(`${probesUrl}/healthz`))?.status === 200 || child.exitCode !== null,
      {
        timeoutMs: 60_000,
        description: `${SERVICE} /healthz`,
      },
    );
    expect({ healthy: r, exitCode: child.exitCode, stderr }).toEqual({ healthy: true, exitCode: null, stderr: '' });
  });

  it('answers /readyz once its caches have synced', async () => {
    await waitFor(async () => (await get(`${probesUrl}/readyz`))?.status === 200, {
      timeoutMs: 60_000,
      description: `${SERVICE} /readyz 200`,
    });
    expect((await get(`${probesUrl}/readyz`))?.status).toBe(200);
  });

  it('serves Prometheus metrics', async () => {
    const r = await get(`${metricsUrl}/metrics`);
    expect(r?.status).toBe(200);
    expect(r?.body).toMatch(/^process_start_time_seconds \d+/m);
    expect(r?.body).toContain(`kubeaws_${SERVICE.replace(/-/g, '_')}_`);
  });

  if (VARIANTS[SERVICE]) {
    it('does its service-specific work', async () => {
      await variant.check!({ metricsUrl, probesUrl });
    });
  }

  it('exits 2 before any API call when --kubeconfig names a missing file, naming the flag, the path and the problem', async () => {
    const missing = path.join(work, 'no-such-kubeconfig');
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, ['main.mjs', `--kubeconfig=${missing}`, ...variant.args], {
        cwd: dir,
        env: { PATH: process.env.PATH, HOME: dir, NODE_ENV: 'production', ...variant.env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      p.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
      p.on('exit', (code) => resolve({ code, stderr: err }));
    });
    expect(r).toEqual({
      code: 2,
      stderr: expect.stringContaining(`invalid value ${JSON.stringify(missing)} for --kubeconfig: ${missing} does not exist (ENOENT)`),
    });
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 0 within 30 s of SIGTERM, having logged JSON lines only', async () => {
    const t0 = Date.now();
    child.kill('SIGTERM');
    const result = await Promise.race([
      exited,
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000).unref()),
    ]);
    expect(result).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(30_000);
    const lines = stdout.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    const notJson = lines.filter((l) => {
      try {
        return typeof JSON.parse(l) !== 'object';
      } catch {
        return true;
      }
    });
    expect(notJson).toEqual([]);
  }, 40_000);
});
