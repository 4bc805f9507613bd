/**
 * The `<name>-cluster` stack: the API endpoint (NLB + DNS), security groups, node roles and profiles, the OIDC
 * provider and IRSA roles, the interruption queue with its EventBridge rules and the static-egress NAT subnets.
 * The node roles read the files bucket of the etcd stack through its exports.
 */
import { eipAllocationIds, type ResolvedCluster } from '../config/load';
import { addItemParameters, ownerTagKey, param, partitionOf, type RenderedStack, stackName, stackTags } from './common';
import {
  authnzNodesSection,
  authnzWebhookStatements,
  IRSA_COMPONENTS,
  type IrsaComponent,
  irsaLogicalId,
  irsaRole,
} from './iam';
import {
  azLogicalSuffix,
  type CfnResource,
  type CfnTemplate,
  ec2TrustPolicy,
  getAtt,
  importValue,
  policyDocument,
  ref,
  type Statement,
  sub,
  tagList,
} from './intrinsics';

/** The five EventBridge rules of the interruption queue, by logical ID: their event patterns. */
export function interruptionRules(cluster: string): Record<string, Record<string, unknown>> {
  return {
    SpotInterruptionRule: { source: ['aws.ec2'], 'detail-type': ['EC2 Spot Instance Interruption Warning'] },
    RebalanceRule: { source: ['aws.ec2'], 'detail-type': ['EC2 Instance Rebalance Recommendation'] },
    InstanceStateChangeRule: {
      source: ['aws.ec2'],
      'detail-type': ['EC2 Instance State-change Notification'],
      detail: { state: ['stopping', 'stopped', 'shutting-down', 'terminated'] },
    },
    ScheduledChangeRule: {
      source: ['aws.health'],
      'detail-type': ['AWS Health Event'],
      detail: { service: ['EC2'], eventTypeCategory: ['scheduledChange'] },
    },
    AsgTerminateLifecycleRule: {
      source: ['aws.autoscaling'],
      'detail-type': ['EC2 Instance-terminate Lifecycle Action'],
      detail: { AutoScalingGroupName: [{ prefix: `${cluster}-pool-` }] },
    },
  };
}

/** The IRSA components a cluster gets (the static-egress-controller only with static egress on). */
export function clusterIrsaComponents(c: ResolvedCluster): IrsaComponent[] {
  return (Object.keys(IRSA_COMPONENTS) as IrsaComponent[]).filter(
    (k) => k !== 'static-egress-controller' || c.items.get('static_egress_enabled') === true,
  );
}

/**
 * Default of `MetricsAdapterQueueArnPattern`: every queue of the account in the configured regions, in each region's
 * partition (`aws`, `aws-cn`, `aws-us-gov`; AWS General Reference, "Amazon Resource Names").
 */
export function metricsAdapterQueueArns(c: ResolvedCluster): string[] {
  const regions = (c.items.get('metrics_adapter_aws_regions') as string[]) ?? [];
  return (regions.length > 0 ? regions : [c.region]).map((r) => `arn:${partitionOf(r)}:sqs:${r}:${c.account}:*`);
}

/**
 * The TCP ports masters open to each other: kube-apiserver (443, the port of the API target group), the kubelet
 * (10250), kube-controller-manager (10257) and kube-scheduler (10259) secure ports (Kubernetes docs, "Ports and
 * Protocols").
 */
export const CONTROL_PLANE_PORTS = [
  { id: 'Api', port: 443, what: 'kube-apiserver between masters' },
  { id: 'Kubelet', port: 10250, what: 'kube-apiserver to the kubelets of masters' },
  { id: 'ControllerManager', port: 10257, what: 'kube-controller-manager secure port' },
  { id: 'Scheduler', port: 10259, what: 'kube-scheduler secure port' },
] as const;

