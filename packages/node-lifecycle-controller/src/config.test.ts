import { ConfigError } from '@kubeaws/runtime';
import { nodeLifecycleController } from './component';
import { SLA_PROFILES } from './decide';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => nodeLifecycleController.parse(argv, env, { exists: () => false });
const required = ['--cluster-name=c1', '--aws-region=eu-central-1'];

describe('flags and configuration', () => {
  it('production defaults', () => {
    const c = parse(required);
    expect(c.sla).toEqual(SLA_PROFILES.production);
    expect(c).toMatchObject({ clusterName: 'c1', awsRegion: 'eu-central-1', sqsQueueUrl: '', rebalanceAction: 'fence', maxConcurrentDrains: 1, lifecycleHookName: 'kubeaws-drain', leaseName: 'kubeaws-node-lifecycle-controller' });
  });
  it('the test profile, with one flag overriding it and env below the flag', () => {
    const c = parse([...required, '--sla-profile=test', '--drain-grace-period=30m'], { DRAIN_GRACE_PERIOD: '1h', DRAIN_MIN_POD_LIFETIME: '90', DRAIN_POLL_INTERVAL: '' });
    expect(c.sla).toEqual({ ...SLA_PROFILES.test, gracePeriodMs: 30 * 60_000, minPodLifetimeMs: 90_000 });
  });
  it('--node-replacement-prepare: true in production, false in test, env and flag override', () => {
    expect(parse(required).nodeReplacementPrepare).toBe(true);
    expect(parse([...required, '--sla-profile=test']).nodeReplacementPrepare).toBe(false);
    expect(parse([...required, '--sla-profile=test'], { NODE_REPLACEMENT_PREPARE: 'true' }).nodeReplacementPrepare).toBe(true);
    expect(parse([...required, '--node-replacement-prepare=false'], { NODE_REPLACEMENT_PREPARE: 'true' }).nodeReplacementPrepare).toBe(false);
    expect(() => parse(required, { NODE_REPLACEMENT_PREPARE: 'True' })).toThrow(ConfigError);
  });
  it('--delete-terminated-nodes, --replacement-timeout and --event-repeat-interval: defaults and durations', () => {
    expect(parse(required)).toMatchObject({ deleteTerminatedNodes: false, replacementTimeout: 15 * 60_000, eventRepeatInterval: 3_600_000 });
    expect(parse([...required, '--delete-terminated-nodes', '--replacement-timeout=1h30m', '--event-repeat-interval=90'])).toMatchObject({
      deleteTerminatedNodes: true,
      replacementTimeout: 90 * 60_000,
      eventRepeatInterval: 90_000,
    });
    expect(parse([...required, '--delete-terminated-nodes=false', '--replacement-timeout=2d'])).toMatchObject({ deleteTerminatedNodes: false, replacementTimeout: 2 * 24 * 3_600_000 });
  });
  it.each([
    [[...required, '--delete-terminated-nodes=yes'], 'delete-terminated-nodes'],
    [[...required, '--replacement-timeout=15 minutes'], 'replacement-timeout'],
    [[...required, '--replacement-timeout=366d'], 'replacement-timeout'],
    [[...required, '--event-repeat-interval=-1h'], 'event-repeat-interval'],
    [[...required, '--event-repeat-interval=0'], 'event-repeat-interval'],
    [[], 'cluster-name'],
    [['--cluster-name=c1'], 'aws-region'],
    [[...required, '--sla-profile=staging'], 'sla-profile'],
    [[...required, '--drain-grace-period=6x'], 'drain-grace-period'],
    [[...required, '--drain-grace-period=400d'], 'drain-grace-period'],
    [[...required, '--sqs-wait-time=21s'], 'sqs-wait-time'],
    [[...required, '--sqs-visibility-timeout=5s'], 'sqs-visibility-timeout'],
    [[...required, '--rebalance-action=drop'], 'rebalance-action'],
    [[...required, '--max-concurrent-drains=0'], 'max-concurrent-drains'],
    [[...required, '--decommission-no-schedule-taint=yes'], 'decommission-no-schedule-taint'],
  ])('%j is a ConfigError naming --%s', (argv, flag) => {
    let err: unknown;
    try {
      parse(argv);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).flag).toBe(flag);
  });
});
