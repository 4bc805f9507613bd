/**
 * VPC discovery at start-up against the real kube-apiserver and moto (docs/static-egress-controller.md#seg-vpc):
 * without `--vpc-id`, zero or several VPCs tagged `<prefix><cluster-id>` stop the start with an ExitError
 * (exit code 3) naming the tag filter and what was found; exactly one is used.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { ExitError, KubeClient } from '@kubeaws/runtime';
import { type MotoServer, createTestNamespace, deleteNamespace, testKubeConfig, waitFor } from '@kubeaws/testenv';
import { VPC_DISCOVERY_EXIT_CODE } from '../src/decide';
import type { Ec2Proxy } from './proxy';
import { createVpc, startAws, startController } from './support';

jest.setTimeout(120_000);

let moto: MotoServer;
let proxy: Ec2Proxy;
let ec2: EC2Client;
const kc = testKubeConfig();
const api = new KubeClient({ kubeConfig: kc, component: 'static-egress-test', fieldManager: 'static-egress-test' });
const namespaces: string[] = [];

beforeAll(async () => {
  ({ moto, proxy, ec2 } = await startAws());
});
afterAll(async () => {
  await Promise.all(namespaces.map((n) => deleteNamespace(kc, n, { wait: false })));
  ec2?.destroy();
  await proxy?.stop();
  await moto?.stop();
});

async function startError(cluster: string, ns: string): Promise<ExitError> {
  const since = proxy.calls.length;
  const err = await startController(cluster, '', ns).then(
    async (rc) => {
      await rc.stop();
      throw new Error('started');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ExitError);
  // nothing but the one discovery call reached AWS
  expect(proxy.actions({ since })).toEqual(['DescribeVpcs']);
  return err as ExitError;
}

describe('VPC discovery at start-up (kube-apiserver + moto)', () => {
  it('zero or several tagged VPCs stop the start; exactly one is used', async () => {
    const n = await createTestNamespace(kc, 'seg-v');
    namespaces.push(n);
    const none = await startError('novpc', n);
    expect(none.exitCode).toBe(VPC_DISCOVERY_EXIT_CODE);
    expect(none.message).toContain('tag:kubernetes.io/cluster/novpc in [owned, shared] found no VPC, expected exactly 1');
    expect(none.message).toContain('--vpc-id');

    const a = await createVpc(ec2, 'twovpc', '10.21.0.0/16');
    const b = await createVpc(ec2, 'twovpc', '10.22.0.0/16');
    const two = await startError('twovpc', n);
    expect(two.exitCode).toBe(VPC_DISCOVERY_EXIT_CODE);
    expect(two.message).toContain(`found 2 VPCs (${[a.vpcId, b.vpcId].sort().join(', ')})`);

    const one = await createVpc(ec2, 'onevpc', '10.23.0.0/16');
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