/**
 * The pod overlay network between all nodes: flannel's VXLAN backend on UDP 8472 (the Linux kernel's VXLAN port,
 * flannel Documentation/backends.md), which carries pod-to-pod traffic and kube-apiserver's calls to pods
 * (webhooks, aggregated APIs) across nodes. The node image's CNI must use it (docs/infra.md#infra-security-groups).
 */
export const OVERLAY_PORT = { protocol: 'udp', port: 8472, what: 'pod overlay network (flannel VXLAN)' } as const;

/** Builds the cluster stack. Pure. */
export function clusterStack(c: ResolvedCluster): RenderedStack {
  const egress = c.items.get('static_egress_enabled') === true;
  const zones = Object.keys(c.subnets).sort();
  const t: CfnTemplate = {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `kubeaws ${c.name}: API endpoint, node and pod identity, interruption queue${egress ? ', static egress subnets' : ''}`,
    Parameters: {
      ClusterName: param.clusterName(),
      ClusterId: param.string('Cluster ID aws:<account>:<region>:<name>', {
        AllowedPattern: '^aws:[0-9]{12}:[a-z0-9-]+:[a-z][a-z0-9-]{1,23}$',
      }),
      Environment: param.string('Environment of the cluster', { AllowedValues: ['production', 'test'] }),
      VpcId: { Type: 'AWS::EC2::VPC::Id', Description: 'VPC of the cluster' },
      PublicSubnetIds: {
        Type: 'List<AWS::EC2::Subnet::Id>',
        Description: 'Public subnets of the API load balancer, one per AZ',
      },
      HostedZoneId: { Type: 'AWS::Route53::HostedZone::Id', Description: 'Hosted zone of ApiHostname' },
      ApiHostname: param.string('DNS name of the API endpoint and OIDC issuer host', {
        AllowedPattern: '^([a-z0-9-]+\\.)+[a-z]{2,63}$',
      }),
      CertificateArn: param.string('ACM certificate of ApiHostname', { AllowedPattern: '^arn:aws[a-z-]*:acm:.+$' }),
      ApiAllowedCidr: param.string('CIDR allowed to reach the API endpoint', {
        Default: '0.0.0.0/0',
        AllowedPattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$',
      }),
      MetricsAdapterQueueArnPattern: {
        Type: 'CommaDelimitedList',
        Description: 'SQS queues whose attributes the metrics-adapter may read',
      },
    },
    Resources: {},
    Outputs: {},
  };
  const values: Record<string, string> = {
    ClusterName: c.name,
    ClusterId: c.clusterId,
    Environment: c.environment,
    VpcId: c.vpcId ?? '',
    PublicSubnetIds: zones.map((z) => c.subnets[z]).join(','),
    HostedZoneId: c.hostedZoneId ?? '',
    ApiHostname: c.apiHostname,
    CertificateArn: c.certificateArn ?? '',
    ApiAllowedCidr: c.apiAllowedCidr,
    MetricsAdapterQueueArnPattern: metricsAdapterQueueArns(c).join(','),
  };
  addItemParameters(c, 'cluster-stack', c.items, t, values);
  const r: Record<string, CfnResource> = t.Resources;
  const owned = (extra: Record<string, unknown> = {}) =>
    tagList({
      [ownerTagKey(c.name)]: 'owned',
      'kubeaws.io/cluster-id': ref('ClusterId'),
      'kubeaws.io/environment': ref('Environment'),
      ...extra,
    });

  // API endpoint.
  r.ApiLoadBalancerSecurityGroup = {
    Type: 'AWS::EC2::SecurityGroup',
    Properties: {
      GroupDescription: sub('API load balancer of ${ClusterName}'),
      VpcId: ref('VpcId'),
      SecurityGroupIngress: [
        {
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
          CidrIp: ref('ApiAllowedCidr'),
          Description: 'Kubernetes API clients',
        },
      ],
      Tags: owned({ Name: sub('${ClusterName}-api-lb') }),
    },
  };
  r.MasterSecurityGroup = {
    Type: 'AWS::EC2::SecurityGroup',
    Properties: {
      GroupDescription: sub('Control-plane nodes of ${ClusterName}'),
      VpcId: ref('VpcId'),
      Tags: owned({ Name: sub('${ClusterName}-master') }),
    },
  };
  r.WorkerSecurityGroup = {
    Type: 'AWS::EC2::SecurityGroup',
    Properties: {
      GroupDescription: sub('Worker nodes of ${ClusterName}'),
      VpcId: ref('VpcId'),
      Tags: owned({ Name: sub('${ClusterName}-worker') }),
    },
  };
  const ingress = (
    group: string,
    from: { sg?: string; imported?: string },
    port: [number, number] | 'all',
    description: string,
    protocol: 'tcp' | 'udp' = 'tcp',
  ): CfnResource => ({
    Type: 'AWS::EC2::SecurityGroupIngress',
    Properties: {
      GroupId: from.imported ? importValue(from.imported) : getAtt(group, 'GroupId'),
      SourceSecurityGroupId: getAtt(from.sg!, 'GroupId'),
      IpProtocol: port === 'all' ? '-1' : protocol,
      ...(port === 'all' ? {} : { FromPort: port[0], ToPort: port[1] }),
      Description: description,
    },
  });
  // Between masters: every control-plane port (docs/infra.md#infra-security-groups).
  for (const { id, port, what } of CONTROL_PLANE_PORTS) {
    r[`MasterToMaster${id}Ingress`] = ingress('MasterSecurityGroup', { sg: 'MasterSecurityGroup' }, [port, port], what);
  }
  // The pod overlay network between all nodes (worker↔worker is covered by WorkerToWorkerIngress).
  const overlay: [string, string, string][] = [
    ['MasterToMasterOverlayIngress', 'MasterSecurityGroup', 'MasterSecurityGroup'],
    ['MasterToWorkerOverlayIngress', 'WorkerSecurityGroup', 'MasterSecurityGroup'],
    ['WorkerToMasterOverlayIngress', 'MasterSecurityGroup', 'WorkerSecurityGroup'],
  ];
  for (const [id, to, from] of overlay) {
    r[id] = ingress(to, { sg: from }, [OVERLAY_PORT.port, OVERLAY_PORT.port], OVERLAY_PORT.what, OVERLAY_PORT.protocol);
  }
  r.LoadBalancerToMasterIngress = ingress(
    'MasterSecurityGroup',
    { sg: 'ApiLoadBalancerSecurityGroup' },
    [443, 443],
    'API traffic and health checks from the load balancer',
  );
  // Independent of ApiAllowedCidr, which restricts only the load balancer.
  r.WorkerToMasterIngress = ingress(
    'MasterSecurityGroup',
    { sg: 'WorkerSecurityGroup' },
    [443, 443],
    'kubelets and pods to kube-apiserver',
  );
  r.MasterToWorkerKubeletIngress = ingress(
    'WorkerSecurityGroup',
    { sg: 'MasterSecurityGroup' },
    [10250, 10250],
    'kube-apiserver to kubelets',
  );
  r.WorkerToWorkerIngress = ingress(
    'WorkerSecurityGroup',
    { sg: 'WorkerSecurityGroup' },
    'all',
    'pod and node traffic between workers',
  );
  r.MasterToEtcdIngress = ingress(
    '',
    { sg: 'MasterSecurityGroup', imported: '${ClusterName}:etcd-security-group' },
    [2379, 2379],
    'kube-apiserver to etcd',
  );
  r.ApiLoadBalancerSecurityGroupEgress = {
    Type: 'AWS::EC2::SecurityGroupEgress',
    Properties: {
      GroupId: getAtt('ApiLoadBalancerSecurityGroup', 'GroupId'),
      DestinationSecurityGroupId: getAtt('MasterSecurityGroup', 'GroupId'),
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      Description: 'to kube-apiserver on the masters',
    },
  };
  r.ApiLoadBalancer = {
    Type: 'AWS::ElasticLoadBalancingV2::LoadBalancer',
    Properties: {
      Name: sub('${ClusterName}-api'),
      Type: 'network',
      Scheme: 'internet-facing',
      Subnets: ref('PublicSubnetIds'),
      SecurityGroups: [getAtt('ApiLoadBalancerSecurityGroup', 'GroupId')],
      LoadBalancerAttributes: [{ Key: 'load_balancing.cross_zone.enabled', Value: 'true' }],
      Tags: owned(),
    },
  };
  r.ApiTargetGroup = {
    Type: 'AWS::ElasticLoadBalancingV2::TargetGroup',
    Properties: {
      Name: sub('${ClusterName}-api'),
      Protocol: 'TLS',
      Port: 443,
      VpcId: ref('VpcId'),
      TargetType: 'instance',
      HealthCheckProtocol: 'HTTPS',
      HealthCheckPath: '/readyz',
      HealthCheckPort: '443',
      Tags: owned(),
    },
  };
  r.ApiListener = {
    Type: 'AWS::ElasticLoadBalancingV2::Listener',
    Properties: {
      LoadBalancerArn: ref('ApiLoadBalancer'),
      Port: 443,
      Protocol: 'TLS',
      SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
      Certificates: [{ CertificateArn: ref('CertificateArn') }],
      DefaultActions: [{ Type: 'forward', TargetGroupArn: ref('ApiTargetGroup') }],
    },
  };
  r.ApiDnsRecord = {
    Type: 'AWS::Route53::RecordSet',
    Properties: {
      HostedZoneId: ref('HostedZoneId'),
      Name: ref('ApiHostname'),
      Type: 'A',
      AliasTarget: {
        DNSName: getAtt('ApiLoadBalancer', 'DNSName'),
        HostedZoneId: getAtt('ApiLoadBalancer', 'CanonicalHostedZoneID'),
        EvaluateTargetHealth: false,
      },
    },
  };

  // Node identity.
  const readFiles = (prefix: string): Statement[] => [
    {
      Sid: 'ReadNodeFiles',
      Effect: 'Allow',
      Action: 's3:GetObject',
      // The files bucket and key belong to the etcd stack, deployed first (docs/infra.md#infra-cluster-files).
      Resource: { 'Fn::Sub': [`\${Bucket}/${prefix}/*`, { Bucket: importValue('${ClusterName}:files-bucket-arn') }] },
    },
    { Sid: 'DecryptNodeFiles', Effect: 'Allow', Action: 'kms:Decrypt', Resource: importValue('${ClusterName}:kms-key-arn') },
    {
      Sid: 'PullImages',
      Effect: 'Allow',
      Action: [
        'ecr:GetAuthorizationToken',
        'ecr:BatchGetImage',
        'ecr:GetDownloadUrlForLayer',
        'ecr:BatchCheckLayerAvailability',
      ],
      Resource: '*',
    },
  ];
  r.MasterRole = {
    Type: 'AWS::IAM::Role',
    Properties: {
      RoleName: sub('${ClusterName}-master'),
      Description: sub('Control-plane nodes of ${ClusterName}'),
      AssumeRolePolicyDocument: ec2TrustPolicy(),
      Policies: [
        {
          PolicyName: 'master',
          PolicyDocument: policyDocument([
            ...readFiles('master'),
            ...authnzWebhookStatements(authnzNodesSection(c).regions),
          ]),
        },
      ],
      Tags: owned(),
    },
  };
  r.WorkerRole = {
    Type: 'AWS::IAM::Role',
    Properties: {
      RoleName: sub('${ClusterName}-worker'),
      Description: sub('Worker nodes of ${ClusterName}'),
      AssumeRolePolicyDocument: ec2TrustPolicy(),
      Policies: [{ PolicyName: 'worker', PolicyDocument: policyDocument(readFiles('worker')) }],
      Tags: owned(),
    },
  };
  r.MasterInstanceProfile = {
    Type: 'AWS::IAM::InstanceProfile',
    Properties: { InstanceProfileName: sub('${ClusterName}-master'), Roles: [ref('MasterRole')] },
  };
  r.WorkerInstanceProfile = {
    Type: 'AWS::IAM::InstanceProfile',
    Properties: { InstanceProfileName: sub('${ClusterName}-worker'), Roles: [ref('WorkerRole')] },
  };

  // Pod identity.
  r.OidcProvider = {
    Type: 'AWS::IAM::OIDCProvider',
    Properties: { Url: sub('https://${ApiHostname}'), ClientIdList: ['sts.amazonaws.com'], Tags: owned() },
  };
  for (const component of clusterIrsaComponents(c)) {
    r[irsaLogicalId(component)] = irsaRole(component, c.name, c.apiHostname, {
      eipAllocationIds: Object.values(eipAllocationIds(c.items)),
    }) as unknown as CfnResource;
  }

  // Interruption queue.
  r.InterruptionDeadLetterQueue = {
    Type: 'AWS::SQS::Queue',
    Properties: {
      QueueName: sub('${ClusterName}-interruption-dlq'),
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1209600,
      Tags: owned({ 'kubeaws.io/component': 'node-lifecycle-controller' }),
    },
  };
  r.InterruptionQueue = {
    Type: 'AWS::SQS::Queue',
    Properties: {
      QueueName: sub('${ClusterName}-interruption'),
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: ref('InterruptionQueueRetention'),
      RedrivePolicy: { deadLetterTargetArn: getAtt('InterruptionDeadLetterQueue', 'Arn'), maxReceiveCount: 5 },
      Tags: owned({ 'kubeaws.io/component': 'node-lifecycle-controller' }),
    },
  };
  const rules = interruptionRules(c.name);
  for (const [id, pattern] of Object.entries(rules)) {
    r[id] = {
      Type: 'AWS::Events::Rule',
      Properties: {
        Description: sub(`${id.replace(/Rule$/, '')} events for the interruption queue of \${ClusterName}`),
        State: 'ENABLED',
        EventPattern: pattern,
        Targets: [{ Id: 'InterruptionQueue', Arn: getAtt('InterruptionQueue', 'Arn') }],
      },
    };
  }
  r.InterruptionQueuePolicy = {
    Type: 'AWS::SQS::QueuePolicy',
    Properties: {
      Queues: [ref('InterruptionQueue')],
      PolicyDocument: policyDocument([
        {
          Sid: 'EventBridgeRulesOfThisCluster',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: 'sqs:SendMessage',
          Resource: getAtt('InterruptionQueue', 'Arn'),
          Condition: { ArnEquals: { 'aws:SourceArn': Object.keys(rules).map((id) => getAtt(id, 'Arn')) } },
        },
      ]),
    },
  };

  // Static egress scaffolding: subnets and route tables only; EIPs and NAT gateways belong to the controller.
  if (egress) {
    t.Parameters.InternetGatewayId = param.string('Internet gateway of the VPC (default route of the NAT subnets)', {
      AllowedPattern: '^igw-[0-9a-f]+$',
    });
    values.InternetGatewayId = c.internetGatewayId ?? '';
    const cidrs = (c.items.get('static_egress_nat_cidrs') as string[] | null) ?? [];
    zones.forEach((az, i) => {
      const s = azLogicalSuffix(az);
      const p = `NatSubnetCidr${s}`;
      t.Parameters[p] = param.string(`/28 of the NAT subnet in ${az}`, {
        AllowedPattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/28$',
        ConstraintDescription: 'must be a /28',
      });
      values[p] = cidrs[i] ?? '';
      const zoneParam = `NatSubnetAvailabilityZone${s}`;
      t.Parameters[zoneParam] = { Type: 'AWS::EC2::AvailabilityZone::Name', Description: `AZ of the NAT subnet ${s}` };
      values[zoneParam] = az;
      const tags = owned({
        'kubeaws.io/component': 'static-egress-controller',
        'kubeaws.io/availability-zone': az,
        'kubeaws.io/role': 'egress-nat',
        Name: sub(`\${ClusterName}-egress-nat-${az}`),
      });
      r[`NatSubnet${s}`] = {
        Type: 'AWS::EC2::Subnet',
        Properties: {
          VpcId: ref('VpcId'),
          CidrBlock: ref(p),
          AvailabilityZone: ref(zoneParam),
          MapPublicIpOnLaunch: false,
          Tags: tags,
        },
      };
      r[`NatRouteTable${s}`] = { Type: 'AWS::EC2::RouteTable', Properties: { VpcId: ref('VpcId'), Tags: tags } };
      r[`NatDefaultRoute${s}`] = {
        Type: 'AWS::EC2::Route',
        Properties: {
          RouteTableId: ref(`NatRouteTable${s}`),
          DestinationCidrBlock: '0.0.0.0/0',
          GatewayId: ref('InternetGatewayId'),
        },
      };
      r[`NatSubnetRouteTableAssociation${s}`] = {
        Type: 'AWS::EC2::SubnetRouteTableAssociation',
        Properties: { SubnetId: ref(`NatSubnet${s}`), RouteTableId: ref(`NatRouteTable${s}`) },
      };
      t.Outputs[`NatSubnet${s}`] = { Description: `NAT subnet in ${az}`, Value: ref(`NatSubnet${s}`) };
    });
  }

  const exp = (suffix: string) => ({ Name: sub(`\${ClusterName}:${suffix}`) });
  t.Outputs = {
    ApiTargetGroup: {
      Description: 'Target group of the masters',
      Value: ref('ApiTargetGroup'),
      Export: exp('api-target-group'),
    },
    MasterSecurityGroup: {
      Description: 'Security group of the masters',
      Value: getAtt('MasterSecurityGroup', 'GroupId'),
      Export: exp('master-security-group'),
    },
    WorkerSecurityGroup: {
      Description: 'Security group of the workers',
      Value: getAtt('WorkerSecurityGroup', 'GroupId'),
      Export: exp('worker-security-group'),
    },
    MasterInstanceProfile: {
      Description: 'Instance profile of the masters',
      Value: getAtt('MasterInstanceProfile', 'Arn'),
      Export: exp('master-instance-profile'),
    },
    WorkerInstanceProfile: {
      Description: 'Instance profile of the workers',
      Value: getAtt('WorkerInstanceProfile', 'Arn'),
      Export: exp('worker-instance-profile'),
    },
    WorkerRoleArn: {
      Description: 'Role of the workers',
      Value: getAtt('WorkerRole', 'Arn'),
      Export: exp('worker-role-arn'),
    },
    InterruptionQueueUrl: {
      Description: 'Interruption queue URL',
      Value: ref('InterruptionQueue'),
      Export: exp('interruption-queue-url'),
    },
    InterruptionQueueArn: {
      Description: 'Interruption queue ARN',
      Value: getAtt('InterruptionQueue', 'Arn'),
      Export: exp('interruption-queue-arn'),
    },
    OidcIssuer: {
      Description: 'Service-account token issuer',
      Value: sub('https://${ApiHostname}'),
      Export: exp('oidc-issuer'),
    },
    ...Object.fromEntries(
      clusterIrsaComponents(c).map((k) => [
        `${irsaLogicalId(k)}Arn`,
        { Description: `IRSA role of ${k}`, Value: getAtt(irsaLogicalId(k), 'Arn') },
      ]),
    ),
    ...t.Outputs,
  };
  return {
    name: stackName.cluster(c.name),
    kind: 'cluster',
    template: t,
    parameters: values,
    tags: stackTags(c, 'cluster'),
    terminationProtection: c.environment === 'production',
  };
}
