import type { ResolvedCluster } from '../config/load';
import { metricsAdapterQueueArns } from './cluster';
import { componentStatements } from './iam';

// The metrics-adapter's IRSA role (docs/metrics-adapter.md#ma-permissions): exactly the SQS actions the adapter
// calls (its IAM_ACTIONS, which its own tests check against the commands it sends), on the queues of the allowed
// regions only.
const IAM_ACTIONS = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl'];
describe('metrics-adapter IRSA role', () => {
  it('grants exactly the actions the adapter calls, on the MetricsAdapterQueueArnPattern queues', () => {
    const statements = componentStatements('metrics-adapter', 'kube-1');
    expect(statements.flatMap((s) => ([] as string[]).concat(s.Action)).sort()).toEqual(IAM_ACTIONS);
    for (const s of statements) {
      expect(s.Effect).toBe('Allow');
      expect(s.Resource).toEqual({ Ref: 'MetricsAdapterQueueArnPattern' });
    }
  });

  it.each([
    [[], 'eu-central-1', ['arn:aws:sqs:eu-central-1:123456789012:*']],
    [['eu-west-1', 'eu-central-1'], 'eu-central-1', ['arn:aws:sqs:eu-west-1:123456789012:*', 'arn:aws:sqs:eu-central-1:123456789012:*']],
    [[], 'cn-north-1', ['arn:aws-cn:sqs:cn-north-1:123456789012:*']],
    [['us-gov-west-1'], 'us-gov-west-1', ['arn:aws-us-gov:sqs:us-gov-west-1:123456789012:*']],
  ])('queues of regions %j (cluster in %s): %j', (regions, region, arns) => {
    const c = { region, account: '123456789012', items: new Map([['metrics_adapter_aws_regions', regions]]) } as unknown as ResolvedCluster;
    expect(metricsAdapterQueueArns(c)).toEqual(arns);
  });
});
