/**
 * IAM of the cluster stack: node roles and the IRSA roles of the components (least privilege; write actions
 * scoped by the cluster's ownership tag). Exported per component so that component tests can check the
 * actions they call against the role they get.
 */
import type { ResolvedCluster } from '../config/load';
import { ownerTagKey, partitionOf } from './common';
import { type Cfn, getAtt, policyDocument, ref, type Statement, sub } from './intrinsics';

/**
 * ARN of the worker nodes' role `<name>-worker` (the cluster stack's `WorkerRole`, docs/infra.md#infra-cluster-stack),
 * in the region's partition.
 */
export function workerRoleArn(c: Pick<ResolvedCluster, 'account' | 'region' | 'name'>): string {
  return `arn:${partitionOf(c.region)}:iam::${c.account}:role/${c.name}-worker`;
}

/** The `authentication.nodes` section of the authnz-webhook configuration (docs/authnz-webhook.md#authnz-node-tokens). */
export interface AuthnzNodesSection {
  /** The `x-k8s-aws-id` worker kubelets sign: the cluster id `aws:<account>:<region>:<name>` their kubeconfig passes to `aws eks get-token --cluster-name`. */
  clusterID: string;
  /** {@link workerRoleArn}: the only role whose sessions become `system:node:<private DNS name>`. */
  workerRoleARN: string;
  /** The cluster's region: its STS endpoint is accepted and EC2 `DescribeInstances` is called there. */
  regions: string[];
}

/** The node-token section of a cluster (docs/infra.md#infra-node-authentication). Pure. */
export function authnzNodesSection(c: Pick<ResolvedCluster, 'account' | 'region' | 'name' | 'clusterId'>): AuthnzNodesSection {
  return { clusterID: c.clusterId, workerRoleARN: workerRoleArn(c), regions: [c.region] };
}

/**
 * What the authnz-webhook needs in the role it runs with to map a node token to its node
 * (docs/authnz-webhook.md#authnz-node-tokens): `ec2:DescribeInstances`, nothing else (the STS call carries the node's
 * own signature). The webhook is a host-network DaemonSet on the masters without an IRSA role
 * (manifests/authnz-webhook/daemonset.yaml), so this goes into the master instance role. DescribeInstances has no
 * resource-level permissions (AWS Service Authorization Reference, "Actions, resources, and condition keys for
 * Amazon EC2"): `Resource` must be `*`, and the statement is confined with `aws:RequestedRegion` to the regions the
 * webhook calls EC2 in, `nodes.regions` of {@link authnzNodesSection}.
 */
export function authnzWebhookStatements(regions: readonly string[]): Statement[] {
  return [
    {
      Sid: 'AuthnzNodeAuthentication',
      Effect: 'Allow',
      Action: 'ec2:DescribeInstances',
      Resource: '*',
      Condition: { StringEquals: { 'aws:RequestedRegion': [...regions] } },
    },
  ];
}

/** Components with an IRSA role, and their ServiceAccount in kube-system. */
export const IRSA_COMPONENTS = {
  'static-egress-controller': 'kubeaws-static-egress-controller',
  'metrics-adapter': 'kubeaws-metrics-adapter',
  'node-lifecycle-controller': 'kubeaws-node-lifecycle-controller',
  'cluster-autoscaler': 'cluster-autoscaler',
} as const;

/** A component with an IRSA role. */
export type IrsaComponent = keyof typeof IRSA_COMPONENTS;

/** Logical ID of a component's role: `NodeLifecycleControllerRole`. */
export function irsaLogicalId(component: IrsaComponent): string {
  return `${component
    .split('-')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('')}Role`;
}

const ASG_ARN =
  'arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/${ClusterName}-pool-*';
const EC2_ARN = (type: string): Cfn => sub(`arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:${type}/*`);

/** Per-cluster inputs of the component policies beyond the cluster name. */
export interface ComponentPolicyOptions {
  /**
   * Allocation IDs of the static-egress-controller's bring-your-own Elastic IPs (`eipalloc-…`, config item
   * `static_egress_eip_allocation_ids`): CreateNatGateway is allowed on exactly these addresses besides the
   * tag-confined ones (docs/static-egress-controller.md#seg-iam).
   */
  eipAllocationIds?: string[];
}

/**
 * Inline policy statements of a component's role. `cluster` is the cluster name (tag condition keys); `opts` the
 * per-cluster resources a policy names explicitly.
 */
