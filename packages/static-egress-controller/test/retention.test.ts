/**
 * Idle NAT gateways against the real kube-apiserver and moto (docs/static-egress-controller.md#seg-retention):
 * once nothing is desired, the controller deletes its routes and, after --nat-idle-grace, the NAT gateways no
 * route of the VPC targets; one that a route the controller does not manage still targets (here another
 * team's prefix list routed through it) is kept with Warning NATGatewayInUse on the status ConfigMap, and
 * deleted once that route is gone. The foreign route is never touched.
 */
import { CreateManagedPrefixListCommand, CreateRouteCommand, CreateRouteTableCommand, DeleteRouteCommand, DescribeRouteTablesCommand } from '@aws-sdk/client-ec2';
import { waitFor } from '@kubeaws/testenv';
import { AZS, createVpc, natsOf, routesOf, useEgressEnv } from './support';

jest.setTimeout(180_000);

const env = useEgressEnv();
const { api, ns, start, stop, putCm } = env;

async function warnings(namespace: string, reason: string): Promise<string[]> {
  const list = await api.list<any>(`/apis/events.k8s.io/v1/namespaces/${namespace}/events`);
  return list.items.filter((e) => e.regarding?.name === 'static-egress-status' && e.reason === reason && e.type === 'Warning').map((e) => e.note as string);
}

describe('idle NAT gateways (kube-apiserver + moto)', () => {
  it('an idle NAT gateway a foreign route still targets is kept with Warning NATGatewayInUse, and deleted once the route is gone', async () => {
    const cluster = 'inuse';
    const vpc = await createVpc(env.ec2, cluster, '10.33.0.0/16');
    const n = await ns('seg-iu');
    await putCm(n, 'p', { x: '203.0.113.0/24' });
    const rc = await start(cluster, vpc, n, { natIdleGraceMs: 1_000 });
    await waitFor(async () => {
      const r = await Promise.all(AZS.map((az) => routesOf(env.ec2, vpc.targets[az]!)));
      return r.every((t) => t['203.0.113.0/24']?.startsWith('nat-'));
    }, { timeoutMs: 60_000, description: 'routed' });
    const nats = await natsOf(env.ec2, vpc.vpcId, cluster);
    const natA = nats.find((x) => x.SubnetId === vpc.natSubnets[AZS[0]!])!.NatGatewayId!;

    // another team routes its own prefix list through our NAT gateway, from a table that is not a target
    const pl = await env.ec2.send(new CreateManagedPrefixListCommand({ PrefixListName: 'partners', AddressFamily: 'IPv4', MaxEntries: 5, Entries: [{ Cidr: '192.0.2.0/24' }] }));
    const plId = pl.PrefixList!.PrefixListId!;
    const other = await env.ec2.send(new CreateRouteTableCommand({ VpcId: vpc.vpcId }));
    const otherId = other.RouteTable!.RouteTableId!;
    await env.ec2.send(new CreateRouteCommand({ RouteTableId: otherId, DestinationPrefixListId: plId, NatGatewayId: natA }));

    // the last ConfigMap goes: our routes go, the unused NAT gateway after the grace, the used one stays
    await api.delete(`/api/v1/namespaces/${n}/configmaps/p`);
    await waitFor(async () => (await natsOf(env.ec2, vpc.vpcId, cluster)).map((x) => x.NatGatewayId).join() === natA, {
      timeoutMs: 60_000, description: 'only the NAT gateway in use left',
    });
    const note = await waitFor(async () => (await warnings(n, 'NATGatewayInUse'))[0], { timeoutMs: 30_000, description: 'Warning NATGatewayInUse' });
    expect(note).toContain(`NAT gateway ${natA} in ${AZS[0]}`);
    expect(note).toContain(`${otherId} ${plId}`);
    const kept = await natsOf(env.ec2, vpc.vpcId, cluster);
    expect(kept.map((x) => [x.NatGatewayId, x.State])).toEqual([[natA, 'available']]);
    expect(kept[0]!.Tags?.some((t) => t.Key === 'kubeaws.io/idle-since')).toBe(true);
    const r = await Promise.all(AZS.map((az) => routesOf(env.ec2, vpc.targets[az]!)));
    expect(r).toEqual([{}, {}]);
    // the foreign route is never touched
    const otherRoutes = (await env.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [otherId] }))).RouteTables![0]!.Routes ?? [];
    expect(otherRoutes.some((x) => x.DestinationPrefixListId === plId && x.NatGatewayId === natA)).toBe(true);

    // its owner removes the route: the gateway goes at the next reconcile
    await env.ec2.send(new DeleteRouteCommand({ RouteTableId: otherId, DestinationPrefixListId: plId }));
    await waitFor(async () => (await natsOf(env.ec2, vpc.vpcId, cluster)).length === 0, { timeoutMs: 60_000, description: 'the NAT gateway deleted' });
    await stop(rc);
  });
});
