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

/** Informer transform: keeps only what {@link podView} reads (metadata essentials, a few spec/status fields). */
export function trimPod(p: PodObject): PodObject {
  const md = p.metadata ?? {};
  const ann: Record<string, string> = {};
  for (const k of [DO_NOT_DISRUPT, KARPENTER_DO_NOT_DISRUPT, MIRROR_ANNOTATION])
    if (md.annotations?.[k] !== undefined) ann[k] = md.annotations[k];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: md.name,
      namespace: md.namespace,
      uid: md.uid,
      resourceVersion: md.resourceVersion,
      creationTimestamp: md.creationTimestamp,
      deletionTimestamp: md.deletionTimestamp,
      labels: md.labels,
      annotations: ann,
      ownerReferences: md.ownerReferences?.map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.name, uid: o.uid, controller: o.controller })),
    },
    spec: {
      nodeName: p.spec?.nodeName,
      priorityClassName: p.spec?.priorityClassName,
      terminationGracePeriodSeconds: p.spec?.terminationGracePeriodSeconds,
    },
    status: {
      phase: p.status?.phase,
      startTime: p.status?.startTime,
      conditions: p.status?.conditions?.filter((c) => c.type === 'Ready').map((c) => ({ type: c.type, status: c.status })),
    },
  } as PodObject;
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

/** The decision view of a PDB (`spec.selector` null/absent = selects nothing). */
export function pdbView(b: PdbObject): PdbView {
  return { namespace: b.metadata?.namespace ?? '', name: b.metadata?.name ?? '', selector: b.spec?.selector ?? null };
}
