/**
 * A representative run under exactly the shipped permissions (docs/node-lifecycle-controller.md#nlc-permissions).
 *
 * Kubernetes: the controller authenticates as the ServiceAccount of manifests/node-lifecycle-controller
 * (serviceaccount.yaml), bound only to the ClusterRole and Role of rbac.yaml, applied from the files as shipped; it
 * runs with leader election (the Role's Lease) and reads the block ConfigMap (the Role's ConfigMap). The run: an
 * invalid SQS message dead-lettered through the queue's redrive policy, a spot interruption drained to `terminated`,
 * an ASG termination hook heartbeated and completed, a voluntary drain of an on-demand ASG node with a prepared
 * replacement terminated through its ASG, a voluntary drain forcing a PDB-blocked pod by the SLA and terminating a
 * plain EC2 instance (SLA gates shortened to 0 s), and the rolling-update ASG listing. Nothing is forbidden: no 403 in the kube-apiserver audit
 * log (writes) or in the client's request metrics (reads and writes), and every access the client recorded is one
 * the shipped rules allow.
 *
 * AWS: every action the recording proxy (test/proxy.ts) in front of moto saw from the controller during the run is
 * allowed by the node-lifecycle-controller role that `kubeaws` renders (packages/kubeaws/src/infra/stacks/iam.ts,
 * read as is), on resources that meet the role's resource patterns and tag conditions; and the role holds no action
 * this run did not call (the exceptions, with their reasons, are listed below: none).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { CreateAutoScalingGroupCommand, CreateLaunchConfigurationCommand, DescribeAutoScalingGroupsCommand, PutLifecycleHookCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { type PolicyRule, rbacAllows } from '@kubeaws/runtime';
import { serviceAccountKubeConfig, waitFor } from '@kubeaws/testenv';
import { loadAllYaml } from '@kubernetes/client-node';
import { IAM_ACTIONS } from '../src/index';
import { Aws, Fixtures, type Nlc, REGION, auditOffset, auditSince, eventBridge, metric, metricLines, startNlc } from './support';

const CLUSTER = 'nlc-perm';
const REPO_ROOT = path.resolve(__dirname, '../../..');
const MANIFESTS = path.join(REPO_ROOT, 'manifests/node-lifecycle-controller');
const SA = { namespace: 'kube-system', name: 'kubeaws-node-lifecycle-controller' };
const SA_USER = `system:serviceaccount:${SA.namespace}:${SA.name}`;
const LEASE = `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kubeaws-node-lifecycle-controller`;
const PLURALS: Record<string, string> = {
  ServiceAccount: 'serviceaccounts',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  Role: 'roles',
  RoleBinding: 'rolebindings',
};
/** Role actions this run does not call, each with the reason it is still needed. */
const NOT_EXERCISED: Record<string, string> = {};

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; rules?: PolicyRule[] };
/** IAM policy statement as `kubeaws` renders it (packages/kubeaws/src/infra/stacks/intrinsics.ts). */
interface Statement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const manifest = (file: string) => (loadAllYaml(readFileSync(path.join(MANIFESTS, file), 'utf8')) as Obj[]).filter(Boolean);
const objPath = (o: Obj) => {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  return `${group ? `/apis/${group}/${version}` : `/api/${version}`}${o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : ''}/${PLURALS[o.kind]}/${o.metadata.name}`;
};

/**
 * The role's statements, from the renderer's source. `kubeaws` depends on this package, so a static import would
 * make the two packages depend on each other; the test loads the module at run time instead.
 */
async function renderedStatements(): Promise<Statement[]> {
  const iam = (await import(path.join(REPO_ROOT, 'packages/kubeaws/src/infra/stacks/iam.ts'))) as {
    componentStatements(component: 'node-lifecycle-controller', cluster: string): Statement[];
  };
  return iam.componentStatements('node-lifecycle-controller', CLUSTER);
}
const actionsOf = (s: Statement) => ([] as string[]).concat(s.Action);
const matches = (pattern: string, action: string) => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i').test(action);

const suffix = Math.random().toString(36).slice(2, 7);
const ASG = `${CLUSTER}-pool-${suffix}`;
const f = new Fixtures();
const aws = new Aws();
let rc: Nlc | undefined;
let queueUrl: string;
let dlqUrl: string;
const applied: Obj[] = [];
const nodes = { spot: `nlc-perm-spot-${suffix}`, hook: `nlc-perm-hook-${suffix}`, asg: `nlc-perm-asg-${suffix}`, plain: `nlc-perm-plain-${suffix}` };
const instances: Record<keyof typeof nodes, string> = { spot: '', hook: '', asg: '', plain: '' };

