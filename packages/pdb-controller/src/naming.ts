/**
 * Generated PDB names (docs/pdb-controller.md#pdb-name).
 */
import { createHash } from 'node:crypto';
import type { WorkloadKind } from './workload';

/** Maximum length of a PDB name (DNS subdomain, k8s.io/apimachinery validation). */
export const MAX_NAME_LENGTH = 253;

/**
 * Desired name of the managed PDB of workload `<kind>/<name>` (docs/pdb-controller.md#pdb-name):
 * `<name>-<kind lower case>-<suffix>`, the suffix part omitted when `suffix` is `''`.
 * If that exceeds 253 characters, the name is cut so that
 * `<cut>-<first 8 hex of sha256("<Kind>/<name>")>-<kind>-<suffix>` fits in 253 characters; dots
 * and dashes at the end of the cut are dropped so the result stays a valid DNS subdomain.
 */
export function desiredPdbName(kind: WorkloadKind, name: string, suffix: string): string {
  const tail = `-${kind.toLowerCase()}${suffix === '' ? '' : `-${suffix}`}`;
  const full = `${name}${tail}`;
  if (full.length <= MAX_NAME_LENGTH) return full;
  const hash = createHash('sha256').update(`${kind}/${name}`).digest('hex').slice(0, 8);
  const hashedTail = `-${hash}${tail}`;
  const cut = name.slice(0, MAX_NAME_LENGTH - hashedTail.length).replace(/[.-]+$/, '');
  return `${cut}${hashedTail}`;
}
