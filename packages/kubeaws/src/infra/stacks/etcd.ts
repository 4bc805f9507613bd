/**
 * The `<name>-etcd` stack (long-lived, deployed first): the etcd members (one instance each with a fixed name and
 * an A record, spread over the cluster's AZs), their role and profile, security group, KMS key and versioned,
 * encrypted backup bucket; and the cluster files bucket with the cluster KMS key, which every node reads at boot
 * (docs/infra.md#infra-etcd-members, docs/infra.md#infra-cluster-files).
 */
import type { ResolvedCluster } from '../config/load';
import { etcdDomain, etcdInitialCluster, etcdMembers } from '../files/layout';
import { etcdUserdata } from '../userdata';
import { addItemParameters, ownerTagKey, param, type RenderedStack, stackName, stackTags } from './common';
import {
  base64,
  type CfnResource,
  type CfnTemplate,
  ec2TrustPolicy,
  getAtt,
  policyDocument,
  ref,
  sub,
  tagList,
} from './intrinsics';

/** Logical ID of etcd member `i`'s instance: `EtcdMember0`. */
export const etcdMemberLogicalId = (i: number): string => `EtcdMember${i}`;

/**
 * The files bucket and the cluster KMS key: every node role reads its `<role>/` prefix at boot, so they exist before
 * the first etcd member; exported as `<name>:files-bucket` and `<name>:kms-key-arn`.
 */
