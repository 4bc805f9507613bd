/**
 * The static-egress-controller against the real local kube-apiserver (testenv) and the real moto server
 * behind the recording proxy: ConfigMap lifecycle to EC2 state read back from moto, reference counting,
 * quarantine with Events, status ConfigMap, drift repair, make-before-break call order, faults
 * (throttling, route quota with rollback, EIP quota), a crash right after CreateNatGateway, dry run.
 */
import { DeleteRouteCommand, DisassociateAddressCommand } from '@aws-sdk/client-ec2';
import { waitFor } from '@kubeaws/testenv';
import { EGRESS_IAM_ACTIONS } from '../src/ec2';
import { failNatGateway } from './proxy';
import { AZS, type VpcFixture, createVpc, eipsOf, natsOf, routesOf, startController, useEgressEnv } from './support';

jest.setTimeout(180_000);

const env = useEgressEnv();
const { api, running, ns, start, stop, putCm } = env;

afterEach(async () => {
  env.proxy.heal();
  for (const rc of running.splice(0)) await rc.stop().catch(() => undefined);
});

const delCm = (namespace: string, name: string) => api.delete(`/api/v1/namespaces/${namespace}/configmaps/${name}`);
async function status(namespace: string): Promise<{ ips: string; doc: any } | undefined> {
  try {
    const cm = await api.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${namespace}/configmaps/static-egress-status`);
    return { ips: cm.data?.['egress-ips'] ?? '', doc: JSON.parse(cm.data?.['status.json'] ?? '{}') };
  } catch {
    return undefined;
  }
}
async function allRoutes(vpc: VpcFixture) {
  return Object.fromEntries(await Promise.all(AZS.map(async (az) => [az, await routesOf(env.ec2, vpc.targets[az]!)] as const)));
}
/** JSON with sorted keys, for comparing route maps. */
function canon(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort()) : x));
}
async function events(namespace: string, name: string): Promise<Array<{ reason: string; note: string; type: string }>> {
  const list = await api.list<any>(`/apis/events.k8s.io/v1/namespaces/${namespace}/events`);
  return list.items.filter((e) => e.regarding?.name === name);
}

describe('static-egress-controller (kube-apiserver + moto)', () => {
  it('provisions EIPs, then NAT gateways, then routes; reference-counts; quarantines; retains EIPs', async () => {
    const cluster = 'life';
    const vpc = await createVpc(env.ec2, cluster, '10.1.0.0/16');
    const a = await ns('seg-a');
    const b = await ns('seg-b');
    const since = env.proxy.calls.length;
    const rc = await start(cluster, vpc, a, { namespaces: [a, b] });
    await putCm(a, 'partners', { acquirer: '203.0.113.0/24', fraud: '198.51.100.17/32', bad: '10.0.0.300/24', v6: '2001:db8::/32' });

    const want = (nat: Record<string, string>) => ({
      [AZS[0]!]: { '203.0.113.0/24': nat[AZS[0]!], '198.51.100.17/32': nat[AZS[0]!] },
      [AZS[1]!]: { '203.0.113.0/24': nat[AZS[1]!], '198.51.100.17/32': nat[AZS[1]!] },
    });
    const nats = await waitFor(async () => {
      const n = await natsOf(env.ec2, vpc.vpcId, cluster);
      return n.length === 2 && n.every((x) => x.State === 'available') && n;
    }, { timeoutMs: 60_000, description: 'two NAT gateways' });
    const natByAz: Record<string, string> = {};
    for (const n of nats) natByAz[n.Tags!.find((t) => t.Key === 'kubeaws.io/az')!.Value!] = n.NatGatewayId!;
    expect(Object.keys(natByAz).sort()).toEqual(AZS);
    await waitFor(async () => canon(await allRoutes(vpc)) === canon(want(natByAz)), { timeoutMs: 60_000, description: 'routes in both tables' });

    // make before break: every EIP before any NAT gateway, every NAT gateway before any route
    const order = env.proxy.actions({ mutating: true, since });
    expect(order.filter((x) => x === 'AllocateAddress')).toHaveLength(2);
    expect(order.filter((x) => x === 'CreateNatGateway')).toHaveLength(2);
    expect(order.lastIndexOf('AllocateAddress')).toBeLessThan(order.indexOf('CreateNatGateway'));
    expect(order.lastIndexOf('CreateNatGateway')).toBeLessThan(order.indexOf('CreateRoute'));
    expect(order.filter((x) => x === 'CreateRoute')).toHaveLength(4);

    // status ConfigMap: the egress IPs per AZ
    const eips = await eipsOf(env.ec2, cluster);
    expect(eips).toHaveLength(2);
    const st = await waitFor(async () => {
      const s = await status(a);
      return s?.doc.conditions?.[0]?.status === 'True' && s;
    }, { description: 'status Ready' });
    expect(st.ips.split(',').sort()).toEqual(eips.map((e) => e.PublicIp!).sort());
    expect(st.doc.zones[AZS[0]!]).toMatchObject({ natGatewayId: natByAz[AZS[0]!], state: 'available' });
    expect(st.doc.cidrs['203.0.113.0/24']).toEqual({ state: 'Applied', sources: [`${a}/partners/acquirer`] });
    expect(st.doc.rejected).toEqual([
      { source: `${a}/partners/bad`, value: '10.0.0.300/24', reason: 'InvalidCIDR' },
      { source: `${a}/partners/v6`, value: '2001:db8::/32', reason: 'CIDRRejected/IPv6NotSupported' },
    ]);
    // quarantine: Warning Events on the ConfigMap naming field, value and the valid form; metric
    const ev = await waitFor(async () => {
      const e = await events(a, 'partners');
      return e.some((x) => x.reason === 'InvalidCIDR') && e.some((x) => x.reason === 'EgressReady') && e;
    }, { description: 'Events on the input ConfigMap' });
    expect(ev.find((x) => x.reason === 'InvalidCIDR')!.note).toMatch(/data\.bad: "10\.0\.0\.300\/24" InvalidCIDR; expected one IPv4 CIDR/);
    expect(ev.find((x) => x.reason === 'CIDRRejected')!.note).toContain('IPv6NotSupported');
    const metrics = await rc.metrics.registry.metrics();
    expect(metrics).toMatch(/kubeaws_static_egress_controller_invalid_values_total\{namespace="[^"]+",reason="InvalidCIDR"\} 1/);

    // steady state: no mutating calls over a resync
    const idle = env.proxy.calls.length;
    await waitFor(() => env.proxy.calls.slice(idle).filter((c) => c.action === 'DescribeVpcs').length >= 2, { description: 'two resyncs' });
    expect(env.proxy.actions({ mutating: true, since: idle })).toEqual([]);

    // reference counting across namespaces: the same CIDR from b keeps the route when a's ConfigMap goes
    await putCm(b, 'other', { acq: '203.0.113.0/24' });
    await delCm(a, 'partners');
    await waitFor(async () => {
      const r = await allRoutes(vpc);
      return AZS.every((az) => canon(r[az]) === canon({ '203.0.113.0/24': natByAz[az] }));
    }, { description: 'only the shared CIDR left' });
    // a removed label drops the input: routes go, NAT gateways idle-tagged, EIPs retained
    await putCm(b, 'other', { acq: '203.0.113.0/24' }, { egress: 'off' });
    await waitFor(async () => {
      const r = await allRoutes(vpc);
      return AZS.every((az) => Object.keys(r[az]!).length === 0);
    }, { description: 'all routes removed' });
    await waitFor(async () => (await natsOf(env.ec2, vpc.vpcId, cluster)).every((n) => n.Tags?.some((t) => t.Key === 'kubeaws.io/idle-since')), {
      description: 'NAT gateways tagged idle',
    });
    expect((await eipsOf(env.ec2, cluster)).map((e) => e.AllocationId).sort()).toEqual(eips.map((e) => e.AllocationId).sort());
    // CIDRs return: the same public IPs, the same NAT gateways, idle tag removed
    await putCm(b, 'other', { acq: '192.0.2.0/24' });
    await waitFor(async () => {
      const r = await allRoutes(vpc);
      return AZS.every((az) => r[az]!['192.0.2.0/24'] === natByAz[az]);
    }, { description: 'routes back on the same NAT gateways' });
    await waitFor(async () => (await natsOf(env.ec2, vpc.vpcId, cluster)).every((n) => !n.Tags?.some((t) => t.Key === 'kubeaws.io/idle-since')), {
      description: 'idle tag removed',
    });
    expect((await eipsOf(env.ec2, cluster)).length).toBe(2);

    // drift: a route deleted out of band is repaired by the next resync
    await env.ec2.send(new DeleteRouteCommand({ RouteTableId: vpc.targets[AZS[1]!], DestinationCidrBlock: '192.0.2.0/24' }));
    await waitFor(async () => (await routesOf(env.ec2, vpc.targets[AZS[1]!]!))['192.0.2.0/24'] === natByAz[AZS[1]!], { description: 'drift repaired' });
    await stop(rc);
  });

  it('throttling is retried; RouteLimitExceeded rolls the CIDR back; a second cluster in the VPC is left alone', async () => {
    const cluster = 'faults';
    const vpc = await createVpc(env.ec2, cluster, '10.2.0.0/16');
    const n = await ns('seg-f');
    const rc = await start(cluster, vpc, n);
    await putCm(n, 'p', { x: '203.0.113.0/24' });
    await waitFor(async () => {
      const r = await allRoutes(vpc);
      return AZS.every((az) => r[az]!['203.0.113.0/24']?.startsWith('nat-'));
    }, { timeoutMs: 60_000, description: 'first CIDR routed' });
    // throttled once (attempts 1: the reconcile fails and is retried with backoff; progress stays)
    env.proxy.inject({ action: 'CreateRoute', code: 'RequestLimitExceeded', status: 503, match: (p) => p.RouteTableId === vpc.targets[AZS[0]!] });
    let since = env.proxy.calls.length;
    await putCm(n, 'p', { x: '203.0.113.0/24', y: '198.51.100.0/24' });
    await waitFor(async () => {
      const r = await allRoutes(vpc);
      return AZS.every((az) => r[az]!['198.51.100.0/24']?.startsWith('nat-'));
    }, { timeoutMs: 60_000, description: 'second CIDR routed after throttling' });
    expect(env.proxy.calls.slice(since).some((c) => c.injected === 'RequestLimitExceeded')).toBe(true);
    // the route quota hit in the second AZ's table: rollback in the first table, then applied on a later reconcile
    env.proxy.inject({ action: 'CreateRoute', code: 'RouteLimitExceeded', match: (p) => p.RouteTableId === vpc.targets[AZS[1]!] });
    since = env.proxy.calls.length;
    await putCm(n, 'p', { x: '203.0.113.0/24', y: '198.51.100.0/24', z: '192.0.2.0/24' });
    await waitFor(async () => {
      const r = await allRoutes(vpc);
      return AZS.every((az) => r[az]!['192.0.2.0/24']?.startsWith('nat-'));
    }, { timeoutMs: 60_000, description: 'third CIDR routed after the quota error' });
    const calls = env.proxy.calls.slice(since).filter((c) => c.params.DestinationCidrBlock === '192.0.2.0/24');
    const quota = calls.findIndex((c) => c.injected === 'RouteLimitExceeded');
    expect(quota).toBeGreaterThanOrEqual(0);
    expect(calls.slice(quota).some((c) => c.action === 'DeleteRoute' && c.params.RouteTableId === vpc.targets[AZS[0]!])).toBe(true);
    expect(await rc.metrics.registry.metrics()).toMatch(/route_changes_total\{action="rollback"\} [1-9]/);

    // a second cluster in the same VPC: its own EIPs, NATs and routes; ours untouched
    const before = await natsOf(env.ec2, vpc.vpcId, cluster);
    await stop(rc);
    const ns2 = await ns('seg-g');
    const other = await startController('faults2', vpc.vpcId, ns2, { namespaces: [n] });
    running.push(other);
    await other.synced();
    await putCm(n, 'p', { x: '203.0.113.0/24', y: '198.51.100.0/24' });
    await waitFor(async () => (await status(ns2))?.doc?.cidrs?.['203.0.113.0/24']?.state === 'Conflict', { timeoutMs: 60_000, description: 'conflict with the other cluster' });
    expect((await natsOf(env.ec2, vpc.vpcId, cluster)).map((x) => x.NatGatewayId)).toEqual(before.map((x) => x.NatGatewayId));
    await stop(other);
  });

  it('a failed NAT gateway is replaced on the same Elastic IP, routes moved before anything else goes (make before break)', async () => {
    const cluster = 'failed';
    const vpc = await createVpc(env.ec2, cluster, '10.5.0.0/16');
    const n = await ns('seg-n');
    await putCm(n, 'p', { x: '203.0.113.0/24' });
    const rc = await start(cluster, vpc, n);
    const first = await waitFor(async () => {
      const r = await allRoutes(vpc);
      return AZS.every((az) => r[az]!['203.0.113.0/24']?.startsWith('nat-')) && r;
    }, { timeoutMs: 60_000, description: 'routed' });
    const oldNat = first[AZS[0]!]!['203.0.113.0/24']!;
    const eipsBefore = (await eipsOf(env.ec2, cluster)).map((e) => `${e.AllocationId} ${e.PublicIp}`).sort();
    const since = env.proxy.calls.length;
    env.proxy.rewrite = (action, body) => (action === 'DescribeNatGateways' ? failNatGateway(body, oldNat, 'InternalError') : body);
    // AWS disassociates the Elastic IP of a deleted NAT gateway; moto keeps the association, so the test does it
    await waitFor(() => env.proxy.calls.slice(since).some((c) => c.action === 'DeleteNatGateway' && c.params.NatGatewayId === oldNat), {
      description: 'DeleteNatGateway of the failed gateway',
    });
    for (const e of await eipsOf(env.ec2, cluster)) {
      const live = (await natsOf(env.ec2, vpc.vpcId, cluster)).some((x) => x.NatGatewayAddresses?.[0]?.AllocationId === e.AllocationId);
      if (!live && e.AssociationId) await env.ec2.send(new DisassociateAddressCommand({ AssociationId: e.AssociationId }));
    }
    const moved = await waitFor(async () => {
      const nat = (await routesOf(env.ec2, vpc.targets[AZS[0]!]!))['203.0.113.0/24'];
      return nat && nat !== oldNat && nat;
    }, { timeoutMs: 30_000, description: 'route moved to the replacement NAT gateway' }).catch((e) => {
      console.log(JSON.stringify({ calls: env.proxy.calls.slice(since).filter((c) => c.action !== 'DescribeVpcs').slice(0, 30).map((c) => [c.action, c.injected, c.status, c.params.NatGatewayId]), status: rc.handle.reconciler.last }, null, 1));
      throw e;
    });
    const nats = await natsOf(env.ec2, vpc.vpcId, cluster);
    expect(nats.map((x) => x.NatGatewayId).sort()).toEqual([moved, first[AZS[1]!]!['203.0.113.0/24']].sort());
    // the same Elastic IPs: the replacement uses the failed gateway's allocation
    expect((await eipsOf(env.ec2, cluster)).map((e) => `${e.AllocationId} ${e.PublicIp}`).sort()).toEqual(eipsBefore);
    const replacement = nats.find((x) => x.NatGatewayId === moved)!;
    expect(eipsBefore.some((e) => e.startsWith(replacement.NatGatewayAddresses![0]!.AllocationId!))).toBe(true);
    const order = env.proxy.actions({ mutating: true, since });
    expect(order.indexOf('CreateNatGateway')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('CreateNatGateway')).toBeLessThan(order.indexOf('ReplaceRoute'));
    expect(order).not.toContain('AllocateAddress');
    expect(order).not.toContain('DeleteRoute');
    const ev = await waitFor(async () => (await events(n, 'static-egress-status')).find((e) => e.reason === 'NATGatewayFailed'), {
      description: 'Warning NATGatewayFailed on the status ConfigMap',
    });
    expect(ev.note).toContain('InternalError');
    await stop(rc);
  });

  it('a crash right after CreateNatGateway converges without duplicate NAT gateways or leaked EIPs', async () => {
    const cluster = 'crash';
    const vpc = await createVpc(env.ec2, cluster, '10.3.0.0/16');
    const n = await ns('seg-c');
    await putCm(n, 'p', { x: '203.0.113.0/24' });
    env.proxy.cutAfterCall((c) => c.action === 'CreateNatGateway');
    const rc = await start(cluster, vpc, n);
    await waitFor(() => env.proxy.cut, { timeoutMs: 60_000, description: 'network cut after CreateNatGateway' });
    await stop(rc);
    env.proxy.heal();
    const rc2 = await start(cluster, vpc, n);
    await waitFor(async () => {
      const r = await allRoutes(vpc);
      return AZS.every((az) => r[az]!['203.0.113.0/24']?.startsWith('nat-'));
    }, { timeoutMs: 60_000, description: 'converged after restart' });
    expect(await natsOf(env.ec2, vpc.vpcId, cluster)).toHaveLength(2);
    expect(await eipsOf(env.ec2, cluster)).toHaveLength(2);
    await stop(rc2);
  });

  it('two replicas: only the Lease holder calls AWS after the start-up VPC check; idle NAT gateways are deleted after the grace and owned EIPs released with release', async () => {
    const cluster = 'ha';
    const vpc = await createVpc(env.ec2, cluster, '10.6.0.0/16');
    const n = await ns('seg-h');
    await putCm(n, 'p', { x: '203.0.113.0/24' });
    const cfg = { leaderElect: true, leaseNamespace: n, natIdleGraceMs: 1_000, eipRetention: 'release' as const };
    const r1 = await start(cluster, vpc, n, cfg);
    const r2 = await start(cluster, vpc, n, cfg);
    await waitFor(async () => {
      const r = await allRoutes(vpc);
      return AZS.every((az) => r[az]!['203.0.113.0/24']?.startsWith('nat-'));
    }, { timeoutMs: 60_000, description: 'routed by the leader' });
    const [leader, follower] = r1.isLeader() ? [r1, r2] : [r2, r1];
    expect(leader.isLeader()).toBe(true);
    expect(follower.isLeader()).toBe(false);
    // the follower's only EC2 call is the read-only VPC check at start-up (docs/static-egress-controller.md#seg-vpc)
    const startupOnly = ['kubeaws_static_egress_controller_aws_requests_total{operation="DescribeVpcs",outcome="success"} 1'];
    const awsCalls = async (rc: typeof follower) =>
      (await rc.metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('kubeaws_static_egress_controller_aws_requests_total{'));
    expect(await awsCalls(follower)).toEqual(startupOnly);
    // last ConfigMap gone: routes deleted, NAT gateways idle-tagged, then deleted after the 1 s grace
    await delCm(n, 'p');
    await waitFor(async () => (await natsOf(env.ec2, vpc.vpcId, cluster)).length === 0, { timeoutMs: 60_000, description: 'idle NAT gateways deleted' });
    expect(await allRoutes(vpc)).toEqual({ [AZS[0]!]: {}, [AZS[1]!]: {} });
    // AWS disassociates the Elastic IP of a deleted NAT gateway; moto keeps the association, so the test does it
    for (const e of await eipsOf(env.ec2, cluster)) if (e.AssociationId) await env.ec2.send(new DisassociateAddressCommand({ AssociationId: e.AssociationId }));
    await waitFor(async () => (await eipsOf(env.ec2, cluster)).length === 0, { timeoutMs: 60_000, description: 'owned EIPs released (release retention)' });
    const order = env.proxy.actions({ mutating: true });
    expect(order.lastIndexOf('DeleteRoute')).toBeLessThan(order.lastIndexOf('DeleteNatGateway'));
    expect(await awsCalls(follower)).toEqual(startupOnly);
    await stop(follower);
    await stop(leader);
  });

  it('--teardown removes routes and NAT gateways, keeps the EIPs (retain) and exits 0', async () => {
    const cluster = 'tear';
    const vpc = await createVpc(env.ec2, cluster, '10.7.0.0/16');
    const n = await ns('seg-t');
    await putCm(n, 'p', { x: '203.0.113.0/24' });
    const rc = await start(cluster, vpc, n);
    await waitFor(async () => {
      const r = await allRoutes(vpc);
      return AZS.every((az) => r[az]!['203.0.113.0/24']?.startsWith('nat-'));
    }, { timeoutMs: 60_000, description: 'routed' });
    await stop(rc);
    const td = await start(cluster, vpc, n, { teardown: true });
    await expect(td.done).resolves.toBe(0);
    expect(await allRoutes(vpc)).toEqual({ [AZS[0]!]: {}, [AZS[1]!]: {} });
    expect(await natsOf(env.ec2, vpc.vpcId, cluster)).toEqual([]);
    expect(await eipsOf(env.ec2, cluster)).toHaveLength(2);
    await stop(td);
  });

  it('dry run makes only Describe calls and writes nothing', async () => {
    const cluster = 'dry';
    const vpc = await createVpc(env.ec2, cluster, '10.4.0.0/16');
    const n = await ns('seg-d');
    await putCm(n, 'p', { x: '203.0.113.0/24' });
    const since = env.proxy.calls.length;
    const rc = await start(cluster, vpc, n, { dryRun: true, leaderElect: false });
    await waitFor(() => rc.handle.reconciler.last.planned.length > 0, { description: 'a planned call' });
    expect(rc.handle.reconciler.last.planned.some((p) => p.includes('allocateAddress'))).toBe(true);
    expect(env.proxy.actions({ since }).every((a) => /^Describe/.test(a))).toBe(true);
    expect(await status(n)).toBeUndefined();
    expect(await eipsOf(env.ec2, cluster)).toHaveLength(0);
    await stop(rc);
  });

  it('every EC2 action in the proxy log of these runs is one the IAM policy allows (EGRESS_IAM_ACTIONS)', () => {
    // docs/static-egress-controller.md#seg-iam; the infra tests check the rendered policy against EGRESS_IAM_ACTIONS
    const called = [...new Set(env.proxy.calls.map((c) => `ec2:${c.action}`))].sort();
    expect(called).toEqual(expect.arrayContaining(['ec2:AllocateAddress', 'ec2:CreateNatGateway', 'ec2:CreateRoute', 'ec2:DeleteNatGateway']));
    expect(called.filter((a) => !(EGRESS_IAM_ACTIONS as readonly string[]).includes(a))).toEqual([]);
  });
});
