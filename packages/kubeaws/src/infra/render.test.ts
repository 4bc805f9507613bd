/**
 * The renderer on cluster config it turns into stacks and manifests: bring-your-own Elastic IPs of static egress
 * (config item → controller env and IRSA policy), the ConfigMap-annotation add-on, CIDR checks, and the security
 * group rules between nodes (docs/infra.md#infra-cluster-stack, docs/static-egress-controller.md#seg-iam).
 */
import * as path from 'node:path';
import { type Diagnostic, findRepoRoot, loadClusterText, type ResolvedCluster } from './config/load';
import { renderManifests } from './manifests';
import { clusterStack } from './stacks/cluster';
import type { RenderedStack } from './stacks/common';
import { etcdStack } from './stacks/etcd';
import type { Statement } from './stacks/intrinsics';

const ROOT = findRepoRoot();

/** Options of {@link clusterText}: extra `spec.configItems` lines and the API CIDR. */
interface ClusterTextOptions {
  /** Lines appended under `spec.configItems` (4-space indented). */
  items?: string;
  apiAllowedCidr?: string;
}

/** The text of a valid cluster file `kube-1` in eu-central-1a/b. */
function clusterText(o: ClusterTextOptions = {}): string {
  return `apiVersion: kubeaws.io/v1alpha1
kind: Cluster
metadata:
  name: kube-1
spec:
  environment: test
  account: "123456789012"
  region: eu-central-1
  hostedZone: example.org
  hostedZoneId: Z0123456789ABC
  apiHostname: kube-1.example.org
${o.apiAllowedCidr !== undefined ? `  apiAllowedCidr: ${o.apiAllowedCidr}\n` : ''}  vpcId: vpc-0a1b2c3d
  internetGatewayId: igw-0a1b2c3d
  subnets:
    eu-central-1a: subnet-0a000001
    eu-central-1b: subnet-0a000002
  certificateArn: arn:aws:acm:eu-central-1:123456789012:certificate/0b1c2d3e
  imageId: ami-0123456789abcdef0
  images:
    registry: registry.example.org/kubeaws
  nodePools:
    - name: master
      role: master
      instanceTypes: [m6i.large]
    - name: default
      role: worker
      instanceTypes: [m6i.large]
      maxSize: 3
  configItems:
    static_egress_nat_cidrs: [10.0.255.0/28, 10.0.255.16/28]
${o.items ?? ''}`;
}

/** The diagnostics of a cluster text as `line:column path: message` (warnings prefixed `warning: `). */
function diagnosticsOf(text: string): string[] {
  return loadClusterText(text, { displayName: 'kube-1.yaml', version: '0.0.0-test' }).diagnostics.map(
    (d: Diagnostic) => `${d.line}:${d.column} ${d.severity === 'warning' ? 'warning: ' : ''}${d.path}: ${d.message}`,
  );
}

/** Loads a cluster text that must be valid. */
function loadTestCluster(text: string): ResolvedCluster {
  const r = loadClusterText(text, { displayName: 'kube-1.yaml', version: '0.0.0-test' });
  if (!r.cluster) throw new Error(r.diagnostics.map((d) => `${d.path}: ${d.message}`).join('\n'));
  return r.cluster;
}

const overlayOf = (c: ResolvedCluster, component: string) => {
  const m = renderManifests(c, ROOT, path.join(ROOT, 'out', c.name, 'manifests'));
  return { overlay: m.overlays.find((o) => o.component === component)!, deletions: m.deletions };
};

const egressStatements = (c: ResolvedCluster): Statement[] =>
  (
    clusterStack(c).template.Resources.StaticEgressControllerRole.Properties as {
      Policies: { PolicyDocument: { Statement: Statement[] } }[];
    }
  ).Policies[0].PolicyDocument.Statement;

