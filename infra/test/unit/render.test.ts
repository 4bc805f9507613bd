/**
 * Rendering: golden renders per fixture, determinism, the stack contracts (docs/infra.md#infra-etcd-stack,
 * #infra-cluster-stack, #infra-iam, #infra-interruption, #infra-pool-stack, #infra-fallback, #infra-tags; including
 * what moto cannot show: OIDC provider, queue and bucket policies, lifecycle hooks, NLB/TLS, NAT route-table tags and
 * associations), user data, and `render --offline`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries -- infra is rendered and applied by the kubeaws CLI; its tests drive that code
import {
  authnzApiserverFiles,
  type CfnResource,
  componentConfig,
  componentEnabled,
  componentStatements,
  formatEnvFile,
  MANIFEST_COMPONENTS,
  overlayKind,
  priorityExpanderConfigMap,
  type RenderedStack,
  renderCluster,
  renderCommand,
  renderFiles,
  renderStacks,
  serialize,
  USERDATA_LIMIT_BYTES,
} from '@kubeaws/kubeaws';
// eslint-disable-next-line @nx/enforce-module-boundaries -- the rendered role is checked against the AWS actions the node-lifecycle-controller calls
import { IAM_ACTIONS as NLC_IAM_ACTIONS } from '@kubeaws/node-lifecycle-controller';
import { FIXTURES, fixture, load, minimal, ROOT } from './helpers';

const stacksOf = (name: string): RenderedStack[] => renderStacks(fixture(name));
const stack = (stacks: RenderedStack[], name: string): RenderedStack => stacks.find((s) => s.name === name)!;
const res = (s: RenderedStack, id: string): CfnResource => s.template.Resources[id];
const props = (s: RenderedStack, id: string): Record<string, any> => res(s, id).Properties as Record<string, any>;

/** The user data text of a launch template or an instance (etcd members). */
function userdataText(s: RenderedStack, id: string): string {
  const p = props(s, id);
  return (p.LaunchTemplateData?.UserData ?? p.UserData)['Fn::Base64']['Fn::Sub'][0] as string;
}

describe('golden renders', () => {
  // Stacks, the component config and the priority-expander ConfigMap: what infra decides. The manifest bases
  // belong to the components and are covered by the manifests tests.
  it.each(FIXTURES)('%s renders as reviewed', (name) => {
    const c = fixture(name);
    const files = renderFiles(renderCluster(c, { root: ROOT, only: 'stacks' }), 'yaml');
    for (const component of MANIFEST_COMPONENTS) {
      if (componentEnabled(c, component) && overlayKind(component).configMap)
        files[`config/${component}.env`] = formatEnvFile(componentConfig(c, component));
    }
    files['manifests/cluster-autoscaler-priority-expander.yaml'] = serialize(priorityExpanderConfigMap(c), 'yaml');
    expect(files).toMatchSnapshot();
  });

  it('is deterministic: the same inputs give byte-identical output', () => {
    const a = renderFiles(renderCluster(fixture('spot-fallback'), { root: ROOT }), 'json');
    const b = renderFiles(renderCluster(fixture('spot-fallback'), { root: ROOT }), 'json');
    expect(Object.keys(a)).toEqual(Object.keys(b));
    for (const k of Object.keys(a)) expect(b[k]).toBe(a[k]);
  });
});

