/**
 * The AWS calls of the node-lifecycle-controller behind one small interface ({@link AwsApi}), so the
 * reconciler and the SQS consumer can be driven by tests without the network. {@link sdkAwsApi}
 * implements it with `@aws-sdk/client-ec2`, `@aws-sdk/client-auto-scaling` and `@aws-sdk/client-sqs`
 * (clients from the runtime's `awsClientConfig`: endpoints only from the SDK's own settings such as
 * `AWS_ENDPOINT_URL`). Every call is counted as `aws_requests_total{service,operation,code}` and logged.
 * The IAM actions called are listed in docs/node-lifecycle-controller.md#nlc-permissions.
 */
import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeLifecycleHooksCommand,
  RecordLifecycleActionHeartbeatCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type ComponentMetrics, type Logger, awsClientConfig, awsErrorCode } from '@kubeaws/runtime';

/**
 * Every IAM action the controller calls, one per {@link AwsApi} method (docs/node-lifecycle-controller.md#nlc-permissions);
 * the infra tests check the rendered role against exactly this list.
 */
export const IAM_ACTIONS = [
  'ec2:DescribeInstances',
  'ec2:TerminateInstances',
  'autoscaling:TerminateInstanceInAutoScalingGroup',
  'autoscaling:CompleteLifecycleAction',
  'autoscaling:RecordLifecycleActionHeartbeat',
  'autoscaling:DescribeLifecycleHooks',
  'autoscaling:DescribeAutoScalingGroups',
  'autoscaling:SetDesiredCapacity',
  'sqs:GetQueueAttributes',
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:ChangeMessageVisibility',
] as const;

/** What DescribeInstances tells us about one instance. */
export interface InstanceInfo {
  id: string;
  /** EC2 state name: pending, running, stopping, stopped, shutting-down, terminated. */
  state: string;
  tags: Record<string, string>;
}

/** One received SQS message. */
export interface QueueMessage {
  messageId: string;
  receiptHandle: string;
  body: string;
  receiveCount: number;
  /** SentTimestamp, epoch ms. */
  sentAt: number;
}

/** The AWS operations used (IAM actions in docs/node-lifecycle-controller.md#nlc-permissions). */
export interface AwsApi {
  /** ec2:DescribeInstances, one call per 1000 IDs (plus one per not-found answer); instances not found are absent from the map. */
  describeInstances(ids: string[]): Promise<Map<string, InstanceInfo>>;
  /** ec2:TerminateInstances. */
  terminateInstance(id: string): Promise<void>;
  /** autoscaling:TerminateInstanceInAutoScalingGroup. */
  terminateInAsg(id: string, decrement: boolean): Promise<void>;
  /** autoscaling:SetDesiredCapacity with HonorCooldown=false (prepared replacement capacity). */
  setDesiredCapacity(asg: string, desired: number): Promise<void>;
  /** autoscaling:CompleteLifecycleAction with CONTINUE. */
  completeLifecycleAction(a: { asg: string; hook: string; token: string; instanceId: string }): Promise<void>;
  /** autoscaling:RecordLifecycleActionHeartbeat. */
  recordHeartbeat(a: { asg: string; hook: string; token: string; instanceId: string }): Promise<void>;
  /** autoscaling:DescribeLifecycleHooks: heartbeat and global timeout in seconds, undefined if the hook is unknown. */
  describeHook(asg: string, hook: string): Promise<{ heartbeatTimeout: number; globalTimeout: number } | undefined>;
  /** autoscaling:DescribeAutoScalingGroups of the cluster (tag kubernetes.io/cluster/<name>=owned), all pages. */
  describeClusterAsgs(cluster: string): Promise<AsgInfo[]>;
  /** sqs:GetQueueAttributes RedrivePolicy: whether a dead-letter queue is configured. */
  hasRedrivePolicy(queueUrl: string): Promise<boolean>;
  /** sqs:ReceiveMessage (10 messages, long poll). */
  receive(queueUrl: string, waitSeconds: number, visibilitySeconds: number, signal: AbortSignal): Promise<QueueMessage[]>;
  /** sqs:DeleteMessage. */
  deleteMessage(queueUrl: string, receiptHandle: string): Promise<void>;
  /** sqs:ChangeMessageVisibility. */
  changeVisibility(queueUrl: string, receiptHandle: string, seconds: number): Promise<void>;
}

