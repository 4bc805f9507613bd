/**
 * A kill at the termination write-ahead point, with the controller as a child process (the built main.js, test
 * profile, short poll): the recording proxy in front of moto parks the `DescribeInstances` call that follows the
 * write-ahead PATCH, the process is killed with SIGKILL while that call hangs, and a new process starts. The new
 * process finds the node `terminating` with its `termination-requested` time and makes no TerminateInstances call
 * while the instance has not been running for 5 min after it (docs/node-lifecycle-controller.md#nlc-termination,
 * #nlc-restarts): no repeated action, at most one terminate call.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { KubeClient } from '@kubeaws/runtime';
import { type MotoServer, TEST_ENV, startMoto, testKubeConfig, waitFor } from '@kubeaws/testenv';
import { RecordingProxy } from './proxy';

const REGION = 'us-east-1';
const MAIN = path.resolve(__dirname, '../../../dist/packages/node-lifecycle-controller/lib/main.js');
const suffix = Math.random().toString(36).slice(2, 7);
const nodeName = `nlc-kill-${suffix}`;
let moto: MotoServer;
let proxy: RecordingProxy;
let kube: KubeClient;
let instanceId: string;
const children: ChildProcess[] = [];

function startController(): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      MAIN, `--kubeconfig=${process.env[TEST_ENV.kubeconfig]}`, '--leader-elect=false', '--metrics-bind-address=127.0.0.1:0',
      '--health-probe-bind-address=127.0.0.1:0', '--cluster-name=nlc-kill', `--aws-region=${REGION}`, '--rolling-update=false',
      '--sla-profile=test', '--drain-poll-interval=1s', '--log-level=warn',
    ],
    {
      env: { PATH: process.env.PATH, AWS_ENDPOINT_URL: proxy.endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', POD_NAMESPACE: 'kube-system' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  children.push(child);
  return child;
}

type NodeObj = { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } };
const getNode = () => kube.get<NodeObj>(`/api/v1/nodes/${nodeName}`);

beforeAll(async () => {
  kube = new KubeClient({ kubeConfig: testKubeConfig() });
  moto = await startMoto();
  proxy = new RecordingProxy(moto.endpoint);
  await proxy.start();
  const ec2 = new EC2Client({ endpoint: moto.endpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const image = (await ec2.send(new DescribeImagesCommand({}))).Images![0].ImageId!;
  instanceId = (await ec2.send(new RunInstancesCommand({ ImageId: image, MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: `${REGION}a` } }))).Instances![0].InstanceId!;
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: nodeName, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': nodeName, type: 'kwok' } },
    spec: { providerID: `aws:///${REGION}a/${instanceId}` },
    status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
  });
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await kube.delete(`/api/v1/nodes/${nodeName}`).catch(() => undefined);
  await proxy?.stop();
  await moto?.stop();
});

it('killed between the write-ahead PATCH and the terminate call: the restarted process does not terminate again', async () => {
  proxy.hold('DescribeInstances');
  const first = startController();
  await kube.mergePatch(`/api/v1/nodes/${nodeName}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
  const written = await waitFor(
    async () => {
      const n = await getNode();
      return n.metadata.labels?.['kubeaws.io/lifecycle-state'] === 'terminating' && proxy.parkedCount('DescribeInstances') > 0
        ? n.metadata.annotations?.['kubeaws.io/termination-requested']
        : undefined;
    },
    { timeoutMs: 60_000, description: 'write-ahead PATCH done, DescribeInstances in flight' },
  );
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  proxy.release('DescribeInstances');
  const before = proxy.of('DescribeInstances').length;
  startController();
  await waitFor(() => proxy.of('DescribeInstances').length >= before + 3 || undefined, {
    timeoutMs: 60_000,
    description: 'three confirmation polls by the restarted process',
  });
  expect(proxy.of('TerminateInstances')).toEqual([]);
  expect(proxy.of('TerminateInstanceInAutoScalingGroup')).toEqual([]);
  const n = await getNode();
  expect(n.metadata.labels?.['kubeaws.io/lifecycle-state']).toBe('terminating');
  expect(n.metadata.annotations?.['kubeaws.io/termination-requested']).toBe(written);
}, 180_000);