describe('static egress: bring-your-own Elastic IPs', () => {
  const items = '    static_egress_eip_allocation_ids: [eu-central-1a=eipalloc-0123456789abcdef0, eu-central-1b=eipalloc-0a1b2c3d]\n';

  it('renders into the controller config as --eip-allocation-ids (STATIC_EGRESS_EIP_ALLOCATION_IDS)', () => {
    const { overlay } = overlayOf(loadTestCluster(clusterText({ items })), 'static-egress-controller');
    expect(overlay.configEnv).toContain(
      'STATIC_EGRESS_EIP_ALLOCATION_IDS=eu-central-1a=eipalloc-0123456789abcdef0,eu-central-1b=eipalloc-0a1b2c3d\n',
    );
  });

  it('allows CreateNatGateway on exactly the listed addresses, keeping the tag-confined statements', () => {
    const withList = egressStatements(loadTestCluster(clusterText({ items })));
    expect(withList.find((s) => s.Sid === 'NatGatewaysOnListedAddresses')).toEqual({
      Sid: 'NatGatewaysOnListedAddresses',
      Effect: 'Allow',
      Action: 'ec2:CreateNatGateway',
      Resource: ['eipalloc-0123456789abcdef0', 'eipalloc-0a1b2c3d'].map((id) => ({
        'Fn::Sub': `arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:elastic-ip/${id}`,
      })),
    });
    const without = egressStatements(loadTestCluster(clusterText()));
    expect(without.map((s) => s.Sid)).not.toContain('NatGatewaysOnListedAddresses');
    expect(withList.filter((s) => s.Sid !== 'NatGatewaysOnListedAddresses')).toEqual(without);
  });

  it('leaves the controller config and the policy without a list when none is configured', () => {
    const { overlay } = overlayOf(loadTestCluster(clusterText()), 'static-egress-controller');
    expect(overlay.configEnv).toContain('STATIC_EGRESS_EIP_ALLOCATION_IDS=\n');
  });

  it.each<[string, string]>([
    [
      '    static_egress_eip_allocation_ids: [eu-central-1c=eipalloc-0123456789abcdef0]\n',
      '31:40 spec.configItems.static_egress_eip_allocation_ids[0]: zone eu-central-1c is not a zone of the cluster (eu-central-1a, eu-central-1b), got "eu-central-1c=eipalloc-0123456789abcdef0"',
    ],
    [
      '    static_egress_eip_allocation_ids: [eu-central-1a=eipalloc-0a1b2c3d, eu-central-1a=eipalloc-0a1b2c3e]\n',
      '31:73 spec.configItems.static_egress_eip_allocation_ids[1]: expected at most one Elastic IP per zone (eu-central-1a also at [0]), got "eu-central-1a=eipalloc-0a1b2c3e"',
    ],
    [
      '    static_egress_eip_allocation_ids: [eu-central-1a=eipalloc-0a1b2c3d, eu-central-1b=eipalloc-0a1b2c3d]\n',
      '31:73 spec.configItems.static_egress_eip_allocation_ids[1]: expected distinct allocation IDs (eipalloc-0a1b2c3d also at [0]), got "eu-central-1b=eipalloc-0a1b2c3d"',
    ],
    [
      '    static_egress_eip_allocation_ids: [eu-central-1a=eipalloc-xyz]\n',
      '31:39 spec.configItems.static_egress_eip_allocation_ids: expected a comma-separated list of values matching ^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]=eipalloc-([0-9a-f]{8}|[0-9a-f]{17})$, or "", got ["eu-central-1a=eipalloc-xyz"]',
    ],
  ])('rejects %j', (line, message) => {
    expect(diagnosticsOf(clusterText({ items: line }))).toEqual([message]);
  });

  it('warns that a list has no effect with static egress off', () => {
    const text = clusterText({
      items: '    static_egress_enabled: false\n    static_egress_eip_allocation_ids: [eu-central-1a=eipalloc-0a1b2c3d]\n',
    });
    expect(diagnosticsOf(text)).toEqual([
      '32:39 warning: spec.configItems.static_egress_eip_allocation_ids: has no effect: static_egress_enabled is false, so no static-egress-controller is deployed',
    ]);
  });
});