function filesResources(tags: CfnResource['Properties']): Record<string, CfnResource> {
  return {
    ClusterKmsKey: {
      Type: 'AWS::KMS::Key',
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
      Properties: {
        Description: sub('node files of ${ClusterName}'),
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
    },
    ClusterKmsKeyAlias: {
      Type: 'AWS::KMS::Alias',
      Properties: { AliasName: sub('alias/${ClusterName}-cluster'), TargetKeyId: ref('ClusterKmsKey') },
    },
    ClusterFilesBucket: {
      Type: 'AWS::S3::Bucket',
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
      Properties: {
        ...privateKmsBucketProperties('ClusterKmsKey'),
        ...tags,
      },
    },
    ClusterFilesBucketPolicy: {
      Type: 'AWS::S3::BucketPolicy',
      Properties: {
        Bucket: ref('ClusterFilesBucket'),
        PolicyDocument: policyDocument([
          {
            Sid: 'DenyInsecureTransport',
            Effect: 'Deny',
            Principal: '*',
            Action: 's3:*',
            Resource: [getAtt('ClusterFilesBucket', 'Arn'), sub('${ClusterFilesBucket.Arn}/*')],
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ]),
      },
    },
  };
}

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
      HostedZoneName: param.string('Hosted zone of the members\' etcd-<i>.etcd.<ClusterName>.<zone> records', {
        AllowedPattern: '^([a-z0-9-]+\\.)+[a-z]{2,63}$',
      }),
      HostedZoneId: { Type: 'AWS::Route53::HostedZone::Id', Description: 'Hosted zone of HostedZoneName' },
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
    HostedZoneId: c.hostedZoneId ?? '',
  };
  addItemParameters(c, 'etcd-stack', c.items, t, values);

  const domain = 'etcd.${ClusterName}.${HostedZoneName}';
  const owned = { [ownerTagKey(c.name)]: 'owned', 'kubeaws.io/component': 'etcd' };
  const r = t.Resources;
  Object.assign(
    r,
    filesResources({
      Tags: tagList({
        [ownerTagKey(c.name)]: 'owned',
        'kubeaws.io/cluster-id': c.clusterId,
        'kubeaws.io/environment': c.environment,
      }),
    }),
  );
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
      ...privateKmsBucketProperties('EtcdKmsKey'),
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
              Sid: 'ReadEtcdFiles',
              Effect: 'Allow',
              Action: 's3:GetObject',
              Resource: sub('${ClusterFilesBucket.Arn}/etcd/*'),
            },
            { Sid: 'DecryptEtcdFiles', Effect: 'Allow', Action: 'kms:Decrypt', Resource: getAtt('ClusterKmsKey', 'Arn') },
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
        TagSpecifications: [{ ResourceType: 'volume', Tags: tagList({ ...owned, Name: sub('${ClusterName}-etcd') }) }],
      },
    },
  };
  // One instance per member, round-robin over the AZs (their subnets in AZ order), each with a fixed name, its own
  // user data and an A record: every member and master knows all peers before any of them boots.
  const members = etcdMembers(c);
  const initialCluster = etcdInitialCluster(members);
  members.forEach((m, i) => {
    const id = etcdMemberLogicalId(i);
    const userdata = etcdUserdata({
      role: 'etcd',
      clusterName: c.name,
      clusterId: c.clusterId,
      region: c.region,
      apiHostname: c.apiHostname,
      etcdDomain: etcdDomain(c),
      member: m.name,
      initialCluster,
      filesBucketPlaceholder: '${FilesBucket}',
    });
    r[id] = {
      Type: 'AWS::EC2::Instance',
      Properties: {
        LaunchTemplate: {
          LaunchTemplateId: ref('EtcdLaunchTemplate'),
          Version: getAtt('EtcdLaunchTemplate', 'LatestVersionNumber'),
        },
        ImageId: ref('ImageId'),
        SubnetId: { 'Fn::Select': [i % Object.keys(c.subnets).length, ref('SubnetIds')] },
        UserData: base64({
          'Fn::Sub': [userdata, { BackupBucket: ref('EtcdBackupBucket'), FilesBucket: ref('ClusterFilesBucket') }],
        }),
        Tags: tagList({ ...owned, 'kubeaws.io/role': 'etcd', 'kubeaws.io/etcd-member': m.name, Name: sub(`\${ClusterName}-${m.name}`) }),
      },
    };
    r[`${id}DnsRecord`] = {
      Type: 'AWS::Route53::RecordSet',
      Properties: {
        HostedZoneId: ref('HostedZoneId'),
        Name: sub(`${m.name}.${domain}`),
        Type: 'A',
        TTL: '60',
        ResourceRecords: [getAtt(id, 'PrivateIp')],
      },
    };
  });
  t.Outputs = {
    EtcdSecurityGroup: {
      Description: 'Security group of the etcd members',
      Value: getAtt('EtcdSecurityGroup', 'GroupId'),
      Export: { Name: sub('${ClusterName}:etcd-security-group') },
    },
    EtcdEndpoint: {
      Description: 'DNS domain of the etcd members',
      Value: sub(domain),
      Export: { Name: sub('${ClusterName}:etcd-endpoint') },
    },
    EtcdBackupBucket: {
      Description: 'Backup bucket',
      Value: ref('EtcdBackupBucket'),
      Export: { Name: sub('${ClusterName}:etcd-backup-bucket') },
    },
    FilesBucket: {
      Description: 'Bucket of the node files',
      Value: ref('ClusterFilesBucket'),
      Export: { Name: sub('${ClusterName}:files-bucket') },
    },
    FilesBucketArn: {
      Description: 'ARN of the bucket of the node files',
      Value: getAtt('ClusterFilesBucket', 'Arn'),
      Export: { Name: sub('${ClusterName}:files-bucket-arn') },
    },
    KmsKeyArn: {
      Description: 'Cluster KMS key',
      Value: getAtt('ClusterKmsKey', 'Arn'),
      Export: { Name: sub('${ClusterName}:kms-key-arn') },
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

/**
 * What every bucket of the etcd stack holds (`AWS::S3::Bucket` properties): SSE-KMS with an S3 bucket key under
 * the KMS key of logical id `kmsKey`, every kind of public access blocked, objects owned by the bucket owner.
 */
function privateKmsBucketProperties(kmsKey: string): Record<string, unknown> {
  return {
    BucketEncryption: {
      ServerSideEncryptionConfiguration: [
        { ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: getAtt(kmsKey, 'Arn') }, BucketKeyEnabled: true },
      ],
    },
    PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
  };
}
