/**
 * `--namespace` against the real kube-apiserver and moto (docs/static-egress-controller.md#seg-input,
 * #seg-permissions): with several namespaces the controller lists and watches each of them, so it runs under a
 * ServiceAccount that has Roles in those namespaces only (no cluster-wide configmaps access); CIDRs are
 * reference-counted across the namespaces and a ConfigMap elsewhere is never read.
 */
import { waitFor, serviceAccountKubeConfig } from '@kubeaws/testenv';
import { AZS, createVpc, routesOf, startController, useEgressEnv } from './support';

jest.setTimeout(180_000);

const env = useEgressEnv();
const { api, ns, putCm, statusDoc } = env;

/** A Role and its RoleBinding to the ServiceAccount `sa` in namespace `saNs`. */
async function grant(namespace: string, saNs: string, sa: string, rules: object[]): Promise<void> {
  const name = 'egress-input';
  await api.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace }, rules,
  });
  await api.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name, namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name: sa, namespace: saNs }],
  });
}

describe('--namespace with several namespaces (kube-apiserver + moto)', () => {
  it('watches each listed namespace under namespaced Roles only; counts references across them', async () => {
    const cluster = 'nsroles';
    const vpc = await createVpc(env.ec2, cluster, '10.33.0.0/16');
    const [a, b, c] = [await ns('seg-nsa'), await ns('seg-nsb'), await ns('seg-nsc')];
    await api.create(`/api/v1/namespaces/${a}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'egress', namespace: a } });
    const input = [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'watch'] },
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    ];
    await grant(a, a, 'egress', [...input, { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'patch'] }]);
    await grant(b, a, 'egress', input);
    const saKc = await serviceAccountKubeConfig(env.kc, a, 'egress', { expirationSeconds: 3600 });

    await putCm(a, 'p', { x: '203.0.113.0/24' });
    await putCm(b, 'q', { y: '203.0.113.0/24', z: '198.51.100.0/24' });
    await putCm(c, 'r', { w: '192.0.2.0/24' });
    const rc = await startController(cluster, vpc.vpcId, a, { namespaces: [a, b] }, saKc);
    env.running.push(rc);

    const applied = await waitFor(
      async () => {
        const doc = await statusDoc(a);
        return doc?.cidrs?.['203.0.113.0/24']?.state === 'Applied' && doc.cidrs['198.51.100.0/24']?.state === 'Applied' ? doc : undefined;
      },
      { timeoutMs: 60_000, description: 'CIDRs of both namespaces applied' },
    );
    expect(applied.cidrs['203.0.113.0/24'].sources).toEqual([`${a}/p/x`, `${b}/q/y`].sort());
    expect(Object.keys(applied.cidrs)).not.toContain('192.0.2.0/24');

    // every ConfigMap access is namespaced to a listed namespace; nothing was refused
    const cmAccesses = rc.manager.client.accesses().filter((x) => x.resource === 'configmaps' && (x.verb === 'list' || x.verb === 'watch'));
    expect(new Set(cmAccesses.map((x) => x.namespace))).toEqual(new Set([a, b]));
    expect(await rc.metrics.registry.getSingleMetricAsString('kubeaws_static_egress_controller_api_requests_total')).not.toMatch(/code="403"/);

    // the last source in b goes: its CIDR is removed, the CIDR a still names stays
    await api.delete(`/api/v1/namespaces/${b}/configmaps/q`);
    await waitFor(
      async () => {
        const r = await Promise.all(AZS.map((az) => routesOf(env.ec2, vpc.targets[az]!)));
        return r.every((t) => t['203.0.113.0/24'] && !t['198.51.100.0/24']);
      },
      { timeoutMs: 60_000, description: 'route of the removed CIDR deleted, shared CIDR kept' },
    );
    await waitFor(async () => (await statusDoc(a))?.cidrs?.['203.0.113.0/24']?.sources?.join() === `${a}/p/x`, {
      timeoutMs: 30_000, description: 'sources of the shared CIDR updated',
    });
  });
});
