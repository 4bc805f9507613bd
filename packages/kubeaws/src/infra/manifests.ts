/**
 * The per-cluster manifest overlay (docs/infra.md#infra-overlay): per component a `kustomization.yaml` over the base in
 * `manifests/<component>/` with the image set from the one release version, the version label, the config-hash
 * annotation and a generated `<workload>-config` ConfigMap (`config.env`); the disabled components' objects in
 * `deletions.yaml`; and the built stream, produced here with the subset of kustomize the overlay uses.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap, parseAllDocuments, parseDocument, stringify } from 'yaml';
import { envValue } from './config/items';
import type { ResolvedCluster } from './config/load';
import { partitionOf } from './stacks/common';
import { authnzNodesSection, IRSA_COMPONENTS, type IrsaComponent } from './stacks/iam';
import { asgName } from './stacks/pool';

/** The ServiceAccount annotation naming a pod's IAM role (IRSA; Amazon EKS docs, "IAM roles for service accounts"). */
export const ROLE_ARN_ANNOTATION = 'eks.amazonaws.com/role-arn';

/**
 * ARN of a component's IRSA role `<name>-<component>` (created by the cluster stack, docs/infra.md#infra-iam), in the
 * region's partition (`aws`, `aws-cn`, `aws-us-gov`; AWS General Reference, "Amazon Resource Names").
 */
export function irsaRoleArn(c: Pick<ResolvedCluster, 'account' | 'region' | 'name'>, component: IrsaComponent): string {
  return `arn:${partitionOf(c.region)}:iam::${c.account}:role/${c.name}-${component}`;
}

/** Name of the authnz-webhook's policy ConfigMap (`manifests/authnz-webhook/configmap.yaml`) and its key. */
export const AUTHNZ_POLICY_CONFIGMAP = { name: 'kubeaws-authnz-webhook-policy', key: 'config.yaml' } as const;

/**
 * The authnz-webhook configuration text of a cluster: the base's `config.yaml` (comments and order kept) with
 * `authentication.nodes` set to {@link authnzNodesSection}, replacing any `nodes` the base holds, without a final
 * newline. Pure.
 * @throws Error when `baseText` is not a YAML mapping.
 */
export function authnzPolicyText(baseText: string, c: Pick<ResolvedCluster, 'account' | 'region' | 'name' | 'clusterId'>): string {
  const doc = parseDocument(baseText);
  if (doc.errors.length > 0 || !isMap(doc.contents))
    throw new Error(`${AUTHNZ_POLICY_CONFIGMAP.name}: ${AUTHNZ_POLICY_CONFIGMAP.key} is not a YAML mapping`);
  if (!doc.has('authentication')) doc.set('authentication', doc.createNode({}));
  doc.setIn(['authentication', 'nodes'], doc.createNode(authnzNodesSection(c), { flow: false }));
  // Without the final newline: kustomize drops it from a patched ConfigMap value, and the built stream must be the same.
  return doc.toString({ lineWidth: 0 }).replace(/\n+$/, '');
}

/**
 * Folders of `manifests/` the overlay deploys, in apply order: `cluster` (cluster-wide objects such as the
 * service-account issuer discovery binding), the kubeaws components, and the upstream `cluster-autoscaler`.
 */
export const MANIFEST_COMPONENTS = [
  'cluster',
  'pdb-controller',
  'downscaler',
  'static-egress-controller',
  'node-lifecycle-controller',
  'cluster-autoscaler',
  'metrics-adapter',
  'authnz-webhook',
] as const;

/**
 * How the overlay treats a folder: kubeaws components get their image from the release and a generated
 * `kubeaws-<component>-config` ConfigMap; `cluster` holds no workload (neither); `cluster-autoscaler` runs the
 * upstream image as pinned in its base and gets the ConfigMap (cluster name, region, role).
 */
export function overlayKind(component: string): { releaseImage: boolean; configMap: boolean } {
  if (component === 'cluster') return { releaseImage: false, configMap: false };
  if (component === 'cluster-autoscaler') return { releaseImage: false, configMap: true };
  return { releaseImage: true, configMap: true };
}

/**
 * Optional add-ons of a component folder (files not listed in its `kustomization.yaml`) that the cluster's config
 * turns on: the static-egress-controller's `rbac-annotate-configmaps.yaml` with `static_egress_annotate_configmaps`
 * (docs/static-egress-controller.md#seg-annotate). Returns the file names that are on and those that are off.
 */