describe('static egress: ConfigMap annotation add-on', () => {
  const ADDON = 'kubeaws:static-egress-controller-annotate-configmaps';

  it('with static_egress_annotate_configmaps: the add-on RBAC in the overlay and the flag set', () => {
    const c = loadTestCluster(clusterText({ items: '    static_egress_annotate_configmaps: true\n' }));
    const { overlay, deletions } = overlayOf(c, 'static-egress-controller');
    expect(overlay.configEnv).toContain('STATIC_EGRESS_ANNOTATE_CONFIGMAPS=true\n');
    expect(overlay.objects.filter((o) => o.metadata.name === ADDON).map((o) => o.kind)).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
    ]);
    expect(overlay.kustomization).toContain('- rbac-annotate-configmaps.yaml');
    expect(Object.keys(overlay.files)).toEqual(['rbac-annotate-configmaps.yaml']);
    expect(deletions.filter((d) => d.name === ADDON)).toEqual([]);
  });

  it('without it: neither the RBAC nor the flag, and the add-on listed for deletion', () => {
    const { overlay, deletions } = overlayOf(loadTestCluster(clusterText()), 'static-egress-controller');
    expect(overlay.configEnv).toContain('STATIC_EGRESS_ANNOTATE_CONFIGMAPS=false\n');
    expect(overlay.objects.filter((o) => o.metadata.name === ADDON)).toEqual([]);
    expect(overlay.kustomization).not.toContain('rbac-annotate-configmaps.yaml');
    expect(overlay.files).toEqual({});
    expect(deletions.filter((d) => d.name === ADDON).map((d) => d.kind)).toEqual(['ClusterRole', 'ClusterRoleBinding']);
  });
});

describe('validate: CIDRs with host bits set', () => {
  it.each<[ClusterTextOptions, string]>([
    [
      { apiAllowedCidr: '198.51.100.7/24' },
      '12:19 spec.apiAllowedCidr: expected an IPv4 CIDR like 203.0.113.0/24 ("198.51.100.7/24" has host bits set; the network is "198.51.100.0/24"), got "198.51.100.7/24"',
    ],
    [
      { items: '    static_egress_enabled: true\n', apiAllowedCidr: '0.0.0.0/0' },
      '',
    ],
  ])('%j', (o, message) => {
    const errors = diagnosticsOf(clusterText(o)).filter((d) => !d.includes('warning: '));
    expect(errors).toEqual(message ? [message] : []);
  });

  it('names the canonical network of a NAT /28 with host bits set', () => {
    const text = clusterText().replace('10.0.255.16/28', '10.0.255.17/28');
    expect(diagnosticsOf(text)).toEqual([
      '30:30 spec.configItems.static_egress_nat_cidrs: expected a list of IPv4 CIDRs like 10.0.255.0/28 ("10.0.255.17/28" has host bits set; the network is "10.0.255.16/28"), got ["10.0.255.0/28","10.0.255.17/28"]',
    ]);
  });
});

/** One ingress rule of a rendered template: target group ← source (group or CIDR), protocol and ports. */
type Rule = string;

/** Every ingress rule of a stack as `<to> <- <from> <proto> <from-port>-<to-port>`, sorted. */
function ingressRules(stack: RenderedStack): Rule[] {
  const name = (v: unknown): string => {
    const x = v as { 'Fn::GetAtt'?: [string, string]; 'Fn::ImportValue'?: { 'Fn::Sub': string }; Ref?: string };
    if (x['Fn::GetAtt']) return x['Fn::GetAtt'][0];
    if (x['Fn::ImportValue']) return `import:${x['Fn::ImportValue']['Fn::Sub'].replace('${ClusterName}:', '')}`;
    if (x.Ref) return `ref:${x.Ref}`;
    return JSON.stringify(v);
  };
  const rule = (to: string, p: Record<string, unknown>): Rule => {
    const from = p.SourceSecurityGroupId ? name(p.SourceSecurityGroupId) : name(p.CidrIp);
    const ports = p.IpProtocol === '-1' ? 'all' : `${p.IpProtocol as string} ${p.FromPort as number}-${p.ToPort as number}`;
    return `${to} <- ${from} ${ports}`;
  };
  const out: Rule[] = [];
  for (const [id, res] of Object.entries(stack.template.Resources)) {
    const p = (res.Properties ?? {}) as Record<string, unknown>;
    if (res.Type === 'AWS::EC2::SecurityGroup')
      for (const inline of (p.SecurityGroupIngress as Record<string, unknown>[]) ?? []) out.push(rule(id, inline));
    if (res.Type === 'AWS::EC2::SecurityGroupIngress') out.push(rule(name(p.GroupId), p));
  }
  return out.sort();
}

