/**
 * Lifecycle-hook heartbeats across a restart (docs/node-lifecycle-controller.md#nlc-hooks, #nlc-restarts): heartbeat
 * times live in memory only, so a restarted controller finds the hook on the Node and heartbeats at once, then every
 * half heartbeat timeout; drain-start and the interruption record are left as they were.
 *
 * moto 5 answers HTTP 500 to `RecordLifecycleActionHeartbeat`, so the calls are asserted through the recording proxy
 * (test/proxy.ts) in front of the real moto: action, parameters, arrival time and the SDK's attempt number (a call
 * and its retries of moto's 500 count as one heartbeat). The controller before and after the restart talks to moto
 * through two proxies, so each heartbeat is attributed to the process that sent it. The hook message, its timeouts
 * (DescribeLifecycleHooks: heartbeat timeout 60 s) and the instance come from moto.
 */
import { CreateAutoScalingGroupCommand, CreateLaunchConfigurationCommand, PutLifecycleHookCommand } from '@aws-sdk/client-auto-scaling';
import { CreateQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { waitFor } from '@kubeaws/testenv';
import { RecordingProxy } from './proxy';
import { Aws, Fixtures, type Nlc, REGION, eventBridge, startNlc } from './support';

const CLUSTER = 'nlc-hb';
const suffix = Math.random().toString(36).slice(2, 7);
const ASG = `${CLUSTER}-pool-${suffix}`;
const f = new Fixtures();
const aws = new Aws();
let second: RecordingProxy | undefined;
let queueUrl: string;
let instanceId: string;
const node = `nlc-hb-${suffix}`;
const running: Nlc[] = [];

const start = async (proxy: RecordingProxy) => {
  const rc = await startNlc({
    kubeConfig: f.kc,
    argv: [
      `--cluster-name=${CLUSTER}`, `--aws-region=${REGION}`, `--sqs-queue-url=${aws.viaProxy(queueUrl, proxy)}`, '--sla-profile=test', '--drain-poll-interval=1s',
      '--sqs-wait-time=1s', '--rolling-update=false',
    ],
    env: { POD_NAMESPACE: f.ns },
  });
  running.push(rc);
  return rc;
};
const heartbeats = (p: RecordingProxy) => p.of('RecordLifecycleActionHeartbeat').filter((c) => c.attempt === 1);

beforeAll(async () => {
  await f.namespace('nlc-hb');
  await aws.start();
  await aws.asg.send(new CreateLaunchConfigurationCommand({ LaunchConfigurationName: `lc-${suffix}`, ImageId: await aws.imageId(), InstanceType: 't3.micro' }));
  await aws.asg.send(
    new CreateAutoScalingGroupCommand({ AutoScalingGroupName: ASG, LaunchConfigurationName: `lc-${suffix}`, MinSize: 0, MaxSize: 2, DesiredCapacity: 0, AvailabilityZones: [`${REGION}a`] }),
  );
  await aws.asg.send(
    new PutLifecycleHookCommand({ AutoScalingGroupName: ASG, LifecycleHookName: 'kubeaws-drain', LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING', HeartbeatTimeout: 60 }),
  );
  queueUrl = (await aws.sqs.send(new CreateQueueCommand({ QueueName: `nlc-hb-${suffix}` }))).QueueUrl!;
  instanceId = await aws.runInstance({ [`kubernetes.io/cluster/${CLUSTER}`]: 'owned' });
  await f.node(node, { providerID: `aws:///${REGION}a/${instanceId}` });
  // A pod its PDB never lets go: the node stays draining, the hook held, for the whole test.
  await f.pdb('held', { minAvailable: 1 }, { app: 'held' });
  await f.pod('held', { node, labels: { app: 'held' } });
}, 180_000);

afterAll(async () => {
  for (const rc of running) await rc.stop().catch(() => undefined);
  await f.cleanup();
  await second?.stop();
  await aws.stop();
});

it('a restarted controller heartbeats a held hook at once, then every half heartbeat timeout, without touching drain-start or the record', async () => {
  const first = await start(aws.proxy);
  const token = `tok-${suffix}`;
  await aws.sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: eventBridge(`hook-${suffix}`, 'aws.autoscaling', 'EC2 Instance-terminate Lifecycle Action', Date.now(), {
        EC2InstanceId: instanceId, AutoScalingGroupName: ASG, LifecycleHookName: 'kubeaws-drain', LifecycleActionToken: token,
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      }),
    }),
  );
  const fenced = await waitFor(async () => {
    const n = await f.getNode(node);
    return n.metadata.annotations?.['kubeaws.io/interruption'] && n.metadata.labels?.['kubeaws.io/lifecycle-state'] === 'draining' ? n : undefined;
  }, { timeoutMs: 30_000, description: 'hook recorded, node draining' });
  const record = fenced.metadata.annotations!['kubeaws.io/interruption'];
  const drainStart = fenced.metadata.annotations!['kubeaws.io/drain-start'];
  expect(JSON.parse(record)).toMatchObject({ kinds: ['asg-termination'], lifecycle: { token, heartbeatTimeoutSeconds: 60, completedAt: null } });
  const before = await waitFor(() => heartbeats(aws.proxy)[0], { timeoutMs: 30_000, description: 'first heartbeat before the restart' });

  // Restart: the new process talks to moto through a second proxy.
  await first.stop();
  second = new RecordingProxy(aws.moto.endpoint);
  await second.start();
  process.env.AWS_ENDPOINT_URL = second.endpoint;
  await start(second);
  const restartedAt = Date.now();
  const b1 = await waitFor(() => heartbeats(second!)[0], { timeoutMs: 30_000, description: 'heartbeat of the restarted process' });
  // At once: not a heartbeat interval (30 s) after the last one before the restart.
  expect(b1.at - restartedAt).toBeLessThan(10_000);
  expect(b1.at - before.at).toBeLessThan(30_000);
  for (const c of [before, b1])
    expect(c.params).toMatchObject({ AutoScalingGroupName: ASG, LifecycleHookName: 'kubeaws-drain', LifecycleActionToken: token, InstanceId: instanceId });
  expect(b1.status).toBe(500); // moto's answer: the call is recorded, the drain goes on

  // Then every half heartbeat timeout (30 s).
  const b2 = await waitFor(() => heartbeats(second!)[1], { timeoutMs: 60_000, description: 'second heartbeat of the restarted process' });
  // The next heartbeat is due 30 s after the reconcile that started b1, and b1 is the new process's first AWS call:
  // the SDK's set-up between that reconcile and the request reaching the proxy can take a second or two when loaded.
  expect(b2.at - b1.at).toBeGreaterThanOrEqual(27_000);
  expect(b2.at - b1.at).toBeLessThan(40_000);
  expect(heartbeats(second)).toHaveLength(2);

  const after = await f.getNode(node);
  expect(after.metadata.labels?.['kubeaws.io/lifecycle-state']).toBe('draining');
  expect(after.metadata.annotations?.['kubeaws.io/drain-start']).toBe(drainStart);
  expect(after.metadata.annotations?.['kubeaws.io/interruption']).toBe(record);
  expect(second.of('CompleteLifecycleAction')).toEqual([]);
}, 180_000);
