import * as fs from 'node:fs';
import * as path from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries -- the IRSA roles the cluster stack creates decide which workloads need a token
import { IRSA_COMPONENTS, ROLE_ARN_ANNOTATION } from '@kubeaws/kubeaws';
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
/**
 * Folders of upstream software deployed with kubeaws (docs/infra.md#infra-upstream-addons): their image, command,
 * ports and names are upstream's (the cluster-autoscaler's ServiceAccount is `cluster-autoscaler`, which its IRSA role
 * trusts); the pod rules of every workload still hold.
 */
const UPSTREAM: Record<string, { name: string }> = { 'cluster-autoscaler': { name: 'cluster-autoscaler' } };

/**
 * Whether the kubelet may set a label on its own Node. NodeRestriction refuses labels in the kubernetes.io and
 * k8s.io namespaces except the well-known ones and node.kubernetes.io/*, kubelet.kubernetes.io/*
 * (kubernetes pkg/kubelet/apis/well_known_labels.go, IsKubeletLabel; kubernetes/kubernetes#85503).
 */
function kubeletMaySetLabel(key: string): boolean {
  const wellKnown = [
    'kubernetes.io/hostname', 'kubernetes.io/arch', 'kubernetes.io/os', 'beta.kubernetes.io/arch', 'beta.kubernetes.io/os',
    'beta.kubernetes.io/instance-type', 'node.kubernetes.io/instance-type', 'failure-domain.beta.kubernetes.io/region',
    'failure-domain.beta.kubernetes.io/zone', 'topology.kubernetes.io/region', 'topology.kubernetes.io/zone',
  ];
  if (wellKnown.includes(key)) return true;
  if (!key.includes('/')) return true;
  const ns = key.slice(0, key.indexOf('/'));
  const within = (n: string): boolean => ns === n || ns.endsWith(`.${n}`);
  if (within('node.kubernetes.io') || within('kubelet.kubernetes.io')) return true;
  return !within('kubernetes.io') && !within('k8s.io');
}