describe('security groups', () => {
  it('open the control-plane ports between masters, the kubelet to masters, the API to workers and the overlay everywhere', () => {
    const c = loadTestCluster(clusterText({ apiAllowedCidr: '198.51.100.0/24' }));
    expect(ingressRules(clusterStack(c))).toEqual(
      [
        'ApiLoadBalancerSecurityGroup <- ref:ApiAllowedCidr tcp 443-443',
        'MasterSecurityGroup <- ApiLoadBalancerSecurityGroup tcp 443-443',
        'MasterSecurityGroup <- MasterSecurityGroup tcp 443-443',
        'MasterSecurityGroup <- MasterSecurityGroup tcp 10250-10250',
        'MasterSecurityGroup <- MasterSecurityGroup tcp 10257-10257',
        'MasterSecurityGroup <- MasterSecurityGroup tcp 10259-10259',
        'MasterSecurityGroup <- MasterSecurityGroup udp 8472-8472',
        'MasterSecurityGroup <- WorkerSecurityGroup tcp 443-443',
        'MasterSecurityGroup <- WorkerSecurityGroup udp 8472-8472',
        'WorkerSecurityGroup <- MasterSecurityGroup tcp 10250-10250',
        'WorkerSecurityGroup <- MasterSecurityGroup udp 8472-8472',
        'WorkerSecurityGroup <- WorkerSecurityGroup all',
        'import:etcd-security-group <- MasterSecurityGroup tcp 2379-2379',
      ].sort(),
    );
  });

  it('confine ApiAllowedCidr to the load balancer: workers reach kube-apiserver through their group', () => {
    const s = clusterStack(loadTestCluster(clusterText({ apiAllowedCidr: '198.51.100.0/24' })));
    expect(s.parameters.ApiAllowedCidr).toBe('198.51.100.0/24');
    const byCidr = ingressRules(s).filter((r) => r.includes('ref:ApiAllowedCidr'));
    expect(byCidr).toEqual(['ApiLoadBalancerSecurityGroup <- ref:ApiAllowedCidr tcp 443-443']);
    expect(ingressRules(s)).toContain('MasterSecurityGroup <- WorkerSecurityGroup tcp 443-443');
  });

  it('let only etcd members (2379-2380) and masters (2379) reach etcd', () => {
    const c = loadTestCluster(clusterText());
    expect(ingressRules(etcdStack(c))).toEqual(['EtcdSecurityGroup <- EtcdSecurityGroup tcp 2379-2380']);
    expect(ingressRules(clusterStack(c)).filter((r) => r.startsWith('import:etcd'))).toEqual([
      'import:etcd-security-group <- MasterSecurityGroup tcp 2379-2379',
    ]);
  });

  it('validate warns that a restricted apiAllowedCidr keeps AWS STS from the OIDC issuer', () => {
    expect(diagnosticsOf(clusterText({ apiAllowedCidr: '198.51.100.0/24' }))).toEqual([
      '12:19 warning: spec.apiAllowedCidr: restricts the API load balancer, which also serves the service-account issuer https://kube-1.example.org: AWS STS fetches its discovery document and signing keys from the internet to verify pod tokens, so IRSA roles cannot be assumed unless AWS can reach it (the security groups let nodes reach kube-apiserver on the masters regardless of this CIDR), got "198.51.100.0/24"',
    ]);
    expect(diagnosticsOf(clusterText({ apiAllowedCidr: '0.0.0.0/0' }))).toEqual([]);
    expect(diagnosticsOf(clusterText())).toEqual([]);
  });
});

describe('validate: node labels the kubelet may set', () => {
  it.each<[string, boolean]>([
    ['node-role.kubernetes.io/worker', false],
    ['node-restriction.kubernetes.io/pool', false],
    ['kubernetes.io/role', false],
    ['node.kubernetes.io/workload', true],
    ['topology.kubernetes.io/zone', true],
    ['example.org/team', true],
  ])('pool label %s allowed=%s', (key, ok) => {
    const text = clusterText().replace('      maxSize: 3\n', `      maxSize: 3\n      labels:\n        ${key}: "x"\n`);
    const errors = diagnosticsOf(text);
    expect(errors).toEqual(
      ok
        ? []
        : [
            `30:9 spec.nodePools[1].labels.${key}: the kubelet cannot set label ${key} on its node (NodeRestriction reserves kubernetes.io and k8s.io labels except kubelet.kubernetes.io/*, node.kubernetes.io/* and the well-known ones); use another prefix such as node.kubernetes.io/ or example.org/`,
          ],
    );
  });
});
