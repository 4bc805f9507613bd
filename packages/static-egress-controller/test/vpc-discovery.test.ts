/**
 * VPC discovery at start-up against the real kube-apiserver and moto (docs/static-egress-controller.md#seg-vpc):
 * without `--vpc-id`, zero or several VPCs tagged `<prefix><cluster-id>` stop the start with an ExitError
 * (exit code 3) naming the tag filter and what was found; exactly one is used. A `--vpc-id` that does not
 * exist stops it the same way.
 */
import { ExitError } from '@kubeaws/runtime';
import { waitFor } from '@kubeaws/testenv';
import { VPC_DISCOVERY_EXIT_CODE } from '../src/decide';
import { createVpc, startController, useEgressEnv } from './support';

jest.setTimeout(120_000);

const env = useEgressEnv();
const { api } = env;

async function startError(cluster: string, ns: string, vpcId = ''): Promise<ExitError> {
  const since = env.proxy.calls.length;
  const err = await startController(cluster, vpcId, ns).then(
    async (rc) => {
      await rc.stop();
      throw new Error('started');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ExitError);
  // nothing but the one discovery call reached AWS
  expect(env.proxy.actions({ since })).toEqual(['DescribeVpcs']);
  return err as ExitError;
}

describe('VPC discovery at start-up (kube-apiserver + moto)', () => {
  it('zero or several tagged VPCs stop the start; exactly one is used', async () => {
    const n = await env.ns('seg-v');
    const none = await startError('novpc', n);
    expect(none.exitCode).toBe(VPC_DISCOVERY_EXIT_CODE);
    expect(none.message).toContain('tag:kubernetes.io/cluster/novpc in [owned, shared] found no VPC, expected exactly 1');
    expect(none.message).toContain('--vpc-id');

    const a = await createVpc(env.ec2, 'twovpc', '10.21.0.0/16');
    const b = await createVpc(env.ec2, 'twovpc', '10.22.0.0/16');
    const two = await startError('twovpc', n);
    expect(two.exitCode).toBe(VPC_DISCOVERY_EXIT_CODE);
    expect(two.message).toContain(`found 2 VPCs (${[a.vpcId, b.vpcId].sort().join(', ')})`);

    // an explicit --vpc-id that does not exist stops the start the same way
    const missing = await startError('twovpc', n, 'vpc-0000000000dead');
    expect(missing.exitCode).toBe(VPC_DISCOVERY_EXIT_CODE);
    expect(missing.message).toContain('--vpc-id=vpc-0000000000dead: DescribeVpcs filter vpc-id=vpc-0000000000dead found no VPC');

    const one = await createVpc(env.ec2, 'onevpc', '10.23.0.0/16');
    const rc = await startController('onevpc', '', n, { namespaces: [n] });
    try {
      await rc.synced();
      const vpcId = await waitFor(async () => {
        try {
          const cm = await api.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${n}/configmaps/static-egress-status`);
          return JSON.parse(cm.data?.['status.json'] ?? '{}').vpcId as string;
        } catch {
          return undefined;
        }
      }, { timeoutMs: 30_000, description: 'status of the discovered VPC' });
      expect(vpcId).toBe(one.vpcId);
    } finally {
      await rc.stop();
    }
  });
});
