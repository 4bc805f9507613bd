import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiError, KubeClient, type RunningComponent, createLogger, startComponent } from '@kubeaws/runtime';
import { type Downscaler, type DownscalerConfig, downscaler } from '@kubeaws/downscaler';
import { testKubeConfig, waitFor } from '@kubeaws/testenv';
import { ROOT, apply, loadComponent } from './load';
import { applyRbac } from './rbac';

// docs/downscaler.md#ds-manifests: the shipped Deployment's command line, with the environment the kubelet gives its
// container, starts the downscaler with and without the optional ConfigMap kubeaws-downscaler-config. The
// ConfigMaps are real objects of the test cluster, read back from the API server; the component runs in-process
// under the shipped ServiceAccount and RBAC, with the shipped args and env (only the listening ports are moved to
// free loopback ports).
const dir = path.join(ROOT, 'manifests/downscaler');
const NAMESPACE = 'kube-system';
const OPTIONAL = 'kubeaws-downscaler-config';
const objects = loadComponent(dir).map((o) => o.obj);
const deployment = objects.find((o) => o.kind === 'Deployment');
const container = deployment.spec.template.spec.containers[0];

/**
 * Kubernetes' `$(VAR)` expansion of command, args and env values (kubernetes/kubernetes
 * `third_party/forked/golang/expansion/expand.go`, `Expand` and `tryReadVariableName`): `$$` is a literal `$`,
 * `$(NAME)` is replaced by NAME's value when NAME is defined and left as written otherwise, an unclosed `$(` and a
 * `$` before any other character stay as they are.
 */
export function expand(input: string, vars: Map<string, string>): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const rest = input.slice(cursor + 1);
    let advance = 1;
    if (rest[0] === '$') out += '$';
    else if (rest[0] === '(') {
      const close = rest.indexOf(')', 1);
      if (close < 0) out += '$(';
      else {
        const name = rest.slice(1, close);
        out += vars.has(name) ? vars.get(name)! : `$(${name})`;
        advance = close + 1;
      }
    } else out += `$${rest[0]}`;
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

/**
 * The container environment the kubelet builds (kubernetes/kubernetes `pkg/kubelet/kubelet_pods.go`,
 * `makeEnvironmentVariables`): every `envFrom` ConfigMap in order (a later source overrides an earlier key; a
 * missing optional ConfigMap is skipped, a missing required one fails the container with
 * CreateContainerConfigError), then `env` in order, each `value` expanded against what is defined so far, and
 * `fieldRef` from the Pod. Only the sources the shipped manifests use are supported.
 */
async function containerEnvironment(
  client: KubeClient,
  pod: { name: string; namespace: string },
): Promise<Map<string, string>> {
  const vars = new Map<string, string>();
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef;
    if (!ref || from.prefix) throw new Error(`envFrom ${JSON.stringify(from)}: not supported by this test`);
    let cm: { data?: Record<string, string> };
    try {
      cm = await client.get(`/api/v1/namespaces/${pod.namespace}/configmaps/${ref.name}`);
    } catch (err) {
      if (err instanceof ApiError && err.statusCode === 404) {
        if (ref.optional) continue;
        throw new Error(`CreateContainerConfigError: configmap "${ref.name}" not found`);
      }
      throw err;
    }
    for (const [k, v] of Object.entries(cm.data ?? {})) vars.set(k, v);
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) vars.set(e.name, expand(e.value, vars));
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') vars.set(e.name, pod.name);
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') vars.set(e.name, pod.namespace);
    else throw new Error(`env ${e.name}: source not supported by this test`);
  }
  return vars;
}

