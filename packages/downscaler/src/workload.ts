/**
 * The supported kinds (docs/downscaler.md#ds-kinds) and the projection the informer caches hold
 * (docs/downscaler.md#ds-budgets: metadata, `downscaler/*` annotations, controller owner, replica fields, scale target,
 * container requests), plus reading the "replicas" value of each kind and building its merge patches.
 */
import { type KubeObject, type ObjectMeta, tryParseQuantity } from '@kubeaws/runtime';
import { ANN, KEDA_PAUSED, PREFIX } from './annotations';
import type { Resource } from './settings';

/** A supported kind. */
export type Kind = 'Deployment' | 'StatefulSet' | 'CronJob' | 'HorizontalPodAutoscaler' | 'ScaledObject';

/** API coordinates of each kind. */
export const KINDS: Record<Kind, { group: string; version: string; resource: Resource; apiVersion: string }> = {
  Deployment: { group: 'apps', version: 'v1', resource: 'deployments', apiVersion: 'apps/v1' },
  StatefulSet: { group: 'apps', version: 'v1', resource: 'statefulsets', apiVersion: 'apps/v1' },
  CronJob: { group: 'batch', version: 'v1', resource: 'cronjobs', apiVersion: 'batch/v1' },
  HorizontalPodAutoscaler: {
    group: 'autoscaling',
    version: 'v2',
    resource: 'horizontalpodautoscalers',
    apiVersion: 'autoscaling/v2',
  },
  ScaledObject: { group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', apiVersion: 'keda.sh/v1alpha1' },
};

/** Kind named by an `--include-resources` entry. */
export function kindOfResource(r: Resource): Kind {
  return (Object.keys(KINDS) as Kind[]).find((k) => KINDS[k].resource === r)!;
}

/** REST path of an object of a kind. */
export function objectPath(kind: Kind, namespace: string, name: string): string {
  const k = KINDS[kind];
  return `/apis/${k.group}/${k.version}/namespaces/${encodeURIComponent(namespace)}/${k.resource}/${encodeURIComponent(name)}`;
}

/** Collection path of a kind, all namespaces or one. */
export function collectionPath(kind: Kind, namespace?: string): string {
  const k = KINDS[kind];
  return `/apis/${k.group}/${k.version}${namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ''}/${k.resource}`;
}

/** The normalized, minimal view of one object that decisions read. */
export interface Workload {
  kind: Kind;
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  /** creationTimestamp in ms since the epoch (NaN when unknown). */
  creationMs: number;
  labels: Record<string, string>;
  /** `downscaler/*` annotations, the deployment-time annotation (when configured) and KEDA's pause annotation. */
  annotations: Record<string, string>;
  /** Kind and name of the controlling owner (`controller: true`), else of a {@link REPLICA_OWNERS} owner, if any. */
  controller?: { kind: string; name: string };
  /** Deployment, StatefulSet: `spec.replicas` (unset = 1). */
  replicas?: number;
  /** CronJob: `spec.suspend`. */
  suspend?: boolean;
  /** HPA: `spec.minReplicas` (unset = 1) and `spec.maxReplicas`. */
  minReplicas?: number;
  maxReplicas?: number;
  /** HPA and ScaledObject: `spec.scaleTargetRef`. */
  target?: { kind: string; name: string };
  /** Deployment, StatefulSet: summed container requests of one pod (CPU cores, memory bytes). */
  podRequests?: { cpu: number; memory: number };
}

/** A cached object: the metadata the informer needs plus the {@link Workload} view. */
export interface Projected extends KubeObject {
  metadata: ObjectMeta;
  view: Workload;
}

/** A cached Namespace: name, resourceVersion, uid and its `downscaler/*` annotations. */
export interface NamespaceView extends KubeObject {
  metadata: ObjectMeta & { name: string; annotations: Record<string, string> };
}

/**
 * Reads a container request: a Kubernetes resource quantity (`250m`, `1.5`, `512Mi`, `1e3`, parsed by
 * `parseQuantity` of `@kubeaws/runtime`, blanks around it ignored) or a number; 0 when unparsable.
 */
export function quantityValue(q: unknown): number {
  if (typeof q === 'number') return q;
  if (typeof q !== 'string') return 0;
  const r = tryParseQuantity(q.trim());
  return r.ok ? r.value : 0;
}

type Raw = KubeObject & { spec?: Record<string, any> };

/**
 * Owners that manage their dependents' replicas without being their controlling owner (`controller: true`): the
 * stackset-controller's `Stack` (`zalando.org/v1`) owns its Deployment through a plain ownerReference and scales it
 * back itself, so the downscaler leaves such a Deployment alone, as kube-downscaler does (`is_stack_deployment` in
 * hjacobs/kube-downscaler `kube_downscaler/scaler.py`); docs/downscaler.md#ds-owners.
 */
export const REPLICA_OWNERS: ReadonlyArray<{ apiVersion: string; kind: string }> = [
  { apiVersion: 'zalando.org/v1', kind: 'Stack' },
];

/** The owner that decides an object's replicas: its controlling owner, else a {@link REPLICA_OWNERS} owner. */
function replicaOwner(refs: ObjectMeta['ownerReferences']): { kind: string; name: string } | undefined {
  const r =
    refs?.find((o) => o.controller) ??
    refs?.find((o) => REPLICA_OWNERS.some((k) => k.apiVersion === o.apiVersion && k.kind === o.kind));
  return r ? { kind: r.kind, name: r.name } : undefined;
}

function keepAnnotations(a: Record<string, string> | undefined, extra?: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!a) return out;
  for (const [k, v] of Object.entries(a)) {
    if (k.startsWith(PREFIX) || k === KEDA_PAUSED || (extra !== undefined && k === extra)) out[k] = v;
  }
  return out;
}

