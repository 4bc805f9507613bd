/**
 * Trims cached Kubernetes objects to the views the decisions read (`decide.ts`): Pods, Nodes and
 * policy/v1 PodDisruptionBudgets. The informers keep the trimmed objects only
 * (docs/node-lifecycle-controller.md#nlc-drain), so memory stays proportional to what the SLA (#nlc-sla) reads.
 */
import type { KubeObject, LabelSelector } from '@kubeaws/runtime';
import {
  DO_NOT_DISRUPT,
  KARPENTER_DO_NOT_DISRUPT,
  MIRROR_ANNOTATION,
  type NodeView,
  type PdbView,
  type PodView,
  type Taint,
} from './decide';

/** A Pod as served (fields we read). */
export interface PodObject extends KubeObject {
  spec?: { nodeName?: string; priorityClassName?: string; terminationGracePeriodSeconds?: number };
  status?: { phase?: string; startTime?: string; conditions?: { type: string; status: string }[] };
}

/** A Node as served (fields we read and write). */
export interface NodeObject extends KubeObject {
  spec?: { providerID?: string; unschedulable?: boolean; taints?: Taint[] };
  status?: { conditions?: { type: string; status: string }[] };
}

/** A policy/v1 PodDisruptionBudget as served. */
export interface PdbObject extends KubeObject {
  spec?: { selector?: LabelSelector | null };
}

const ms = (t: string | undefined, fallback = 0) => (t ? Date.parse(t) : fallback);

/** Upper bound of {@link intern}'s pool; past it the pool starts over (interning only saves memory). */
export const INTERN_POOL_MAX = 50_000;
const internPool = new Map<string, string>();

/**
 * One shared copy of a string that many cached objects repeat (namespace, node name, label keys and values,
 * owner kind, phase): `JSON.parse` gives every object its own copy. The pool holds at most
 * {@link INTERN_POOL_MAX} strings and is emptied when full, so values that never repeat (a StatefulSet pod's
 * name label, say) cannot grow it without bound.
 */
export function intern<S extends string | undefined>(s: S): S {
  if (s === undefined) return s;
  const held = internPool.get(s);
  if (held !== undefined) return held as S;
  if (internPool.size >= INTERN_POOL_MAX) internPool.clear();
  internPool.set(s, s);
  return s;
}

const READY_TRUE = Object.freeze({ type: 'Ready', status: 'True' });
const READY_FALSE = Object.freeze({ type: 'Ready', status: 'False' });

/**
 * Informer transform (docs/node-lifecycle-controller.md#nlc-drain): keeps only what {@link podView} reads -
 * name, namespace, UID, resourceVersion (the informer's relist compares it), creation and deletion time,
 * labels (PDB selectors), the do-not-disrupt and mirror annotations, the controller ownerReference's kind and
 * the kinds of the others (Job siblings), node name, priority class, grace period, phase, start time and the
 * Ready condition. Repeated strings are shared ({@link intern}); empty fields are left out. About 750 bytes
 * of heap per pod instead of several KiB as served.
 */
