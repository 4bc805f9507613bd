/**
 * Shared setup of the suites that run the metrics-adapter against the real local control plane (this package's
 * integration tests and test/e2e): moto SQS reached only through the SDK's AWS_ENDPOINT_URL_SQS, Debian's Prometheus
 * scraping a loopback exporter the tests drive, the pods' JSON endpoint (pod IPs are in 127.100.0.0/16), the adapter started
 * in-process, and its three APIServices routed through the ExternalName Service to its loopback port
 * (docs/metrics-adapter.md#ma-local).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, type RunningComponent, createLogger, startComponent } from '@kubeaws/runtime';
import { createTestNamespace, freePorts, type MotoServer, startMoto, testKubeConfig, waitFor } from '@kubeaws/testenv';
import { metricsAdapter } from '../src/component';
import type { AdapterConfig, AdapterHandle } from '../src/setup';

export const REGION = 'eu-central-1';
let admin: KubeConfig;
let client: KubeClient;
let moto: MotoServer;
let sqs: SQSClient;
let rc: RunningComponent<AdapterConfig, AdapterHandle>;
let ns: string;
let stub: http.Server;
let promValue = 0;
let podValue = 0;
let podPort = 0;
let prometheus: ChildProcess | undefined;
let promDir: string | undefined;
let promArgs: { bin: string; args: string[]; url: string } | undefined;

/** What the suites use. */
export const env = {
  get client() { return client; },
  get sqs() { return sqs; },
  get rc() { return rc; },
  get ns() { return ns; },
  get podPort() { return podPort; },
  /** The value of `e2e_jobs_pending` the exporter serves (Prometheus scrapes it every second). */
  set promValue(v: number) { promValue = v; },
  /** The value every pod's JSON endpoint answers at `$.http.rps`. */
  set podValue(v: number) { podValue = v; },
};

export async function apply(obj: any): Promise<void> {
  const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const plural: Record<string, string> = {
    Service: 'services', APIService: 'apiservices', Deployment: 'deployments', HorizontalPodAutoscaler: 'horizontalpodautoscalers',
  };
  const nsPart = obj.metadata.namespace ? `/namespaces/${obj.metadata.namespace}` : '';
  await client.request({
    method: 'PATCH',
    path: `${base}${nsPart}/${plural[obj.kind]}/${obj.metadata.name}`,
    query: { fieldManager: 'metrics-adapter-test', force: true },
    contentType: 'application/apply-patch+yaml',
    body: obj,
  });
}

export const deployment = (name: string, labels: Record<string, string>) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns },
  spec: {
    replicas: 1, selector: { matchLabels: labels },
    template: {
      metadata: { labels },
      spec: {
        containers: [{ name: 'app', image: 'app' }],
        tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
      },
    },
  },
});

export const hpa = (name: string, target: string, metric: any, annotations: Record<string, string> = {}) => ({
  apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name, namespace: ns, annotations },
  spec: {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target },
    minReplicas: 1, maxReplicas: 4, metrics: [metric],
    behavior: {
      scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 4, periodSeconds: 5 }] },
      scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 4, periodSeconds: 5 }] },
    },
  },
});

export async function hpaStatus(name: string): Promise<any> {
  return (await client.get<any>(`/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers/${name}`)).status ?? {};
}

export async function waitDesired(name: string, want: (n: number) => boolean, description: string): Promise<void> {
  try {
    await waitFor(async () => (want((await hpaStatus(name)).desiredReplicas ?? -1) ? true : undefined), { timeoutMs: 120_000, intervalMs: 1000, description });
  } catch (e) {
    // name what the HPA controller and the pods looked like
    const pods = (await client.get<any>(`/api/v1/namespaces/${ns}/pods`)).items.map((p: any) =>
      `${p.metadata.name} ${p.status?.phase} ${p.status?.podIP} ready=${p.status?.conditions?.find((c: any) => c.type === 'Ready')?.status}`);
    throw new Error(`${(e as Error).message}\nHPA status: ${JSON.stringify(await hpaStatus(name))}\npods: ${pods.join('; ')}`);
  }
}