export function componentStatements(
  component: IrsaComponent,
  cluster: string,
  opts: ComponentPolicyOptions = {},
): Statement[] {
  const owner = ownerTagKey(cluster);
  const ownedResource = (prefix: string) => ({ StringEquals: { [`${prefix}:ResourceTag/${owner}`]: 'owned' } });
  switch (component) {
    case 'node-lifecycle-controller':
      return [
        {
          Sid: 'ConsumeInterruptionQueue',
          Effect: 'Allow',
          Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
          Resource: getAtt('InterruptionQueue', 'Arn'),
        },
        {
          Sid: 'Describe',
          Effect: 'Allow',
          // Exactly the calls of packages/node-lifecycle-controller/src/aws.ts (IAM_ACTIONS; checked by infra tests).
          Action: ['ec2:DescribeInstances', 'autoscaling:DescribeAutoScalingGroups', 'autoscaling:DescribeLifecycleHooks'],
          Resource: '*',
        },
        {
          Sid: 'TerminateOwnedInstances',
          Effect: 'Allow',
          Action: 'ec2:TerminateInstances',
          Resource: EC2_ARN('instance'),
          Condition: ownedResource('ec2'),
        },
        {
          Sid: 'ManageOwnedPools',
          Effect: 'Allow',
          Action: [
            'autoscaling:CompleteLifecycleAction',
            'autoscaling:RecordLifecycleActionHeartbeat',
            'autoscaling:TerminateInstanceInAutoScalingGroup',
            // Prepared replacement capacity (--node-replacement-prepare).
            'autoscaling:SetDesiredCapacity',
          ],
          Resource: sub(ASG_ARN),
          Condition: ownedResource('autoscaling'),
        },
      ];
    case 'cluster-autoscaler':
      return [
        {
          Sid: 'Describe',
          Effect: 'Allow',
          Action: ['autoscaling:Describe*', 'ec2:DescribeLaunchTemplateVersions', 'ec2:DescribeInstanceTypes'],
          Resource: '*',
        },
        {
          Sid: 'ScaleOwnedPools',
          Effect: 'Allow',
          Action: ['autoscaling:SetDesiredCapacity', 'autoscaling:TerminateInstanceInAutoScalingGroup'],
          Resource: sub(ASG_ARN),
          Condition: ownedResource('autoscaling'),
        },
      ];
    case 'metrics-adapter':
      return [
        {
          Sid: 'ReadQueueMetrics',
          Effect: 'Allow',
          Action: ['sqs:GetQueueUrl', 'sqs:GetQueueAttributes'],
          Resource: ref('MetricsAdapterQueueArnPattern'),
        },
      ];
    case 'static-egress-controller':
      // Exactly the EC2 calls of packages/static-egress-controller/src/ec2.ts (EGRESS_IAM_ACTIONS; checked by infra
      // tests), scoped as docs/static-egress-controller.md#seg-iam describes.
      return [
        {
          Sid: 'Describe',
          Effect: 'Allow',
          Action: [
            'ec2:DescribeVpcs',
            'ec2:DescribeSubnets',
            'ec2:DescribeRouteTables',
            'ec2:DescribeAddresses',
            'ec2:DescribeNatGateways',
            'ec2:DescribeManagedPrefixLists',
            'ec2:GetManagedPrefixListEntries',
          ],
          Resource: '*',
        },
        {
          Sid: 'AllocateTaggedAddresses',
          Effect: 'Allow',
          Action: 'ec2:AllocateAddress',
          Resource: EC2_ARN('elastic-ip'),
          Condition: { StringEquals: { [`aws:RequestTag/${owner}`]: 'owned' } },
        },
        {
          Sid: 'CreateTaggedNatGateways',
          Effect: 'Allow',
          Action: 'ec2:CreateNatGateway',
          Resource: EC2_ARN('natgateway'),
          Condition: { StringEquals: { [`aws:RequestTag/${owner}`]: 'owned' } },
        },
        {
          Sid: 'CreateTaggedPrefixList',
          Effect: 'Allow',
          Action: 'ec2:CreateManagedPrefixList',
          Resource: EC2_ARN('prefix-list'),
          Condition: { StringEquals: { [`aws:RequestTag/${owner}`]: 'owned' } },
        },
        {
          Sid: 'ChangeOwnedPrefixList',
          Effect: 'Allow',
          Action: ['ec2:ModifyManagedPrefixList', 'ec2:DeleteManagedPrefixList'],
          Resource: EC2_ARN('prefix-list'),
          Condition: ownedResource('ec2'),
        },
        {
          // CreateNatGateway is also authorized against the Elastic IP it uses: only addresses this cluster owns, or
          // bring-your-own addresses (--eip-allocation-ids) their owner tagged `<owner>=shared` for this cluster (a
          // foreign or untagged EIP is refused even with the right request tags).
          Sid: 'NatGatewaysOnOwnedAddresses',
          Effect: 'Allow',
          Action: 'ec2:CreateNatGateway',
          Resource: EC2_ARN('elastic-ip'),
          Condition: { StringEquals: { [`ec2:ResourceTag/${owner}`]: ['owned', 'shared'] } },
        },
        // Bring-your-own addresses listed in the cluster config (--eip-allocation-ids) are allowed by their ARN, tagged
        // or not: listing them is the owner's consent. Any other address still needs the tags above.
        ...((opts.eipAllocationIds ?? []).length > 0
          ? [
              {
                Sid: 'NatGatewaysOnListedAddresses',
                Effect: 'Allow' as const,
                Action: 'ec2:CreateNatGateway',
                Resource: [...opts.eipAllocationIds!]
                  .sort()
                  .map((id) => sub(`arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:elastic-ip/${id}`)),
              },
            ]
          : []),
        {
          Sid: 'NatGatewaysInClusterNatSubnets',
          Effect: 'Allow',
          Action: 'ec2:CreateNatGateway',
          Resource: EC2_ARN('subnet'),
          Condition: { StringEquals: { [`ec2:ResourceTag/${owner}`]: ['owned', 'shared'], 'ec2:ResourceTag/kubeaws.io/role': 'egress-nat' } },
        },
        {
          Sid: 'TagOnCreate',
          Effect: 'Allow',
          Action: 'ec2:CreateTags',
          Resource: [EC2_ARN('elastic-ip'), EC2_ARN('natgateway'), EC2_ARN('prefix-list')],
          Condition: {
            StringEquals: {
              'ec2:CreateAction': ['AllocateAddress', 'CreateNatGateway', 'CreateManagedPrefixList'],
              [`aws:RequestTag/${owner}`]: 'owned',
            },
          },
        },
        {
          Sid: 'IdleTagOnOwnedNatGateways',
          Effect: 'Allow',
          Action: ['ec2:CreateTags', 'ec2:DeleteTags'],
          Resource: EC2_ARN('natgateway'),
          Condition: {
            StringEquals: { [`ec2:ResourceTag/${owner}`]: 'owned' },
            'ForAllValues:StringEquals': { 'aws:TagKeys': ['kubeaws.io/idle-since'] },
          },
        },
        {
          Sid: 'ReleaseOwned',
          Effect: 'Allow',
          Action: ['ec2:ReleaseAddress', 'ec2:DeleteNatGateway'],
          Resource: [EC2_ARN('elastic-ip'), EC2_ARN('natgateway')],
          Condition: ownedResource('ec2'),
        },
        {
          Sid: 'RoutesInClusterRouteTables',
          Effect: 'Allow',
          Action: ['ec2:CreateRoute', 'ec2:ReplaceRoute', 'ec2:DeleteRoute'],
          Resource: EC2_ARN('route-table'),
          Condition: { StringEquals: { [`ec2:ResourceTag/${owner}`]: ['owned', 'shared'], 'ec2:ResourceTag/Type': 'dmz' } },
        },
      ];
  }
}

