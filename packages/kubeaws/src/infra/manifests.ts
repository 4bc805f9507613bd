/**
 * The per-cluster manifest overlay (docs/infra.md#infra-overlay): per component a `kustomization.yaml` over the base in
 * `manifests/<component>/` with the image set from the one release version, the version label, the config-hash
 * annotation and a generated `<workload>-config` ConfigMap (`config.env`); the disabled components' objects in
 * `deletions.yaml`; and the built stream, produced here with the subset of kustomize the overlay uses.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { envValue } from './config/items';
import type { ResolvedCluster } from './config/load';
import { asgName } from './stacks/pool';

/** Components with manifests, in apply order. */
export const MANIFEST_COMPONENTS = [
  'pdb-controller',
  'downscaler',
  'static-egress-controller',
  'node-lifecycle-controller',
  'metrics-adapter',
  'authnz-webhook',
] as const;

/** A Kubernetes object as plain data. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

/** The overlay of one component. */
export interface ComponentOverlay {
  component: string;
  /** `out/<name>/manifests/<component>/kustomization.yaml` content. */
  kustomization: string;
  /** `config.env` content. */
  configEnv: string;
  /** First 16 hex of the SHA-256 of `config.env`. */
  configHash: string;
  /** The built objects (base + overlay). */
  objects: KubeObject[];
}

/** Everything `render --only manifests` produces. */
export interface RenderedManifests {
  overlays: ComponentOverlay[];
  /** `deletions.yaml`: objects of disabled components (kind/namespace/name). */
  deletions: { apiVersion: string; kind: string; namespace?: string; name: string }[];
  /** The cluster-autoscaler priority-expander ConfigMap. */
  priorityExpander: KubeObject;
  /** Components without a folder in manifests/ (not deployable yet). */
  missing: string[];
}

/** Whether a component is enabled by the cluster's config items. */
export function componentEnabled(c: ResolvedCluster, component: string): boolean {
  if (component === 'downscaler') return c.items.get('downscaler_enabled') === true;
  if (component === 'static-egress-controller') return c.items.get('static_egress_enabled') === true;
  return true;
}

/** The `<workload>-config` entries of a component: its config items plus the cluster facts it needs. */
export function componentConfig(c: ResolvedCluster, component: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of c.registry.values()) {
    if (item.env && (item.consumers as string[]).includes(component))
      env[item.env] = envValue(item, c.items.get(item.name) ?? null);
  }
  const role = (k: string) => `arn:aws:iam::${c.account}:role/${c.name}-${k}`;
  const zones = Object.keys(c.subnets).sort();
  switch (component) {
    case 'node-lifecycle-controller':
      Object.assign(env, {
        CLUSTER_NAME: c.name,
        SLA_PROFILE: c.environment,
        SQS_QUEUE_URL: `https://sqs.${c.region}.amazonaws.com/${c.account}/${c.name}-interruption`,
        AWS_ROLE_ARN: role(component),
        AWS_REGION: c.region,
      });
      break;
    case 'static-egress-controller':
      Object.assign(env, {
        STATIC_EGRESS_CLUSTER_ID: c.name,
        STATIC_EGRESS_AVAILABILITY_ZONES: zones.join(','),
        ...(c.vpcId ? { STATIC_EGRESS_VPC_ID: c.vpcId } : {}),
        AWS_ROLE_ARN: role(component),
        AWS_REGION: c.region,
      });
      break;
    case 'metrics-adapter':
      if (env.METRICS_ADAPTER_AWS_REGIONS === '') env.METRICS_ADAPTER_AWS_REGIONS = c.region;
      Object.assign(env, { AWS_ROLE_ARN: role(component), AWS_REGION: c.region });
      break;
  }
  return env;
}

/** `KEY=value` lines, sorted. */
export function formatEnvFile(env: Record<string, string>): string {
  return Object.keys(env)
    .sort()
    .map((k) => `${k}=${env[k]}\n`)
    .join('');
}

