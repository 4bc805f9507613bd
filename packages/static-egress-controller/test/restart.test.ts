/**
 * Restart safety against the real kube-apiserver and moto behind the recording proxy
 * (docs/static-egress-controller.md#seg-idempotency): the controller is cut off from AWS right after a chosen
 * call, stopped and started again, and converges without duplicate Elastic IPs, NAT gateways or routes. The
 * crash right after CreateNatGateway is in egress.test.ts.
 */
import { waitFor } from '@kubeaws/testenv';
import { AZS, type VpcFixture, createVpc, eipsOf, natsOf, routesOf, useEgressEnv } from './support';

jest.setTimeout(180_000);

const env = useEgressEnv();
const { ns, start, stop, putCm } = env;

afterEach(() => env.proxy.heal());

async function allRoutes(vpc: VpcFixture) {
  return Object.fromEntries(await Promise.all(AZS.map(async (az) => [az, await routesOf(env.ec2, vpc.targets[az]!)] as const)));
}

/** Every target table routes exactly `cidrs`, each through one of `cluster`'s two NAT gateways (of its AZ). */
async function converged(vpc: VpcFixture, cluster: string, cidrs: string[]): Promise<boolean> {
  const nats = await natsOf(env.ec2, vpc.vpcId, cluster);
  if (nats.length !== 2 || nats.some((n) => n.State !== 'available')) return false;
  const natOf = Object.fromEntries(nats.map((n) => [n.SubnetId, n.NatGatewayId]));
  const r = await allRoutes(vpc);
  return AZS.every((az) => {
    const want = Object.fromEntries(cidrs.map((c) => [c, natOf[vpc.natSubnets[az]!]]));
    return JSON.stringify(Object.entries(r[az]!).sort()) === JSON.stringify(Object.entries(want).sort());
  });
}

/** One owned Elastic IP per configured AZ and nothing more. */
async function oneEipPerAz(cluster: string): Promise<string[]> {
  const eips = await eipsOf(env.ec2, cluster);
  const azs = eips.map((e) => e.Tags?.find((t) => t.Key === 'kubeaws.io/az')?.Value).sort();
  expect(azs).toEqual([...AZS].sort());
  return eips.map((e) => e.AllocationId!).sort();
}

