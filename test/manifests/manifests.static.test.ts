import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, componentDirs, loadComponent, ManifestObject } from './load';

// Rules of docs/infra.md#infra-manifest-layout, #infra-workload-rules and #infra-components that hold for every
// component folder.
const dirs = componentDirs();
const packageVersion = (component: string): string =>
  (JSON.parse(fs.readFileSync(path.join(__dirname, '../../packages', component, 'package.json'), 'utf8')) as { version: string }).version;
const CLUSTER_SCOPED = ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'APIService', 'CustomResourceDefinition'];
/**
 * Namespaces a component doc requires besides kube-system: the authnz-webhook keeps emergency-access
 * grants (AccessRequests), their Role and its Lease in `kubeaws-access` (docs/authnz-webhook.md#authnz-access-storage).
 */
const OWN_NAMESPACES: Record<string, string[]> = { 'authnz-webhook': ['kubeaws-access'] };

test('at least one component ships manifests', () => {
  expect(dirs.map((d) => path.basename(d))).toContain('pdb-controller');
});

describe.each(dirs.map((d) => [path.basename(d), d]))('%s', (component, dir) => {
  const objects = loadComponent(dir);
  const workloads = objects.filter((o) => ['Deployment', 'DaemonSet'].includes(o.obj.kind));
  const name = `kubeaws-${component}`;

  it('holds one kind per file (RBAC kinds share rbac.yaml)', () => {
    const kinds = new Map<string, Set<string>>();
    for (const o of objects) kinds.set(o.file, (kinds.get(o.file) ?? new Set()).add(o.obj.kind));
    for (const [file, ks] of kinds) {
      const allRbac = [...ks].every((k) => /^(Cluster)?Role(Binding)?$/.test(k));
      expect({ file, oneKind: ks.size === 1 || allRbac }).toEqual({ file, oneKind: true });
    }
  });

  it('puts every namespaced object into kube-system (or its documented own namespace) and names objects kubeaws-<component>', () => {
    const allowed = ['kube-system', ...(OWN_NAMESPACES[component] ?? [])];
    for (const { file, obj } of objects) {
      if (!CLUSTER_SCOPED.includes(obj.kind)) {
        expect({ file, kind: obj.kind, namespace: allowed.includes(obj.metadata.namespace) }).toEqual({ file, kind: obj.kind, namespace: true });
      }
      if (['Deployment', 'DaemonSet', 'ServiceAccount', 'Service'].includes(obj.kind)) {
        expect({ file, kind: obj.kind, name: obj.metadata.name }).toEqual({ file, kind: obj.kind, name });
      }
      if (/Role/.test(obj.kind)) expect(obj.metadata.name).toMatch(/^kubeaws:/);
    }
  });

  it('has no wildcard in RBAC rules and no secrets access', () => {
    for (const { obj } of objects.filter((o) => /^(Cluster)?Role$/.test(o.obj.kind))) {
      for (const rule of obj.rules ?? []) {
        for (const field of ['verbs', 'resources', 'apiGroups'] as const) expect(rule[field] ?? []).not.toContain('*');
        expect(rule.resources ?? []).not.toContain('secrets');
      }
    }
  });

  it.each(workloads.map((w) => [w.obj.kind, w] as [string, ManifestObject]))('%s follows the workload rules', (_kind, { obj }) => {
    const labels = obj.metadata.labels;
    expect(labels).toMatchObject({ 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'kubeaws', 'app.kubernetes.io/component': component });
    expect(obj.spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/name': name } });
    const pod = obj.spec.template.spec;
    expect(pod.serviceAccountName).toBe(name);
    expect(pod.enableServiceLinks).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.dnsConfig.options).toContainEqual({ name: 'ndots', value: '1' });
    expect(pod.volumes).toContainEqual({ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } });
    expect(obj.spec.template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/path': '/metrics' });
    for (const c of pod.containers) {
      // the name and tag tools/images/build.sh builds (docs/images.md); rendering replaces it with <registry>/<component>:<version>
      expect(c.image).toBe(`kubeaws/${component}:${packageVersion(component)}`);
      // args replace the image's CMD (["/app/main.mjs"], packages/<component>/Dockerfile); the ENTRYPOINT runs node.
      expect(c.command).toBeUndefined();
      expect(c.args[0]).toBe('/app/main.mjs');
      expect(fs.readFileSync(path.join(ROOT, 'packages', component, 'Dockerfile'), 'utf8')).toMatch(/^CMD \["\/app\/main\.mjs"\]$/m);
      expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(c.resources.requests.cpu).toBeDefined();
      expect(c.resources.limits.cpu).toBeUndefined();
      const mem = c.resources.limits.memory as string;
      expect(mem).toMatch(/^\d+Mi$/);
      const heap = Math.floor(parseInt(mem, 10) * 0.75);
      // V8's heap capped at 75 % of the limit, and its young generation kept at 2 x 1 MiB semi-spaces: on a node with many
      // GiB V8 would grow them to 2 x 32 MiB, more than a controller's caches (docs/benchmarks.md#where-the-memory-goes).
      expect(c.env).toContainEqual({ name: 'NODE_OPTIONS', value: `--max-old-space-size=${heap} --max-semi-space-size=1` });
      const ports = Object.fromEntries(c.ports.map((p: any) => [p.name, p.containerPort]));
      expect(ports).toMatchObject({ metrics: expect.any(Number), probes: expect.any(Number) });
      expect(obj.spec.template.metadata.annotations['prometheus.io/port']).toBe(String(ports.metrics));
      expect(c.startupProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'probes' }, periodSeconds: 2, failureThreshold: 60 });
      expect(c.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'probes' }, periodSeconds: 10, failureThreshold: 3 });
      expect(c.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'probes' }, periodSeconds: 5, failureThreshold: 2 });
      expect(c.envFrom).toContainEqual({ configMapRef: { name: `${name}-config`, optional: true } });
    }
    if (obj.kind === 'Deployment') {
      expect(obj.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
      expect(obj.spec.revisionHistoryLimit).toBe(3);
      expect(pod.terminationGracePeriodSeconds).toBe(30);
    }
  });

  it('ships a PDB with maxUnavailable 1 when a Deployment runs more than one replica', () => {
    for (const w of workloads.filter((w) => w.obj.kind === 'Deployment' && w.obj.spec.replicas > 1)) {
      const pdb = objects.find((o) => o.obj.kind === 'PodDisruptionBudget');
      expect(pdb?.obj.spec).toEqual({ maxUnavailable: 1, selector: w.obj.spec.selector });
    }
  });

  it('every file in the folder is either listed or an optional add-on', () => {
    const listed = new Set(objects.map((o) => path.basename(o.file)));
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    for (const f of files) expect(listed.has(f) || /^rbac-[a-z-]+\.yaml$/.test(f)).toBe(true);
  });
});
