import * as path from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries -- the APIService shape of the metrics-adapter's preflight
import type { ApiServiceObject } from '@kubeaws/metrics-adapter';
import { findRepoRoot, loadCluster } from '../infra/config/load';
import { type KubeObject, renderManifests } from '../infra/manifests';
import { apiServicePreflight, renderedApiServices, verdictOutput } from './apiservice-preflight';
import { applyCommand } from './infra';

const ROOT = findRepoRoot();

/** The objects `kubeaws apply` renders for the test-1az fixture. */
function renderedObjects(): KubeObject[] {
  const r = loadCluster(path.join(ROOT, 'infra/test/fixtures/clusters/test-1az.yaml'), { version: '0.0.0-test' });
  if (!r.cluster) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return renderManifests(r.cluster, ROOT, path.join(ROOT, 'out/test-1/manifests')).overlays.flatMap((o) => o.objects);
}

const OURS_BY_SERVICE: ApiServiceObject = { spec: { service: { namespace: 'kube-system', name: 'kubeaws-metrics-adapter' } } };
const OURS_BY_LABEL: ApiServiceObject = {
  metadata: { labels: { 'kubeaws.io/component': 'metrics-adapter' } },
  spec: { service: { namespace: 'monitoring', name: 'old-adapter' } },
};
const KEDA: ApiServiceObject = { spec: { service: { namespace: 'keda', name: 'keda-operator-metrics-apiserver' } } };
const LOCAL: ApiServiceObject = { spec: { service: null } };

describe('renderedApiServices', () => {
  it('finds the three APIServices of the rendered metrics-adapter and the Service they point at', () => {
    expect(renderedApiServices(renderedObjects())).toEqual([
      { name: 'v1beta2.custom.metrics.k8s.io', file: 'apiservice-custom.yaml', service: 'kube-system/kubeaws-metrics-adapter' },
      { name: 'v1beta1.custom.metrics.k8s.io', file: 'apiservice-custom.yaml', service: 'kube-system/kubeaws-metrics-adapter' },
      { name: 'v1beta1.external.metrics.k8s.io', file: 'apiservice-external.yaml', service: 'kube-system/kubeaws-metrics-adapter' },
    ]);
  });

  it('is empty when the render has no APIService of the metrics-adapter', () => {
    expect(renderedApiServices(renderedObjects().filter((o) => o.kind !== 'APIService'))).toEqual([]);
  });
});

