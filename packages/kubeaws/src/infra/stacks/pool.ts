/**
 * A `<name>-pool-<pool>` stack: one launch template and one ASG across the pool's AZ subnets. No rolling
 * updates: a changed launch template creates a new version and the node-lifecycle-controller replaces nodes.
 */
import type { ResolvedCluster, ResolvedPool } from '../config/load';
import { poolSubnets } from '../config/load';
import { envValue, type ConfigItem } from '../config/items';
import { etcdClientUrls, etcdMembers } from '../files/layout';
import { kubeNodeUserdata } from '../userdata';
import { addItemParameters, ownerTagKey, param, type RenderedStack, stackName, stackTags } from './common';
import { base64, type CfnTemplate, equals, fnIf, getAtt, importValue, ref, sub, tagList } from './intrinsics';

/** Name of the termination lifecycle hook every pool ASG carries (the node-lifecycle-controller acts on it). */
export const DRAIN_HOOK = 'kubeaws-drain';

/** The ASG name of a pool. */
export const asgName = (cluster: string, pool: string): string => `${cluster}-pool-${pool}`;

/** Tags of a pool's ASG (propagated to its instances): ownership, discovery and cluster-autoscaler templates. */
export function poolAsgTags(c: ResolvedCluster, p: ResolvedPool): Record<string, string> {
  const tags: Record<string, string> = {
    [ownerTagKey(c.name)]: 'owned',
    'kubeaws.io/cluster-id': c.clusterId,
    'kubeaws.io/node-pool': p.name,
    'kubeaws.io/role': p.role,
    'kubeaws.io/capacity-type': p.capacity,
    Name: asgName(c.name, p.name),
  };
  if (p.role === 'worker') {
    tags['k8s.io/cluster-autoscaler/enabled'] = 'true';
    tags[`k8s.io/cluster-autoscaler/${c.name}`] = 'owned';
    tags['k8s.io/cluster-autoscaler/node-template/label/kubeaws.io/node-pool'] = p.name;
    tags['k8s.io/cluster-autoscaler/node-template/label/kubeaws.io/capacity-type'] = p.capacity;
    for (const [k, v] of Object.entries(p.labels)) tags[`k8s.io/cluster-autoscaler/node-template/label/${k}`] = v;
    for (const t of p.taints)
      tags[`k8s.io/cluster-autoscaler/node-template/taint/${t.key}`] = `${t.value ?? ''}:${t.effect}`;
  }
  return tags;
}

