/**
 * The desired managed PDB (docs/pdb-controller.md#pdb-content) and its comparison with a live PDB: which fields differ,
 * whether server-side apply can converge them, and the JSON merge patches (docs/pdb-controller.md#pdb-adoption,
 * #pdb-repair).
 */
import type { V1OwnerReference, V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { UnhealthyPodEvictionPolicy } from './config';
import type { IntOrPercent } from './grammar';
import {
  ANN_LEGACY_NON_READY_SINCE,
  ANN_NON_READY_SINCE,
  LABEL_HERITAGE,
  LABEL_MANAGED_BY,
  LABEL_WORKLOAD_KIND,
  MANAGED_BY_VALUE,
} from './ownership';
import { API_VERSION, type Workload } from './workload';

/** Inputs of {@link buildDesiredPdb} besides the workload. `nonReadySince` is RFC 3339 UTC or undefined. */
export interface DesiredParams {
  name: string;
  maxUnavailable: IntOrPercent;
  unhealthyPodEvictionPolicy: UnhealthyPodEvictionPolicy;
  nonReadySince: string | undefined;
}

/**
 * The controlling ownerReference of a managed PDB: controller true, blockOwnerDeletion false
 * (docs/pdb-controller.md#pdb-content).
 */
export function ownerRefFor(w: Workload): V1OwnerReference {
  return {
    apiVersion: API_VERSION[w.kind],
    kind: w.kind,
    name: w.name,
    uid: w.uid,
    controller: true,
    blockOwnerDeletion: false,
  };
}

/**
 * The full desired PDB (docs/pdb-controller.md#pdb-content), `policy/v1`: the workload's labels plus our two labels
 * (ours win), `kubeaws.io/non-ready-since` only when given, the controlling ownerReference, the workload's
 * `spec.selector` copied verbatim, `maxUnavailable`, and `unhealthyPodEvictionPolicy` unless `''`.
 * `minAvailable` is never set. Used as the POST body and, unchanged, as the server-side-apply body.
 */
export function buildDesiredPdb(w: Workload, p: DesiredParams): V1PodDisruptionBudget {
  const pdb: V1PodDisruptionBudget = {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: p.name,
      namespace: w.namespace,
      labels: { ...w.labels, [LABEL_MANAGED_BY]: MANAGED_BY_VALUE, [LABEL_WORKLOAD_KIND]: w.kind },
      ownerReferences: [ownerRefFor(w)],
    },
    spec: {
      selector: structuredClone(w.selector),
      maxUnavailable: p.maxUnavailable,
    },
  };
  if (p.nonReadySince !== undefined) pdb.metadata!.annotations = { [ANN_NON_READY_SINCE]: p.nonReadySince };
  if (p.unhealthyPodEvictionPolicy !== '') pdb.spec!.unhealthyPodEvictionPolicy = p.unhealthyPodEvictionPolicy;
  return pdb;
}

/** JSON with sorted keys and without `undefined`, `null`, `{}` and `[]` members: API-equivalent values compare equal. */
export function canonical(v: unknown): string {
  return JSON.stringify(prune(v)) ?? 'null';
}

function prune(v: unknown): unknown {
  if (Array.isArray(v)) {
    const a = v.map(prune).filter((x) => x !== undefined);
    return a.length ? a : undefined;
  }
  if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = prune((v as Record<string, unknown>)[k]);
      if (x !== undefined) out[k] = x;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return v === null ? undefined : v;
}

/**
 * RFC 7386 JSON merge patch turning `current` into `desired`: objects are merged recursively (keys
 * missing from `desired` become `null`), arrays and scalars are replaced.
 */
export function mergePatchDiff(current: unknown, desired: unknown): unknown {
  const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (!isObj(current) || !isObj(desired)) return desired === undefined ? null : desired;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(desired)) {
    if (desired[k] === undefined) continue;
    if (canonical(current[k]) !== canonical(desired[k])) out[k] = mergePatchDiff(current[k], desired[k]);
  }
  for (const k of Object.keys(current)) if (desired[k] === undefined && current[k] !== undefined) out[k] = null;
  return out;
}

/**
 * Fields of a PDB owned by one field manager, split by operation, read from `metadata.managedFields`
 * (FieldsV1 format, k8s.io/apimachinery managedFields). Keys are `labels:<key>`, `annotations:<key>`
 * and `spec:<field>`. Status-subresource entries are ignored.
 */
