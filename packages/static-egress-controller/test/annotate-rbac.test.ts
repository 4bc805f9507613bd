/**
 * The RBAC of `--annotate-configmaps` against the real kube-apiserver and moto
 * (docs/static-egress-controller.md#seg-annotate, #seg-permissions): the shipped rbac.yaml does not let the
 * ServiceAccount patch input ConfigMaps; with the add-on rbac-annotate-configmaps.yaml applied, the controller runs
 * under the ServiceAccount's own token with the flag on, annotates an input ConfigMap in another namespace, gets no
 * 403, every access it made is allowed by a SelfSubjectAccessReview, and every rule of the add-on is used (the
 * checks of test/manifests, whose helpers apply the shipped RBAC).
 */
import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { type AccessRecord, KubeClient } from '@kubeaws/runtime';
import { waitFor } from '@kubeaws/testenv';
// eslint-disable-next-line @nx/enforce-module-boundaries -- the manifest loader of the RBAC checks (docs/infra.md#infra-manifest-checks)
import { ROOT, apply, loadFile } from '../../../test/manifests/load';
// eslint-disable-next-line @nx/enforce-module-boundaries -- the shared RBAC check helpers (docs/infra.md#infra-manifest-checks)
import { applyRbac, leaseRenewed, waitForAccesses } from '../../../test/manifests/rbac';
import { createVpc, startController, useEgressEnv } from './support';

jest.setTimeout(180_000);

const env = useEgressEnv();
const { api, ns, putCm } = env;
const dir = path.join(ROOT, 'manifests/static-egress-controller');
const ADD_ON = path.join(dir, 'rbac-annotate-configmaps.yaml');

/** Whether the ServiceAccount behind `kc` may do `verb` on configmaps in `namespace` (SelfSubjectAccessReview). */
async function allowed(kc: KubeConfig, a: Omit<AccessRecord, 'group'> & { group?: string }): Promise<boolean> {
  const sa = new KubeClient({ kubeConfig: kc, component: 'static-egress-test' });
  const review = await sa.create<{ status?: { allowed?: boolean } }>('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { group: '', ...a } },
  });
  return review.status?.allowed === true;
}

describe('--annotate-configmaps under the shipped RBAC (kube-apiserver + moto)', () => {
  it('needs rbac-annotate-configmaps.yaml, and with it runs without a 403 using every rule of it', async () => {
    const cluster = 'annotrbac';
    const vpc = await createVpc(env.ec2, cluster, '10.34.0.0/16');
    const n = await ns('seg-ar');
    const saKc = await applyRbac(env.kc, api, dir);
    // the shipped base grants no patch of input ConfigMaps ...
    expect(await allowed(saKc, { verb: 'patch', resource: 'configmaps', namespace: n, name: 'p' })).toBe(false);
    // ... the add-on does
    for (const obj of loadFile(ADD_ON)) await apply(api, obj);
    await waitFor(() => allowed(saKc, { verb: 'patch', resource: 'configmaps', namespace: n, name: 'p' }), {
      timeoutMs: 10_000, description: 'add-on in effect',
    });

    await putCm(n, 'p', { a: '203.0.113.0/24' });
    const rc = await startController(
      cluster, vpc.vpcId, 'kube-system',
      // Only this test's namespace: ConfigMaps of other suites' terminating namespaces in the shared cluster would get
      // Events refused with 403 NamespaceTerminating.
      { annotateConfigMaps: true, leaderElect: true, leaseNamespace: 'kube-system', namespaces: [n] },
      saKc,
    );
    env.running.push(rc);
    const ips = await waitFor(
      async () => {
        const cm = await api.get<{ metadata: { annotations?: Record<string, string> } }>(`/api/v1/namespaces/${n}/configmaps/p`);
        return cm.metadata.annotations?.['kubeaws.io/egress-ips'];
      },
      { timeoutMs: 90_000, description: 'egress-ips annotation on the input ConfigMap' },
    );
    expect(ips.split(',')).toHaveLength(2);
    const accesses = await waitForAccesses(rc, leaseRenewed, { timeoutMs: 30_000, description: 'Lease renewed by the controller' });

    expect(await rc.metrics.registry.getSingleMetricAsString('kubeaws_static_egress_controller_api_requests_total')).not.toMatch(/code="403"/);
    const denied: string[] = [];
    const unique = new Map(accesses.map((a) => [`${a.verb} ${a.group}/${a.resource} ${a.namespace ?? '*'} ${a.name ?? ''}`, a]));
    for (const [key, a] of unique) if (!(await allowed(saKc, { ...a, subresource: a.subresource }))) denied.push(key);
    expect(denied).toEqual([]);
    // every rule of the add-on is used: configmaps patch outside the status ConfigMap's namespace
    for (const role of loadFile(ADD_ON).filter((o) => o.kind === 'ClusterRole')) {
      for (const rule of role.rules) for (const resource of rule.resources) for (const verb of rule.verbs) {
        expect({ verb, resource, used: accesses.some((a) => a.verb === verb && a.resource === resource && a.namespace === n) }).toEqual({ verb, resource, used: true });
      }
    }
  });
});
