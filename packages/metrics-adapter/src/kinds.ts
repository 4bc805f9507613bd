/**
 * Kind → resource mapping from the API server's discovery documents (docs/metrics-adapter.md#ma-kinds), as
 * client-go's discovery RESTMapper does it: an object metric's `describedObject` (`Ingress` in
 * `networking.k8s.io`) is served under the resource the API server names (`ingresses.networking.k8s.io`), and a
 * scale target kind is usable only while its API is served (an Argo `Rollout` needs `argoproj.io`). No plural is
 * ever derived from a kind by rule.
 */
import type { ObjectRef } from './grammar';

/** One `APIResourceList` as served at `/api/v1` and `/apis/<group>/<version>` (k8s.io/apimachinery metav1). */
export interface ApiResourceListDoc {
  groupVersion: string;
  resources: Array<{ name: string; kind: string; namespaced: boolean }>;
}

/** A kind the API serves: its group, the resource as written in custom metrics paths (`plural[.group]`), its scope. */
export interface ResolvedKind {
  group: string;
  kind: string;
  /** `plural` for the core group, else `plural.group`, e.g. `ingresses.networking.k8s.io`. */
  resource: string;
  namespaced: boolean;
}

/** Resolves kinds to resources; {@link KindIndex} is the one built from discovery. */
export interface KindResolver {
  /** The resource of `ref` (group from `apiVersion`, any version), undefined when the API does not serve that kind. */
  resolve(ref: Pick<ObjectRef, 'kind' | 'apiVersion'>): ResolvedKind | undefined;
}

/** The API group of an `apiVersion`: `apps/v1` → `apps`, `v1` → `` (core); undefined when no apiVersion is given. */
export function groupOf(apiVersion: string | undefined): string | undefined {
  if (apiVersion === undefined || apiVersion === '') return undefined;
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

/**
 * An immutable index of (group, kind) → resource built from discovery documents. Subresources (`pods/status`) are
 * skipped; the first list naming a (group, kind) wins, so pass each group's preferred version first.
 */
export class KindIndex implements KindResolver {
  private readonly byGroupKind = new Map<string, ResolvedKind>();
  private readonly byKind = new Map<string, ResolvedKind[]>();
  /** A stable text of the whole index, to tell whether a refresh changed anything. */
  readonly signature: string;

  constructor(lists: readonly ApiResourceListDoc[]) {
    for (const l of lists) {
      const group = groupOf(l.groupVersion) ?? '';
      for (const r of l.resources ?? []) {
        if (r.name.includes('/')) continue;
        const key = `${group}|${r.kind}`;
        if (this.byGroupKind.has(key)) continue;
        const resolved: ResolvedKind = { group, kind: r.kind, resource: group ? `${r.name}.${group}` : r.name, namespaced: r.namespaced };
        this.byGroupKind.set(key, resolved);
        this.byKind.set(r.kind, [...(this.byKind.get(r.kind) ?? []), resolved]);
      }
    }
    this.signature = JSON.stringify([...this.byGroupKind.keys()].sort().map((k) => [k, this.byGroupKind.get(k)!.resource]));
  }

  /** Number of kinds known. */
  get size(): number {
    return this.byGroupKind.size;
  }

  /**
   * Resolves a kind in the group of `apiVersion`. Without an apiVersion the kind must be unambiguous, except that
   * the core group wins (as kubectl's shortcut expansion prefers it).
   */
  resolve(ref: Pick<ObjectRef, 'kind' | 'apiVersion'>): ResolvedKind | undefined {
    const group = groupOf(ref.apiVersion);
    if (group !== undefined) return this.byGroupKind.get(`${group}|${ref.kind}`);
    const all = this.byKind.get(ref.kind) ?? [];
    return all.find((r) => r.group === '') ?? (all.length === 1 ? all[0] : undefined);
  }
}