describe('stacks', () => {
  it('orders etcd, cluster, the master pool, then worker pools by name; tags every stack', () => {
    const stacks = stacksOf('spot-fallback');
    expect(stacks.map((s) => s.name)).toEqual([
      'spot-1-etcd',
      'spot-1-cluster',
      'spot-1-pool-master',
      'spot-1-pool-batch',
      'spot-1-pool-batch-spot',
      'spot-1-pool-fallback',
      'spot-1-pool-spot',
    ]);
    expect(stacks[0].tags).toEqual({
      'kubernetes.io/cluster/spot-1': 'owned',
      'kubeaws.io/cluster-id': 'aws:123456789012:eu-central-1:spot-1',
      'kubeaws.io/environment': 'test',
      'kubeaws.io/version': '1.2.3',
      'kubeaws.io/stack-kind': 'etcd',
    });
    expect(stacks.map((s) => s.terminationProtection)).toEqual([false, false, false, false, false, false, false]);
    expect(stacksOf('prod-3az').map((s) => s.terminationProtection)).toEqual([true, true, false, false, false]);
  });

  it('etcd: parameters from items, encrypted versioned backups with expiry, TLS-only bucket policy, IMDSv2', () => {
    const etcd = stack(stacksOf('egress-off'), 'noegress-etcd');
    expect(etcd.parameters).toEqual({
      ClusterName: 'noegress',
      VpcId: 'vpc-0123abcd',
      SubnetIds: 'subnet-0e000001,subnet-0e000002,subnet-0e000003',
      ImageId: 'ami-0aaaaaaaaaaaaaaaa',
      HostedZoneName: 'k8s.example.com',
      HostedZoneId: 'Z9ABCDEFGHIJ0123',
      InstanceType: 'm5.large',
      BackupRetentionDays: '14',
    });
    expect(props(etcd, 'EtcdBackupBucket')).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: { Rules: [{ ExpirationInDays: { Ref: 'BackupRetentionDays' }, Status: 'Enabled' }] },
    });
    expect(
      props(etcd, 'EtcdBackupBucket').BucketEncryption.ServerSideEncryptionConfiguration[0]
        .ServerSideEncryptionByDefault,
    ).toEqual({
      SSEAlgorithm: 'aws:kms',
      KMSMasterKeyID: { 'Fn::GetAtt': ['EtcdKmsKey', 'Arn'] },
    });
    expect(props(etcd, 'EtcdBackupBucketPolicy').PolicyDocument.Statement).toEqual([
      expect.objectContaining({
        Effect: 'Deny',
        Action: 's3:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    ]);
    expect(props(etcd, 'EtcdLaunchTemplate').LaunchTemplateData.MetadataOptions).toEqual({
      HttpTokens: 'required',
      HttpPutResponseHopLimit: 1,
      HttpEndpoint: 'enabled',
    });
    // fixed members (docs/infra.md#infra-etcd-members): one instance per etcd_instance_count, no ASG, no Route53 rights
    expect(Object.values(etcd.template.Resources).filter((r) => r.Type === 'AWS::EC2::Instance')).toHaveLength(3);
    expect(etcd.template.Parameters.InstanceCount).toBeUndefined();
    const actions = props(etcd, 'EtcdRole').Policies[0].PolicyDocument.Statement.flatMap((s: { Action: string | string[] }) => ([] as string[]).concat(s.Action));
    expect(actions.filter((a: string) => a.startsWith('route53:'))).toEqual([]);
    expect(Object.keys(etcd.template.Outputs).map((k) => etcd.template.Outputs[k].Export?.Name)).toEqual([
      { 'Fn::Sub': '${ClusterName}:etcd-security-group' },
      { 'Fn::Sub': '${ClusterName}:etcd-endpoint' },
      { 'Fn::Sub': '${ClusterName}:etcd-backup-bucket' },
      { 'Fn::Sub': '${ClusterName}:files-bucket' },
      { 'Fn::Sub': '${ClusterName}:files-bucket-arn' },
      { 'Fn::Sub': '${ClusterName}:kms-key-arn' },
    ]);
  });

  it('cluster: NLB with TLS 1.3 listener, /readyz health check, alias record, SG rules, exports', () => {
    const c = stack(stacksOf('prod-3az'), 'prod-1-cluster');
    expect(props(c, 'ApiLoadBalancer')).toMatchObject({
      Type: 'network',
      Scheme: 'internet-facing',
      LoadBalancerAttributes: [{ Key: 'load_balancing.cross_zone.enabled', Value: 'true' }],
    });
    expect(props(c, 'ApiListener')).toMatchObject({
      Protocol: 'TLS',
      Port: 443,
      SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
    });
    expect(props(c, 'ApiTargetGroup')).toMatchObject({
      Protocol: 'TLS',
      HealthCheckProtocol: 'HTTPS',
      HealthCheckPath: '/readyz',
    });
    expect(props(c, 'ApiDnsRecord')).toMatchObject({ Type: 'A', Name: { Ref: 'ApiHostname' } });
    expect(props(c, 'ApiLoadBalancerSecurityGroupEgress')).toMatchObject({
      FromPort: 443,
      DestinationSecurityGroupId: { 'Fn::GetAtt': ['MasterSecurityGroup', 'GroupId'] },
    });
    const rules = Object.entries(c.template.Resources)
      .filter(([, r]) => r.Type === 'AWS::EC2::SecurityGroupIngress')
      .map(([id, r]) => [id, (r.Properties as any).FromPort ?? 'all']);
    expect(rules).toEqual([
      ['MasterToMasterApiIngress', 443],
      ['MasterToMasterKubeletIngress', 10250],
      ['MasterToMasterControllerManagerIngress', 10257],
      ['MasterToMasterSchedulerIngress', 10259],
      ['MasterToMasterOverlayIngress', 8472],
      ['MasterToWorkerOverlayIngress', 8472],
      ['WorkerToMasterOverlayIngress', 8472],
      ['LoadBalancerToMasterIngress', 443],
      ['WorkerToMasterIngress', 443],
      ['MasterToWorkerKubeletIngress', 10250],
      ['WorkerToWorkerIngress', 'all'],
      ['MasterToEtcdIngress', 2379],
    ]);
    expect(props(c, 'MasterToEtcdIngress').GroupId).toEqual({
      'Fn::ImportValue': { 'Fn::Sub': '${ClusterName}:etcd-security-group' },
    });
    expect(
      Object.values(c.template.Outputs)
        .filter((o) => o.Export)
        .map((o) => (o.Export!.Name as { 'Fn::Sub': string })['Fn::Sub'].replace('${ClusterName}:', '')),
    ).toEqual([
      'api-target-group',
      'master-security-group',
      'worker-security-group',
      'master-instance-profile',
      'worker-instance-profile',
      'worker-role-arn',
      'interruption-queue-url',
      'interruption-queue-arn',
      'oidc-issuer',
    ]);
  });

  it('cluster: OIDC provider and IRSA roles trusted only for their ServiceAccount and audience', () => {
    const c = stack(stacksOf('prod-3az'), 'prod-1-cluster');
    expect(props(c, 'OidcProvider')).toMatchObject({
      Url: { 'Fn::Sub': 'https://${ApiHostname}' },
      ClientIdList: ['sts.amazonaws.com'],
    });
    for (const [id, sa] of [
      ['StaticEgressControllerRole', 'kubeaws-static-egress-controller'],
      ['MetricsAdapterRole', 'kubeaws-metrics-adapter'],
      ['NodeLifecycleControllerRole', 'kubeaws-node-lifecycle-controller'],
      ['ClusterAutoscalerRole', 'cluster-autoscaler'],
    ]) {
      expect(res(c, id).DependsOn).toBe('OidcProvider');
      expect(props(c, id).AssumeRolePolicyDocument.Statement).toEqual([
        {
          Effect: 'Allow',
          Principal: {
            Federated: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:oidc-provider/${ApiHostname}' },
          },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: {
              'prod-1.example.org:sub': `system:serviceaccount:kube-system:${sa}`,
              'prod-1.example.org:aud': 'sts.amazonaws.com',
            },
          },
        },
      ]);
    }
    expect(
      stack(stacksOf('egress-off'), 'noegress-cluster').template.Resources.StaticEgressControllerRole,
    ).toBeUndefined();
    expect(props(c, 'WorkerRole').Policies[0].PolicyDocument.Statement.map((s: { Sid: string }) => s.Sid)).toEqual([
      'ReadNodeFiles',
      'DecryptNodeFiles',
      'PullImages',
    ]);
    expect(props(c, 'MasterRole').Policies[0].PolicyDocument.Statement.map((s: { Sid: string }) => s.Sid)).toContain(
      'AuthnzNodeAuthentication',
    );
  });

  it('IRSA policies scope every write action by the cluster ownership tag', () => {
    const writes =
      /^(ec2:(Allocate|Create|Release|Delete|Replace|Terminate)|autoscaling:(Set|Terminate|Complete|Record|Update))/;
    for (const component of [
      'static-egress-controller',
      'node-lifecycle-controller',
      'cluster-autoscaler',
      'metrics-adapter',
    ] as const) {
      for (const s of componentStatements(component, 'kube-1')) {
        const actions = ([] as string[]).concat(s.Action);
        if (!actions.some((a) => writes.test(a))) continue;
        const condition = JSON.stringify(s.Condition ?? {});
        expect({ component, sid: s.Sid, scoped: condition.includes('kubernetes.io/cluster/kube-1') }).toEqual({
          component,
          sid: s.Sid,
          scoped: true,
        });
      }
    }
    const nlc = componentStatements('node-lifecycle-controller', 'kube-1')
      .flatMap((s) => ([] as string[]).concat(s.Action))
      .sort();
    // Every AWS action the node-lifecycle-controller calls, and nothing else (docs/node-lifecycle-controller.md#nlc-permissions).
    expect(nlc).toEqual([...NLC_IAM_ACTIONS].sort());
    const egressCreate = componentStatements('static-egress-controller', 'kube-1').find(
      (s) => s.Sid === 'TagOnCreate',
    )!;
    expect(egressCreate.Condition).toEqual({
      StringEquals: {
        'ec2:CreateAction': ['AllocateAddress', 'CreateNatGateway', 'CreateManagedPrefixList'],
        'aws:RequestTag/kubernetes.io/cluster/kube-1': 'owned',
      },
    });
  });

  it('cluster: SSE-SQS queue with DLQ redrive, policy allowing exactly the five rules', () => {
    const c = stack(stacksOf('prod-3az'), 'prod-1-cluster');
    expect(props(c, 'InterruptionQueue')).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: { Ref: 'InterruptionQueueRetention' },
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': ['InterruptionDeadLetterQueue', 'Arn'] },
        maxReceiveCount: 5,
      },
    });
    expect(c.parameters.InterruptionQueueRetention).toBe('3600');
    expect(props(c, 'InterruptionQueuePolicy').PolicyDocument.Statement).toEqual([
      {
        Sid: 'EventBridgeRulesOfThisCluster',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: { 'Fn::GetAtt': ['InterruptionQueue', 'Arn'] },
        Condition: {
          ArnEquals: {
            'aws:SourceArn': [
              'SpotInterruptionRule',
              'RebalanceRule',
              'InstanceStateChangeRule',
              'ScheduledChangeRule',
              'AsgTerminateLifecycleRule',
            ].map((r) => ({
              'Fn::GetAtt': [r, 'Arn'],
            })),
          },
        },
      },
    ]);
    expect(props(c, 'AsgTerminateLifecycleRule').EventPattern.detail).toEqual({
      AutoScalingGroupName: [{ prefix: 'prod-1-pool-' }],
    });
  });

  it('cluster: one NAT subnet, route table, default route and association per AZ, tagged for the controller', () => {
    const c = stack(stacksOf('prod-3az'), 'prod-1-cluster');
    const ids = Object.keys(c.template.Resources).filter((id) => id.startsWith('Nat'));
    expect(ids).toEqual(
      ['EuCentral1a', 'EuCentral1b', 'EuCentral1c'].flatMap((z) => [
        `NatSubnet${z}`,
        `NatRouteTable${z}`,
        `NatDefaultRoute${z}`,
        `NatSubnetRouteTableAssociation${z}`,
      ]),
    );
    const tags = Object.fromEntries(
      (props(c, 'NatRouteTableEuCentral1b').Tags as { Key: string; Value: unknown }[]).map((t) => [t.Key, t.Value]),
    );
    expect(tags).toMatchObject({
      'kubernetes.io/cluster/prod-1': 'owned',
      'kubeaws.io/component': 'static-egress-controller',
      'kubeaws.io/availability-zone': 'eu-central-1b',
      'kubeaws.io/role': 'egress-nat',
    });
    expect(props(c, 'NatSubnetRouteTableAssociationEuCentral1b')).toEqual({
      SubnetId: { Ref: 'NatSubnetEuCentral1b' },
      RouteTableId: { Ref: 'NatRouteTableEuCentral1b' },
    });
    expect(props(c, 'NatDefaultRouteEuCentral1b')).toEqual({
      RouteTableId: { Ref: 'NatRouteTableEuCentral1b' },
      DestinationCidrBlock: '0.0.0.0/0',
      GatewayId: { Ref: 'InternetGatewayId' },
    });
    expect([c.parameters.NatSubnetCidrEuCentral1b, c.parameters.NatSubnetAvailabilityZoneEuCentral1b]).toEqual([
      '10.0.255.16/28',
      'eu-central-1b',
    ]);
    const none = stack(stacksOf('egress-off'), 'noegress-cluster');
    expect(Object.keys(none.template.Resources).filter((id) => id.startsWith('Nat'))).toEqual([]);
    expect(none.template.Parameters.InternetGatewayId).toBeUndefined();
    expect(
      Object.values(c.template.Resources).some((r) => r.Type === 'AWS::EC2::EIP' || r.Type === 'AWS::EC2::NatGateway'),
    ).toBe(false);
  });

  it('pools: spot with ≥ 2 overrides and rebalance, on-demand at 100 %, drain hook, master target group', () => {
    const stacks = stacksOf('spot-fallback');
    const spot = stack(stacks, 'spot-1-pool-spot');
    expect(spot.parameters).toMatchObject({
      CapacityType: 'spot',
      SpotAllocationStrategy: 'capacity-optimized',
      HeartbeatTimeout: '600',
      MinSize: '0',
      MaxSize: '40',
    });
    const asg = props(spot, 'AutoScalingGroup');
    expect(asg.MixedInstancesPolicy.LaunchTemplate.Overrides).toEqual([
      { InstanceType: 'm6i.xlarge' },
      { InstanceType: 'm6a.xlarge' },
      { InstanceType: 'm5.xlarge' },
    ]);
    expect(asg.MixedInstancesPolicy.InstancesDistribution).toEqual({
      OnDemandBaseCapacity: 0,
      OnDemandPercentageAboveBaseCapacity: { 'Fn::If': ['IsSpot', 0, 100] },
      SpotAllocationStrategy: { Ref: 'SpotAllocationStrategy' },
    });
    expect(asg.CapacityRebalance).toEqual({ 'Fn::If': ['IsSpot', true, false] });
    expect(asg.LifecycleHookSpecificationList).toEqual([
      {
        LifecycleHookName: 'kubeaws-drain',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        DefaultResult: 'CONTINUE',
        HeartbeatTimeout: { Ref: 'HeartbeatTimeout' },
      },
    ]);
    expect(res(spot, 'AutoScalingGroup')).not.toHaveProperty('UpdatePolicy');
    expect(asg.AutoScalingGroupName).toEqual({ 'Fn::Sub': '${ClusterName}-pool-${PoolName}' });
    const batch = stack(stacks, 'spot-1-pool-batch-spot');
    const tags = Object.fromEntries(
      (props(batch, 'AutoScalingGroup').Tags as { Key: string; Value: string; PropagateAtLaunch: boolean }[]).map(
        (t) => [t.Key, [t.Value, t.PropagateAtLaunch]],
      ),
    );
    expect(tags).toMatchObject({
      'kubernetes.io/cluster/spot-1': ['owned', true],
      'kubeaws.io/node-pool': ['batch-spot', true],
      'kubeaws.io/role': ['worker', true],
      'kubeaws.io/capacity-type': ['spot', true],
      'k8s.io/cluster-autoscaler/enabled': ['true', true],
      'k8s.io/cluster-autoscaler/spot-1': ['owned', true],
      'k8s.io/cluster-autoscaler/node-template/label/workload': ['batch', true],
      'k8s.io/cluster-autoscaler/node-template/taint/workload': ['batch:NoSchedule', true],
    });
    expect([batch.parameters.SubnetIds, batch.parameters.RootVolumeSize]).toEqual(['subnet-0a000001', '100']);
    const master = stack(stacks, 'spot-1-pool-master');
    expect(props(master, 'AutoScalingGroup').TargetGroupARNs).toEqual([
      { 'Fn::ImportValue': { 'Fn::Sub': '${ClusterName}:api-target-group' } },
    ]);
    expect(master.parameters).toMatchObject({ Role: 'master', CapacityType: 'on-demand', MinSize: '2', MaxSize: '2' });
    const lt = props(master, 'LaunchTemplate').LaunchTemplateData;
    expect(lt.MetadataOptions).toEqual({ HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' });
    expect(lt.BlockDeviceMappings[0].Ebs).toMatchObject({ VolumeType: 'gp3', Encrypted: true });
    expect(lt.IamInstanceProfile).toEqual({
      Arn: { 'Fn::ImportValue': { 'Fn::Sub': '${ClusterName}:${Role}-instance-profile' } },
    });
    expect(Object.keys(master.template.Outputs)).toEqual([
      'AutoScalingGroupName',
      'LaunchTemplateId',
      'LaunchTemplateVersion',
    ]);
  });

  it('user data fits the EC2 16 KB limit with a 512-byte margin; master user data wires kube-apiserver to the local authnz-webhook', () => {
    // EC2 limits user data to 16 KB (16,384 bytes) in raw form, before base64 (Amazon EC2 API Reference, RunInstances
    // UserData; the same for a launch template's UserData). The user data is plain text, not gzip-compressed (cloud-init
    // would accept gzip). The 512-byte margin covers what `Fn::Sub` substitutes (the files bucket name, at most 63
    // characters, for `${FilesBucket}`) and keeps room for small additions; larger files come from the files bucket.
    const margin = 512;
    expect(USERDATA_LIMIT_BYTES).toBe(16_384);
    const sizes: Record<string, number> = {};
    for (const name of FIXTURES) {
      for (const s of stacksOf(name)) {
        for (const [id, r] of Object.entries(s.template.Resources)) {
          const p = r.Properties as Record<string, any>;
          if (!(r.Type === 'AWS::EC2::LaunchTemplate' && p.LaunchTemplateData.UserData) && r.Type !== 'AWS::EC2::Instance') continue;
          const text = userdataText(s, id);
          expect(text.startsWith('#cloud-config\n') || text.startsWith('#!')).toBe(true);
          sizes[`${s.name}/${id}`] = Buffer.byteLength(text);
        }
      }
    }
    expect(Object.keys(sizes).length).toBeGreaterThan(0);
    for (const [where, bytes] of Object.entries(sizes))
      expect({ where, fits: bytes <= USERDATA_LIMIT_BYTES - margin }).toEqual({ where, fits: true });
    const master = userdataText(stack(stacksOf('prod-3az'), 'prod-1-pool-master'), 'LaunchTemplate');
    expect(master.startsWith('#cloud-config\n')).toBe(true);
    for (const file of ['authn-webhook.kubeconfig', 'authz-webhook.kubeconfig', 'authorization-config.yaml'])
      expect(master).toContain(`/etc/kubernetes/authnz/${file}`);
    expect(master).toContain('--authentication-token-webhook-cache-ttl=10s');
    expect(master).toContain('--service-account-issuer=https://prod-1.example.org');
    expect(master).toContain('FILES_PREFIX=s3://${FilesBucket}/master/');
    expect(master).not.toMatch(/\$\{(?!FilesBucket\}|!)/);
    const worker = userdataText(stack(stacksOf('spot-fallback'), 'spot-1-pool-batch-spot'), 'LaunchTemplate');
    expect(worker).toContain('KUBELET_REGISTER_WITH_TAINTS=workload=batch:NoSchedule');
    expect(worker).not.toContain('authnz');
  });

  it('authnz files: Node → Webhook (failure policy from config, system identities skipped) → RBAC', () => {
    const f = authnzApiserverFiles({ failurePolicy: 'NoOpinion', tokenCacheTtl: '30s' });
    const config = f.files['/etc/kubernetes/authnz/authorization-config.yaml'];
    expect(config).toContain('failurePolicy: NoOpinion');
    expect(config).toMatch(/- type: Node[\s\S]*- type: Webhook[\s\S]*- type: RBAC/);
    for (const skipped of [
      'system:node:',
      "'system:nodes' in request.groups",
      'system:serviceaccount:kube-system:',
      'system:anonymous',
      'system:kube-scheduler',
      'system:kube-controller-manager',
      'system:apiserver',
    ]) {
      expect(config).toContain(skipped);
    }
    expect(f.files['/etc/kubernetes/authnz/authn-webhook.kubeconfig']).toContain(
      'server: https://127.0.0.1:9443/authenticate',
    );
    expect(f.flags).toEqual([
      '--authentication-token-webhook-config-file=/etc/kubernetes/authnz/authn-webhook.kubeconfig',
      '--authentication-token-webhook-version=v1',
      '--authentication-token-webhook-cache-ttl=30s',
      '--authorization-config=/etc/kubernetes/authnz/authorization-config.yaml',
    ]);
  });

  it('derived AWS names fit their limits for the longest cluster and pool names', () => {
    const c = fixture('max-pools');
    expect(c.name).toHaveLength(24);
    expect(`${c.name}-api`.length).toBeLessThanOrEqual(32);
    expect(`${c.name}-node-lifecycle-controller`.length).toBeLessThanOrEqual(64);
    expect(`${c.name}-pool-${'p'.repeat(20)}`.length).toBeLessThanOrEqual(128);
    expect(renderStacks(c)).toHaveLength(18);
  });
});

