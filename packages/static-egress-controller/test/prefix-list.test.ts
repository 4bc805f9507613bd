/**
 * Prefix-list mode against the real local kube-apiserver and the real moto server behind the recording
 * proxy (docs/static-egress-controller.md#seg-prefix-list): the list found by tags before any create, one
 * ModifyManagedPrefixList with CurrentVersion per change, one route per target table to the same-AZ NAT
 * gateway, make-before-break switches routes -> prefix-list -> routes, restart without a second list,
 * teardown.
 */
import { DescribeManagedPrefixListsCommand, DescribeRouteTablesCommand, GetManagedPrefixListEntriesCommand } from '@aws-sdk/client-ec2';
import { waitFor } from '@kubeaws/testenv';
import { AZS, createVpc, natsOf, routesOf, useEgressEnv } from './support';

jest.setTimeout(240_000);

const env = useEgressEnv();
const { ns, start, stop, putCm, statusDoc } = env;

/** Our prefix lists (owner tag), not deleted. */
async function listsOf(cluster: string) {
  const out = await env.ec2.send(new DescribeManagedPrefixListsCommand({ Filters: [{ Name: `tag:kubernetes.io/cluster/${cluster}`, Values: ['owned'] }] }));
  return (out.PrefixLists ?? []).filter((l) => !/^delete-/.test(l.State ?? ''));
}
async function entriesOf(id: string): Promise<string[]> {
  const out = await env.ec2.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: id }));
  return (out.Entries ?? []).map((e) => e.Cidr!).sort();
}
/** Prefix-list routes of a table: list ID -> NAT gateway ID. */
async function plRoutesOf(routeTableId: string): Promise<Record<string, string>> {
  const out = await env.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [routeTableId] }));
  const r: Record<string, string> = {};
  for (const x of out.RouteTables?.[0]?.Routes ?? []) if (x.DestinationPrefixListId) r[x.DestinationPrefixListId] = x.NatGatewayId ?? '?';
  return r;
}

