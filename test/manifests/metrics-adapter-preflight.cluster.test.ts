import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiError, KubeClient } from '@kubeaws/runtime';
// eslint-disable-next-line @nx/enforce-module-boundaries -- `kubeaws apply` runs this preflight before it applies the manifests
import { apiServicePreflight, clusterApiServiceReader, type KubeObject, loadCluster, renderManifests } from '@kubeaws/kubeaws';
import { testKubeConfig, waitFor } from '@kubeaws/testenv';
import { ROOT } from './load';

// docs/metrics-adapter.md#ma-preflight as `kubeaws apply --kubeconfig` runs it (docs/infra.md#infra-apply): the
// APIServices the rendered manifests install are read from the real kube-apiserver and judged. The cluster is shared
// with the other suites, so the foreign APIService lives only for the few reads below, and whatever object held
// the name before is put back in `finally`.
const NAME = 'v1beta1.external.metrics.k8s.io';
const PATH = `/apis/apiregistration.k8s.io/v1/apiservices/${NAME}`;
const KEDA = { namespace: 'keda', name: 'keda-operator-metrics-apiserver' };

let admin: KubeConfig;
let client: KubeClient;
let rendered: KubeObject[];

beforeAll(() => {
  admin = testKubeConfig();
  client = new KubeClient({ kubeConfig: admin, component: 'manifests-test' });
  const r = loadCluster(path.join(ROOT, 'infra/test/fixtures/clusters/test-1az.yaml'), { version: '0.0.0-test' });
  if (!r.cluster) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  rendered = renderManifests(r.cluster, ROOT, path.join(ROOT, 'out/test-1/manifests')).overlays.flatMap((o) => o.objects);
});

/** The rendered objects with the external-metrics APIService pointed at another Service (a render after a takeover). */
function renderedPointingAt(service: { namespace: string; name: string }): KubeObject[] {
  return rendered.map((o) => {
    if (o.kind !== 'APIService' || o.metadata.name !== NAME) return o;
    const copy = structuredClone(o) as KubeObject & { spec: { service: object } };
    copy.spec.service = { ...copy.spec.service, ...service };
    return copy;
  });
}

const getOrUndefined = (p: string): Promise<any> =>
  client.get<any>(p).catch((e) => {
    if (e instanceof ApiError && e.statusCode === 404) return undefined;
    throw e;
  });

it('reads the live APIServices: refuses a foreign owner of the external metrics API, names owner and file; --allow-apiservice-takeover passes', async () => {
  const read = clusterApiServiceReader(admin);
  const before = await getOrUndefined(PATH);
  const lines: string[] = [];
  let refused;
  let allowed;
  let asOwner;
  try {
    if (before) await client.delete(PATH);
    await waitFor(async () => ((await getOrUndefined(PATH)) === undefined ? true : undefined), { timeoutMs: 30_000, description: `${NAME} gone` });
    await client.create('/apis/apiregistration.k8s.io/v1/apiservices', {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: NAME },
      spec: {
        group: 'external.metrics.k8s.io', version: 'v1beta1', groupPriorityMinimum: 100, versionPriority: 100,
        insecureSkipTLSVerify: true, service: { ...KEDA, port: 443 },
      },
    });
    refused = await apiServicePreflight(rendered, read, false);
    allowed = await apiServicePreflight(rendered, read, true);
    // The same live object is ours for a render whose APIService points at its Service.
    asOwner = await apiServicePreflight(renderedPointingAt(KEDA), read, false);
  } finally {
    await client.delete(PATH).catch(() => undefined);
    if (before) {
      await waitFor(async () => ((await getOrUndefined(PATH)) === undefined ? true : undefined), { timeoutMs: 30_000, description: `test ${NAME} gone` });
      const { metadata, spec } = before;
      await client.create('/apis/apiregistration.k8s.io/v1/apiservices', {
        apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService',
        metadata: { name: metadata.name, labels: metadata.labels, annotations: metadata.annotations }, spec,
      });
    }
  }
  lines.push(...(refused?.lines ?? []));
  expect(refused?.code).toBe(2);
  expect(lines.find((l) => l.startsWith(NAME))).toBe(`${NAME} foreign:keda/keda-operator-metrics-apiserver`);
  expect(refused?.problems.filter((p) => p.includes(NAME))).toEqual([
    `APIService ${NAME} belongs to Service keda/keda-operator-metrics-apiserver: leave manifests/metrics-adapter/apiservice-external.yaml out, or remove that adapter's APIService first`,
  ]);
  expect(allowed?.code).toBe(0);
  expect(allowed?.problems).toEqual(refused?.problems);
  expect(allowed?.problems.length).toBeGreaterThan(0);
  expect(asOwner?.lines.find((l) => l.startsWith(NAME))).toBe(`${NAME} ours`);
  // the original object (or its absence) is back
  const after = await getOrUndefined(PATH);
  expect(after?.spec ?? null).toEqual(before?.spec ?? null);
});
