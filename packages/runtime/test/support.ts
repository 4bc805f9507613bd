import * as net from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { createTestNamespace, deleteNamespace, testKubeConfig } from '@kubeaws/testenv';
import { ComponentMetrics, KubeClient } from '../src';

export { waitFor } from '@kubeaws/testenv';

/** A client on the admin kubeconfig of the test cluster, with its own metrics registry. */
export function adminClient(component = 'runtime-it', kc: KubeConfig = testKubeConfig()) {
  const metrics = new ComponentMetrics(component, { processMetrics: false });
  const client = new KubeClient({
    kubeConfig: kc,
    component,
    metrics,
    fieldManager: `kubeaws-${component}`,
    qps: 1000,
    burst: 1000,
  });
  return { client, metrics, kc };
}

/** Creates a namespace and returns it with a cleanup function. */
export async function namespace(prefix: string): Promise<{ ns: string; cleanup: () => Promise<void> }> {
  const kc = testKubeConfig();
  const ns = await createTestNamespace(kc, prefix);
  return { ns, cleanup: () => deleteNamespace(kc, ns) };
}

/** Current value of a metric sample (sum over samples whose labels include `labels`). */
export async function metricValue(
  m: ComponentMetrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = m.registry.getSingleMetric(m.prefix + name);
  if (!metric) return 0;
  const data = await metric.get();
  let sum = 0;
  for (const v of data.values) {
    if ((v as { metricName?: string }).metricName && (v as { metricName?: string }).metricName !== m.prefix + name)
      continue;
    if (Object.entries(labels).every(([k, val]) => String((v.labels as Record<string, unknown>)[k]) === val))
      sum += v.value;
  }
  return sum;
}

/**
 * A TCP pass-through in front of the real kube-apiserver (TLS stays end to end), which a test can cut
 * to simulate a network partition of one client.
 */
export class CuttableProxy {
  private server?: net.Server;
  private sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(port = 0): Promise<number> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** Closes the listener and every open connection: new connections are refused. */
  async cut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = undefined;
  }

  /** A KubeConfig like `kc` whose server is this proxy. */
  kubeConfig(kc: KubeConfig): KubeConfig {
    const cluster = kc.getCurrentCluster()!;
    const user = kc.getCurrentUser()!;
    const out = new KubeConfig();
    out.loadFromOptions({
      clusters: [
        {
          ...cluster,
          name: 'proxied',
          server: `https://127.0.0.1:${this.port}`,
        },
      ],
      users: [{ ...user, name: 'proxied' }],
      contexts: [{ name: 'proxied', cluster: 'proxied', user: 'proxied' }],
      currentContext: 'proxied',
    });
    return out;
  }
}

/** host/port of the test cluster's API server. */
export function apiserverAddress(kc: KubeConfig = testKubeConfig()): {
  host: string;
  port: number;
} {
  const u = new URL(kc.getCurrentCluster()!.server);
  return { host: u.hostname, port: Number(u.port) };
}
