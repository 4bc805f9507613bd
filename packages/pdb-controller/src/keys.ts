/**
 * Work-queue keys of the pdb-controller (docs/pdb-controller.md#pdb-triggers): `<Kind>/<namespace>/<name>`,
 * either of a workload (`Deployment/shop/web`: decide that workload, see `workloadKey`) or of a
 * PodDisruptionBudget (`PodDisruptionBudget/shop/web-deployment-pdb`: its orphan check,
 * docs/pdb-controller.md#pdb-orphans).
 */
import { type ApiError, parseApiPath } from '@kubeaws/runtime';

/** Kind part of the orphan-check key of a PodDisruptionBudget. */
export const PDB_KIND = 'PodDisruptionBudget';

/** The REST resource of each kind that keys name. */
const RESOURCE: Readonly<Record<string, string>> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  Rollout: 'rollouts',
  [PDB_KIND]: 'poddisruptionbudgets',
};

/** Splits a key `<Kind>/<namespace>/<name>` (names may contain dots, never slashes). */
export function parseKey(key: string): { kind: string; namespace: string; name: string } {
  const i = key.indexOf('/');
  const j = key.indexOf('/', i + 1);
  return { kind: key.slice(0, i), namespace: key.slice(i + 1, j), name: key.slice(j + 1) };
}

/** The orphan-check key of PodDisruptionBudget `namespace/name`. */
export function pdbKey(namespace: string, name: string): string {
  return `${PDB_KIND}/${namespace}/${name}`;
}

/**
 * Whether a failed request named the object of `key` itself (the controller's `isPrimaryNotFound`: a
 * 404 of that object means it is gone and the key is done). A 404 of any other object, or one without
 * a request path, is retried with backoff.
 */
export function namesKeyObject(key: string, err: ApiError): boolean {
  if (!err.path) return false;
  const { kind, namespace, name } = parseKey(key);
  const ref = parseApiPath(err.path);
  return ref.resource === RESOURCE[kind] && ref.namespace === namespace && ref.name === name;
}
