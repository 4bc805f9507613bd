/**
 * The `<name>-etcd` stack (long-lived): etcd members in one ASG across the cluster's AZs, their role and
 * profile, security group, KMS key and versioned, encrypted backup bucket.
 */
import type { ResolvedCluster } from '../config/load';
import { etcdUserdata } from '../userdata';
import { addItemParameters, ownerTagKey, param, type RenderedStack, stackName, stackTags } from './common';
import { base64, type CfnTemplate, ec2TrustPolicy, getAtt, policyDocument, ref, sub, tagList } from './intrinsics';

/** Builds the etcd stack of a cluster. Pure. */
export function etcdStack(c: ResolvedCluster): RenderedStack {
  const t: CfnTemplate = {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `kubeaws ${c.name}: etcd members, backups and their identity`,
    Parameters: {
      ClusterName: param.clusterName(),
      VpcId: { Type: 'AWS::EC2::VPC::Id', Description: 'VPC of the cluster' },
      SubnetIds: { Type: 'List<AWS::EC2::Subnet::Id>', Description: 'Subnets of the etcd members, one per AZ' },
      ImageId: { Type: 'AWS::EC2::Image::Id', Description: 'AMI of the etcd members' },
      HostedZoneName: param.string('Hosted zone the members register etcd.<ClusterName>.<zone> records in', {
        AllowedPattern: '^([a-z0-9-]+\\.)+[a-z]{2,63}$',
      }),
    },
    Resources: {},
    Outputs: {},
  };
  const values: Record<string, string> = {
    ClusterName: c.name,
    VpcId: c.vpcId ?? '',
    SubnetIds: Object.keys(c.subnets)
      .sort()
      .map((z) => c.subnets[z])
      .join(','),
    ImageId: c.imageId,
    HostedZoneName: c.hostedZone,
  };
  addItemParameters(c, 'etcd-stack', c.items, t, values);

  const etcdDomain = 'etcd.${ClusterName}.${HostedZoneName}';
  const owned = { [ownerTagKey(c.name)]: 'owned', 'kubeaws.io/component': 'etcd' };
  const r = t.Resources;
  r.EtcdSecurityGroup = {
    Type: 'AWS::EC2::SecurityGroup',
    Properties: {
      GroupDescription: sub('etcd members of ${ClusterName}'),
      VpcId: ref('VpcId'),
      Tags: tagList({ ...owned, Name: sub('${ClusterName}-etcd') }),
    },
  };
  r.EtcdPeerIngress = {
    Type: 'AWS::EC2::SecurityGroupIngress',
    Properties: {
      GroupId: getAtt('EtcdSecurityGroup', 'GroupId'),
      SourceSecurityGroupId: getAtt('EtcdSecurityGroup', 'GroupId'),
      IpProtocol: 'tcp',
      FromPort: 2379,
      ToPort: 2380,
      Description: 'etcd client and peer traffic between members',
    },
  };
  r.EtcdKmsKey = {
    Type: 'AWS::KMS::Key',
    DeletionPolicy: 'Retain',
    UpdateReplacePolicy: 'Retain',
    Properties: {
      Description: sub('etcd backups of ${ClusterName}'),
      EnableKeyRotation: true,
      KeyPolicy: policyDocument([
        {
          Sid: 'AccountAdministersKeyWithIam',
          Effect: 'Allow',
          Principal: { AWS: sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:root') },
          Action: 'kms:*',
          Resource: '*',
        },
      ]),
    },
  };
  r.EtcdBackupBucket = {
    Type: 'AWS::S3::Bucket',
    DeletionPolicy: 'Retain',
    UpdateReplacePolicy: 'Retain',
    Properties: {
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: getAtt('EtcdKmsKey', 'Arn') },
            BucketKeyEnabled: true,
          },
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LifecycleConfiguration: {
        Rules: [
          {
            Id: 'expire-backups',
            Status: 'Enabled',
            ExpirationInDays: ref('BackupRetentionDays'),
            NoncurrentVersionExpiration: { NoncurrentDays: ref('BackupRetentionDays') },
          },
        ],
      },
      Tags: tagList(owned),
    },
  };
  r.EtcdBackupBucketPolicy = {
    Type: 'AWS::S3::BucketPolicy',
    Properties: {
      Bucket: ref('EtcdBackupBucket'),
      PolicyDocument: policyDocument([
        {
          Sid: 'DenyInsecureTransport',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:*',
          Resource: [getAtt('EtcdBackupBucket', 'Arn'), sub('${EtcdBackupBucket.Arn}/*')],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ]),
    },
  };
  r.EtcdRole = {
    Type: 'AWS::IAM::Role',
    Properties: {
      RoleName: sub('${ClusterName}-etcd'),
      Description: sub('etcd members of ${ClusterName}'),
      AssumeRolePolicyDocument: ec2TrustPolicy(),
      Policies: [
        {
          PolicyName: 'etcd',
          PolicyDocument: policyDocument([
            {
              Sid: 'ListBackups',
              Effect: 'Allow',
              Action: 's3:ListBucket',
              Resource: getAtt('EtcdBackupBucket', 'Arn'),
              Condition: { StringLike: { 's3:prefix': ['backups/*'] } },
            },
            {
              Sid: 'ReadWriteBackups',
              Effect: 'Allow',
              Action: ['s3:GetObject', 's3:PutObject'],
              Resource: sub('${EtcdBackupBucket.Arn}/backups/*'),
            },
            {
              Sid: 'UseBackupKey',
              Effect: 'Allow',
              Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
              Resource: getAtt('EtcdKmsKey', 'Arn'),
            },
            {
              Sid: 'RegisterOwnRecords',
              Effect: 'Allow',
              Action: 'route53:ChangeResourceRecordSets',
              Resource: sub('arn:${AWS::Partition}:route53:::hostedzone/*'),
              Condition: {
                'ForAllValues:StringLike': {
                  'route53:ChangeResourceRecordSetsNormalizedRecordNames': [sub(etcdDomain), sub(`*.${etcdDomain}`)],
                },
              },
            },
            {
              Sid: 'FindZoneAndInstances',
              Effect: 'Allow',
              Action: ['route53:ListHostedZonesByName', 'route53:GetChange', 'ec2:DescribeInstances'],
              Resource: '*',
            },
          ]),
        },
      ],
      Tags: tagList(owned),
    },
  };
  r.EtcdInstanceProfile = {
    Type: 'AWS::IAM::InstanceProfile',
    Properties: { InstanceProfileName: sub('${ClusterName}-etcd'), Roles: [ref('EtcdRole')] },
  };
  const userdata = etcdUserdata({
    role: 'etcd',
    clusterName: c.name,
    clusterId: c.clusterId,
    region: c.region,
    apiHostname: c.apiHostname,
    etcdDomain: `etcd.${c.name}.${c.hostedZone}`,
  });
  r.EtcdLaunchTemplate = {
    Type: 'AWS::EC2::LaunchTemplate',
    Properties: {
      LaunchTemplateName: sub('${ClusterName}-etcd'),
      LaunchTemplateData: {
        ImageId: ref('ImageId'),
        InstanceType: ref('InstanceType'),
        IamInstanceProfile: { Arn: getAtt('EtcdInstanceProfile', 'Arn') },
        SecurityGroupIds: [getAtt('EtcdSecurityGroup', 'GroupId')],
        MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' },
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: { VolumeSize: 50, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
          },
        ],
        UserData: base64({ 'Fn::Sub': [userdata, { BackupBucket: ref('EtcdBackupBucket') }] }),
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tagList({ ...owned, Name: sub('${ClusterName}-etcd') }) },
          { ResourceType: 'volume', Tags: tagList({ ...owned, Name: sub('${ClusterName}-etcd') }) },
        ],
      },
    },
  };
  r.EtcdAutoScalingGroup = {
    Type: 'AWS::AutoScaling::AutoScalingGroup',
    Properties: {
      AutoScalingGroupName: sub('${ClusterName}-etcd'),
      MinSize: ref('InstanceCount'),
      MaxSize: ref('InstanceCount'),
      DesiredCapacity: ref('InstanceCount'),
      VPCZoneIdentifier: ref('SubnetIds'),
      LaunchTemplate: {
        LaunchTemplateId: ref('EtcdLaunchTemplate'),
        Version: getAtt('EtcdLaunchTemplate', 'LatestVersionNumber'),
      },
      Tags: tagList({ ...owned, 'kubeaws.io/role': 'etcd', Name: sub('${ClusterName}-etcd') }, true),
    },
  };
  t.Outputs = {
    EtcdSecurityGroup: {
      Description: 'Security group of the etcd members',
      Value: getAtt('EtcdSecurityGroup', 'GroupId'),
      Export: { Name: sub('${ClusterName}:etcd-security-group') },
    },
    EtcdEndpoint: {
      Description: 'DNS domain of the etcd members',
      Value: sub(etcdDomain),
      Export: { Name: sub('${ClusterName}:etcd-endpoint') },
    },
    EtcdBackupBucket: {
      Description: 'Backup bucket',
      Value: ref('EtcdBackupBucket'),
      Export: { Name: sub('${ClusterName}:etcd-backup-bucket') },
    },
  };
  return {
    name: stackName.etcd(c.name),
    kind: 'etcd',
    template: t,
    parameters: values,
    tags: stackTags(c, 'etcd'),
    terminationProtection: c.environment === 'production',
  };
}