function podRequests(spec: Record<string, any> | undefined): { cpu: number; memory: number } | undefined {
  const containers = spec?.template?.spec?.containers as
    Array<{ resources?: { requests?: Record<string, unknown> } }> | undefined;
  if (!containers) return undefined;
  let cpu = 0;
  let memory = 0;
  for (const c of containers) {
    cpu += quantityValue(c.resources?.requests?.cpu);
    memory += quantityValue(c.resources?.requests?.memory);
  }
  return { cpu, memory };
}

/**
 * Informer transform of a kind: keeps only what decisions need (memory budget of docs/downscaler.md#ds-budgets) and
 * attaches the {@link Workload} view. `deploymentTimeAnnotation` is kept when configured.
 */
export function projector(kind: Kind, deploymentTimeAnnotation?: string): (o: KubeObject) => Projected {
  return (o: KubeObject) => {
    const raw = o as Raw;
    const md = raw.metadata ?? {};
    const annotations = keepAnnotations(md.annotations, deploymentTimeAnnotation);
    const owner = replicaOwner(md.ownerReferences);
    const spec = raw.spec ?? {};
    const view: Workload = {
      kind,
      namespace: md.namespace ?? '',
      name: md.name ?? '',
      uid: md.uid ?? '',
      resourceVersion: md.resourceVersion ?? '',
      creationMs: md.creationTimestamp ? new Date(md.creationTimestamp).getTime() : Number.NaN,
      labels: md.labels ?? {},
      annotations,
    };
    if (owner) view.controller = { kind: owner.kind, name: owner.name };
    switch (kind) {
      case 'Deployment':
      case 'StatefulSet':
        view.replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
        view.podRequests = podRequests(spec);
        break;
      case 'CronJob':
        view.suspend = spec.suspend === true;
        break;
      case 'HorizontalPodAutoscaler':
        view.minReplicas = typeof spec.minReplicas === 'number' ? spec.minReplicas : 1;
        view.maxReplicas = typeof spec.maxReplicas === 'number' ? spec.maxReplicas : undefined;
        if (spec.scaleTargetRef) view.target = { kind: spec.scaleTargetRef.kind, name: spec.scaleTargetRef.name };
        break;
      case 'ScaledObject':
        if (spec.scaleTargetRef)
          view.target = { kind: spec.scaleTargetRef.kind ?? 'Deployment', name: spec.scaleTargetRef.name };
        break;
    }
    return {
      metadata: {
        name: view.name,
        namespace: view.namespace,
        uid: view.uid,
        resourceVersion: view.resourceVersion,
      },
      view,
    };
  };
}

/** Informer transform of Namespaces: name, uid, resourceVersion and `downscaler/*` annotations. */
export function projectNamespace(o: KubeObject): NamespaceView {
  const md = o.metadata ?? {};
  return {
    metadata: {
      name: md.name ?? '',
      uid: md.uid,
      resourceVersion: md.resourceVersion,
      annotations: keepAnnotations(md.annotations),
    },
  };
}

/** Builds a {@link Workload} from a full API object (tests, and GET after a 409). */
export function toWorkload(kind: Kind, o: KubeObject, deploymentTimeAnnotation?: string): Workload {
  return projector(kind, deploymentTimeAnnotation)(o).view;
}

/**
 * The "replicas" value (docs/downscaler.md#ds-kinds): Deployment/StatefulSet `spec.replicas`; CronJob
 * `suspend ? 0 : 1`; HPA `minReplicas`; ScaledObject the paused-replicas annotation (absent = Infinity; an unparsable
 * value yields NaN).
 */
export function currentReplicas(w: Workload): number {
  switch (w.kind) {
    case 'Deployment':
    case 'StatefulSet':
      return w.replicas ?? 1;
    case 'CronJob':
      return w.suspend ? 0 : 1;
    case 'HorizontalPodAutoscaler':
      return w.minReplicas ?? 1;
    case 'ScaledObject': {
      const v = w.annotations[KEDA_PAUSED];
      if (v === undefined) return Number.POSITIVE_INFINITY;
      return /^\d+$/.test(v) ? Number(v) : Number.NaN;
    }
  }
}

/** Merge-patch body (without resourceVersion) that sets the "replicas" value of a kind. */
function valuePatch(w: Workload, value: number): Record<string, unknown> {
  switch (w.kind) {
    case 'Deployment':
    case 'StatefulSet':
      return { spec: { replicas: value } };
    case 'CronJob':
      return { spec: { suspend: value === 0 } };
    case 'HorizontalPodAutoscaler':
      return { spec: { minReplicas: value } };
    case 'ScaledObject':
      return {};
  }
}

/**
 * Builds the JSON merge patch of a transition (docs/downscaler.md#ds-writes): the value and the `original-replicas`
 * change together. `value` undefined = leave the value alone (clear only); `orig` null = remove the annotation.
 * For ScaledObjects the value is KEDA's paused-replicas annotation (`-1`/Infinity = remove it).
 */
export function buildPatch(w: Workload, value: number | undefined, orig: number | null): Record<string, any> {
  const annotations: Record<string, string | null> = {
    [ANN.originalReplicas]: orig === null ? null : String(orig),
  };
  let patch: Record<string, any> = {};
  if (value !== undefined) {
    if (w.kind === 'ScaledObject') {
      annotations[KEDA_PAUSED] = value < 0 || !Number.isFinite(value) ? null : String(value);
    } else {
      patch = valuePatch(w, value);
    }
  }
  return { metadata: { annotations }, ...patch };
}