describe('the shipped downscaler Deployment', () => {
  let client: KubeClient;
  let saKc: KubeConfig;
  let running: RunningComponent<DownscalerConfig, Downscaler> | undefined;

  beforeAll(async () => {
    const admin = testKubeConfig();
    client = new KubeClient({ kubeConfig: admin, component: 'manifests-test' });
    saKc = await applyRbac(admin, client, dir);
  }, 120_000);

  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  afterAll(async () => {
    await client.delete(`/api/v1/namespaces/${NAMESPACE}/configmaps/${OPTIONAL}`).catch(() => undefined);
  });

  /** Starts the container's command line as the kubelet would, in a Pod named `pod`; waits until it evaluated. */
  async function startShipped(pod: string): Promise<RunningComponent<DownscalerConfig, Downscaler>> {
    const env = await containerEnvironment(client, { name: pod, namespace: NAMESPACE });
    // args[0] is the bundle (the image's CMD replaced); the component parses what follows it.
    const argv = (container.args as string[]).slice(1).map((a) => expand(a, env));
    running = await startComponent(downscaler, {
      argv,
      env: Object.fromEntries(env),
      kubeConfig: saKc,
      config: { metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0' },
      logger: createLogger({ component: 'downscaler', level: 'warn' }),
      processMetrics: false,
    });
    await running.synced();
    const rc = running;
    await waitFor(
      async () => {
        const m = rc.metrics.registry.getSingleMetric('kubeaws_downscaler_cycles_total');
        const n = m ? (await m.get()).values.reduce((s, v) => s + v.value, 0) : 0;
        return n >= 1 ? true : undefined;
      },
      { timeoutMs: 60_000, description: `${pod} holds the Lease and evaluated` },
    );
    return rc;
  }

  it('ships no ConfigMap and references no variable in its command line', () => {
    const refs = [...(container.command ?? []), ...(container.args ?? [])].flatMap((a: string) =>
      [...a.matchAll(/\$\(([^)]*)\)/g)].map((m) => m[1]),
    );
    expect({ refs, configMaps: objects.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name) }).toEqual({
      refs: [],
      configMaps: [],
    });
  });

  it('runs without the ConfigMap kubeaws-downscaler-config, with the flag defaults', async () => {
    await client.delete(`/api/v1/namespaces/${NAMESPACE}/configmaps/${OPTIONAL}`).catch(() => undefined);
    const rc = await startShipped('kubeaws-downscaler-no-config');
    expect(rc.config).toMatchObject({ intervalMs: 30_000, leaderElect: true, leaseName: 'kubeaws-downscaler' });
    expect(rc.isLeader()).toBe(true);
  }, 120_000);

  it('takes --interval and the environment settings from the ConfigMap kubeaws-downscaler-config', async () => {
    await apply(client, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: OPTIONAL, namespace: NAMESPACE },
      data: {
        DOWNSCALER_INTERVAL: '7s',
        DEFAULT_UPTIME: 'Mon-Fri 07:00-19:00 UTC',
        EXCLUDE_NAMESPACES: 'kube-system,infra-.*',
      },
    });
    const rc = await startShipped('kubeaws-downscaler-with-config');
    expect(rc.config.intervalMs).toBe(7000);
    expect(rc.config.excludeNamespaces.map((r) => r.source)).toEqual(['^(?:kube-system)$', '^(?:infra-.*)$']);
    expect(rc.config.envScope.uptime?.source).toBe('env DEFAULT_UPTIME');
  }, 120_000);

  it('names the missing variable when an edited command line references a $(VAR) that is defined nowhere', async () => {
    // The command line as the kubelet passes it when no envFrom source defines DOWNSCALER_INTERVAL.
    const argv = [...(container.args as string[]).slice(1), '--interval=$(DOWNSCALER_INTERVAL)'].map((a) => expand(a, new Map()));
    expect(argv).toContain('--interval=$(DOWNSCALER_INTERVAL)');
    await expect(startComponent(downscaler, { argv, env: {}, kubeConfig: saKc })).rejects.toThrow(
      /--interval \(env DOWNSCALER_INTERVAL\): unexpanded variable reference \$\(DOWNSCALER_INTERVAL\): the variable DOWNSCALER_INTERVAL is not defined/,
    );
  });
});