/** Starts moto, the stub, the adapter and its APIServices. */
export async function setupAdapterEnv(): Promise<void> {
  admin = testKubeConfig();
  client = new KubeClient({ kubeConfig: admin, component: 'metrics-adapter-test' });
  ns = await createTestNamespace(admin, 'ma');
  moto = await startMoto();
  // The SDK's own settings: the adapter never takes an endpoint flag.
  Object.assign(process.env, { AWS_ENDPOINT_URL_SQS: moto.endpoint, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: REGION });
  sqs = new SQSClient({ region: REGION });
  // The pods' JSON endpoint (pod IPs are in 127.100.0.0/16) and an exporter Prometheus scrapes, on loopback.
  stub = http.createServer((req, res) => {
    if (req.url!.startsWith('/exporter')) {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`# TYPE e2e_jobs_pending gauge\ne2e_jobs_pending ${promValue}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ http: { rps: podValue } }));
  });
  await new Promise<void>((r) => stub.listen(0, '0.0.0.0', r));
  podPort = (stub.address() as AddressInfo).port;
  const promUrl = await startPrometheus(`127.0.0.1:${podPort}`);
  const [secure] = await freePorts(1);
  rc = await startComponent(metricsAdapter, {
    kubeConfig: admin,
    env: process.env,
    config: {
      leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0',
      securePort: secure, secureBindAddress: '127.0.0.1', awsRegions: [REGION], minIntervalMs: 1000, defaultIntervalMs: 2000,
      prometheusServer: promUrl, readinessCollectionTimeoutMs: 1000,
      // only this suite's HPAs: suites of one jest run share the cluster
      watchNamespaces: [ns],
    },
    logger: createLogger({ component: 'metrics-adapter', level: 'warn' }),
    processMetrics: false,
  });
  await rc.synced();
  await waitFor(async () => rc.handle.address(), { timeoutMs: 30_000, description: 'adapter listening' });
  const caBundle = Buffer.from(rc.handle.servingCert()!).toString('base64');
  await apply({
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'kubeaws-metrics-adapter', namespace: 'kube-system' },
    spec: { type: 'ExternalName', externalName: 'localhost' },
  });
  for (const [group, version, priority] of [['custom.metrics.k8s.io', 'v1beta2', 200], ['custom.metrics.k8s.io', 'v1beta1', 100], ['external.metrics.k8s.io', 'v1beta1', 100]] as const)
    await apply({
      apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: `${version}.${group}`, labels: { 'kubeaws.io/component': 'metrics-adapter' } },
      spec: {
        group, version, groupPriorityMinimum: 100, versionPriority: priority, caBundle,
        service: { namespace: 'kube-system', name: 'kubeaws-metrics-adapter', port: secure },
      },
    });
}

/** Removes the APIServices and stops everything started by {@link setupAdapterEnv}. */
export async function teardownAdapterEnv(): Promise<void> {
  for (const n of ['v1beta2.custom.metrics.k8s.io', 'v1beta1.custom.metrics.k8s.io', 'v1beta1.external.metrics.k8s.io'])
    await client.request({ method: 'DELETE', path: `/apis/apiregistration.k8s.io/v1/apiservices/${n}` }).catch(() => undefined);
  await rc?.stop();
  sqs?.destroy();
  await moto?.stop();
  await new Promise<void>((r) => (stub ? stub.close(() => r()) : r()));
  await stopPrometheus();
  if (promDir) fs.rmSync(promDir, { recursive: true, force: true });
}

/** Stops moto (its state is lost); resolves a function that starts it again on the same port. */
export async function stopMoto(): Promise<() => Promise<void>> {
  const port = moto.port;
  await moto.stop();
  return async () => {
    moto = await startMoto({ port });
  };
}

/** Stops Debian's Prometheus (SIGTERM, waits for the exit). */
export async function stopPrometheus(): Promise<void> {
  if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
    const exited = new Promise((r) => prometheus!.once('exit', r));
    prometheus.kill('SIGTERM');
    await exited;
  }
}

/** Starts Debian's Prometheus again on the same port and data directory; resolves once `/-/ready` answers. */
export async function restartPrometheus(): Promise<void> {
  await stopPrometheus();
  await spawnPrometheus();
}

async function spawnPrometheus(): Promise<string> {
  const { bin, args, url } = promArgs!;
  const log = fs.openSync(path.join(promDir!, 'prometheus.log'), 'a');
  prometheus = spawn(bin, args, { stdio: ['ignore', log, log] });
  await waitFor(async () => (await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)) || undefined, {
    timeoutMs: 60_000, description: `Prometheus ready at ${url}`,
  });
  return url;
}

/**
 * Starts Debian's Prometheus (installed by tools/prometheus/ensure-prometheus.sh when missing) on a free loopback
 * port, scraping `target` at /exporter every second. Returns its URL once `/-/ready` answers.
 */
async function startPrometheus(target: string): Promise<string> {
  const root = path.resolve(__dirname, '../../..');
  const bin = execFileSync('bash', [path.join(root, 'tools/prometheus/ensure-prometheus.sh')], { encoding: 'utf8' }).trim();
  promDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-prometheus-'));
  const config = path.join(promDir, 'prometheus.yml');
  fs.writeFileSync(config, [
    'global:', '  scrape_interval: 1s', '  evaluation_interval: 1s', 'scrape_configs:', '  - job_name: e2e', '    metrics_path: /exporter',
    '    static_configs:', `      - targets: ['${target}']`, '',
  ].join('\n'));
  const [port] = await freePorts(1);
  promArgs = {
    bin,
    args: [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${port}`, `--storage.tsdb.path=${path.join(promDir, 'data')}`, '--log.level=warn'],
    url: `http://127.0.0.1:${port}`,
  };
  return spawnPrometheus();
}
