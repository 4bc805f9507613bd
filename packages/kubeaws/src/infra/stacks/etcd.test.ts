/**
 * The etcd stack and what depends on it (docs/infra.md#infra-etcd-members, docs/infra.md#infra-cluster-files): the
 * files bucket and key exist in the stack deployed first, the etcd role reads only `etcd/` of it, the members' user
 * data gets the bucket, and the members' A records, their `--initial-cluster` and the masters' `--etcd-servers`
 * name the same hosts.
 */
import * as path from 'node:path';
import { parse } from 'yaml';
import { findRepoRoot, loadCluster, type ResolvedCluster } from '../config/load';
import { renderStacks } from '../render';
import { BOOTSTRAP_PATH } from '../userdata';
import type { CfnTemplate, Statement } from './intrinsics';

const ROOT = findRepoRoot();

function fixture(name: string): ResolvedCluster {
  const r = loadCluster(path.join(ROOT, 'infra/test/fixtures/clusters', `${name}.yaml`), { version: '0.0.0-test' });
  if (!r.cluster) throw new Error(r.diagnostics.map((d) => `${d.path}: ${d.message}`).join('\n'));
  return r.cluster;
}

/** The bootstrap script of a user data `Fn::Base64: Fn::Sub [text, vars]`, with the vars' logical IDs filled in. */
function bootstrap(userData: unknown): { script: string; vars: Record<string, unknown> } {
  const [text, vars] = (userData as { 'Fn::Base64': { 'Fn::Sub': [string, Record<string, unknown>] } })['Fn::Base64'][
    'Fn::Sub'
  ];
  const doc = parse(text.replace(/^#cloud-config\n/, '')) as { write_files: { path: string; content: string }[] };
  return { script: doc.write_files.find((f) => f.path === BOOTSTRAP_PATH)!.content.replaceAll('${!', '${'), vars };
}

function statements(t: CfnTemplate, role: string): Statement[] {
  return (t.Resources[role]!.Properties!.Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
    (p) => p.PolicyDocument.Statement,
  );
}

describe.each(['prod-3az', 'test-1az'])('%s: etcd stack', (name) => {
  const c = fixture(name);
  const stacks = renderStacks(c);
  const etcd = stacks.find((s) => s.kind === 'etcd')!.template;
  const cluster = stacks.find((s) => s.kind === 'cluster')!.template;
  const master = stacks.find((s) => s.kind === 'pool' && s.parameters.Role === 'master')!.template;
  const count = c.items.get('etcd_instance_count') as number;
  const domain = `etcd.${c.name}.${c.hostedZone}`;
  const members = Object.keys(etcd.Resources).filter((id) => /^EtcdMember\d+$/.test(id));

  it('holds the files bucket and key, exported for the cluster stack, which no longer creates them', () => {
    expect(etcd.Resources.ClusterFilesBucket?.Type).toBe('AWS::S3::Bucket');
    expect(etcd.Resources.ClusterKmsKey?.Type).toBe('AWS::KMS::Key');
    const exports = Object.values(etcd.Outputs).map((o) => (o.Export?.Name as { 'Fn::Sub': string } | undefined)?.['Fn::Sub']);
    expect(exports).toEqual(
      expect.arrayContaining(['${ClusterName}:files-bucket', '${ClusterName}:files-bucket-arn', '${ClusterName}:kms-key-arn']),
    );
    expect(Object.values(cluster.Resources).map((r) => r.Type)).not.toEqual(
      expect.arrayContaining(['AWS::S3::Bucket']),
    );
    for (const role of ['MasterRole', 'WorkerRole']) {
      const prefix = role === 'MasterRole' ? 'master' : 'worker';
      expect(statements(cluster, role).filter((s) => s.Sid === 'ReadNodeFiles' || s.Sid === 'DecryptNodeFiles')).toEqual([
        {
          Sid: 'ReadNodeFiles',
          Effect: 'Allow',
          Action: 's3:GetObject',
          Resource: { 'Fn::Sub': [`\${Bucket}/${prefix}/*`, { Bucket: { 'Fn::ImportValue': { 'Fn::Sub': '${ClusterName}:files-bucket-arn' } } }] },
        },
        { Sid: 'DecryptNodeFiles', Effect: 'Allow', Action: 'kms:Decrypt', Resource: { 'Fn::ImportValue': { 'Fn::Sub': '${ClusterName}:kms-key-arn' } } },
      ]);
    }
  });

  it('the etcd role reads only etcd/ of the files bucket and decrypts with its key; no Route53 or EC2 rights', () => {
    const s = statements(etcd, 'EtcdRole');
    expect(s.filter((x) => x.Sid === 'ReadEtcdFiles' || x.Sid === 'DecryptEtcdFiles')).toEqual([
      { Sid: 'ReadEtcdFiles', Effect: 'Allow', Action: 's3:GetObject', Resource: { 'Fn::Sub': '${ClusterFilesBucket.Arn}/etcd/*' } },
      { Sid: 'DecryptEtcdFiles', Effect: 'Allow', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': ['ClusterKmsKey', 'Arn'] } },
    ]);
    const actions = s.flatMap((x) => ([] as string[]).concat(x.Action));
    expect(actions.filter((a) => /^(route53|ec2):/.test(a))).toEqual([]);
    expect(actions.filter((a) => a.startsWith('s3:GetObject') || a === 's3:PutObject')).toEqual(['s3:GetObject', 's3:PutObject', 's3:GetObject']);
  });

  it('one instance per member over the AZs, each with its A record and user data that gets the files bucket', () => {
    expect(members).toHaveLength(count);
    const zones = Object.keys(c.subnets).length;
    members.forEach((id, i) => {
      const p = etcd.Resources[id]!.Properties!;
      expect(etcd.Resources[id]!.Type).toBe('AWS::EC2::Instance');
      expect(p.SubnetId).toEqual({ 'Fn::Select': [i % zones, { Ref: 'SubnetIds' }] });
      expect(p.LaunchTemplate).toEqual({
        LaunchTemplateId: { Ref: 'EtcdLaunchTemplate' },
        Version: { 'Fn::GetAtt': ['EtcdLaunchTemplate', 'LatestVersionNumber'] },
      });
      expect(etcd.Resources[`${id}DnsRecord`]).toEqual({
        Type: 'AWS::Route53::RecordSet',
        Properties: {
          HostedZoneId: { Ref: 'HostedZoneId' },
          Name: { 'Fn::Sub': `etcd-${i}.etcd.\${ClusterName}.\${HostedZoneName}` },
          Type: 'A',
          TTL: '60',
          ResourceRecords: [{ 'Fn::GetAtt': [id, 'PrivateIp'] }],
        },
      });
      const { script, vars } = bootstrap(p.UserData);
      expect(vars).toEqual({ BackupBucket: { Ref: 'EtcdBackupBucket' }, FilesBucket: { Ref: 'ClusterFilesBucket' } });
      expect(script).toContain('FILES_BUCKET="${FILES_BUCKET:-${FilesBucket}}"');
      expect(script).toContain(`NAME="\${KUBEAWS_ETCD_NAME:-etcd-${i}}"`);
      expect(script).toContain(`HOST="\${KUBEAWS_ETCD_ADVERTISE_HOST:-$NAME.${domain}}"`);
    });
    expect(etcd.Parameters.InstanceCount).toBeUndefined();
    expect(Object.values(etcd.Resources).map((r) => r.Type)).not.toContain('AWS::AutoScaling::AutoScalingGroup');
  });

  it('members, their peers and the masters name the same hosts', () => {
    const hosts = Array.from({ length: count }, (_, i) => `etcd-${i}.${domain}`);
    const initial = hosts.map((h, i) => `etcd-${i}=https://${h}:2380`).join(',');
    for (const id of members)
      expect(bootstrap(etcd.Resources[id]!.Properties!.UserData).script).toContain(
        `--initial-cluster="\${KUBEAWS_ETCD_INITIAL_CLUSTER:-${initial}}"`,
      );
    const lt = master.Resources.LaunchTemplate!.Properties!.LaunchTemplateData as { UserData: unknown };
    expect(bootstrap(lt.UserData).script).toContain(
      `--etcd-servers="\${ETCD_SERVERS:-${hosts.map((h) => `https://${h}:2379`).join(',')}}"`,
    );
  });
});
