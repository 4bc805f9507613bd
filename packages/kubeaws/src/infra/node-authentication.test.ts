/**
 * Node authentication (docs/infra.md#infra-node-authentication): the rendered authnz-webhook overlay carries the
 * `authentication.nodes` section generated from the cluster (the cluster id workers sign, the worker role the
 * cluster stack creates, the cluster's region), and the role the webhook runs with may call exactly the EC2 action
 * the webhook sends, in those regions only.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { findRepoRoot, loadCluster, type ResolvedCluster } from './config/load';
import { clusterFileItems } from './files/layout';
import { AUTHNZ_POLICY_CONFIGMAP, authnzPolicyText } from './manifests';
import { renderCluster } from './render';
import type { Statement } from './stacks/intrinsics';

const ROOT = findRepoRoot();
const FIXTURES_DIR = path.join(ROOT, 'infra/test/fixtures/clusters');
const FIXTURES = fs
  .readdirSync(FIXTURES_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.replace(/\.yaml$/, ''))
  .sort();

function fixture(name: string): ResolvedCluster {
  const r = loadCluster(path.join(FIXTURES_DIR, `${name}.yaml`), { version: '0.0.0-test' });
  if (!r.cluster) throw new Error(r.diagnostics.map((d) => `${d.path}: ${d.message}`).join('\n'));
  return r.cluster;
}

function render(c: ResolvedCluster) {
  return renderCluster(c, { root: ROOT, clusterOutDir: path.join(os.tmpdir(), 'kubeaws-node-authn', c.name) });
}

function rolePolicy(r: ReturnType<typeof render>, c: ResolvedCluster, role: string): Statement[] {
  const res = r.stacks.find((s) => s.kind === 'cluster')!.template.Resources[role]!;
  return (res.Properties!.Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
    (p) => p.PolicyDocument.Statement,
  );
}

describe('the authnz-webhook overlay carries the node-token policy of the cluster', () => {
  it.each(FIXTURES)('%s', (name) => {
    const c = fixture(name);
    const r = render(c);
    const overlay = r.manifests!.overlays.find((o) => o.component === 'authnz-webhook')!;
    const cm = overlay.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === AUTHNZ_POLICY_CONFIGMAP.name)!;
    const config = parse((cm.data as Record<string, string>)[AUTHNZ_POLICY_CONFIGMAP.key]!);
    // the worker role of the cluster stack, by the name it is created with
    const workerRole = r.stacks.find((s) => s.kind === 'cluster')!.template.Resources.WorkerRole!.Properties!.RoleName as {
      'Fn::Sub': string;
    };
    const partition = c.region.startsWith('cn-') ? 'aws-cn' : 'aws';
    // the cluster id the worker kubelets sign (`aws eks get-token --cluster-name <id>` in their kubeconfig)
    const kubeconfig = clusterFileItems(c).find((i) => i.id === 'worker-kubelet') as { content: string };
    const args = parse(kubeconfig.content).users[0].user.exec.args as string[];
    expect(config.authentication.nodes).toEqual({
      clusterID: args[args.indexOf('--cluster-name') + 1],
      workerRoleARN: `arn:${partition}:iam::${c.account}:role/${workerRole['Fn::Sub'].replace('${ClusterName}', c.name)}`,
      regions: [c.region],
    });
    expect(config.authentication.nodes.clusterID).toBe(`aws:${c.account}:${c.region}:${c.name}`);
    // the rest of the base configuration is kept
    const base = parseAllDocuments(fs.readFileSync(path.join(ROOT, 'manifests/authnz-webhook/configmap.yaml'), 'utf8'))[0]!.toJS();
    const baseConfig = parse(base.data[AUTHNZ_POLICY_CONFIGMAP.key]);
    expect({ ...config, authentication: { ...config.authentication, nodes: undefined } }).toEqual({
      ...baseConfig,
      authentication: { ...baseConfig.authentication, nodes: undefined },
    });
    // kustomize gets the same text through a patch of the overlay
    const k = parse(overlay.kustomization) as { patches: { target: { kind: string; name: string }; patch: string }[] };
    const patch = k.patches.find((p) => p.target.kind === 'ConfigMap' && p.target.name === AUTHNZ_POLICY_CONFIGMAP.name)!;
    expect(parse(patch.patch).data).toEqual(cm.data);
  });

  it('replaces a nodes section of the base and keeps its comments', () => {
    const c = { account: '123456789012', region: 'eu-central-1', name: 'kube-1', clusterId: 'aws:123456789012:eu-central-1:kube-1' };
    const text = authnzPolicyText(
      'apiVersion: authnz.kubeaws.io/v1alpha1\n# kept\nauthentication:\n  nodes: {clusterID: other, workerRoleARN: x, regions: [us-east-1]}\n',
      c,
    );
    expect(text).toContain('# kept');
    expect(parse(text).authentication.nodes).toEqual({
      clusterID: 'aws:123456789012:eu-central-1:kube-1',
      workerRoleARN: 'arn:aws:iam::123456789012:role/kube-1-worker',
      regions: ['eu-central-1'],
    });
    expect(parse(authnzPolicyText('kind: AuthnzConfiguration\n', c)).authentication.nodes.regions).toEqual(['eu-central-1']);
    expect(() => authnzPolicyText('- a list\n', c)).toThrow('kubeaws-authnz-webhook-policy: config.yaml is not a YAML mapping');
  });
});

describe('the role the authnz-webhook runs with (the master role)', () => {
  // The EC2 and STS commands the webhook sends (packages/authnz-webhook/src): only DescribeInstances; its STS call
  // is the node's presigned URL, not a call with the webhook's credentials.
  const sent = fs
    .readdirSync(path.join(ROOT, 'packages/authnz-webhook/src'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .flatMap((f) => [...fs.readFileSync(path.join(ROOT, 'packages/authnz-webhook/src', f), 'utf8').matchAll(/new (\w+)Command\(/g)])
    .map((m) => m[1]!);

  it.each(FIXTURES)('%s: DescribeInstances only in the regions of nodes.regions; workers get none', (name) => {
    const c = fixture(name);
    const r = render(c);
    expect([...new Set(sent)]).toEqual(['DescribeInstances']);
    const master = rolePolicy(r, c, 'MasterRole').filter((s) => ([] as string[]).concat(s.Action).some((a) => a.startsWith('ec2:')));
    const overlay = r.manifests!.overlays.find((o) => o.component === 'authnz-webhook')!;
    const cm = overlay.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === AUTHNZ_POLICY_CONFIGMAP.name)!;
    const regions = parse((cm.data as Record<string, string>)[AUTHNZ_POLICY_CONFIGMAP.key]!).authentication.nodes.regions;
    expect(master).toEqual([
      {
        Sid: 'AuthnzNodeAuthentication',
        Effect: 'Allow',
        Action: 'ec2:DescribeInstances',
        Resource: '*',
        Condition: { StringEquals: { 'aws:RequestedRegion': regions } },
      },
    ]);
    const worker = rolePolicy(r, c, 'WorkerRole').flatMap((s) => ([] as string[]).concat(s.Action));
    expect(worker.filter((a) => a.startsWith('ec2:'))).toEqual([]);
    // the webhook has no IRSA role: it is a host-network DaemonSet on the masters using their instance role
    const ds = overlay.objects.find((o) => o.kind === 'DaemonSet')!;
    const pod = (ds.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    expect(pod.hostNetwork).toBe(true);
    const sa = overlay.objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === pod.serviceAccountName)!;
    expect(sa.metadata.annotations?.['eks.amazonaws.com/role-arn']).toBeUndefined();
  });
});