export function ownedFields(
  pdb: V1PodDisruptionBudget,
  fieldManager: string,
): { apply: Set<string>; update: Set<string> } {
  const res = { apply: new Set<string>(), update: new Set<string>() };
  for (const e of pdb.metadata?.managedFields ?? []) {
    if (e.manager !== fieldManager || (e.subresource ?? '') !== '') continue;
    const target = e.operation === 'Apply' ? res.apply : res.update;
    const f = (e.fieldsV1 ?? {}) as Record<string, Record<string, Record<string, unknown>>>;
    for (const group of ['labels', 'annotations'] as const) {
      for (const k of Object.keys(f['f:metadata']?.[`f:${group}`] ?? {}))
        if (k.startsWith('f:')) target.add(`${group}:${k.slice(2)}`);
    }
    for (const k of Object.keys(f['f:spec'] ?? {})) if (k.startsWith('f:')) target.add(`spec:${k.slice(2)}`);
  }
  return res;
}

/**
 * Result of comparing a managed PDB with its desired state (docs/pdb-controller.md#pdb-apply):
 * `changedFields` lists dotted paths (`metadata.labels[app]`, `spec.maxUnavailable`, ...);
 * `needsPatch` is true when a removal cannot be done by server-side apply (a field that our apply
 * does not own: `minAvailable` set by anyone, or a field we wrote with POST or merge patch), in which
 * case `patch` is a JSON merge patch doing every change at once; otherwise the full desired object is
 * applied.
 */
export interface PdbDiff {
  changedFields: string[];
  needsPatch: boolean;
  patch: Record<string, unknown>;
}

/**
 * Compares `current` (the managed PDB of W) with `desired` ({@link buildDesiredPdb}) over the fields
 * of docs/pdb-controller.md#pdb-content only. Labels and `unhealthyPodEvictionPolicy` that are not desired are removed
 * only when `fieldManager` owns them (other managers' labels are preserved, docs/pdb-controller.md#pdb-apply,
 * #pdb-repair); `kubeaws.io/non-ready-since` and `spec.minAvailable` are always removed when not desired
 * (docs/pdb-controller.md#pdb-ttl, #pdb-repair). The patch carries a `resourceVersion` precondition.
 */