/** Builds the stack of one pool. Pure. */
export function poolStack(c: ResolvedCluster, p: ResolvedPool): RenderedStack {
  const t: CfnTemplate = {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `kubeaws ${c.name}: node pool ${p.name} (${p.role}, ${p.capacity})`,
    Parameters: {
      ClusterName: param.clusterName(),
      PoolName: param.string('Node pool name', { AllowedPattern: '^[a-z][a-z0-9-]{0,19}$' }),
      Role: param.string('Role of the nodes', { AllowedValues: ['master', 'worker'] }),
      SubnetIds: { Type: 'List<AWS::EC2::Subnet::Id>', Description: "Subnets of the pool's AZs" },
      ImageId: { Type: 'AWS::EC2::Image::Id', Description: 'AMI of the nodes' },
      MinSize: { Type: 'Number', Description: 'Minimum size of the ASG', MinValue: 0 },
      MaxSize: { Type: 'Number', Description: 'Maximum size of the ASG', MinValue: 0 },
      CapacityType: param.string('Purchase option of the nodes', { AllowedValues: ['on-demand', 'spot'] }),
    },
    Conditions: { IsSpot: equals(ref('CapacityType'), 'spot') },
    Resources: {},
    Outputs: {},
  };
  const values: Record<string, string> = {
    ClusterName: c.name,
    PoolName: p.name,
    Role: p.role,
    SubnetIds: poolSubnets(c, p).join(','),
    ImageId: p.imageId,
    MinSize: String(p.minSize),
    MaxSize: String(p.maxSize),
    CapacityType: p.capacity,
  };
  addItemParameters(c, 'pool-stack', p.items, t, values);
  const item = (name: string): ConfigItem => c.registry.get(name)!;
  const userdata = kubeNodeUserdata({
    role: p.role,
    pool: p.name,
    clusterName: c.name,
    clusterId: c.clusterId,
    region: c.region,
    apiHostname: c.apiHostname,
    labels: { ...p.labels, 'kubeaws.io/capacity-type': p.capacity },
    taints: p.taints,
    etcdServers: p.role === 'master' ? etcdClientUrls(etcdMembers(c)) : undefined,
    authnz:
      p.role === 'master'
        ? {
            failurePolicy: p.items.get('authnz_authorization_failure_policy') as 'Deny' | 'NoOpinion',
            tokenCacheTtl: envValue(item('authnz_token_cache_ttl'), p.items.get('authnz_token_cache_ttl') ?? null),
          }
        : undefined,
  });
  const nodeTags = {
    [ownerTagKey(c.name)]: 'owned',
    'kubeaws.io/node-pool': ref('PoolName'),
    'kubeaws.io/role': ref('Role'),
    Name: sub('${ClusterName}-pool-${PoolName}'),
  };
  const r = t.Resources;
  r.LaunchTemplate = {
    Type: 'AWS::EC2::LaunchTemplate',
    Properties: {
      LaunchTemplateName: sub('${ClusterName}-pool-${PoolName}'),
      LaunchTemplateData: {
        ImageId: ref('ImageId'),
        IamInstanceProfile: { Arn: importValue('${ClusterName}:${Role}-instance-profile') },
        SecurityGroupIds: [importValue('${ClusterName}:${Role}-security-group')],
        MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' },
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: { VolumeSize: ref('RootVolumeSize'), VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
          },
        ],
        UserData: base64({ 'Fn::Sub': [userdata, { FilesBucket: importValue('${ClusterName}:files-bucket') }] }),
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tagList(nodeTags) },
          { ResourceType: 'volume', Tags: tagList(nodeTags) },
        ],
      },
    },
  };
  r.AutoScalingGroup = {
    Type: 'AWS::AutoScaling::AutoScalingGroup',
    Properties: {
      AutoScalingGroupName: sub('${ClusterName}-pool-${PoolName}'),
      MinSize: ref('MinSize'),
      MaxSize: ref('MaxSize'),
      VPCZoneIdentifier: ref('SubnetIds'),
      CapacityRebalance: fnIf('IsSpot', true, false),
      MixedInstancesPolicy: {
        LaunchTemplate: {
          LaunchTemplateSpecification: {
            LaunchTemplateId: ref('LaunchTemplate'),
            Version: getAtt('LaunchTemplate', 'LatestVersionNumber'),
          },
          Overrides: p.instanceTypes.map((InstanceType) => ({ InstanceType })),
        },
        InstancesDistribution: {
          OnDemandBaseCapacity: 0,
          OnDemandPercentageAboveBaseCapacity: fnIf('IsSpot', 0, 100),
          SpotAllocationStrategy: ref('SpotAllocationStrategy'),
        },
      },
      LifecycleHookSpecificationList: [
        {
          LifecycleHookName: DRAIN_HOOK,
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          DefaultResult: 'CONTINUE',
          HeartbeatTimeout: ref('HeartbeatTimeout'),
        },
      ],
      ...(p.role === 'master' ? { TargetGroupARNs: [importValue('${ClusterName}:api-target-group')] } : {}),
      Tags: tagList(poolAsgTags(c, p), true),
    },
  };
  t.Outputs = {
    AutoScalingGroupName: { Description: 'ASG of the pool', Value: ref('AutoScalingGroup') },
    LaunchTemplateId: { Description: 'Launch template of the pool', Value: ref('LaunchTemplate') },
    LaunchTemplateVersion: {
      Description: 'Latest launch template version',
      Value: getAtt('LaunchTemplate', 'LatestVersionNumber'),
    },
  };
  return {
    name: stackName.pool(c.name, p.name),
    kind: 'pool',
    pool: p.name,
    template: t,
    parameters: values,
    tags: { ...stackTags(c, 'pool'), 'kubeaws.io/node-pool': p.name },
    terminationProtection: false,
  };
}
