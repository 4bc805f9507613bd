/**
 * Flags and configuration of the node-lifecycle-controller (docs/node-lifecycle-controller.md#nlc-flags).
 * `--sla-profile` sets the defaults of the six `drain-*` flags; each can be overridden. Invalid values
 * exit 2 before any API or AWS call (the framework's ConfigError handling).
 */
import { ConfigError, type ConfigureContext, type SharedConfig, flag, parsers } from '@kubeaws/runtime';
import { SLA_PROFILES, type SlaSettings } from './decide';

const duration = (opts: { minMs?: number; maxMs?: number } = {}) => parsers.duration(opts);
const DURATION = 'a duration like 30s, 5m, 6h or 3d (bare digits = seconds), at most 365d';
const optionalDuration = (f: string, env: string, description: string) =>
  flag<number | undefined>({ flag: f, env, description, expected: DURATION, default: undefined, parse: duration() });

/** The component's own flags (the framework adds the shared ones). */
export const nlcFlags = {
  clusterName: flag<string>({
    flag: 'cluster-name', env: 'CLUSTER_NAME', description: 'Cluster name: ownership tag kubernetes.io/cluster/<name>=owned',
    expected: 'a non-empty cluster name', default: '', parse: parsers.nonEmpty,
  }),
  awsRegion: flag<string>({
    flag: 'aws-region', env: 'AWS_REGION', description: 'AWS region (endpoints from the SDK settings, e.g. AWS_ENDPOINT_URL)',
    expected: 'an AWS region like eu-central-1', default: '', parse: parsers.nonEmpty,
  }),
  sqsQueueUrl: flag<string>({
    flag: 'sqs-queue-url', env: 'SQS_QUEUE_URL', description: 'Interruption queue URL; empty = SQS off',
    expected: 'an SQS queue URL', default: '', parse: parsers.string,
  }),
  slaProfile: flag<'production' | 'test'>({
    flag: 'sla-profile', env: 'SLA_PROFILE', description: 'Defaults of the drain-* flags', expected: 'production or test',
    default: 'production', parse: parsers.oneOf(['production', 'test'] as const),
  }),
  drainGracePeriod: optionalDuration('drain-grace-period', 'DRAIN_GRACE_PERIOD', 'Drain start -> forced termination allowed (6h / 2h)'),
  drainMinPodLifetime: optionalDuration('drain-min-pod-lifetime', 'DRAIN_MIN_POD_LIFETIME', 'Minimum pod age before forcing (72h / 8h)'),
  drainMinHealthySiblingLifetime: optionalDuration('drain-min-healthy-sibling-lifetime', 'DRAIN_MIN_HEALTHY_SIBLING_LIFETIME', 'Minimum age of Ready PDB siblings (1h / 1h)'),
  drainMinUnhealthySiblingLifetime: optionalDuration('drain-min-unhealthy-sibling-lifetime', 'DRAIN_MIN_UNHEALTHY_SIBLING_LIFETIME', 'Minimum age of not-Ready PDB siblings (6h / 1h)'),
  drainForceEvictInterval: optionalDuration('drain-force-evict-interval', 'DRAIN_FORCE_EVICT_INTERVAL', 'Minimum gap between forced terminations on a node (5m)'),
  drainPollInterval: optionalDuration('drain-poll-interval', 'DRAIN_POLL_INTERVAL', 'Drain round period (30s)'),
  nodeReplacementPrepare: flag<boolean | undefined>({
    flag: 'node-replacement-prepare', env: 'NODE_REPLACEMENT_PREPARE', description: 'Add an instance before draining an on-demand node (true / false by profile)',
    expected: 'true or false', default: undefined, parse: parsers.bool, boolean: true,
  }),
  decommissionNoScheduleTaint: flag<boolean>({
    flag: 'decommission-no-schedule-taint', env: 'DECOMMISSION_NO_SCHEDULE_TAINT', description: 'Pending taint effect NoSchedule (false: PreferNoSchedule)',
    expected: 'true or false', default: true, parse: parsers.bool, boolean: true,
  }),
  lifecycleHookName: flag<string>({
    flag: 'lifecycle-hook-name', env: 'LIFECYCLE_HOOK_NAME', description: 'The only ASG termination hook acted on',
    expected: 'a lifecycle hook name', default: 'kubeaws-drain', parse: parsers.nonEmpty,
  }),
  lifecycleHookHeartbeatTimeout: flag<number>({
    flag: 'lifecycle-hook-heartbeat-timeout', env: 'LIFECYCLE_HOOK_HEARTBEAT_TIMEOUT', description: 'Heartbeat timeout when DescribeLifecycleHooks fails',
    expected: DURATION, default: 300_000, parse: duration({ minMs: 1000 }),
  }),
  maxConcurrentDrains: flag<number>({
    flag: 'max-concurrent-drains', env: 'MAX_CONCURRENT_DRAINS', description: 'Voluntary workflows in progress at once',
    expected: 'an integer >= 1', default: 1, parse: parsers.int({ min: 1, max: 1000 }),
  }),
  rollingUpdate: flag<boolean>({
    flag: 'rolling-update', env: 'ROLLING_UPDATE', description: 'Detect instances with an outdated launch template',
    expected: 'true or false', default: true, parse: parsers.bool, boolean: true,
  }),
  rebalanceAction: flag<'ignore' | 'fence' | 'drain'>({
    flag: 'rebalance-action', env: 'REBALANCE_ACTION', description: 'What a rebalance recommendation does',
    expected: 'ignore, fence or drain', default: 'fence', parse: parsers.oneOf(['ignore', 'fence', 'drain'] as const),
  }),
  terminateInstances: flag<boolean>({
    flag: 'terminate-instances', description: 'Terminate drained instances (false: stop at drained)',
    expected: 'true or false', default: true, parse: parsers.bool, boolean: true,
  }),
  deleteTerminatedNodes: flag<boolean>({
    flag: 'delete-terminated-nodes', description: 'Delete the Node once its instance is terminated (clusters without a cloud controller manager)',
    expected: 'true or false', default: false, parse: parsers.bool, boolean: true,
  }),
  replacementTimeout: flag<number>({
    flag: 'replacement-timeout', description: 'Longest wait for prepared replacement capacity before fencing anyway', expected: DURATION,
    default: 15 * 60_000, parse: duration({ minMs: 1000 }),
  }),
  eventRepeatInterval: flag<number>({
    flag: 'event-repeat-interval', description: 'Persisting conditions (bad input, blocks, failures) are re-evented at most this often', expected: DURATION,
    default: 3_600_000, parse: duration({ minMs: 1000 }),
  }),
  dryRun: flag<boolean>({
    flag: 'dry-run', description: 'No Kubernetes or AWS writes, no SQS deletes', expected: 'true or false',
    default: false, parse: parsers.bool, boolean: true,
  }),
  asgSyncInterval: flag<number>({
    flag: 'asg-sync-interval', description: 'Period of the ASG listing for rolling updates', expected: DURATION,
    default: 300_000, parse: duration({ minMs: 1000 }),
  }),
  lifecycleHoldMax: flag<number>({
    flag: 'lifecycle-hold-max', description: 'Longest an ASG hook is held', expected: DURATION, default: 48 * 3_600_000, parse: duration({ minMs: 1000 }),
  }),
  spotNotice: flag<number>({
    flag: 'spot-notice', description: 'Spot interruption notice', expected: DURATION, default: 120_000, parse: duration({ minMs: 1000 }),
  }),
  deadlineMargin: flag<number>({
    flag: 'deadline-margin', description: 'Safety margin before an involuntary deadline', expected: DURATION, default: 10_000, parse: duration(),
  }),
  podTerminationHeadroom: flag<number>({
    flag: 'pod-termination-headroom', description: 'Terminating longer than TGP plus this = stuck', expected: DURATION, default: 30_000, parse: duration(),
  }),
  evictionConcurrency: flag<number>({
    flag: 'eviction-concurrency', description: 'Concurrent Eviction calls, cluster-wide', expected: 'an integer 1-500', default: 20, parse: parsers.int({ min: 1, max: 500 }),
  }),
  sqsWaitTime: flag<number>({
    flag: 'sqs-wait-time', description: 'SQS long-poll wait', expected: 'a duration of 1s to 20s', default: 20_000, parse: duration({ minMs: 1000, maxMs: 20_000 }),
  }),
  sqsVisibilityTimeout: flag<number>({
    flag: 'sqs-visibility-timeout', description: 'SQS visibility timeout of received messages', expected: 'a duration of 10s to 12h',
    default: 60_000, parse: duration({ minMs: 10_000, maxMs: 12 * 3_600_000 }),
  }),
  outOfServiceTaint: flag<boolean>({
    flag: 'out-of-service-taint', description: 'Taint terminated nodes node.kubernetes.io/out-of-service', expected: 'true or false',
    default: true, parse: parsers.bool, boolean: true,
  }),
  updateBlockConfigmap: flag<string>({
    flag: 'update-block-configmap', description: 'ConfigMap in the controller namespace whose existence blocks voluntary work',
    expected: 'a ConfigMap name', default: 'kubeaws-update-block', parse: parsers.nonEmpty,
  }),
  qps: flag<number>({ flag: 'qps', description: 'Kubernetes write QPS', expected: 'a number > 0', default: 20, parse: parsers.number({ min: 0.1 }) }),
  burst: flag<number>({ flag: 'burst', description: 'Kubernetes write burst', expected: 'an integer >= 1', default: 40, parse: parsers.int({ min: 1 }) }),
};