export function componentAddOns(c: ResolvedCluster, component: string): { on: string[]; off: string[] } {
  if (component === 'static-egress-controller') {
    const file = 'rbac-annotate-configmaps.yaml';
    return c.items.get('static_egress_annotate_configmaps') === true ? { on: [file], off: [] } : { on: [], off: [file] };
  }
  return { on: [], off: [] };
}

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
  /** Add-on files copied beside `kustomization.yaml` (listed in its `resources`): file name → content. */
  files: Record<string, string>;
}

/** Everything `render --only manifests` produces. */
export interface RenderedManifests {
  overlays: ComponentOverlay[];
  /** `deletions.yaml`: objects of disabled components (kind/namespace/name). */
  deletions: { apiVersion: string; kind: string; namespace?: string; name: string }[];
  /** The cluster-autoscaler priority-expander ConfigMap. */
  priorityExpander: KubeObject;
  /** Folders of {@link MANIFEST_COMPONENTS} without a `kustomization.yaml` in manifests/ (not deployable yet). */
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
  const role = (k: IrsaComponent) => irsaRoleArn(c, k);
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
    case 'cluster-autoscaler':
      // CLUSTER_NAME completes --node-group-auto-discovery=asg:tag=…,k8s.io/cluster-autoscaler/$(CLUSTER_NAME), the
      // tag every worker ASG carries (poolAsgTags).
      Object.assign(env, { CLUSTER_NAME: c.name, AWS_ROLE_ARN: role(component), AWS_REGION: c.region });
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
  /** Set the image from the release (`kubeaws/<component>` → `<registry>/<component>:<version>`); default true. */
  releaseImage?: boolean;
  /** Generate the `kubeaws-<component>-config` ConfigMap from `env`; default true. */
  configMap?: boolean;
  /** Add-on files of the base folder to include (copied into the overlay, see {@link componentAddOns}). */
  addOns?: string[];
  /** Annotations to set on ServiceAccounts of the base, by name (a strategic-merge patch in the overlay). */
  serviceAccountAnnotations?: Record<string, Record<string, string>>;
  /** `data` keys to replace in ConfigMaps of the base, by name (a strategic-merge patch in the overlay). */
  configMapData?: Record<string, Record<string, string>>;
}

/** Builds one component's overlay and its objects. Pure apart from reading the base. */
export function buildOverlay(o: OverlayInput): ComponentOverlay {
  const workload = `kubeaws-${o.component}`;
  const releaseImage = o.releaseImage ?? true;
  const configMap = o.configMap ?? true;
  const addOns = o.addOns ?? [];
  const saAnnotations = o.serviceAccountAnnotations ?? {};
  const cmData = o.configMapData ?? {};
  const patches = [
    ...Object.keys(saAnnotations)
      .sort()
      .map((name) => ({
        target: { kind: 'ServiceAccount', name },
        patch: stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, annotations: saAnnotations[name] } }),
      })),
    ...Object.keys(cmData)
      .sort()
      .map((name) => ({
        target: { kind: 'ConfigMap', name },
        patch: stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: cmData[name] }),
      })),
  ];
  const configEnv = configMap ? formatEnvFile(o.env) : '';
  const configHash = createHash('sha256').update(configEnv).digest('hex').slice(0, 16);
  const kustomization = stringify({
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    // kustomize loads only files inside the overlay folder, so add-ons are copied there.
    resources: [o.baseRelative, ...addOns],
    ...(releaseImage
      ? { images: [{ name: `kubeaws/${o.component}`, newName: `${o.registry}/${o.component}`, newTag: o.version }] }
      : {}),
    labels: [{ pairs: { 'app.kubernetes.io/version': o.version }, includeSelectors: false }],
    commonAnnotations: { 'kubeaws.io/config-hash': configHash },
    ...(patches.length > 0 ? { patches } : {}),
    ...(configMap
      ? {
          configMapGenerator: [
            {
              name: `${workload}-config`,
              namespace: 'kube-system',
              envs: ['config.env'],
              options: { disableNameSuffixHash: true },
            },
          ],
        }
      : {}),
  });
  const base = readBase(o.baseDir);
  const objects: KubeObject[] = base.objects.map((x) => structuredClone(x));
  const files: Record<string, string> = {};
  for (const f of addOns) {
    const text = fs.readFileSync(path.join(o.baseDir, f), 'utf8');
    files[f] = text;
    for (const doc of parseAllDocuments(text)) {
      const x = doc.toJS() as KubeObject | null;
      if (x && typeof x === 'object') objects.push(x);
    }
  }
  if (configMap) {
    objects.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `${workload}-config`, namespace: 'kube-system' },
      // kustomize leaves `data` out of a ConfigMap generated from an empty env file.
      ...(Object.keys(o.env).length > 0 ? { data: { ...o.env } } : {}),
    });
  }
  for (const obj of objects) {
    if (obj.kind === 'ServiceAccount' && saAnnotations[obj.metadata.name])
      obj.metadata.annotations = { ...(obj.metadata.annotations ?? {}), ...saAnnotations[obj.metadata.name] };
    if (obj.kind === 'ConfigMap' && cmData[obj.metadata.name])
      obj.data = { ...((obj.data as Record<string, string> | undefined) ?? {}), ...cmData[obj.metadata.name] };
    if (base.namespace && !CLUSTER_SCOPED.has(obj.kind)) obj.metadata.namespace = base.namespace;
    obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'app.kubernetes.io/version': o.version };
    obj.metadata.annotations = { ...(obj.metadata.annotations ?? {}), 'kubeaws.io/config-hash': configHash };
    for (const p of podSpecs(obj)) {
      const meta = p.templateMeta as { annotations?: Record<string, string> };
      meta.annotations = { ...(meta.annotations ?? {}), 'kubeaws.io/config-hash': configHash };
      for (const field of ['containers', 'initContainers']) {
        for (const ctr of (p.spec?.[field] as { image?: string }[]) ?? []) {
          if (releaseImage && splitImage(ctr.image ?? '')[0] === `kubeaws/${o.component}`)
            ctr.image = `${o.registry}/${o.component}:${o.version}`;
        }
      }
    }
  }
  return { component: o.component, kustomization, configEnv, configHash, objects: legacySort(objects), files };
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