export function diffPdb(current: V1PodDisruptionBudget, desired: V1PodDisruptionBudget, fieldManager: string): PdbDiff {
  const owned = ownedFields(current, fieldManager);
  const changedFields: string[] = [];
  let needsPatch = false;
  const meta: Record<string, unknown> = { resourceVersion: current.metadata?.resourceVersion };
  const spec: Record<string, unknown> = {};
  const removal = (key: string, alwaysOurs: boolean): 'no' | 'apply' | 'patch' => {
    const ours = owned.apply.has(key) || owned.update.has(key);
    if (!ours && !alwaysOurs) return 'no';
    return owned.apply.has(key) && !owned.update.has(key) ? 'apply' : 'patch';
  };

  const curLabels = current.metadata?.labels ?? {};
  const desLabels = desired.metadata?.labels ?? {};
  const labelPatch: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(desLabels)) {
    if (curLabels[k] !== v) {
      changedFields.push(`metadata.labels[${k}]`);
      labelPatch[k] = v;
    }
  }
  for (const k of Object.keys(curLabels)) {
    if (k in desLabels) continue;
    const how = removal(`labels:${k}`, false);
    if (how === 'no') continue;
    changedFields.push(`metadata.labels[${k}]`);
    labelPatch[k] = null;
    needsPatch ||= how === 'patch';
  }
  if (Object.keys(labelPatch).length) meta.labels = labelPatch;

  const curSince = current.metadata?.annotations?.[ANN_NON_READY_SINCE];
  const desSince = desired.metadata?.annotations?.[ANN_NON_READY_SINCE];
  if (curSince !== desSince) {
    changedFields.push(`metadata.annotations[${ANN_NON_READY_SINCE}]`);
    meta.annotations = { [ANN_NON_READY_SINCE]: desSince ?? null };
    if (desSince === undefined) needsPatch ||= removal(`annotations:${ANN_NON_READY_SINCE}`, true) === 'patch';
  }

  const desRef = desired.metadata!.ownerReferences![0];
  const curRefs = current.metadata?.ownerReferences ?? [];
  const curRef = curRefs.find((r) => r.uid === desRef.uid);
  if (canonical(curRef) !== canonical(desRef)) {
    changedFields.push('metadata.ownerReferences');
    meta.ownerReferences = curRef ? curRefs.map((r) => (r.uid === desRef.uid ? desRef : r)) : [...curRefs, desRef];
  }

  if (canonical(current.spec?.selector) !== canonical(desired.spec?.selector)) {
    changedFields.push('spec.selector');
    spec.selector = mergePatchDiff(current.spec?.selector, desired.spec?.selector);
  }
  if (current.spec?.maxUnavailable !== desired.spec?.maxUnavailable) {
    changedFields.push('spec.maxUnavailable');
    spec.maxUnavailable = desired.spec?.maxUnavailable;
  }
  const curPolicy = current.spec?.unhealthyPodEvictionPolicy;
  const desPolicy = desired.spec?.unhealthyPodEvictionPolicy;
  if (desPolicy !== undefined && curPolicy !== desPolicy) {
    changedFields.push('spec.unhealthyPodEvictionPolicy');
    spec.unhealthyPodEvictionPolicy = desPolicy;
  } else if (desPolicy === undefined && curPolicy !== undefined) {
    const how = removal('spec:unhealthyPodEvictionPolicy', false);
    if (how !== 'no') {
      changedFields.push('spec.unhealthyPodEvictionPolicy');
      spec.unhealthyPodEvictionPolicy = null;
      needsPatch ||= how === 'patch';
    }
  }
  if (current.spec?.minAvailable !== undefined && current.spec?.minAvailable !== null) {
    changedFields.push('spec.minAvailable');
    spec.minAvailable = null;
    needsPatch = true;
  }

  const patch: Record<string, unknown> = { metadata: meta };
  if (Object.keys(spec).length) patch.spec = spec;
  return { changedFields, needsPatch, patch };
}

/**
 * The adoption merge patch (docs/pdb-controller.md#pdb-adoption) for a legacy (`heritage=pdb-controller`) PDB: adds our
 * labels (and the workload's), removes `heritage` unless the workload itself carries that label, makes
 * W's ownerReference `controller: true, blockOwnerDeletion: false` (other references kept), replaces
 * the upstream `non-ready-since` by ours (`desired` already carries the converted value, or none),
 * sets the desired spec and removes `minAvailable`. Carries a `resourceVersion` precondition.
 * Returns the patch and the list of fields it sets.
 */
export function adoptionPatch(
  legacy: V1PodDisruptionBudget,
  desired: V1PodDisruptionBudget,
): { patch: Record<string, unknown>; changedFields: string[] } {
  const desLabels = desired.metadata?.labels ?? {};
  const desRef = desired.metadata!.ownerReferences![0];
  const refs = legacy.metadata?.ownerReferences ?? [];
  const spec: Record<string, unknown> = {
    selector: mergePatchDiff(legacy.spec?.selector, desired.spec?.selector),
    maxUnavailable: desired.spec?.maxUnavailable,
    minAvailable: null,
  };
  if (desired.spec?.unhealthyPodEvictionPolicy !== undefined) {
    spec.unhealthyPodEvictionPolicy = desired.spec.unhealthyPodEvictionPolicy;
  }
  const patch = {
    metadata: {
      resourceVersion: legacy.metadata?.resourceVersion,
      labels: { [LABEL_HERITAGE]: null, ...desLabels },
      annotations: {
        [ANN_LEGACY_NON_READY_SINCE]: null,
        [ANN_NON_READY_SINCE]: desired.metadata?.annotations?.[ANN_NON_READY_SINCE] ?? null,
      },
      ownerReferences: refs.some((r) => r.uid === desRef.uid)
        ? refs.map((r) => (r.uid === desRef.uid ? desRef : r))
        : [...refs, desRef],
    },
    spec,
  };
  const changedFields = [
    'metadata.labels',
    'metadata.annotations',
    'metadata.ownerReferences',
    ...Object.keys(spec).map((k) => `spec.${k}`),
  ];
  return { patch, changedFields };
}