/** The configuration after `configure`: the SLA resolved from the profile and overrides. */
export interface NlcConfig extends SharedConfig {
  clusterName: string;
  awsRegion: string;
  sqsQueueUrl: string;
  slaProfile: 'production' | 'test';
  sla: SlaSettings;
  nodeReplacementPrepare: boolean;
  decommissionNoScheduleTaint: boolean;
  lifecycleHookName: string;
  lifecycleHookHeartbeatTimeout: number;
  maxConcurrentDrains: number;
  rollingUpdate: boolean;
  rebalanceAction: 'ignore' | 'fence' | 'drain';
  terminateInstances: boolean;
  deleteTerminatedNodes: boolean;
  replacementTimeout: number;
  eventRepeatInterval: number;
  dryRun: boolean;
  asgSyncInterval: number;
  lifecycleHoldMax: number;
  spotNotice: number;
  deadlineMargin: number;
  podTerminationHeadroom: number;
  evictionConcurrency: number;
  sqsWaitTime: number;
  sqsVisibilityTimeout: number;
  outOfServiceTaint: boolean;
  updateBlockConfigmap: string;
  qps: number;
  burst: number;
}

type Values = SharedConfig & { [K in keyof typeof nlcFlags]: (typeof nlcFlags)[K] extends { default: infer D } ? Exclude<D, (env: NodeJS.ProcessEnv) => unknown> : never };

