/**
 * Create, update and delete of a cluster's stacks in moto's CloudFormation, through the `kubeaws` verbs. Steps
 * run in order and share state. Resource types moto does not create, and properties it ignores, are asserted on
 * the rendered template (see moto-gaps.ts and docs/infra.md).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import {
  CloudFormationClient,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
  ListExportsCommand,
} from '@aws-sdk/client-cloudformation';
import {
  DescribeInstancesCommand,
  DescribeRouteTablesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  type Tag,
} from '@aws-sdk/client-ec2';
import {
  DescribeRuleCommand,
  EventBridgeClient,
  ListRulesCommand,
  ListTargetsByRuleCommand,
} from '@aws-sdk/client-eventbridge';
import { GetRoleCommand, GetRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
// eslint-disable-next-line @nx/enforce-module-boundaries -- infra is rendered and applied by the kubeaws CLI; its tests drive that code
import {
  applyCommand,
  ApplyError,
  type CommandIO,
  deleteCommand,
  deployStack,
  discover,
  interruptionRules,
  loadClusterOrThrow,
  renderStacks,
  sortKeys,
  stackClients,
} from '@kubeaws/kubeaws';
import { type MotoServer, startMoto } from '@kubeaws/testenv';
import { type AwsFixture, clusterFile, createAwsFixture } from './aws-fixture';
import { type MotoProxy, parsePolicyDocument, startMotoProxy, TEMPLATE_ONLY_TYPES } from './moto-gaps';

const REGION = 'eu-central-1';
const NAME = 'kube-1';
const OWNER = `kubernetes.io/cluster/${NAME}`;
const FAST = { pollMs: 100, timeoutMs: 120_000 };

function capture(): CommandIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => void stdout.push(t), err: (t) => void stderr.push(t) };
}

const tagValue = (tags: Tag[] | undefined, key: string): string | undefined => tags?.find((t) => t.Key === key)?.Value;

describe('cluster stacks in moto CloudFormation', () => {
  let moto: MotoServer;
  let proxy: MotoProxy;
  let aws: AwsFixture;
  let dir: string;
  let file: string;
  let cfn: CloudFormationClient;
  const saved = { ...process.env };

  const writeCluster = (o: Partial<Parameters<typeof clusterFile>[0]> = {}): void =>
    fs.writeFileSync(file, clusterFile({ name: NAME, region: REGION, spotMaxSize: 4, extraPool: false, ...o }));

  const stackStatus = async (): Promise<Record<string, string>> => {
    const out: Record<string, string> = {};
    for (const s of (await cfn.send(new DescribeStacksCommand({}))).Stacks ?? []) {
      if (s.StackStatus !== 'DELETE_COMPLETE') out[s.StackName!] = s.StackStatus!;
    }
    return out;
  };

  beforeAll(async () => {
    process.env.MOTO_ACM_VALIDATION_WAIT = '0'; // requested certificates are ISSUED at once
    moto = await startMoto();
    proxy = await startMotoProxy(moto.endpoint);
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: proxy.endpoint,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: REGION,
    });
    aws = await createAwsFixture(REGION);
    cfn = new CloudFormationClient({ region: REGION });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-infra-'));
    file = path.join(dir, `${NAME}.yaml`);
  }, 600_000);

  afterAll(async () => {
    process.env = saved;
    await proxy?.close();
    await moto?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('1. apply creates etcd, cluster, master pool and worker pools in order', async () => {
    writeCluster();
    const io = capture();
    const code = await applyCommand(file, FAST, io);
    expect({ code, stderr: io.stderr.join('') }).toEqual({ code: 0, stderr: '' });
    expect(await stackStatus()).toEqual({
      'kube-1-etcd': 'CREATE_COMPLETE',
      'kube-1-cluster': 'CREATE_COMPLETE',
      'kube-1-pool-master': 'CREATE_COMPLETE',
      'kube-1-pool-spot': 'CREATE_COMPLETE',
      'kube-1-pool-fallback': 'CREATE_COMPLETE',
    });
    const created = io.stdout
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('creating '));
    expect(created.slice(0, 3)).toEqual([
      'creating kube-1-etcd',
      'creating kube-1-cluster',
      'creating kube-1-pool-master',
    ]);
    expect(created.slice(3).sort()).toEqual(['creating kube-1-pool-fallback', 'creating kube-1-pool-spot']);
    // the cluster files are written into the etcd stack's bucket before the cluster stack and any pool
    const all = io.stdout.join('').split('\n');
    const wrote = all.findIndex((l) => /^files: wrote \d+ objects to s3:\/\//.test(l));
    expect(wrote).toBeGreaterThan(all.indexOf('creating kube-1-etcd'));
    expect(wrote).toBeLessThan(all.indexOf('creating kube-1-cluster'));
    // each stack is deployed once: created, never updated in the same apply
    const lines = io.stdout.join('').split('\n');
    expect(lines.filter((l) => /^(updating kube-1-|kube-1-[a-z-]+ unchanged$)/.test(l))).toEqual([]);
    expect(lines.filter((l) => /^kube-1-[a-z-]+: /.test(l)).sort()).toEqual([
      'kube-1-cluster: created',
      'kube-1-etcd: created',
      'kube-1-pool-fallback: created',
      'kube-1-pool-master: created',
      'kube-1-pool-spot: created',
    ]);
  });

  it('1. every template resource exists (template-only types aside), with its type', async () => {
    const { cluster } = loadClusterOrThrow(file);
    await discover(cluster);
    for (const stack of renderStacks(cluster)) {
      const expected = Object.entries(stack.template.Resources)
        .filter(([, r]) => !TEMPLATE_ONLY_TYPES.has(r.Type))
        .map(([id, r]) => `${id} ${r.Type}`)
        .sort();
      const described =
        (await cfn.send(new DescribeStackResourcesCommand({ StackName: stack.name }))).StackResources ?? [];
      // moto lists a resource of a type it does not implement as an entry without logical ID and type.
      const actual = described
        .filter((r) => r.LogicalResourceId)
        .map((r) => `${r.LogicalResourceId} ${r.ResourceType}`)
        .sort();
      expect({ stack: stack.name, resources: actual }).toEqual({ stack: stack.name, resources: expected });
      const templateOnly = Object.values(stack.template.Resources)
        .filter((r) => TEMPLATE_ONLY_TYPES.has(r.Type))
        .map((r) => r.Type);
      expect(described.filter((r) => !r.LogicalResourceId)).toHaveLength(templateOnly.length);
      if (stack.kind === 'cluster') {
        expect(new Set(templateOnly)).toEqual(
          new Set([
            'AWS::IAM::OIDCProvider',
            'AWS::SQS::QueuePolicy',
            'AWS::EC2::SecurityGroupEgress',
          ]),
        );
      }
    }
    expect(proxy.adapted.get('kube-1-cluster')).toEqual([
      'ELBv2 listener protocol TLS → HTTPS (moto ignores the load balancer Type)',
    ]);
  });

  it('1. worker ASGs carry discovery and cluster-autoscaler tags and a MixedInstancesPolicy', async () => {
    const asgs = (
      await new AutoScalingClient({ region: REGION }).send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['kube-1-pool-spot', 'kube-1-pool-master'] }),
      )
    ).AutoScalingGroups!;
    const spot = asgs.find((a) => a.AutoScalingGroupName === 'kube-1-pool-spot')!;
    const tags = Object.fromEntries((spot.Tags ?? []).map((t) => [t.Key!, t.Value!]));
    expect(tags).toMatchObject({
      [OWNER]: 'owned',
      'kubeaws.io/node-pool': 'spot',
      'kubeaws.io/role': 'worker',
      'kubeaws.io/capacity-type': 'spot',
      'k8s.io/cluster-autoscaler/enabled': 'true',
      'k8s.io/cluster-autoscaler/kube-1': 'owned',
    });
    expect(spot.MaxSize).toBe(4);
    expect(spot.MixedInstancesPolicy?.LaunchTemplate?.Overrides?.map((o) => o.InstanceType)).toEqual([
      'm6i.xlarge',
      'm6a.xlarge',
    ]);
    expect(spot.MixedInstancesPolicy?.InstancesDistribution).toMatchObject({
      OnDemandPercentageAboveBaseCapacity: 0,
      SpotAllocationStrategy: 'price-capacity-optimized',
    });
    const master = asgs.find((a) => a.AutoScalingGroupName === 'kube-1-pool-master')!;
    expect([master.MinSize, master.MaxSize]).toEqual([2, 2]);
    expect(Object.fromEntries((master.Tags ?? []).map((t) => [t.Key!, t.Value!]))).not.toHaveProperty(
      'k8s.io/cluster-autoscaler/enabled',
    );
  });

  it('1. IRSA roles have inline policies and trust conditions on the ServiceAccount and audience', async () => {
    const iam = new IAMClient({ region: REGION });
    const role = (await iam.send(new GetRoleCommand({ RoleName: 'kube-1-node-lifecycle-controller' }))).Role!;
    const trust = JSON.parse(decodeURIComponent(role.AssumeRolePolicyDocument!));
    expect(trust.Statement[0]).toEqual({
      Effect: 'Allow',
      Principal: { Federated: 'arn:aws:iam::123456789012:oidc-provider/kube-1.example.org' },
      Action: 'sts:AssumeRoleWithWebIdentity',
      Condition: {
        StringEquals: {
          'kube-1.example.org:sub': 'system:serviceaccount:kube-system:kubeaws-node-lifecycle-controller',
          'kube-1.example.org:aud': 'sts.amazonaws.com',
        },
      },
    });
    const policy = parsePolicyDocument(
      (await iam.send(new GetRolePolicyCommand({ RoleName: role.RoleName, PolicyName: 'node-lifecycle-controller' })))
        .PolicyDocument!,
    );
    const terminate = policy.Statement.find((s) => s.Sid === 'TerminateOwnedInstances');
    expect(terminate).toMatchObject({
      Action: 'ec2:TerminateInstances',
      Condition: { StringEquals: { [`ec2:ResourceTag/${OWNER}`]: 'owned' } },
    });
    const queue = policy.Statement.find((s) => s.Sid === 'ConsumeInterruptionQueue');
    expect(queue?.Resource).toBe(`arn:aws:sqs:${REGION}:123456789012:kube-1-interruption`);
    for (const r of [
      'kube-1-static-egress-controller',
      'kube-1-metrics-adapter',
      'kube-1-cluster-autoscaler',
      'kube-1-master',
      'kube-1-worker',
    ]) {
      expect((await iam.send(new GetRoleCommand({ RoleName: r }))).Role?.RoleName).toBe(r);
    }
  });

  it('1. the interruption queue redrives to its DLQ and the five rules target it', async () => {
    const sqs = new SQSClient({ region: REGION, useQueueUrlAsEndpoint: false });
    const url = (await sqs.send(new GetQueueUrlCommand({ QueueName: 'kube-1-interruption' }))).QueueUrl!;
    const attrs = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })))
      .Attributes!;
    expect(JSON.parse(attrs.RedrivePolicy!)).toEqual({
      deadLetterTargetArn: `arn:aws:sqs:${REGION}:123456789012:kube-1-interruption-dlq`,
      maxReceiveCount: 5,
    });
    expect(attrs.MessageRetentionPeriod).toBe('3600');
    const events = new EventBridgeClient({ region: REGION });
    const rules = (await events.send(new ListRulesCommand({ NamePrefix: 'kube-1-cluster' }))).Rules ?? [];
    const patterns = new Map<string, unknown>();
    for (const rule of rules) {
      const d = await events.send(new DescribeRuleCommand({ Name: rule.Name }));
      patterns.set(rule.Name!, JSON.parse(d.EventPattern!));
      const targets = (await events.send(new ListTargetsByRuleCommand({ Rule: rule.Name }))).Targets ?? [];
      expect(targets.map((t) => t.Arn)).toEqual([attrs.QueueArn]);
    }
    const canonical = (v: unknown): string => JSON.stringify(sortKeys(v));
    expect([...patterns.values()].map(canonical).sort()).toEqual(
      Object.values(interruptionRules(NAME)).map(canonical).sort(),
    );
  });

  it('1. the API record aliases the load balancer; NAT subnets, exports and shared tags exist', async () => {
    const records =
      (
        await new Route53Client({ region: REGION }).send(
          new ListResourceRecordSetsCommand({ HostedZoneId: aws.hostedZoneId }),
        )
      ).ResourceRecordSets ?? [];
    const api = records.find((r) => r.Name?.replace(/\.$/, '') === 'kube-1.example.org' && r.Type === 'A');
    expect(api?.AliasTarget?.DNSName).toMatch(/elb\.amazonaws\.com\.?$/);

    const ec2 = new EC2Client({ region: REGION });
    const nat =
      (
        await ec2.send(
          new DescribeSubnetsCommand({
            Filters: [{ Name: 'tag:kubeaws.io/component', Values: ['static-egress-controller'] }],
          }),
        )
      ).Subnets ?? [];
    expect(
      nat
        .map((s) => [
          s.AvailabilityZone,
          s.CidrBlock,
          tagValue(s.Tags, 'kubeaws.io/availability-zone'),
          tagValue(s.Tags, 'kubeaws.io/role'),
        ])
        .sort(),
    ).toEqual([
      ['eu-central-1a', '10.0.255.0/28', 'eu-central-1a', 'egress-nat'],
      ['eu-central-1b', '10.0.255.16/28', 'eu-central-1b', 'egress-nat'],
      ['eu-central-1c', '10.0.255.32/28', 'eu-central-1c', 'egress-nat'],
    ]);
    // moto ignores Tags of AWS::EC2::RouteTable and does not show SubnetRouteTableAssociation on the table:
    // the tables are found through the stack; their tags and associations are asserted on the template (unit tests).
    const natTableIds = (
      (await cfn.send(new DescribeStackResourcesCommand({ StackName: 'kube-1-cluster' }))).StackResources ?? []
    )
      .filter((r) => r.LogicalResourceId?.startsWith('NatRouteTable'))
      .map((r) => r.PhysicalResourceId!);
    const natTables =
      (await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: natTableIds }))).RouteTables ?? [];
    expect(natTables).toHaveLength(3);
    for (const t of natTables) {
      expect(
        t.Routes?.some((r) => r.DestinationCidrBlock === '0.0.0.0/0' && r.GatewayId === aws.internetGatewayId),
      ).toBe(true);
      expect(tagValue(t.Tags, OWNER)).toBe('owned');
    }

    const exports = ((await cfn.send(new ListExportsCommand({}))).Exports ?? []).map((e) => e.Name).sort();
    expect(exports).toEqual(
      [
        'api-target-group',
        'etcd-backup-bucket',
        'etcd-endpoint',
        'etcd-security-group',
        'files-bucket',
        'files-bucket-arn',
        'interruption-queue-arn',
        'interruption-queue-url',
        'kms-key-arn',
        'master-instance-profile',
        'master-security-group',
        'oidc-issuer',
        'worker-instance-profile',
        'worker-role-arn',
        'worker-security-group',
      ].map((e) => `kube-1:${e}`),
    );

    const vpc = (await ec2.send(new DescribeVpcsCommand({ VpcIds: [aws.vpcId] }))).Vpcs![0];
    expect(tagValue(vpc.Tags, OWNER)).toBe('shared');
    const subnets = (await ec2.send(new DescribeSubnetsCommand({ SubnetIds: Object.values(aws.subnets) }))).Subnets!;
    expect(subnets.map((s) => tagValue(s.Tags, OWNER))).toEqual(['shared', 'shared', 'shared']);
    const rt = (await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [aws.routeTableId] }))).RouteTables![0];
    expect(tagValue(rt.Tags, OWNER)).toBe('shared');
  });

  it('1. etcd members have their A records; the files bucket of the etcd stack holds etcd/, which the etcd role reads', async () => {
    const { cluster } = loadClusterOrThrow(file);
    const count = cluster.items.get('etcd_instance_count') as number;
    const ec2 = new EC2Client({ region: REGION });
    const instances = (
      (await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:kubeaws.io/role', Values: ['etcd'] }] })))
        .Reservations ?? []
    ).flatMap((r) => r.Instances ?? []);
    const byMember = new Map(instances.map((i) => [tagValue(i.Tags, 'kubeaws.io/etcd-member'), i.PrivateIpAddress]));
    expect([...byMember.keys()].sort()).toEqual(Array.from({ length: count }, (_, i) => `etcd-${i}`).sort());
    const records =
      (await new Route53Client({ region: REGION }).send(new ListResourceRecordSetsCommand({ HostedZoneId: aws.hostedZoneId })))
        .ResourceRecordSets ?? [];
    for (const [member, ip] of byMember) {
      const a = records.find((r) => r.Name?.replace(/\.$/, '') === `${member}.etcd.kube-1.${cluster.hostedZone}` && r.Type === 'A');
      expect({ member, ips: a?.ResourceRecords?.map((x) => x.Value) }).toEqual({ member, ips: [ip] });
    }
    const outputs = (await cfn.send(new DescribeStacksCommand({ StackName: 'kube-1-etcd' }))).Stacks![0]!.Outputs ?? [];
    const bucket = outputs.find((o) => o.OutputKey === 'FilesBucket')!.OutputValue!;
    const keys = ((await new S3Client({ region: REGION }).send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key);
    expect(keys).toEqual(expect.arrayContaining(['etcd/pki/server.crt', 'master/pki/apiserver.crt', 'worker/kubelet.kubeconfig']));
    const policy = parsePolicyDocument(
      (await new IAMClient({ region: REGION }).send(new GetRolePolicyCommand({ RoleName: 'kube-1-etcd', PolicyName: 'etcd' }))).PolicyDocument!,
    );
    expect(policy.Statement.find((s) => s.Sid === 'ReadEtcdFiles')).toMatchObject({
      Action: 's3:GetObject',
      Resource: `arn:aws:s3:::${bucket}/etcd/*`,
    });
  });

  const outcomes = (io: { stdout: string[] }): Record<string, string> =>
    Object.fromEntries(
      io.stdout
        .join('')
        .split('\n')
        .map((l) => /^(kube-1-[a-z-]+): (created|updated|unchanged|deleted)$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1], m[2]]),
    );

  it('2. changing a pool, adding a pool and changing an item update only the affected stacks', async () => {
    writeCluster({ spotMaxSize: 6, extraPool: true, queueRetention: '2h' });
    const io = capture();
    expect(await applyCommand(file, FAST, io)).toBe(0);
    expect(outcomes(io)).toEqual({
      'kube-1-etcd': 'unchanged',
      'kube-1-cluster': 'updated',
      'kube-1-pool-master': 'unchanged',
      'kube-1-pool-spot': 'updated',
      'kube-1-pool-fallback': 'unchanged',
      'kube-1-pool-extra': 'created',
    });
    const asgs = (
      await new AutoScalingClient({ region: REGION }).send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['kube-1-pool-spot', 'kube-1-pool-extra'] }),
      )
    ).AutoScalingGroups!;
    expect(asgs.map((a) => [a.AutoScalingGroupName, a.MaxSize]).sort()).toEqual([
      ['kube-1-pool-extra', 2],
      ['kube-1-pool-spot', 6],
    ]);
    // The item reaches the cluster stack as a parameter (moto's queue update applies only VisibilityTimeout and
    // ReceiveMessageWaitTimeSeconds, so the queue attribute itself is not re-read here).
    const cluster = (await cfn.send(new DescribeStacksCommand({ StackName: 'kube-1-cluster' }))).Stacks![0];
    expect(cluster.Parameters?.find((p) => p.ParameterKey === 'InterruptionQueueRetention')?.ParameterValue).toBe(
      '7200',
    );
  });

  it('3. a pool with instances cannot leave the config; an empty one is removed with its stack', async () => {
    const fallback = (
      await new AutoScalingClient({ region: REGION }).send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['kube-1-pool-fallback'] }),
      )
    ).AutoScalingGroups![0];
    const n = fallback.Instances?.length ?? 0;
    expect(n).toBeGreaterThan(0);
    fs.writeFileSync(
      file,
      clusterFile({ name: NAME, region: REGION, spotMaxSize: 6, extraPool: true, queueRetention: '2h' }).replace(
        /    - name: fallback\n(      .*\n)+?(?=    - name: extra)/,
        '',
      ),
    );
    const refused = capture();
    expect(await applyCommand(file, FAST, refused)).toBe(1);
    expect(refused.stderr.join('')).toBe(
      `pool fallback still has ${n} instance${n === 1 ? '' : 's'}; set maxSize: 0, wait for the nodes to drain, then remove it\n`,
    );
    expect(Object.keys(await stackStatus())).toContain('kube-1-pool-fallback');

    writeCluster({ spotMaxSize: 6, extraPool: false, queueRetention: '2h' });
    const io = capture();
    expect(await applyCommand(file, FAST, io)).toBe(0);
    expect(outcomes(io)).toEqual({
      'kube-1-etcd': 'unchanged',
      'kube-1-cluster': 'unchanged', // no update with no changes (the deployed template equals the rendered one)
      'kube-1-pool-master': 'unchanged',
      'kube-1-pool-spot': 'unchanged',
      'kube-1-pool-fallback': 'unchanged',
      'kube-1-pool-extra': 'deleted',
    });
    expect(Object.keys(await stackStatus()).sort()).toEqual([
      'kube-1-cluster',
      'kube-1-etcd',
      'kube-1-pool-fallback',
      'kube-1-pool-master',
      'kube-1-pool-spot',
    ]);
  });

  it('4. a pool stack before its cluster stack fails naming the missing export and the stack to create first', async () => {
    const other = path.join(dir, 'kube-2.yaml');
    fs.writeFileSync(other, clusterFile({ name: 'kube-2', region: REGION, spotMaxSize: 2, extraPool: false }));
    const { cluster } = loadClusterOrThrow(other);
    await discover(cluster);
    const pool = renderStacks(cluster).find((s) => s.name === 'kube-2-pool-spot')!;
    await expect(deployStack(stackClients(REGION), 'kube-2', pool, FAST)).rejects.toThrow(
      new ApplyError(
        'kube-2-pool-spot: missing export kube-2:files-bucket, kube-2:worker-instance-profile, kube-2:worker-security-group: create stack kube-2-etcd first (kubeaws apply creates the stacks in order)',
      ),
    );
    expect(Object.keys(await stackStatus())).not.toContain('kube-2-pool-spot');
  });

  it('5. delete removes every stack and the shared tags', async () => {
    const wrong = capture();
    expect(await deleteCommand(file, { confirm: 'kube-2', ...FAST }, wrong)).toBe(2);
    expect(wrong.stderr.join('')).toBe('--confirm: expected the cluster name kube-1, got "kube-2"\n');

    const io = capture();
    expect(await deleteCommand(file, { confirm: NAME, ...FAST }, io)).toBe(0);
    expect(await stackStatus()).toEqual({});
    const deleted = io.stdout
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('deleting '));
    expect(deleted.slice(-2)).toEqual(['deleting kube-1-cluster', 'deleting kube-1-etcd']);
    expect(deleted.slice(0, -2).sort()).toEqual([
      'deleting kube-1-pool-fallback',
      'deleting kube-1-pool-master',
      'deleting kube-1-pool-spot',
    ]);

    const ec2 = new EC2Client({ region: REGION });
    const vpc = (await ec2.send(new DescribeVpcsCommand({ VpcIds: [aws.vpcId] }))).Vpcs![0];
    const subnets = (await ec2.send(new DescribeSubnetsCommand({ SubnetIds: Object.values(aws.subnets) }))).Subnets!;
    const rt = (await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [aws.routeTableId] }))).RouteTables![0];
    expect([vpc.Tags, ...subnets.map((s) => s.Tags), rt.Tags].map((t) => tagValue(t, OWNER))).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});