describe('render --offline', () => {
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) } };
  };

  it('fails naming every value that must be explicit', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-render-'));
    const file = path.join(dir, 'kube-1.yaml');
    fs.writeFileSync(
      file,
      minimal()
        .replace('  hostedZoneId: Z0123456789ABC\n', '')
        .replace('  vpcId: vpc-0a1b2c3d\n', '')
        .replace('  internetGatewayId: igw-0a1b2c3d\n', '')
        .replace('  subnets:\n    eu-central-1a: subnet-0a000001\n', '')
        .replace(/  certificateArn: .*\n/, ''),
    );
    const r = io();
    expect(await renderCommand(file, { format: 'yaml', offline: true }, r.io)).toBe(2);
    expect(r.err.join('')).toBe(
      `${file}: --offline makes no AWS calls, so these values must be explicit: spec.vpcId, spec.subnets, spec.hostedZoneId, spec.certificateArn, spec.internetGatewayId\n`,
    );
  });

  it('writes stacks and manifests to --out, or prints them', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-out-'));
    const file = path.join(ROOT, 'infra/test/fixtures/clusters/test-1az.yaml');
    const w = io();
    expect(await renderCommand(file, { out, format: 'json', offline: true }, w.io)).toBe(0);
    const written = fs.readdirSync(path.join(out, 'test-1', 'stacks')).sort();
    expect(written).toContain('test-1-pool-default.template.json');
    expect(written).toHaveLength(12);
    expect(
      JSON.parse(fs.readFileSync(path.join(out, 'test-1/stacks/test-1-etcd.parameters.json'), 'utf8')),
    ).toContainEqual({ ParameterKey: 'InstanceType', ParameterValue: 't3.medium' });
    expect(fs.existsSync(path.join(out, 'test-1/manifests/pdb-controller/kustomization.yaml'))).toBe(true);
    const p = io();
    expect(await renderCommand(file, { format: 'yaml', offline: true, only: 'stacks' }, p.io)).toBe(0);
    expect(p.out.filter((t) => t.startsWith('# ---- ')).map((t) => t.split('\n')[0])).toHaveLength(12);
    expect(p.out.join('')).not.toContain('manifests/');
  });

  // CI renders every fixture as `kubeaws render --strict --offline` does: a component folder, or the consumer of a
  // stack resource, missing from manifests/ fails the build (docs/infra.md#infra-consumers).
  it.each(FIXTURES)('%s: render --strict --offline exits 0 with nothing missing', async (name) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-strict-'));
    const r = io();
    const code = await renderCommand(
      path.join(ROOT, 'infra/test/fixtures/clusters', `${name}.yaml`),
      { out, format: 'yaml', offline: true, strict: true },
      r.io,
    );
    fs.rmSync(out, { recursive: true, force: true });
    // validation warnings (e.g. a restricted apiAllowedCidr) are not missing manifests
    expect({ code, missing: r.err.join('').split('\n').filter((l) => l.includes('missing manifest')) }).toEqual({ code: 0, missing: [] });
  });

  it('rejects an invalid file with exit code 2', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-render-'));
    const file = path.join(dir, 'kube-1.yaml');
    fs.writeFileSync(file, minimal({ items: '    drain_poll_interval: soon\n' }));
    const r = io();
    expect(await renderCommand(file, { format: 'yaml', offline: true }, r.io)).toBe(2);
    expect(r.err.join('')).toBe(
      `${file}:30:26 spec.configItems.drain_poll_interval: expected a duration like 90s, 5m, 6h or 3d, got "soon"\n`,
    );
    expect(load(minimal()).pools).toHaveLength(2);
  });
});