beforeAll(async () => {
  await f.namespace('nlc-perm');
  await aws.start();
  // The ServiceAccount and RBAC as shipped.
  for (const o of [...manifest('serviceaccount.yaml'), ...manifest('rbac.yaml')]) {
    await f.kube.apply(objPath(o), o, { force: true, fieldManager: 'nlc-permissions-test' });
    applied.push(o);
  }
  await f.kube.delete(LEASE).catch(() => undefined);

  // AWS: an interruption queue with a dead-letter queue, an on-demand pool with the termination hook, instances.
  dlqUrl = (await aws.sqs.send(new CreateQueueCommand({ QueueName: `nlc-perm-dlq-${suffix}` }))).QueueUrl!;
  const dlqArn = (await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  queueUrl = (
    await aws.sqs.send(
      new CreateQueueCommand({ QueueName: `nlc-perm-${suffix}`, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }) } }),
    )
  ).QueueUrl!;
  await aws.asg.send(new CreateLaunchConfigurationCommand({ LaunchConfigurationName: `lc-perm-${suffix}`, ImageId: await aws.imageId(), InstanceType: 't3.micro' }));
  await aws.asg.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: ASG, LaunchConfigurationName: `lc-perm-${suffix}`, MinSize: 0, MaxSize: 4, DesiredCapacity: 2, AvailabilityZones: [`${REGION}a`],
      Tags: [
        { Key: `kubernetes.io/cluster/${CLUSTER}`, Value: 'owned', PropagateAtLaunch: true },
        { Key: 'kubeaws.io/capacity-type', Value: 'on-demand', PropagateAtLaunch: false },
      ],
    }),
  );
  await aws.asg.send(
    new PutLifecycleHookCommand({ AutoScalingGroupName: ASG, LifecycleHookName: 'kubeaws-drain', LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING', HeartbeatTimeout: 60 }),
  );
  const pool = (await aws.asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [ASG] }))).AutoScalingGroups![0].Instances!.map((i) => i.InstanceId!);
  [instances.asg, instances.hook] = pool;
  const owned = { [`kubernetes.io/cluster/${CLUSTER}`]: 'owned' };
  instances.plain = await aws.runInstance(owned);
  instances.spot = await aws.runInstance(owned);
  for (const k of Object.keys(nodes) as (keyof typeof nodes)[]) {
    await f.node(nodes[k], { providerID: `aws:///${REGION}a/${instances[k]}` });
    await f.pod(`${k}-pod`, { node: nodes[k], labels: { app: k } });
  }
  // The plain node's pod: a PDB never lets it go, so only the SLA forces it.
  await f.pdb('plain', { minAvailable: 1 }, { app: 'plain' });
}, 180_000);

afterAll(async () => {
  await rc?.stop();
  await f.cleanup();
  for (const o of applied.reverse()) await f.kube.delete(objPath(o)).catch(() => undefined);
  await f.kube.delete(LEASE).catch(() => undefined);
  await aws.stop();
});