/** The policy ConfigMap data of the authnz-webhook overlay: the base's configuration with the cluster's node tokens. */
function authnzConfigMapData(c: ResolvedCluster, baseDir: string): Record<string, Record<string, string>> {
  const { name, key } = AUTHNZ_POLICY_CONFIGMAP;
  const cm = readBase(baseDir).objects.find((x) => x.kind === 'ConfigMap' && x.metadata.name === name);
  const base = (cm?.data as Record<string, string> | undefined)?.[key];
  if (base === undefined) throw new Error(`manifests/authnz-webhook: no ConfigMap ${name} with ${key}`);
  return { [name]: { [key]: authnzPolicyText(base, c) } };
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
    const deleteAll = (objects: KubeObject[]): void => {
      for (const o of legacySort(objects)) {
        deletions.push({
          apiVersion: o.apiVersion,
          kind: o.kind,
          ...(CLUSTER_SCOPED.has(o.kind) ? {} : { namespace: o.metadata.namespace ?? 'kube-system' }),
          name: o.metadata.name,
        });
      }
    };
    const addOns = componentAddOns(c, component);
    const addOnObjects = (files: string[]): KubeObject[] =>
      files.flatMap((f) =>
        parseAllDocuments(fs.readFileSync(path.join(baseDir, f), 'utf8'))
          .map((d) => d.toJS() as KubeObject | null)
          .filter((x): x is KubeObject => !!x && typeof x === 'object'),
      );
    if (!componentEnabled(c, component)) {
      deleteAll([...readBase(baseDir).objects, ...addOnObjects([...addOns.on, ...addOns.off])]);
      continue;
    }
    // An add-on turned off is deleted, so that switching it off removes what switching it on applied.
    deleteAll(addOnObjects(addOns.off));
    overlays.push(
      buildOverlay({
        component,
        baseDir,
        baseRelative: path.relative(path.join(overlayDir, component), baseDir).split(path.sep).join('/'),
        registry: c.images.registry,
        version: c.version,
        env: componentConfig(c, component),
        ...overlayKind(component),
        addOns: addOns.on,
        serviceAccountAnnotations:
          component in IRSA_COMPONENTS
            ? {
                [IRSA_COMPONENTS[component as IrsaComponent]]: {
                  [ROLE_ARN_ANNOTATION]: irsaRoleArn(c, component as IrsaComponent),
                },
              }
            : undefined,
        configMapData: component === 'authnz-webhook' ? authnzConfigMapData(c, baseDir) : undefined,
      }),
    );
  }
  return { overlays, deletions, priorityExpander: priorityExpanderConfigMap(c), missing };
}