/** Reads the objects of a base kustomization (its `resources`, in order). */
export function readBase(dir: string): { namespace?: string; objects: KubeObject[] } {
  const k = parseAllDocuments(fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8'))[0].toJS() as {
    namespace?: string;
    resources?: string[];
  };
  const objects: KubeObject[] = [];
  for (const res of k.resources ?? []) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(dir, res), 'utf8'))) {
      const o = doc.toJS() as KubeObject | null;
      if (o && typeof o === 'object') objects.push(o);
    }
  }
  return { namespace: k.namespace, objects };
}

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'APIService',
  'PriorityClass',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'StorageClass',
  'PersistentVolume',
]);

// kustomize's legacy output order (api/resource/ordering: orderFirst, then alphabetical, then orderLast).
const ORDER_FIRST = [
  'Namespace',
  'ResourceQuota',
  'StorageClass',
  'CustomResourceDefinition',
  'ServiceAccount',
  'PodSecurityPolicy',
  'Role',
  'ClusterRole',
  'RoleBinding',
  'ClusterRoleBinding',
  'ConfigMap',
  'Secret',
  'Endpoints',
  'Service',
  'LimitRange',
  'PriorityClass',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'Deployment',
  'StatefulSet',
  'CronJob',
  'PodDisruptionBudget',
];
const ORDER_LAST = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'];

function kindRank(kind: string): [number, string] {
  const f = ORDER_FIRST.indexOf(kind);
  if (f >= 0) return [f, ''];
  const l = ORDER_LAST.indexOf(kind);
  if (l >= 0) return [ORDER_FIRST.length + 2 + l, ''];
  return [ORDER_FIRST.length + 1, kind];
}