/** Every node label key a pod spec selects on: nodeSelector, node affinity terms, topology keys. */
function nodeLabelKeys(pod: any): string[] {
  const keys = Object.keys(pod.nodeSelector ?? {});
  const na = pod.affinity?.nodeAffinity;
  const terms = [
    ...(na?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []),
    ...(na?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((p: any) => p.preference),
  ];
  for (const t of terms) for (const e of [...(t?.matchExpressions ?? []), ...(t?.matchFields ?? [])]) keys.push(e.key);
  for (const kind of ['podAffinity', 'podAntiAffinity']) {
    const a = pod.affinity?.[kind];
    for (const t of a?.requiredDuringSchedulingIgnoredDuringExecution ?? []) keys.push(t.topologyKey);
    for (const t of a?.preferredDuringSchedulingIgnoredDuringExecution ?? []) keys.push(t.podAffinityTerm.topologyKey);
  }
  for (const t of pod.topologySpreadConstraints ?? []) keys.push(t.topologyKey);
  return keys;
}

test('the kubelet label rule: node.kubernetes.io/role is allowed, node-role.kubernetes.io/* is not', () => {
  expect(kubeletMaySetLabel('node.kubernetes.io/role')).toBe(true);
  expect(kubeletMaySetLabel('node-role.kubernetes.io/control-plane')).toBe(false);
  expect(kubeletMaySetLabel('node-restriction.kubernetes.io/pool')).toBe(false);
  expect(kubeletMaySetLabel('kubernetes.io/hostname')).toBe(true);
  expect(kubeletMaySetLabel('kubeaws.io/node-pool')).toBe(true);
});

test('no workload selects nodes on a label the kubelet cannot set on itself', () => {
  const bad: string[] = [];
  for (const dir of dirs) {
    for (const { file, obj } of loadComponent(dir)) {
      const pod = obj.spec?.template?.spec;
      if (!pod) continue;
      for (const key of nodeLabelKeys(pod)) if (!kubeletMaySetLabel(key)) bad.push(`${file} ${obj.kind}/${obj.metadata.name}: ${key}`);
    }
  }
  expect(bad).toEqual([]);
});

test('manifests/cluster binds service-account issuer discovery to unauthenticated callers (IRSA: STS fetches the JWKS)', () => {
  const objects = loadComponent(path.join(ROOT, 'manifests/cluster')).map((o) => o.obj);
  const binding = objects.find(
    (o) => o.kind === 'ClusterRoleBinding' && o.roleRef?.kind === 'ClusterRole' && o.roleRef?.name === 'system:service-account-issuer-discovery',
  );
  expect(binding?.subjects).toEqual([{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:unauthenticated' }]);
});

/**
 * What an IRSA workload lacks to assume its role without the EKS pod-identity webhook (docs/infra.md#infra-workload-rules,
 * AWS row): a projected ServiceAccount token with audience `sts.amazonaws.com` (1 h) mounted read-only into every
 * container, `AWS_WEB_IDENTITY_TOKEN_FILE` naming that file, `AWS_STS_REGIONAL_ENDPOINTS=regional`, and
 * `AWS_ROLE_ARN` from the overlay's `<workload>-config` ConfigMap (never hard-coded in the base). The AWS SDK v3
 * default chain reads both variables (@aws-sdk/credential-provider-node, fromTokenFile). Returns the problems.
 */
function irsaProblems(obj: any): string[] {
  const pod = obj.spec.template.spec;
  const where = `${obj.kind}/${obj.metadata.name}`;
  const problems: string[] = [];
  const tokens = new Map<string, string>();
  for (const v of pod.volumes ?? []) {
    for (const src of v.projected?.sources ?? []) {
      const t = src.serviceAccountToken;
      if (t?.audience === 'sts.amazonaws.com' && t.expirationSeconds === 3600 && t.path) tokens.set(v.name, t.path);
    }
  }
  if (tokens.size === 0) problems.push(`${where}: no projected serviceAccountToken volume (audience sts.amazonaws.com, expirationSeconds 3600)`);
  for (const c of pod.containers ?? []) {
    const env = new Map<string, any>((c.env ?? []).map((e: any) => [e.name, e]));
    const files = (c.volumeMounts ?? [])
      .filter((m: any) => tokens.has(m.name))
      .map((m: any) => ({ file: `${m.mountPath}/${tokens.get(m.name)}`, readOnly: m.readOnly === true }));
    if (files.length === 0) problems.push(`${where} container ${c.name}: does not mount the token volume`);
    for (const f of files) if (!f.readOnly) problems.push(`${where} container ${c.name}: mounts ${f.file} writable`);
    const tokenFile = env.get('AWS_WEB_IDENTITY_TOKEN_FILE')?.value;
    if (!files.some((f: { file: string }) => f.file === tokenFile))
      problems.push(`${where} container ${c.name}: AWS_WEB_IDENTITY_TOKEN_FILE=${tokenFile} is not the mounted token`);
    if (env.get('AWS_STS_REGIONAL_ENDPOINTS')?.value !== 'regional')
      problems.push(`${where} container ${c.name}: AWS_STS_REGIONAL_ENDPOINTS is not regional`);
    if (env.has('AWS_ROLE_ARN')) problems.push(`${where} container ${c.name}: AWS_ROLE_ARN is hard-coded; the overlay's ConfigMap sets it`);
    const config = (c.envFrom ?? []).some((e: any) => /-config$/.test(e.configMapRef?.name ?? ''));
    if (!config) problems.push(`${where} container ${c.name}: no envFrom of the <workload>-config ConfigMap (AWS_ROLE_ARN)`);
  }
  return problems;
}

test('the IRSA rule flags a workload without the projected token or the variables', () => {
  const good = loadComponent(path.join(ROOT, 'manifests/cluster-autoscaler')).find((o) => o.obj.kind === 'Deployment')!.obj;
  expect(irsaProblems(good)).toEqual([]);
  const noVolume = structuredClone(good);
  noVolume.spec.template.spec.volumes = noVolume.spec.template.spec.volumes.filter((v: any) => !v.projected);
  expect(irsaProblems(noVolume).join('\n')).toMatch(/no projected serviceAccountToken volume/);
  const writable = structuredClone(good);
  for (const m of writable.spec.template.spec.containers[0].volumeMounts) delete m.readOnly;
  expect(irsaProblems(writable).join('\n')).toMatch(/writable/);
  const noEnv = structuredClone(good);
  noEnv.spec.template.spec.containers[0].env = [];
  expect(irsaProblems(noEnv).join('\n')).toMatch(/AWS_WEB_IDENTITY_TOKEN_FILE=undefined/);
});

test('every workload of a component with an IRSA role (or an annotated ServiceAccount) can assume it', () => {
  const problems: string[] = [];
  const checked: string[] = [];
  for (const dir of dirs) {
    const component = path.basename(dir);
    const objects = loadComponent(dir).map((o) => o.obj);
    const annotated = new Set(
      objects.filter((o) => o.kind === 'ServiceAccount' && o.metadata.annotations?.[ROLE_ARN_ANNOTATION]).map((o) => o.metadata.name),
    );
    const roleAccount: string | undefined = (IRSA_COMPONENTS as Record<string, string>)[component];
    if (roleAccount) annotated.add(roleAccount);
    for (const obj of objects.filter((o) => ['Deployment', 'DaemonSet', 'StatefulSet'].includes(o.kind))) {
      if (!annotated.has(obj.spec.template.spec.serviceAccountName)) continue;
      checked.push(component);
      problems.push(...irsaProblems(obj).map((p) => `manifests/${component}: ${p}`));
    }
  }
  expect(problems).toEqual([]);
  // every IRSA role of the cluster stack has a workload here
  expect(checked.sort()).toEqual(Object.keys(IRSA_COMPONENTS).sort());
});

/**
 * Components that run on the control-plane nodes (docs/infra.md#infra-components): the node-lifecycle-controller, so
 * that it never drains itself off a worker (and it tolerates its own pending taint), the cluster-autoscaler, so that
 * it never scales away its node, and the authnz-webhook, which kube-apiserver reaches on the host.
 */
const ON_MASTERS: Record<string, { extraTolerations: object[] }> = {
  'node-lifecycle-controller': {
    extraTolerations: [{ key: 'kubeaws.io/decommission-pending', operator: 'Exists', effect: 'NoSchedule' }],
  },
  'cluster-autoscaler': { extraTolerations: [] },
  'authnz-webhook': { extraTolerations: [] },
};

test.each(Object.entries(ON_MASTERS))('%s runs on the control-plane nodes, with the tolerations of the authnz DaemonSet', (component, { extraTolerations }) => {
  const authnz = loadComponent(path.join(ROOT, 'manifests/authnz-webhook')).find((o) => o.obj.kind === 'DaemonSet')!.obj.spec.template.spec;
  const masterTolerations = authnz.tolerations as object[];
  expect(masterTolerations).toContainEqual({ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' });
  const workloads = loadComponent(path.join(ROOT, 'manifests', component)).filter((o) => ['Deployment', 'DaemonSet'].includes(o.obj.kind));
  expect(workloads.length).toBeGreaterThan(0);
  for (const { obj } of workloads) {
    const pod = obj.spec.template.spec;
    expect(pod.nodeSelector).toEqual({ 'node.kubernetes.io/role': 'master' });
    expect(pod.tolerations).toEqual(expect.arrayContaining([...masterTolerations, ...extraTolerations]));
  }
});

test('at least one component ships manifests', () => {
  expect(dirs.map((d) => path.basename(d))).toContain('pdb-controller');
});

describe.each(dirs.map((d) => [path.basename(d), d]))('%s', (component, dir) => {
  const objects = loadComponent(dir);
  const workloads = objects.filter((o) => ['Deployment', 'DaemonSet'].includes(o.obj.kind));
  const upstream = UPSTREAM[component];
  const name = upstream?.name ?? `kubeaws-${component}`;
  const ownWorkloads = upstream ? [] : workloads;
  const upstreamWorkloads = upstream ? workloads : [];

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

  if (upstreamWorkloads.length > 0) {
    it.each(upstreamWorkloads.map((w) => [w.obj.kind, w] as [string, ManifestObject]))('upstream %s follows the pod rules', (_kind, { obj }) => {
      expect(obj.metadata.labels).toMatchObject({ 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'kubeaws', 'app.kubernetes.io/component': component });
      expect(obj.spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/name': name } });
      const pod = obj.spec.template.spec;
      expect(pod.serviceAccountName).toBe(name);
      expect(pod.enableServiceLinks).toBe(false);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.dnsConfig.options).toContainEqual({ name: 'ndots', value: '1' });
      expect(pod.volumes).toContainEqual({ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } });
      const annotations = obj.spec.template.metadata.annotations;
      expect(annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/path': '/metrics' });
      for (const c of pod.containers) {
        // pinned upstream image from an upstream registry, never a kubeaws build
        expect(c.image).toMatch(/^registry\.k8s\.io\/[a-z0-9/-]+:v[0-9]+\.[0-9]+\.[0-9]+$/);
        expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
        expect(c.resources.requests.cpu).toBeDefined();
        expect(c.resources.limits.cpu).toBeUndefined();
        expect(c.resources.limits.memory).toBe(c.resources.requests.memory);
        const ports = Object.fromEntries(c.ports.map((p: any) => [p.name, p.containerPort]));
        expect(annotations['prometheus.io/port']).toBe(String(ports.metrics));
        for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) expect(c[probe]?.httpGet?.port).toBeDefined();
        expect(c.startupProbe).toMatchObject({ periodSeconds: 2, failureThreshold: 60 });
        expect(c.livenessProbe).toMatchObject({ periodSeconds: 10, failureThreshold: 3 });
        expect(c.readinessProbe).toMatchObject({ periodSeconds: 5, failureThreshold: 2 });
        expect(c.envFrom).toContainEqual({ configMapRef: { name: `kubeaws-${component}-config`, optional: true } });
        // IRSA without a mutating webhook: the projected token and the variables the AWS SDKs read
        expect(c.env).toEqual(expect.arrayContaining([
          { name: 'AWS_WEB_IDENTITY_TOKEN_FILE', value: expect.stringMatching(/\/token$/) },
          { name: 'AWS_STS_REGIONAL_ENDPOINTS', value: 'regional' },
        ]));
      }
      expect(pod.volumes).toContainEqual(expect.objectContaining({
        projected: { sources: [{ serviceAccountToken: { audience: 'sts.amazonaws.com', expirationSeconds: 3600, path: 'token' } }] },
      }));
      if (obj.kind === 'Deployment') {
        expect(obj.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
        expect(obj.spec.revisionHistoryLimit).toBe(3);
        expect(pod.terminationGracePeriodSeconds).toBe(30);
      }
    });
  }

  if (ownWorkloads.length > 0) it.each(ownWorkloads.map((w) => [w.obj.kind, w] as [string, ManifestObject]))('%s follows the workload rules', (_kind, { obj }) => {
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
      // args replace the image's CMD (["/app/main.mjs"], packages/<component>/Dockerfile); the ENTRYPOINT runs node,
      // so node's own flags (such as --no-maglev) may come first, then the bundle.
      expect(c.command).toBeUndefined();
      const bundleAt = c.args.indexOf('/app/main.mjs');
      expect(bundleAt).toBeGreaterThanOrEqual(0);
      for (const flag of c.args.slice(0, bundleAt)) expect(flag).toMatch(/^--[a-z][a-z0-9-]*(=\S+)?$/);
      expect(fs.readFileSync(path.join(ROOT, 'packages', component, 'Dockerfile'), 'utf8')).toMatch(/^CMD \["\/app\/main\.mjs"\]$/m);
      expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(c.resources.requests.cpu).toBeDefined();
      expect(c.resources.limits.cpu).toBeUndefined();
      const mem = c.resources.limits.memory as string;
      expect(mem).toMatch(/^\d+Mi$/);
      const heap = Math.floor(parseInt(mem, 10) * 0.75);
      // V8's heap capped at 75 % of the limit, and its young generation kept at 2 x 1 MiB semi-spaces: on a node with many
      // GiB V8 would grow them to 2 x 32 MiB, more than a controller's caches (docs/benchmarks.md#where-the-memory-goes).
      // The authnz-webhook answers thousands of requests a second: with 1 MiB V8 moved the objects of requests in
      // flight straight to the old generation and collected it every 1.1 s, so it has 2 MiB (docs/benchmarks.md#authnz-webhook).
      const semiSpace = component === 'authnz-webhook' ? 2 : 1;
      expect(c.env).toContainEqual({ name: 'NODE_OPTIONS', value: `--max-old-space-size=${heap} --max-semi-space-size=${semiSpace}` });
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