/** An ASG's launch template (or configuration) and its instances' ones, for rolling-update detection. */
export interface AsgInfo {
  name: string;
  /** `lt:<id>:<version>` or `lc:<name>`; undefined when neither. */
  template?: string;
  /** The ASG's template version is `$Latest`/`$Default` (not pinned). */
  unpinned: boolean;
  desired: number;
  min: number;
  max: number;
  tags: Record<string, string>;
  instances: { id: string; lifecycleState: string; template?: string }[];
}

type LtSpec = { LaunchTemplateId?: string; LaunchTemplateName?: string; Version?: string } | undefined;
const lt = (s: LtSpec, lc?: string) => (s ? `lt:${s.LaunchTemplateId ?? s.LaunchTemplateName}:${s.Version ?? ''}` : lc ? `lc:${lc}` : undefined);

/** Builds the SDK-backed {@link AwsApi}; metrics `aws_requests_total`, one info log line per call. */
export function sdkAwsApi(o: { region: string; component: string; metrics: ComponentMetrics; logger: Logger }): AwsApi {
  const cfg = awsClientConfig({ region: o.region, component: o.component });
  const ec2 = new EC2Client(cfg);
  const asg = new AutoScalingClient(cfg);
  const sqs = new SQSClient(cfg);
  const requests = o.metrics.counter('aws_requests_total', 'AWS API calls', ['service', 'operation', 'code']);
  const call = async <T>(service: string, operation: string, fn: () => Promise<T>, quiet = false): Promise<T> => {
    try {
      const r = await fn();
      requests.inc({ service, operation, code: 'ok' });
      if (!quiet) o.logger.info({ awsOperation: `${service}:${operation}` }, 'aws call');
      return r;
    } catch (err) {
      const code = awsErrorCode(err);
      requests.inc({ service, operation, code });
      o.logger.info({ awsOperation: `${service}:${operation}`, error: String(err), code }, 'aws call failed');
      throw err;
    }
  };
  return {
    async describeInstances(ids) {
      const out = new Map<string, InstanceInfo>();
      for (let i = 0; i < ids.length; i += 1000) {
        let chunk = [...new Set(ids.slice(i, i + 1000))];
        // A missing ID fails the whole call (InvalidInstanceID.NotFound naming the missing ones): drop them, ask again.
        while (chunk.length > 0) {
          try {
            const r = await call('ec2', 'DescribeInstances', () => ec2.send(new DescribeInstancesCommand({ InstanceIds: chunk })));
            for (const res of r.Reservations ?? [])
              for (const inst of res.Instances ?? []) {
                const tags: Record<string, string> = {};
                for (const t of inst.Tags ?? []) if (t.Key) tags[t.Key] = t.Value ?? '';
                out.set(inst.InstanceId!, { id: inst.InstanceId!, state: inst.State?.Name ?? 'unknown', tags });
              }
            break;
          } catch (err) {
            if (awsErrorCode(err) !== 'InvalidInstanceID.NotFound') throw err;
            if (chunk.length === 1) break;
            const missing = new Set(String((err as Error).message ?? '').match(/i-[0-9a-f]{8}(?:[0-9a-f]{9})?/g) ?? []);
            const rest = chunk.filter((id) => !missing.has(id));
            if (rest.length === chunk.length) throw err;
            chunk = rest;
          }
        }
      }
      return out;
    },
    async terminateInstance(id) {
      await call('ec2', 'TerminateInstances', () => ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] })));
    },
    async terminateInAsg(id, decrement) {
      await call('autoscaling', 'TerminateInstanceInAutoScalingGroup', () =>
        asg.send(new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: id, ShouldDecrementDesiredCapacity: decrement })),
      );
    },
    async setDesiredCapacity(asgName, desired) {
      await call('autoscaling', 'SetDesiredCapacity', () =>
        asg.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: asgName, DesiredCapacity: desired, HonorCooldown: false })),
      );
    },
    async completeLifecycleAction(a) {
      await call('autoscaling', 'CompleteLifecycleAction', () =>
        asg.send(
          new CompleteLifecycleActionCommand({
            AutoScalingGroupName: a.asg,
            LifecycleHookName: a.hook,
            LifecycleActionToken: a.token,
            InstanceId: a.instanceId,
            LifecycleActionResult: 'CONTINUE',
          }),
        ),
      );
    },
    async recordHeartbeat(a) {
      await call('autoscaling', 'RecordLifecycleActionHeartbeat', () =>
        asg.send(
          new RecordLifecycleActionHeartbeatCommand({
            AutoScalingGroupName: a.asg,
            LifecycleHookName: a.hook,
            LifecycleActionToken: a.token,
            InstanceId: a.instanceId,
          }),
        ),
      );
    },
    async describeHook(asgName, hook) {
      const r = await call('autoscaling', 'DescribeLifecycleHooks', () =>
        asg.send(new DescribeLifecycleHooksCommand({ AutoScalingGroupName: asgName, LifecycleHookNames: [hook] })),
      );
      const h = r.LifecycleHooks?.[0];
      return h ? { heartbeatTimeout: h.HeartbeatTimeout ?? 3600, globalTimeout: h.GlobalTimeout ?? 172_800 } : undefined;
    },
    async describeClusterAsgs(cluster) {
      const out: AsgInfo[] = [];
      let NextToken: string | undefined;
      do {
        const r = await call('autoscaling', 'DescribeAutoScalingGroups', () =>
          asg.send(
            new DescribeAutoScalingGroupsCommand({
              Filters: [{ Name: `tag:kubernetes.io/cluster/${cluster}`, Values: ['owned'] }],
              NextToken,
            }),
          ),
        );
        for (const g of r.AutoScalingGroups ?? []) {
          const spec: LtSpec = g.LaunchTemplate ?? g.MixedInstancesPolicy?.LaunchTemplate?.LaunchTemplateSpecification;
          out.push({
            name: g.AutoScalingGroupName!,
            template: lt(spec, g.LaunchConfigurationName),
            unpinned: !!spec && (!spec.Version || spec.Version === '$Latest' || spec.Version === '$Default'),
            desired: g.DesiredCapacity ?? 0,
            min: g.MinSize ?? 0,
            max: g.MaxSize ?? 0,
            tags: Object.fromEntries((g.Tags ?? []).filter((t) => t.Key).map((t) => [t.Key!, t.Value ?? ''])),
            instances: (g.Instances ?? []).map((i) => ({
              id: i.InstanceId!,
              lifecycleState: i.LifecycleState ?? '',
              template: lt(i.LaunchTemplate, i.LaunchConfigurationName),
            })),
          });
        }
        NextToken = r.NextToken;
      } while (NextToken);
      return out;
    },
    async hasRedrivePolicy(queueUrl) {
      const r = await call('sqs', 'GetQueueAttributes', () =>
        sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] })),
      );
      return !!r.Attributes?.RedrivePolicy;
    },
    async receive(queueUrl, waitSeconds, visibilitySeconds, signal) {
      const r = await call(
        'sqs',
        'ReceiveMessage',
        () =>
          sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: queueUrl,
              MaxNumberOfMessages: 10,
              WaitTimeSeconds: waitSeconds,
              VisibilityTimeout: visibilitySeconds,
              MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
            }),
            { abortSignal: signal },
          ),
        true,
      );
      return (r.Messages ?? []).map((m) => ({
        messageId: m.MessageId ?? '',
        receiptHandle: m.ReceiptHandle ?? '',
        body: m.Body ?? '',
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? '1'),
        sentAt: Number(m.Attributes?.SentTimestamp ?? '0'),
      }));
    },
    async deleteMessage(queueUrl, receiptHandle) {
      await call('sqs', 'DeleteMessage', () => sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle })));
    },
    async changeVisibility(queueUrl, receiptHandle, seconds) {
      await call('sqs', 'ChangeMessageVisibility', () =>
        sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds })),
      );
    },
  };
}
