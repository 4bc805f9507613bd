import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { type AccessRecord, KubeClient, type RunningComponent } from '@kubeaws/runtime';
import { serviceAccountKubeConfig, waitFor } from '@kubeaws/testenv';
import { apply, loadFile } from './load';

// docs/infra.md#infra-manifest-checks: a component runs under its own ServiceAccount with exactly the shipped RBAC:
// no 403, every access allowed by a SelfSubjectAccessReview with the same token, every granted permission
// exercised or explained in rbac-unused.yaml. The per-component tests start and exercise the component; this
// module applies the RBAC, collects what the component accessed and holds the checks.

/**
 * Applies serviceaccount.yaml and rbac.yaml of a component folder (server-side, for real) and returns a
 * kubeconfig with a token of the ServiceAccount that serviceaccount.yaml ships.
 */
export async function applyRbac(admin: KubeConfig, client: KubeClient, dir: string): Promise<KubeConfig> {
  for (const f of ['serviceaccount.yaml', 'rbac.yaml']) for (const obj of loadFile(path.join(dir, f))) await apply(client, obj);
  const sa = loadFile(path.join(dir, 'serviceaccount.yaml')).find((o) => o.kind === 'ServiceAccount');
  if (!sa) throw new Error(`${dir}/serviceaccount.yaml ships no ServiceAccount`);
  return serviceAccountKubeConfig(admin, sa.metadata.namespace, sa.metadata.name, { expirationSeconds: 3600 });
}

/** Every distinct access the component made, through its Manager's client and its own Events client. */
function recordedAccesses(handle: RunningComponent<unknown, unknown>): AccessRecord[] {
  return [...handle.manager.client.accesses(), ...handle.manager.eventsClient.accesses()];
}

/** The component renewed its leader-election Lease (an update, not only the create). */
export const leaseRenewed = (accesses: AccessRecord[]): boolean => accesses.some((a) => a.resource === 'leases' && a.verb === 'update');

/** Waits until the component's recorded accesses satisfy `done` and returns them. */
export function waitForAccesses(
  handle: RunningComponent<unknown, unknown>,
  done: (accesses: AccessRecord[]) => boolean,
  opts: { timeoutMs: number; description: string },
): Promise<AccessRecord[]> {
  return waitFor(() => {
    const accesses = recordedAccesses(handle);
    return done(accesses) ? accesses : undefined;
  }, opts);
}

/** The component under test, read when the checks run (the caller fills it in its beforeAll). */
export interface RbacRun {
  handle: RunningComponent<unknown, unknown> | undefined;
  /** The ServiceAccount's kubeconfig the component runs with ({@link applyRbac}). */
  saKc: KubeConfig;
  /** What the component accessed ({@link waitForAccesses}). */
  accesses: AccessRecord[];
}

export interface RbacChecks {
  /** The component folder under manifests/ (rbac.yaml, rbac-unused.yaml). */
  dir: string;
  /** The component's counter of API requests by response code, e.g. kubeaws_pdb_controller_api_requests_total. */
  requestsMetric: string;
  /** The component under test, read in each check (after the caller's beforeAll). */
  run: () => RbacRun;
  /** Whether "no 403" also requires some recorded access (default true). */
  requireAccesses?: boolean;
  /** Accesses that must have been recorded, checked after the SelfSubjectAccessReviews. */
  mustAccess?: { resource: string; verb: string }[];
  /** Kinds in rbac.yaml whose rules must all be exercised or explained (default Role and ClusterRole). */
  roleKinds?: RegExp;
  /**
   * Whether a rule's `resource/subresource` is matched against the access's subresource (so `pods` is used only
   * by accesses without a subresource and `pods/eviction` by evictions); default false: resource alone.
   */
  subresources?: boolean;
}

/** Registers the three RBAC tests (in the enclosing describe block, if any). */
export function itChecksRbac(o: RbacChecks): void {
  it('gets no 403 from the API server', async () => {
    const { handle, accesses } = o.run();
    const metrics = await handle!.metrics.registry.getSingleMetricAsString(o.requestsMetric);
    expect(metrics).not.toMatch(/code="403"/);
    if (o.requireAccesses ?? true) expect(accesses.length).toBeGreaterThan(0);
  });

  it('has every recorded access allowed by a SelfSubjectAccessReview with its own token', async () => {
    const { saKc, accesses } = o.run();
    const sa = new KubeClient({ kubeConfig: saKc, component: 'manifests-test' });
    const unique = new Map(accesses.map((a) => [`${a.verb} ${a.group}/${a.resource}/${a.subresource ?? ''} ${a.namespace ?? '*'} ${a.name ?? ''}`, a]));
    const denied: string[] = [];
    for (const [key, a] of unique) {
      const review = await sa.create<any>('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { verb: a.verb, group: a.group, resource: a.resource, subresource: a.subresource, namespace: a.namespace, name: a.name } },
      });
      if (!review.status?.allowed) denied.push(key);
    }
    expect(denied).toEqual([]);
    for (const m of o.mustAccess ?? []) expect(accesses.some((a) => a.resource === m.resource && a.verb === m.verb)).toBe(true);
  });

  it('exercises every granted permission or explains it in rbac-unused.yaml', () => {
    const { accesses } = o.run();
    const unused = loadFile(path.join(o.dir, 'rbac-unused.yaml')).flat() as { apiGroup: string; resource: string; verb: string; reason: string }[];
    const roleKinds = o.roleKinds ?? /^(Cluster)?Role$/;
    const missing: string[] = [];
    for (const role of loadFile(path.join(o.dir, 'rbac.yaml')).filter((r) => roleKinds.test(r.kind))) {
      for (const rule of role.rules) for (const group of rule.apiGroups) for (const resource of rule.resources) for (const verb of rule.verbs) {
        const [res, sub] = resource.split('/');
        const used = accesses.some((a) =>
          a.group === group && a.verb === verb &&
          (o.subresources ? a.resource === res && (a.subresource ?? undefined) === sub : a.resource === resource));
        const explained = unused.some((u) => u.apiGroup === group && u.resource === resource && u.verb === verb && u.reason);
        if (!used && !explained) missing.push(`${verb} ${group}/${resource}`);
      }
    }
    expect(missing).toEqual([]);
  });
}