describe('a representative run under the shipped permissions', () => {
  let auditFrom: number;

  it('drains, forces, terminates, completes the hook and dead-letters as the ServiceAccount with exactly rbac.yaml', async () => {
    const saKc = await serviceAccountKubeConfig(f.kc, SA.namespace, SA.name, { waitForList: ['/api/v1/nodes', '/apis/policy/v1/poddisruptionbudgets'] });
    auditFrom = await auditOffset();
    rc = await startNlc({
      kubeConfig: saKc,
      leaderElect: true,
      argv: [
        `--cluster-name=${CLUSTER}`, `--aws-region=${REGION}`, `--sqs-queue-url=${aws.viaProxy(queueUrl)}`, '--sla-profile=test', '--drain-poll-interval=1s',
        '--sqs-wait-time=1s', '--sqs-visibility-timeout=10s', '--asg-sync-interval=2s', '--node-replacement-prepare=true', '--replacement-timeout=2s',
        '--max-concurrent-drains=10',
        // The SLA gates shortened so that the forced termination comes in real time (leader election runs on the
        // controller's clock, which this run does not move).
        '--drain-grace-period=0s', '--drain-min-pod-lifetime=0s', '--drain-min-healthy-sibling-lifetime=0s', '--drain-min-unhealthy-sibling-lifetime=0s',
      ],
      env: { POD_NAMESPACE: 'kube-system' },
    });
    await waitFor(() => rc!.isLeader() || undefined, { timeoutMs: 30_000, description: 'leader (Lease in kube-system)' });
    const now = Date.now();
    await aws.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'not json' }));
    await aws.sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: eventBridge(`spot-${suffix}`, 'aws.ec2', 'EC2 Spot Instance Interruption Warning', now, { 'instance-id': instances.spot, 'instance-action': 'terminate' }),
      }),
    );
    await aws.sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: eventBridge(`hook-${suffix}`, 'aws.autoscaling', 'EC2 Instance-terminate Lifecycle Action', now, {
          EC2InstanceId: instances.hook, AutoScalingGroupName: ASG, LifecycleHookName: 'kubeaws-drain', LifecycleActionToken: `tok-${suffix}`,
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        }),
      }),
    );
    await f.request(nodes.asg);
    await f.request(nodes.plain);

    // Spot: drained and waiting for AWS; AWS takes the instance; confirmed.
    await waitFor(async () => (await f.state(nodes.spot)) === 'terminating', { timeoutMs: 60_000, description: 'spot node drained, waiting for AWS' });
    await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instances.spot] }));
    await waitFor(async () => (await f.state(nodes.spot)) === 'terminated', { timeoutMs: 30_000, description: 'spot instance confirmed terminated' });
    // Hook: heartbeat while draining, CompleteLifecycleAction once drained (moto: 500; AWS's "no active action"
    // answer counts as completed).
    await waitFor(() => aws.proxy.of('CompleteLifecycleAction')[0], { timeoutMs: 60_000, description: 'CompleteLifecycleAction' });
    aws.proxy.inject('CompleteLifecycleAction', { status: 400, code: 'ValidationError', message: 'No active Lifecycle Action found with token' });
    await waitFor(async () => (await f.state(nodes.hook)) === 'terminating', { timeoutMs: 90_000, description: 'hook completed' });
    // On-demand ASG node: replacement prepared (timed out: no Node joins for it), drained, terminated through its ASG.
    await waitFor(() => aws.proxy.of('TerminateInstanceInAutoScalingGroup').find((c) => c.status === 200), { timeoutMs: 60_000, description: 'ASG node terminated through its ASG' });
    expect(aws.proxy.of('SetDesiredCapacity')[0].params).toMatchObject({ AutoScalingGroupName: ASG, DesiredCapacity: '3' });
    // Plain node: the PDB-blocked pod is forced by the (shortened) SLA, then the instance goes.
    await waitFor(async () => (await f.state(nodes.plain)) === 'terminated', { timeoutMs: 60_000, description: 'plain node forced, drained, its instance terminated' });
    expect(await metric(rc, 'evictions_total', 'result="pdb_blocked"')).toBeGreaterThanOrEqual(1);
    expect(await metric(rc, 'forced_terminations_total', 'reason="sla"')).toBe(1);
    const plain = (await aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instances.plain] }))).Reservations![0].Instances![0];
    expect(plain.State?.Name).toBe('terminated');
    // The invalid message went to the dead-letter queue.
    await waitFor(async () => (await aws.queueDepth(dlqUrl)) === 1 || undefined, { timeoutMs: 60_000, description: 'invalid message dead-lettered' });
    expect(await metric(rc, 'sqs_messages_total', 'outcome="invalid"')).toBe(1);
  }, 300_000);

  it('nothing was forbidden: no 403 in the audit log or the client metrics, every access allowed by the shipped rules', async () => {
    // The Lease is renewed every retry period; a run as quick as the one above can end before the first renewal is in
    // the audit log, so wait for it (the other writes are in by now: each step above waited for its outcome).
    const writes = await waitFor(
      async () => {
        const w = (await auditSince(auditFrom)).filter((e) => e.user?.username === SA_USER);
        return w.some((e) => e.verb === 'update' && e.requestURI.includes('/leases/')) ? w : undefined;
      },
      { timeoutMs: 30_000, description: 'a Lease renewal in the audit log' },
    );
    const verbs = new Set(writes.map((e) => `${e.verb} ${e.requestURI.split('?')[0].replace(/\/namespaces\/[^/]+/, '/namespaces/*').replace(/\/(nodes|pods|events|leases)\/[^/]+/, '/$1/*')}`));
    // The run wrote what a drain writes: Node PATCHes, Evictions, a forced DELETE, Events, the Lease.
    for (const w of ['patch /api/v1/nodes/*', 'create /api/v1/namespaces/*/pods/*/eviction', 'delete /api/v1/namespaces/*/pods/*', 'create /apis/events.k8s.io/v1/namespaces/*/events', 'update /apis/coordination.k8s.io/v1/namespaces/*/leases/*'])
      expect(verbs).toContain(w);
    expect(writes.filter((e) => e.responseStatus?.code === 403)).toEqual([]);
    const requests = await metricLines(rc!, 'api_requests_total');
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((l) => l.includes('code="403"'))).toEqual([]);
    expect(await metric(rc!, 'invalid_input_total', 'source="configmap"')).toBe(0);
    const objs = manifest('rbac.yaml');
    const cluster = objs.filter((o) => o.kind === 'ClusterRole').flatMap((o) => o.rules ?? []);
    const own = objs.filter((o) => o.kind === 'Role' && o.metadata.namespace === 'kube-system').flatMap((o) => o.rules ?? []);
    const accesses = rc!.manager.client.accesses().filter((a) => a.resource !== '');
    expect(accesses.length).toBeGreaterThan(0);
    expect(accesses.filter((a) => !rbacAllows(cluster, a) && !(a.namespace === 'kube-system' && rbacAllows(own, a)))).toEqual([]);
  });

  it('every AWS action called is allowed by the rendered role, on its resources; the role holds nothing not called', async () => {
    const statements = await renderedStatements();
    const allowed = statements.filter((s) => s.Effect === 'Allow');
    const called = [...new Set(aws.proxy.calls.map((c) => `${c.service}:${c.action}`))].sort();
    const granted = [...new Set(allowed.flatMap(actionsOf))].sort();
    // The role is the code's list, and the run called every action of it.
    expect(granted).toEqual([...IAM_ACTIONS].sort());
    expect(called.filter((a) => !allowed.some((s) => actionsOf(s).some((p) => matches(p, a))))).toEqual([]);
    expect(granted.filter((a) => !called.includes(a) && !(a in NOT_EXERCISED))).toEqual([]);
    expect(Object.keys(NOT_EXERCISED).filter((a) => called.includes(a))).toEqual([]);

    // Resource scoping and tag conditions hold for what was called.
    const statementOf = (action: string) => allowed.find((s) => actionsOf(s).includes(action))!;
    const ownerKey = `kubernetes.io/cluster/${CLUSTER}`;
    for (const action of ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat', 'autoscaling:TerminateInstanceInAutoScalingGroup', 'autoscaling:SetDesiredCapacity'])
      expect(statementOf(action).Condition).toEqual({ StringEquals: { [`autoscaling:ResourceTag/${ownerKey}`]: 'owned' } });
    expect(statementOf('ec2:TerminateInstances').Condition).toEqual({ StringEquals: { [`ec2:ResourceTag/${ownerKey}`]: 'owned' } });
    expect(JSON.stringify(statementOf('autoscaling:SetDesiredCapacity').Resource)).toContain('autoScalingGroupName/${ClusterName}-pool-*');
    const groups = new Set<string>();
    for (const c of aws.proxy.calls.filter((x) => x.service === 'autoscaling' && ['CompleteLifecycleAction', 'RecordLifecycleActionHeartbeat', 'SetDesiredCapacity'].includes(x.action)))
      groups.add(c.params.AutoScalingGroupName);
    expect([...groups]).toEqual([ASG]);
    // instances.asg was launched by that group (beforeAll).
    expect(aws.proxy.of('TerminateInstanceInAutoScalingGroup').map((c) => c.params.InstanceId)).toEqual(expect.arrayContaining([instances.asg]));
    expect(new Set(aws.proxy.of('TerminateInstanceInAutoScalingGroup').map((c) => c.params.InstanceId))).toEqual(new Set([instances.asg]));
    const group = (await aws.asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [ASG] }))).AutoScalingGroups![0];
    expect(group.AutoScalingGroupName!.startsWith(`${CLUSTER}-pool-`)).toBe(true);
    expect(group.Tags).toContainEqual(expect.objectContaining({ Key: ownerKey, Value: 'owned' }));
    for (const c of aws.proxy.of('TerminateInstances')) {
      const ids = Object.entries(c.params).filter(([k]) => k.startsWith('InstanceId.')).map(([, v]) => v);
      expect(ids).toEqual([instances.plain]);
      const inst = (await aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }))).Reservations![0].Instances![0];
      expect(inst.Tags).toContainEqual({ Key: ownerKey, Value: 'owned' });
    }
    // SQS calls only on the interruption queue (the role's only queue).
    const queuePath = new URL(queueUrl).pathname;
    for (const c of aws.proxy.calls.filter((x) => x.service === 'sqs')) expect(new URL(c.params.QueueUrl).pathname).toBe(queuePath);
  });
});