export function trimPod(p: PodObject): PodObject {
  const md = p.metadata ?? {};
  let ann: Record<string, string> | undefined;
  for (const k of [DO_NOT_DISRUPT, KARPENTER_DO_NOT_DISRUPT, MIRROR_ANNOTATION])
    if (md.annotations?.[k] !== undefined) (ann ??= {})[k] = md.annotations[k];
  let labels: Record<string, string> | undefined;
  if (md.labels) {
    labels = {};
    for (const [k, v] of Object.entries(md.labels)) labels[intern(k)] = intern(v);
  }
  const owners = md.ownerReferences?.map((o) => (o.controller ? { kind: intern(o.kind), controller: true } : { kind: intern(o.kind) }));
  const metadata: Record<string, unknown> = {
    name: md.name,
    namespace: intern(md.namespace),
    uid: md.uid,
    resourceVersion: md.resourceVersion,
    creationTimestamp: md.creationTimestamp,
  };
  if (md.deletionTimestamp) metadata.deletionTimestamp = md.deletionTimestamp;
  if (labels) metadata.labels = labels;
  if (ann) metadata.annotations = ann;
  if (owners?.length) metadata.ownerReferences = owners;
  const spec: NonNullable<PodObject['spec']> = { nodeName: intern(p.spec?.nodeName) };
  if (p.spec?.priorityClassName) spec.priorityClassName = intern(p.spec.priorityClassName);
  if (p.spec?.terminationGracePeriodSeconds !== undefined) spec.terminationGracePeriodSeconds = p.spec.terminationGracePeriodSeconds;
  const status: NonNullable<PodObject['status']> = { phase: intern(p.status?.phase) };
  if (p.status?.startTime) status.startTime = p.status.startTime;
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready) status.conditions = [ready.status === 'True' ? READY_TRUE : READY_FALSE];
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec, status } as PodObject;
}

/** The decision view of a Pod. */
export function podView(p: PodObject): PodView {
  const md = p.metadata ?? {};
  const owners = (md.ownerReferences ?? []) as { kind: string; controller?: boolean }[];
  const createdAt = ms(md.creationTimestamp as string | undefined);
  return {
    uid: md.uid ?? '',
    namespace: md.namespace ?? '',
    name: md.name ?? '',
    nodeName: p.spec?.nodeName,
    createdAt,
    startedAt: ms(p.status?.startTime, createdAt),
    deletingAt: md.deletionTimestamp ? ms(md.deletionTimestamp as string) : undefined,
    phase: p.status?.phase ?? 'Pending',
    ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    labels: (md.labels ?? {}) as Record<string, string>,
    controllerKind: owners.find((o) => o.controller)?.kind,
    ownerKinds: owners.map((o) => o.kind),
    mirror: md.annotations?.[MIRROR_ANNOTATION] !== undefined,
    priorityClassName: p.spec?.priorityClassName,
    tgpSeconds: p.spec?.terminationGracePeriodSeconds ?? 30,
    doNotDisrupt: md.annotations?.[DO_NOT_DISRUPT] ?? md.annotations?.[KARPENTER_DO_NOT_DISRUPT],
  };
}

/** The decision view of a Node. */
export function nodeView(n: NodeObject): NodeView {
  const md = n.metadata ?? {};
  return {
    name: md.name ?? '',
    createdAt: ms(md.creationTimestamp as string | undefined),
    labels: { ...((md.labels ?? {}) as Record<string, string>) },
    annotations: { ...((md.annotations ?? {}) as Record<string, string>) },
    taints: n.spec?.taints ?? [],
    unschedulable: n.spec?.unschedulable === true,
    providerID: n.spec?.providerID,
    ready: (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
  };
}

/**
 * PDB informer transform (docs/node-lifecycle-controller.md#nlc-drain): keeps what {@link pdbView} reads - name,
 * namespace, `spec.selector` - plus UID and resourceVersion (the informer's relist compares it). Status (conditions,
 * disrupted pods), the other spec fields, labels and annotations (a kubectl `last-applied-configuration` repeats the
 * whole object) are dropped: the controller learns whether a PDB allows an Eviction from the Eviction's answer.
 * The selector is copied, so the result holds no object of the served PDB.
 */
export function trimPdb(b: PdbObject): PdbObject {
  const md = b.metadata ?? {};
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: md.name, namespace: intern(md.namespace), uid: md.uid, resourceVersion: md.resourceVersion },
    spec: { selector: b.spec?.selector ? structuredClone(b.spec.selector) : null },
  } as PdbObject;
}

/** The decision view of a PDB (`spec.selector` null/absent = selects nothing). */
export function pdbView(b: PdbObject): PdbView {
  return { namespace: b.metadata?.namespace ?? '', name: b.metadata?.name ?? '', selector: b.spec?.selector ?? null };
}