describe('restart after a crash (kube-apiserver + moto)', () => {
  it('a crash right after AllocateAddress: the restart finds that Elastic IP by tag and allocates only the missing one', async () => {
    const cluster = 'crash-eip';
    const vpc = await createVpc(env.ec2, cluster, '10.31.0.0/16');
    const n = await ns('seg-ce');
    await putCm(n, 'p', { x: '203.0.113.0/24' });
    env.proxy.cutAfterCall((c) => c.action === 'AllocateAddress');
    const rc = await start(cluster, vpc, n);
    await waitFor(() => env.proxy.cut, { timeoutMs: 60_000, description: 'network cut after the first AllocateAddress' });
    await stop(rc);
    const before = await eipsOf(env.ec2, cluster);
    expect(before).toHaveLength(1);
    expect(await natsOf(env.ec2, vpc.vpcId, cluster)).toEqual([]);

    env.proxy.heal();
    const since = env.proxy.calls.length;
    const rc2 = await start(cluster, vpc, n);
    await waitFor(() => converged(vpc, cluster, ['203.0.113.0/24']), { timeoutMs: 60_000, description: 'converged after restart' });
    expect(env.proxy.actions({ since }).filter((a) => a === 'AllocateAddress')).toHaveLength(1);
    expect(await oneEipPerAz(cluster)).toContain(before[0]!.AllocationId);
    // each NAT gateway sits on the Elastic IP of its AZ, the first one included
    const nats = await natsOf(env.ec2, vpc.vpcId, cluster);
    expect(nats.flatMap((x) => x.NatGatewayAddresses?.map((a) => a.AllocationId) ?? []).sort()).toEqual(await oneEipPerAz(cluster));
    await stop(rc2);
  });

  it('a crash between route calls: the restart completes the CIDR, or removes its partial routes once it is no longer desired', async () => {
    const cluster = 'crash-rt';
    const vpc = await createVpc(env.ec2, cluster, '10.32.0.0/16');
    const n = await ns('seg-cr');
    // one mutating call in flight, so the cut falls between the route calls of one CIDR
    const cfg = { awsConcurrency: 1 };
    await putCm(n, 'p', { x: '203.0.113.0/24' });
    env.proxy.cutAfterCall((c) => c.action === 'CreateRoute');
    const rc = await start(cluster, vpc, n, cfg);
    await waitFor(() => env.proxy.cut, { timeoutMs: 60_000, description: 'network cut after the first CreateRoute' });
    await stop(rc);
    const partial = await allRoutes(vpc);
    expect(AZS.filter((az) => partial[az]!['203.0.113.0/24'])).toHaveLength(1);

    env.proxy.heal();
    const rc2 = await start(cluster, vpc, n, cfg);
    await waitFor(() => converged(vpc, cluster, ['203.0.113.0/24']), { timeoutMs: 60_000, description: 'the CIDR completed after restart' });
    await stop(rc2);

    // a second CIDR cut off after its first route, then removed while the controller is down
    env.proxy.cutAfterCall((c) => c.action === 'CreateRoute');
    const rc3 = await start(cluster, vpc, n, cfg);
    await putCm(n, 'p', { x: '203.0.113.0/24', y: '198.51.100.0/24' });
    await waitFor(() => env.proxy.cut, { timeoutMs: 60_000, description: 'network cut after the first CreateRoute of the second CIDR' });
    await stop(rc3);
    const partial2 = await allRoutes(vpc);
    expect(AZS.filter((az) => partial2[az]!['198.51.100.0/24'])).toHaveLength(1);
    await putCm(n, 'p', { x: '203.0.113.0/24' });

    env.proxy.heal();
    const rc4 = await start(cluster, vpc, n, cfg);
    await waitFor(() => converged(vpc, cluster, ['203.0.113.0/24']), { timeoutMs: 60_000, description: 'the partial route removed after restart' });
    expect(await natsOf(env.ec2, vpc.vpcId, cluster)).toHaveLength(2);
    await oneEipPerAz(cluster);
    await stop(rc4);
  });

  it('a network error on one route call keeps the progress made and completes the CIDR at the next reconcile, without a restart', async () => {
    const cluster = 'netcut';
    const vpc = await createVpc(env.ec2, cluster, '10.34.0.0/16');
    const n = await ns('seg-nc');
    await putCm(n, 'p', { x: '203.0.113.0/24' });
    // the connection of the CreateRoute in the second AZ's table is reset once: no EC2 answer at all
    env.proxy.inject({ action: 'CreateRoute', code: 'ECONNRESET', reset: true, match: (p) => p.RouteTableId === vpc.targets[AZS[1]!] });
    const since = env.proxy.calls.length;
    const rc = await start(cluster, vpc, n, { awsConcurrency: 1 });
    await waitFor(() => converged(vpc, cluster, ['203.0.113.0/24']), { timeoutMs: 30_000, description: 'the CIDR completed after the network error' });
    const calls = env.proxy.calls.slice(since);
    expect(calls.some((c) => c.injected === 'ECONNRESET')).toBe(true);
    // a network error is retried like throttling (docs/static-egress-controller.md#seg-failures): no rollback, no Failed state
    expect(calls.filter((c) => c.action === 'DeleteRoute')).toEqual([]);
    const doc = await waitFor(async () => {
      const d = await env.statusDoc(n);
      return d?.cidrs?.['203.0.113.0/24']?.state === 'Applied' && d;
    }, { timeoutMs: 30_000, description: 'status Applied' });
    expect(doc.conditions.find((c: { type: string }) => c.type === 'Ready').status).toBe('True');
    await stop(rc);
  });
});