describe('apiServicePreflight (docs/metrics-adapter.md#ma-preflight)', () => {
  const objects = renderedObjects();
  const cases: {
    title: string;
    live: Record<string, ApiServiceObject>;
    allow: boolean;
    code: 0 | 2;
    lines: string[];
    err: RegExp[];
  }[] = [
    {
      title: 'absent everywhere: applies',
      live: {},
      allow: false,
      code: 0,
      lines: ['v1beta2.custom.metrics.k8s.io absent', 'v1beta1.custom.metrics.k8s.io absent', 'v1beta1.external.metrics.k8s.io absent'],
      err: [],
    },
    {
      title: 'ours by Service or by label: applies',
      live: { 'v1beta2.custom.metrics.k8s.io': OURS_BY_SERVICE, 'v1beta1.custom.metrics.k8s.io': OURS_BY_LABEL },
      allow: false,
      code: 0,
      lines: ['v1beta2.custom.metrics.k8s.io ours', 'v1beta1.custom.metrics.k8s.io ours', 'v1beta1.external.metrics.k8s.io absent'],
      err: [],
    },
    {
      title: 'KEDA owns external metrics: refused, naming the owner and the file',
      live: { 'v1beta1.external.metrics.k8s.io': KEDA },
      allow: false,
      code: 2,
      lines: ['v1beta2.custom.metrics.k8s.io absent', 'v1beta1.custom.metrics.k8s.io absent', 'v1beta1.external.metrics.k8s.io foreign:keda/keda-operator-metrics-apiserver'],
      err: [/^error: APIService v1beta1\.external\.metrics\.k8s\.io belongs to Service keda\/keda-operator-metrics-apiserver: leave manifests\/metrics-adapter\/apiservice-external\.yaml out/],
    },
    {
      title: 'served by the kube-apiserver itself: refused',
      live: { 'v1beta1.custom.metrics.k8s.io': LOCAL },
      allow: false,
      code: 2,
      lines: ['v1beta2.custom.metrics.k8s.io absent', 'v1beta1.custom.metrics.k8s.io local', 'v1beta1.external.metrics.k8s.io absent'],
      err: [/^error: APIService v1beta1\.custom\.metrics\.k8s\.io is served by the kube-apiserver itself .*apiservice-custom\.yaml out$/],
    },
    {
      title: 'foreign with --allow-apiservice-takeover: applies with warnings',
      live: { 'v1beta1.external.metrics.k8s.io': KEDA, 'v1beta2.custom.metrics.k8s.io': LOCAL },
      allow: true,
      code: 0,
      lines: ['v1beta2.custom.metrics.k8s.io local', 'v1beta1.custom.metrics.k8s.io absent', 'v1beta1.external.metrics.k8s.io foreign:keda/keda-operator-metrics-apiserver'],
      err: [/^warning \(--allow-apiservice-takeover\): .*v1beta2\.custom/, /^warning \(--allow-apiservice-takeover\): .*keda\/keda-operator-metrics-apiserver/],
    },
  ];

  it.each(cases.map((c) => [c.title, c]))('%s', async (_title, c) => {
    const reads: string[] = [];
    const v = await apiServicePreflight(objects, async (name) => (reads.push(name), c.live[name]), c.allow);
    expect(reads).toEqual(['v1beta2.custom.metrics.k8s.io', 'v1beta1.custom.metrics.k8s.io', 'v1beta1.external.metrics.k8s.io']);
    expect(v?.code).toBe(c.code);
    const text = verdictOutput(v!);
    expect(text.out).toEqual(c.lines.map((l) => `metrics-adapter preflight: ${l}`));
    expect(text.err).toHaveLength(c.err.length);
    c.err.forEach((re, i) => expect(text.err[i]).toMatch(re));
  });

  it('reads only the APIServices the render installs, and nothing without them', async () => {
    const withoutExternal = objects.filter((o) => o.metadata.name !== 'v1beta1.external.metrics.k8s.io');
    const reads: string[] = [];
    const read = async (name: string) => (reads.push(name), name.includes('external') ? KEDA : undefined);
    expect((await apiServicePreflight(withoutExternal, read, false))?.code).toBe(0);
    expect(reads).not.toContain('v1beta1.external.metrics.k8s.io');
    reads.length = 0;
    expect(await apiServicePreflight(objects.filter((o) => o.kind !== 'APIService'), read, false)).toBeUndefined();
    expect(reads).toEqual([]);
  });

  it('passes a read failure on (apply then stops before any change)', async () => {
    await expect(
      apiServicePreflight(objects, async () => {
        throw new Error('connect ECONNREFUSED');
      }, false),
    ).rejects.toThrow('ECONNREFUSED');
  });
});

describe('apply --kubeconfig', () => {
  it('exits 2 on an unreadable kubeconfig before any AWS or API call', async () => {
    const err: string[] = [];
    const out: string[] = [];
    const missing = path.join(ROOT, 'no-such-dir/kubeconfig');
    const code = await applyCommand(
      path.join(ROOT, 'infra/test/fixtures/clusters/test-1az.yaml'),
      { kubeconfig: missing, allowApiServiceTakeover: false },
      { out: (t) => void out.push(t), err: (t) => void err.push(t) },
    );
    expect({ code, out: out.join('') }).toEqual({ code: 2, out: '' });
    expect(err.join('')).toMatch(new RegExp(`^--kubeconfig: cannot load ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  });
});