/**
 * The IRSA role resource of a component: trust = `AssumeRoleWithWebIdentity` from the cluster's OIDC provider
 * (ARN built with `Fn::Sub`, the provider a `DependsOn`) for exactly its ServiceAccount and audience
 * `sts.amazonaws.com`. The condition keys name the issuer host, which is per-cluster structure.
 */
export function irsaRole(
  component: IrsaComponent,
  cluster: string,
  apiHostname: string,
  opts: ComponentPolicyOptions = {},
): Record<string, Cfn> {
  return {
    Type: 'AWS::IAM::Role',
    DependsOn: 'OidcProvider',
    Properties: {
      RoleName: sub(`\${ClusterName}-${component}`),
      Description: sub(`IRSA role of ${component} in \${ClusterName}`),
      AssumeRolePolicyDocument: policyDocument([
        {
          Effect: 'Allow',
          Principal: { Federated: sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:oidc-provider/${ApiHostname}') },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: {
              [`${apiHostname}:sub`]: `system:serviceaccount:kube-system:${IRSA_COMPONENTS[component]}`,
              [`${apiHostname}:aud`]: 'sts.amazonaws.com',
            },
          },
        },
      ]),
      Policies: [{ PolicyName: component, PolicyDocument: policyDocument(componentStatements(component, cluster, opts)) }],
    },
  };
}
