/**
 * Every resource the stacks create for the cluster has its consumer deployed by manifests/
 * (docs/infra.md#infra-consumers), for every fixture cluster; a manifests folder taken away shows up in
 * missingManifests.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findRepoRoot, loadCluster } from './config/load';
import { missingManifests, renderCluster, stackConsumables } from './render';

const ROOT = findRepoRoot();
const FIXTURES_DIR = path.join(ROOT, 'infra/test/fixtures/clusters');
const FIXTURES = fs
  .readdirSync(FIXTURES_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.replace(/\.yaml$/, ''))
  .sort();

function fixture(name: string) {
  const r = loadCluster(path.join(FIXTURES_DIR, `${name}.yaml`), { version: '0.0.0-test' });
  if (!r.cluster) throw new Error(r.diagnostics.map((d) => `${d.path}: ${d.message}`).join('\n'));
  return r.cluster;
}

describe('every resource the stacks create has its consumer deployed by manifests/', () => {
  it.each(FIXTURES)('%s', (name) => {
    const c = fixture(name);
    const r = renderCluster(c, { root: ROOT, clusterOutDir: path.join(os.tmpdir(), 'kubeaws-consumers', name) });
    const consumables = stackConsumables(c, r.stacks, r.manifests!);
    const roles = ['cluster-autoscaler', 'metrics-adapter', 'node-lifecycle-controller'];
    if (c.items.get('static_egress_enabled') === true) roles.push('static-egress-controller');
    // what the stacks create that needs a consumer: the queue, one drain hook per pool, the IRSA roles, the expander
    expect(consumables.map((x) => x.resource).sort()).toEqual(
      [
        `${c.name}-cluster/InterruptionQueue`,
        ...c.pools.map((p) => `${c.name}-pool-${p.name}/AutoScalingGroup:kubeaws-drain`),
        ...roles.map((k) => `${c.name}-cluster/${k.split('-').map((w) => w[0].toUpperCase() + w.slice(1)).join('')}Role`),
        'manifests/ConfigMap kube-system/cluster-autoscaler-priority-expander',
      ].sort(),
    );
    expect(consumables.find((x) => x.resource.endsWith('priority-expander'))?.consumer).toBe(
      'Deployment kube-system/cluster-autoscaler',
    );
    expect(missingManifests(c, r)).toEqual([]);
  });

  it('names the consumers a manifests tree without cluster-autoscaler and node-lifecycle-controller lacks', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-consumers-root-'));
    try {
      fs.cpSync(path.join(ROOT, 'manifests'), path.join(root, 'manifests'), { recursive: true });
      fs.rmSync(path.join(root, 'manifests/cluster-autoscaler'), { recursive: true });
      fs.rmSync(path.join(root, 'manifests/node-lifecycle-controller'), { recursive: true });
      const c = fixture('test-1az');
      const r = renderCluster(c, { root, clusterOutDir: path.join(root, 'out') });
      expect(missingManifests(c, r)).toEqual([
        { resource: 'manifests/node-lifecycle-controller', consumer: 'manifests/node-lifecycle-controller/kustomization.yaml' },
        { resource: 'manifests/cluster-autoscaler', consumer: 'manifests/cluster-autoscaler/kustomization.yaml' },
        ...consumersOf(c.name),
      ]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('needs a render of stacks and manifests', () => {
    const c = fixture('test-1az');
    expect(() => missingManifests(c, renderCluster(c, { root: ROOT, only: 'stacks' }))).toThrow(
      'missingManifests needs a render of stacks and manifests',
    );
  });
});

/** The stack resources of test-1az whose consumers are the node-lifecycle-controller and the cluster-autoscaler. */
function consumersOf(name: string): { resource: string; consumer: string }[] {
  const nlc = 'Deployment kube-system/kubeaws-node-lifecycle-controller';
  return [
    { resource: `${name}-cluster/NodeLifecycleControllerRole`, consumer: `ServiceAccount kube-system/kubeaws-node-lifecycle-controller annotated eks.amazonaws.com/role-arn=arn:aws:iam::123456789012:role/${name}-node-lifecycle-controller, run by a workload` },
    { resource: `${name}-cluster/ClusterAutoscalerRole`, consumer: `ServiceAccount kube-system/cluster-autoscaler annotated eks.amazonaws.com/role-arn=arn:aws:iam::123456789012:role/${name}-cluster-autoscaler, run by a workload` },
    { resource: `${name}-cluster/InterruptionQueue`, consumer: nlc },
    { resource: `${name}-pool-master/AutoScalingGroup:kubeaws-drain`, consumer: nlc },
    { resource: `${name}-pool-default/AutoScalingGroup:kubeaws-drain`, consumer: nlc },
    { resource: 'manifests/ConfigMap kube-system/cluster-autoscaler-priority-expander', consumer: 'a cluster-autoscaler with --expander=priority in kube-system' },
  ];
}