/**
 * Cross-field checks and the SLA (docs/node-lifecycle-controller.md#nlc-flags): `--cluster-name` and
 * `--aws-region` are required (ConfigError, exit 2); the profile's values fill the `drain-*` flags not
 * given.
 */
export function configureNlc(v: Values, _env: NodeJS.ProcessEnv, ctx: Pick<ConfigureContext<typeof nlcFlags>, 'sources'>): NlcConfig {
  if (!v.clusterName) throw new ConfigError('cluster-name', '', 'a non-empty cluster name (required)', 'CLUSTER_NAME', ctx.sources.clusterName);
  if (!v.awsRegion) throw new ConfigError('aws-region', '', 'an AWS region like eu-central-1 (required)', 'AWS_REGION', ctx.sources.awsRegion);
  const p = SLA_PROFILES[v.slaProfile];
  const sla: SlaSettings = {
    gracePeriodMs: v.drainGracePeriod ?? p.gracePeriodMs,
    minPodLifetimeMs: v.drainMinPodLifetime ?? p.minPodLifetimeMs,
    minHealthySiblingLifetimeMs: v.drainMinHealthySiblingLifetime ?? p.minHealthySiblingLifetimeMs,
    minUnhealthySiblingLifetimeMs: v.drainMinUnhealthySiblingLifetime ?? p.minUnhealthySiblingLifetimeMs,
    forceEvictIntervalMs: v.drainForceEvictInterval ?? p.forceEvictIntervalMs,
    pollIntervalMs: v.drainPollInterval ?? p.pollIntervalMs,
  };
  if (sla.pollIntervalMs < 1000) throw new ConfigError('drain-poll-interval', String(sla.pollIntervalMs), 'at least 1s', 'DRAIN_POLL_INTERVAL', ctx.sources.drainPollInterval);
  const {
    drainGracePeriod: _a, drainMinPodLifetime: _b, drainMinHealthySiblingLifetime: _c,
    drainMinUnhealthySiblingLifetime: _d, drainForceEvictInterval: _e, drainPollInterval: _f, ...rest
  } = v;
  return { ...rest, sla, nodeReplacementPrepare: v.nodeReplacementPrepare ?? v.slaProfile === 'production' };
}