/** Sorts objects in kustomize's legacy order: kind rank, then kind, then name/namespace. */
export function legacySort(objects: KubeObject[]): KubeObject[] {
  const key = (o: KubeObject): string => `${o.apiVersion}|${o.metadata.namespace ?? ''}|${o.metadata.name}`;
  return [...objects].sort((a, b) => {
    const [ra, ka] = kindRank(a.kind);
    const [rb, kb] = kindRank(b.kind);
    if (ra !== rb) return ra - rb;
    if (ka !== kb) return ka < kb ? -1 : 1;
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

function podSpecs(o: KubeObject): { spec?: Record<string, unknown>; templateMeta?: Record<string, unknown> }[] {
  const spec = o.spec as Record<string, any> | undefined;
  if (!spec) return [];
  if (o.kind === 'CronJob') {
    const tpl = spec.jobTemplate?.spec?.template;
    return tpl ? [{ spec: tpl.spec, templateMeta: (tpl.metadata ??= {}) }] : [];
  }
  if (spec.template) return [{ spec: spec.template.spec, templateMeta: (spec.template.metadata ??= {}) }];
  return [];
}

/** Inputs of {@link buildOverlay}. */
export interface OverlayInput {
  component: string;
  baseDir: string;
  /** Path of the base relative to the overlay directory (written into `resources`). */
  baseRelative: string;
  registry: string;
  version: string;
  env: Record<string, string>;
}

/** Builds one component's overlay and its objects. Pure apart from reading the base. */
export function buildOverlay(o: OverlayInput): ComponentOverlay {
  const workload = `kubeaws-${o.component}`;
  const configEnv = formatEnvFile(o.env);
  const configHash = createHash('sha256').update(configEnv).digest('hex').slice(0, 16);
  const kustomization = stringify({
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [o.baseRelative],
    images: [{ name: `kubeaws/${o.component}`, newName: `${o.registry}/${o.component}`, newTag: o.version }],
    labels: [{ pairs: { 'app.kubernetes.io/version': o.version }, includeSelectors: false }],
    commonAnnotations: { 'kubeaws.io/config-hash': configHash },
    configMapGenerator: [
      {
        name: `${workload}-config`,
        namespace: 'kube-system',
        envs: ['config.env'],
        options: { disableNameSuffixHash: true },
      },
    ],
  });
  const base = readBase(o.baseDir);
  const objects: KubeObject[] = base.objects.map((x) => structuredClone(x));
  objects.push({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `${workload}-config`, namespace: 'kube-system' },
    // kustomize leaves `data` out of a ConfigMap generated from an empty env file.
    ...(Object.keys(o.env).length > 0 ? { data: { ...o.env } } : {}),
  });
  for (const obj of objects) {
    if (base.namespace && !CLUSTER_SCOPED.has(obj.kind)) obj.metadata.namespace = base.namespace;
    obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'app.kubernetes.io/version': o.version };
    obj.metadata.annotations = { ...(obj.metadata.annotations ?? {}), 'kubeaws.io/config-hash': configHash };
    for (const p of podSpecs(obj)) {
      const meta = p.templateMeta as { annotations?: Record<string, string> };
      meta.annotations = { ...(meta.annotations ?? {}), 'kubeaws.io/config-hash': configHash };
      for (const field of ['containers', 'initContainers']) {
        for (const ctr of (p.spec?.[field] as { image?: string }[]) ?? []) {
          if (splitImage(ctr.image ?? '')[0] === `kubeaws/${o.component}`)
            ctr.image = `${o.registry}/${o.component}:${o.version}`;
        }
      }
    }
  }
  return { component: o.component, kustomization, configEnv, configHash, objects: legacySort(objects) };
}

function splitImage(image: string): [string, string | undefined] {
  const at = image.indexOf('@');
  const ref = at >= 0 ? image.slice(0, at) : image;
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return [ref.slice(0, colon), ref.slice(colon + 1)];
  return [ref, undefined];
}

/** The cluster-autoscaler priority-expander ConfigMap: priority → regexes of the worker ASG names. */
export function priorityExpanderConfigMap(c: ResolvedCluster): KubeObject {
  const byPriority = new Map<number, string[]>();
  for (const p of c.pools) {
    if (p.role !== 'worker') continue;
    const prio = p.items.get(p.capacity === 'spot' ? 'scaling_priority_spot' : 'scaling_priority_on_demand') as number;
    const list = byPriority.get(prio) ?? [];
    list.push(`^${asgName(c.name, p.name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
    byPriority.set(prio, list);
  }
  const priorities: Record<string, string[]> = {};
  for (const prio of [...byPriority.keys()].sort((a, b) => b - a))
    priorities[String(prio)] = byPriority.get(prio)!.sort();
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'cluster-autoscaler-priority-expander',
      namespace: 'kube-system',
      labels: { 'app.kubernetes.io/part-of': 'kubeaws' },
    },
    data: { priorities: stringify(priorities) },
  };
}

/**
 * Renders the manifest overlay of every enabled component that has a base in `<root>/manifests`, the deletions
 * of the disabled ones and the priority-expander ConfigMap. `overlayDir` is where the overlays will be written
 * (for the relative `resources` path).
 */
export function renderManifests(c: ResolvedCluster, root: string, overlayDir: string): RenderedManifests {
  const overlays: ComponentOverlay[] = [];
  const deletions: RenderedManifests['deletions'] = [];
  const missing: string[] = [];
  for (const component of MANIFEST_COMPONENTS) {
    const baseDir = path.join(root, 'manifests', component);
    if (!fs.existsSync(path.join(baseDir, 'kustomization.yaml'))) {
      missing.push(component);
      continue;
    }
    if (!componentEnabled(c, component)) {
      for (const o of legacySort(readBase(baseDir).objects)) {
        deletions.push({
          apiVersion: o.apiVersion,
          kind: o.kind,
          ...(CLUSTER_SCOPED.has(o.kind) ? {} : { namespace: o.metadata.namespace ?? 'kube-system' }),
          name: o.metadata.name,
        });
      }
      continue;
    }
    overlays.push(
      buildOverlay({
        component,
        baseDir,
        baseRelative: path.relative(path.join(overlayDir, component), baseDir).split(path.sep).join('/'),
        registry: c.images.registry,
        version: c.version,
        env: componentConfig(c, component),
      }),
    );
  }
  return { overlays, deletions, priorityExpander: priorityExpanderConfigMap(c), missing };
}