describe('prefix-list mode (kube-apiserver + moto)', () => {
  it('switches routes -> prefix-list -> routes make-before-break, finds its list by tags, and tears down', async () => {
    const cluster = 'plist';
    const vpc = await createVpc(env.ec2, cluster, '10.9.0.0/16');
    const n = await ns('seg-pl');
    await putCm(n, 'p', { a: '203.0.113.0/24', b: '198.51.100.0/24' });

    // routes mode first
    let rc = await start(cluster, vpc, n);
    const natByAz: Record<string, string> = {};
    await waitFor(async () => {
      for (const x of await natsOf(env.ec2, vpc.vpcId, cluster)) if (x.State === 'available') natByAz[x.Tags!.find((t) => t.Key === 'kubeaws.io/az')!.Value!] = x.NatGatewayId!;
      const r = await Promise.all(AZS.map((az) => routesOf(env.ec2, vpc.targets[az]!)));
      return AZS.every((az, i) => natByAz[az] && r[i]!['203.0.113.0/24'] === natByAz[az] && r[i]!['198.51.100.0/24'] === natByAz[az]);
    }, { timeoutMs: 60_000, description: 'routes mode applied' });
    await stop(rc);

    // prefix-list mode: the list is created once, filled, routed per AZ, then the per-CIDR routes go
    let since = env.proxy.calls.length;
    rc = await start(cluster, vpc, n, { mode: 'prefix-list', prefixListMaxEntries: 10 });
    let debug: unknown;
    const list = await waitFor(async () => {
      const l = await listsOf(cluster);
      if (l.length !== 1) return false;
      const id = l[0]!.PrefixListId!;
      const pl = await Promise.all(AZS.map((az) => plRoutesOf(vpc.targets[az]!)));
      const cidr = await Promise.all(AZS.map((az) => routesOf(env.ec2, vpc.targets[az]!)));
      const doc = await statusDoc(n);
      debug = { id, natByAz, pl, cidr, entries: await entriesOf(id), mode: doc?.mode, cidrs: doc?.cidrs };
      return (
        AZS.every((az, i) => pl[i]![id] === natByAz[az] && Object.keys(cidr[i]!).length === 0) &&
        (await entriesOf(id)).join() === '198.51.100.0/24,203.0.113.0/24' &&
        doc?.mode === 'prefix-list' && doc.cidrs['203.0.113.0/24']?.state === 'Applied' && l[0]!
      );
    }, { timeoutMs: 60_000, description: 'prefix-list mode applied, old routes gone' }).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${JSON.stringify(debug, null, 1)}`);
    });
    expect(list.MaxEntries).toBe(10);
    expect(list.PrefixListName).toBe(`egress-${cluster}`);
    expect(list.AddressFamily).toBe('IPv4');
    const tags = Object.fromEntries((list.Tags ?? []).map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({ [`kubernetes.io/cluster/${cluster}`]: 'owned', 'kubeaws.io/component': 'static-egress', 'kubeaws.io/role': 'prefix-list' });
    let calls = env.proxy.calls.slice(since);
    const idx = (pred: (c: (typeof calls)[number]) => boolean) => calls.findIndex(pred);
    const lastIdx = (pred: (c: (typeof calls)[number]) => boolean) => calls.length - 1 - [...calls].reverse().findIndex(pred);
    expect(calls.filter((c) => c.action === 'CreateManagedPrefixList')).toHaveLength(1);
    expect(idx((c) => c.action === 'DescribeManagedPrefixLists')).toBeLessThan(idx((c) => c.action === 'CreateManagedPrefixList'));
    const modify = calls.find((c) => c.action === 'ModifyManagedPrefixList')!;
    expect(modify.params.CurrentVersion).toBe('1');
    expect(modify.params['AddEntry.1.Cidr'] ?? modify.params['AddEntries.1.Cidr']).toBe('198.51.100.0/24');
    // make before break: every prefix-list route exists before the first per-CIDR route is deleted
    expect(lastIdx((c) => c.action === 'CreateRoute' && !!c.params.DestinationPrefixListId)).toBeLessThan(
      idx((c) => c.action === 'DeleteRoute' && !!c.params.DestinationCidrBlock),
    );
    expect(calls.filter((c) => c.action === 'CreateRoute' && c.params.DestinationPrefixListId === list.PrefixListId)).toHaveLength(2);

    // a new CIDR is one more modify; a restart finds the list by tags and creates none
    await stop(rc);
    since = env.proxy.calls.length;
    rc = await start(cluster, vpc, n, { mode: 'prefix-list', prefixListMaxEntries: 10 });
    await putCm(n, 'p', { a: '203.0.113.0/24', b: '198.51.100.0/24', c: '192.0.2.0/24' });
    await waitFor(async () => (await entriesOf(list.PrefixListId!)).includes('192.0.2.0/24') && (await statusDoc(n))?.cidrs['192.0.2.0/24']?.state === 'Applied', {
      timeoutMs: 60_000, description: 'third CIDR in the list',
    });
    calls = env.proxy.calls.slice(since);
    expect(calls.filter((c) => c.action === 'CreateManagedPrefixList')).toHaveLength(0);
    expect(calls.filter((c) => c.action === 'CreateRoute')).toHaveLength(0);
    await stop(rc);

    // back to routes: every CIDR routed in every table before the prefix-list routes go
    since = env.proxy.calls.length;
    rc = await start(cluster, vpc, n);
    await waitFor(async () => {
      const pl = await Promise.all(AZS.map((az) => plRoutesOf(vpc.targets[az]!)));
      const r = await Promise.all(AZS.map((az) => routesOf(env.ec2, vpc.targets[az]!)));
      return AZS.every((az, i) => Object.keys(pl[i]!).length === 0 && r[i]!['192.0.2.0/24'] === natByAz[az] && r[i]!['203.0.113.0/24'] === natByAz[az]);
    }, { timeoutMs: 60_000, description: 'routes mode again' });
    calls = env.proxy.calls.slice(since);
    expect(lastIdx((c) => c.action === 'CreateRoute' && !!c.params.DestinationCidrBlock)).toBeLessThan(
      idx((c) => c.action === 'DeleteRoute' && !!c.params.DestinationPrefixListId),
    );
    await stop(rc);

    // teardown deletes the list too
    const td = await start(cluster, vpc, n, { teardown: true });
    await expect(td.done).resolves.toBe(0);
    expect(await listsOf(cluster)).toEqual([]);
    await stop(td);
  });
});
