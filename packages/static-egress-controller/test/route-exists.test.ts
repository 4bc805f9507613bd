/**
 * `RouteAlreadyExists` against the real kube-apiserver and moto behind the recording proxy
 * (docs/static-egress-controller.md#seg-failures): the proxy's fault hook makes a concurrent writer create the
 * route in moto right before the controller's CreateRoute is answered with the error. The controller
 * re-describes the table at once: our route with the right target is success; a foreign one is `Conflict`
 * and the routes this attempt created for the CIDR are rolled back.
 */
import { CreateRouteCommand, DescribeInternetGatewaysCommand } from '@aws-sdk/client-ec2';
import { waitFor } from '@kubeaws/testenv';
import { AZS, createVpc, natsOf, routesOf, useEgressEnv } from './support';

jest.setTimeout(180_000);

const env = useEgressEnv();
const { running, ns, start, putCm, statusDoc } = env;


describe('RouteAlreadyExists (kube-apiserver + moto)', () => {
  it('re-describes at once: ours is success; foreign is Conflict with rollback of the CIDR', async () => {
    const cluster = 'exists';
    const vpc = await createVpc(env.ec2, cluster, '10.11.0.0/16');
    const n = await ns('seg-x');
    const rc = await start(cluster, vpc, n);
    await putCm(n, 'p', { a: '203.0.113.0/24' });
    const natByAz: Record<string, string> = {};
    await waitFor(async () => {
      for (const x of await natsOf(env.ec2, vpc.vpcId, cluster)) if (x.State === 'available') natByAz[x.Tags!.find((t) => t.Key === 'kubeaws.io/az')!.Value!] = x.NatGatewayId!;
      const r = await Promise.all(AZS.map((az) => routesOf(env.ec2, vpc.targets[az]!)));
      return AZS.every((az, i) => natByAz[az] && r[i]!['203.0.113.0/24'] === natByAz[az]);
    }, { timeoutMs: 60_000, description: 'first CIDR routed' });

    // ours: another writer created our route with the right target just before our CreateRoute
    const tableB = vpc.targets[AZS[1]!]!;
    env.proxy.inject({
      action: 'CreateRoute', code: 'RouteAlreadyExists',
      match: (p) => p.RouteTableId === tableB && p.DestinationCidrBlock === '198.51.100.0/24',
      before: async () => {
        await env.ec2.send(new CreateRouteCommand({ RouteTableId: tableB, DestinationCidrBlock: '198.51.100.0/24', NatGatewayId: natByAz[AZS[1]!] }));
      },
    });
    let since = env.proxy.calls.length;
    await putCm(n, 'p', { a: '203.0.113.0/24', b: '198.51.100.0/24' });
    await waitFor(async () => (await statusDoc(n))?.cidrs?.['198.51.100.0/24']?.state === 'Applied', { timeoutMs: 60_000, description: 'second CIDR applied' });
    let calls = env.proxy.calls.slice(since);
    const hit = calls.findIndex((c) => c.injected === 'RouteAlreadyExists');
    expect(hit).toBeGreaterThanOrEqual(0);
    // the very next call to that table is the re-describe; no rollback, no replace
    expect(calls.slice(hit + 1).find((c) => c.params.RouteTableId === tableB || c.params['RouteTableId.1'] === tableB)?.action).toBe('DescribeRouteTables');
    expect(calls.filter((c) => c.params.DestinationCidrBlock === '198.51.100.0/24' && /^(DeleteRoute|ReplaceRoute)$/.test(c.action))).toEqual([]);

    // foreign: a route of someone else (here to the internet gateway) appears just before our CreateRoute
    const igws = await env.ec2.send(new DescribeInternetGatewaysCommand({ Filters: [{ Name: 'attachment.vpc-id', Values: [vpc.vpcId] }] }));
    const foreignTarget = igws.InternetGateways![0]!.InternetGatewayId!;
    env.proxy.inject({
      action: 'CreateRoute', code: 'RouteAlreadyExists',
      match: (p) => p.RouteTableId === tableB && p.DestinationCidrBlock === '192.0.2.0/24',
      before: async () => {
        await env.ec2.send(new CreateRouteCommand({ RouteTableId: tableB, DestinationCidrBlock: '192.0.2.0/24', GatewayId: foreignTarget }));
      },
    });
    since = env.proxy.calls.length;
    await putCm(n, 'p', { a: '203.0.113.0/24', b: '198.51.100.0/24', c: '192.0.2.0/24' });
    const doc = await waitFor(async () => {
      const d = await statusDoc(n);
      return d?.cidrs?.['192.0.2.0/24']?.state === 'Conflict' && d;
    }, { timeoutMs: 60_000, description: 'third CIDR in Conflict' });
    expect(doc.cidrs['192.0.2.0/24'].message).toContain(tableB);
    calls = env.proxy.calls.slice(since);
    const tableA = vpc.targets[AZS[0]!]!;
    const created = calls.findIndex((c) => c.action === 'CreateRoute' && c.params.RouteTableId === tableA && c.params.DestinationCidrBlock === '192.0.2.0/24' && !c.injected);
    const rolledBack = calls.findIndex((c) => c.action === 'DeleteRoute' && c.params.RouteTableId === tableA && c.params.DestinationCidrBlock === '192.0.2.0/24');
    expect(created).toBeGreaterThanOrEqual(0);
    expect(rolledBack).toBeGreaterThan(created);
    expect((await routesOf(env.ec2, tableA))['192.0.2.0/24']).toBeUndefined();
    expect((await routesOf(env.ec2, tableB))['192.0.2.0/24']).toBe(foreignTarget); // foreign routes are never touched
    expect(await rc.metrics.registry.metrics()).toMatch(/route_changes_total\{action="rollback"\} [1-9]/);
    await rc.stop();
    running.splice(0);
  });
});
