import {
  type EipView,
  type InfraInput,
  type NatView,
  PREFIX_LIST_CHUNK,
  type PlanSettings,
  type PrefixListAction,
  type PrefixListInput,
  type PrefixListView,
  type RouteInput,
  type RouteTableView,
  classifyAwsError,
  clientToken,
  collectSources,
  compareCidrs,
  conditions,
  desiredSet,
  natRouteUse,
  natSubnets,
  planInfra,
  planPrefixList,
  planRoutes,
  prefixListRouteDeletes,
  renderStatus,
  resolveExistingRoute,
  routeWeight,
  vpcDiscoveryError,
  targetTables,
} from './decide';

const AZS = ['eu-central-1a', 'eu-central-1b'];
const settings: PlanSettings = {
  clusterId: 'c1',
  availabilityZones: AZS,
  routeTableSelector: { Type: 'dmz' },
  routeTableAzTag: 'AvailabilityZone',
  natSubnetSelector: { 'kubeaws.io/role': 'egress-nat' },
  byoEips: {},
  eipRetention: 'retain',
  natRetention: 'delete',
  natIdleGraceMs: 3_600_000,
  routeQuota: 50,
};

function table(id: string, az: string | undefined, routes: RouteTableView['routes'] = [], extra: Partial<RouteTableView> = {}): RouteTableView {
  return {
    id,
    tags: az ? { Type: 'dmz', AvailabilityZone: az } : { Type: 'dmz' },
    routes: [{ destination: '10.0.0.0/16', otherTarget: 'local', state: 'active', origin: 'CreateRouteTable' }, ...routes],
    subnetIds: [],
    main: false,
    ...extra,
  };
}
const nat = (id: string, az: string, state: NatView['state'] = 'available', extra: Partial<NatView> = {}): NatView => ({
  id, az, subnetId: `subnet-${az}`, state, allocationId: `eipalloc-${az}`, publicIp: '3.0.0.1', createTime: 1, tags: {}, ...extra,
});
const eip = (az: string, extra: Partial<EipView> = {}): EipView => ({ allocationId: `eipalloc-${az}`, publicIp: `3.0.0.${az.endsWith('a') ? 1 : 2}`, az, byo: false, ...extra });
const route = (destination: string, natGatewayId: string, state: 'active' | 'blackhole' = 'active') => ({ destination, natGatewayId, state, origin: 'CreateRoute' });

describe('collectSources and desiredSet', () => {
  it('reference-counts CIDRs across ConfigMaps and quarantines bad values per source', () => {
    const s = collectSources(
      [
        { metadata: { namespace: 'a', name: 'x' }, data: { p: '203.0.113.0/24', bad: '10.0.0.300/24', v6: '2001:db8::/32' } },
        { metadata: { namespace: 'b', name: 'y' }, data: { q: '203.0.113.0/24', h: '198.51.100.1/24' }, binaryData: { bin: 'AA==' } },
      ],
      { minPrefixLength: 8, vpcCidrs: ['10.0.0.0/16'] },
    );
    expect([...s.cidrs]).toEqual([
      ['203.0.113.0/24', ['a/x/p', 'b/y/q']],
      ['198.51.100.0/24', ['b/y/h']],
    ]);
    expect(s.problems.map((p) => [p.source, p.reason, p.detail])).toEqual([
      ['a/x/bad', 'InvalidCIDR', undefined],
      ['a/x/v6', 'CIDRRejected', 'IPv6NotSupported'],
      ['b/y/bin', 'UnsupportedBinaryData', undefined],
      ['b/y/h', 'HostBitsSet', undefined],
    ]);
  });

  it.each([
    [['203.0.113.0/24', '198.51.100.0/24'], ['198.51.100.0/24', '203.0.113.0/24']],
    [['10.1.0.0/16', '10.0.0.0/8', '10.2.3.0/24'], ['10.0.0.0/8']],
    [['192.0.2.0/25', '192.0.2.128/25'], ['192.0.2.0/25', '192.0.2.128/25']],
    [['192.0.2.0/24', '192.0.2.0/24'], ['192.0.2.0/24']],
    [['9.0.0.0/8', '100.0.0.0/8', '20.0.0.0/8'], ['9.0.0.0/8', '20.0.0.0/8', '100.0.0.0/8']],
  ])('%j -> %j', (input, want) => expect(desiredSet(input)).toEqual(want));

  it('sorts by network address then prefix length', () => {
    expect(['1.0.0.0/24', '1.0.0.0/16', '0.128.0.0/9'].sort(compareCidrs)).toEqual(['0.128.0.0/9', '1.0.0.0/16', '1.0.0.0/24']);
  });
});

describe('targetTables and natSubnets', () => {
  it('selects by tags, skips tables without or with unknown AZ', () => {
    const t = targetTables(
      [table('rtb-a', 'eu-central-1a'), table('rtb-x', undefined), table('rtb-c', 'eu-central-1c'), { ...table('rtb-o', 'eu-central-1a'), tags: {} }],
      settings,
    );
    expect([...t.byAz].map(([az, ts]) => [az, ts.map((x) => x.id)])).toEqual([
      ['eu-central-1a', ['rtb-a']],
      ['eu-central-1b', []],
    ]);
    expect([...t.skipped.keys()]).toEqual(['rtb-c', 'rtb-x']);
  });

  it('requires one public, non-target NAT subnet with free addresses per AZ', () => {
    const pub = table('rtb-pub', undefined, [{ destination: '0.0.0.0/0', otherTarget: 'igw-1', state: 'active', origin: 'CreateRoute' }], {
      tags: {}, subnetIds: ['subnet-a'],
    });
    const tables = [pub, table('rtb-a', 'eu-central-1a', [], { subnetIds: ['subnet-b'] })];
    const subnets = [
      { id: 'subnet-a', az: 'eu-central-1a', tags: { 'kubeaws.io/role': 'egress-nat' }, availableIps: 10 },
      { id: 'subnet-b', az: 'eu-central-1b', tags: { 'kubeaws.io/role': 'egress-nat' }, availableIps: 10 },
    ];
    const targets = targetTables(tables, { ...settings, availabilityZones: AZS });
    // rtb-a is tagged for 1a but associated with the 1b subnet: that subnet's traffic would loop
    const r = natSubnets(subnets, tables, targets, settings);
    expect(r.get('eu-central-1a')).toEqual({ subnetId: 'subnet-a' });
    expect(r.get('eu-central-1b')).toMatchObject({ notReady: expect.stringContaining('internet gateway') });
    const none = natSubnets([], tables, targets, settings);
    expect(none.get('eu-central-1a')).toMatchObject({ notReady: expect.stringContaining('0 subnets') });
  });
});

describe('clientToken', () => {
  it('is 64 hex chars, stable, and changes with the attempt', () => {
    const a = clientToken(['c1', 'eu-central-1a', 'eipalloc-1', 'subnet-1', 0]);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(clientToken(['c1', 'eu-central-1a', 'eipalloc-1', 'subnet-1', 0])).toBe(a);
    expect(clientToken(['c1', 'eu-central-1a', 'eipalloc-1', 'subnet-1', 1])).not.toBe(a);
  });
});

describe('planInfra', () => {
  const subnets = new Map(AZS.map((az) => [az, { subnetId: `subnet-${az}` }]));
  const base: InfraInput = { nats: [], eips: [], subnets, routesByNat: new Map(), wanted: true, eipQuotaExceeded: false, now: 0 };
  const kinds = (i: Partial<InfraInput>, s: Partial<PlanSettings> = {}) =>
    planInfra({ ...base, ...i }, { ...settings, ...s }).actions.map((a) => [a.kind, 'az' in a ? a.az : undefined, 'natGatewayId' in a ? a.natGatewayId : undefined]);

  it.each<[string, Partial<InfraInput>, Partial<PlanSettings>, unknown[]]>([
    ['allocates EIPs first, no NAT while any AZ lacks one', {}, {}, [['allocateAddress', 'eu-central-1a', undefined], ['allocateAddress', 'eu-central-1b', undefined]]],
    ['partial EIP set: only the missing EIP', { eips: [eip('eu-central-1a')] }, {}, [['allocateAddress', 'eu-central-1b', undefined]]],
    ['all EIPs: NAT gateways', { eips: AZS.map((az) => eip(az)) }, {}, [['createNatGateway', 'eu-central-1a', undefined], ['createNatGateway', 'eu-central-1b', undefined]]],
    ['nothing wanted yet: no EIPs allocated', { wanted: false }, {}, []],
    ['nothing wanted, no NATs: nothing', { eips: AZS.map((az) => eip(az)), wanted: false }, {}, []],
    ['EIP quota: no allocation retry', { eipQuotaExceeded: true }, {}, []],
    ['BYO EIP never allocated', { eips: [eip('eu-central-1a', { allocationId: 'eipalloc-byo', byo: true })] }, { byoEips: { 'eu-central-1a': 'eipalloc-byo' } }, [['allocateAddress', 'eu-central-1b', undefined]]],
    [
      'failed NAT: deleted and replaced on the same EIP',
      { eips: AZS.map((az) => eip(az)), nats: [nat('nat-f', 'eu-central-1a', 'failed'), nat('nat-b', 'eu-central-1b')] },
      {},
      [['deleteNatGateway', 'eu-central-1a', 'nat-f'], ['createNatGateway', 'eu-central-1a', undefined]],
    ],
    [
      'surplus NAT without routes is deleted, the one in use kept',
      {
        eips: AZS.map((az) => eip(az)),
        nats: [nat('nat-old', 'eu-central-1a', 'available', { createTime: 1 }), nat('nat-used', 'eu-central-1a', 'available', { createTime: 2 }), nat('nat-b', 'eu-central-1b')],
        routesByNat: new Map([['nat-used', 1]]),
      },
      {},
      [['deleteNatGateway', 'eu-central-1a', 'nat-old']],
    ],
    [
      'idle: tagged first',
      { eips: AZS.map((az) => eip(az)), nats: [nat('nat-a', 'eu-central-1a'), nat('nat-b', 'eu-central-1b')], wanted: false, now: Date.parse('2026-01-01T00:00:00Z') },
      {},
      [['tagIdle', undefined, 'nat-a'], ['tagIdle', undefined, 'nat-b']],
    ],
    [
      'idle past grace: deleted',
      {
        eips: AZS.map((az) => eip(az)),
        nats: [nat('nat-a', 'eu-central-1a', 'available', { tags: { 'kubeaws.io/idle-since': '2026-01-01T00:00:00Z' } })],
        wanted: false,
        now: Date.parse('2026-01-01T01:00:00Z'),
      },
      { availabilityZones: ['eu-central-1a'] },
      [['deleteNatGateway', 'eu-central-1a', 'nat-a']],
    ],
    [
      'idle past grace with retain: kept',
      {
        eips: [eip('eu-central-1a')],
        nats: [nat('nat-a', 'eu-central-1a', 'available', { tags: { 'kubeaws.io/idle-since': '2026-01-01T00:00:00Z' } })],
        wanted: false,
        now: Date.parse('2026-01-02T00:00:00Z'),
      },
      { availabilityZones: ['eu-central-1a'], natRetention: 'retain' },
      [],
    ],
    [
      'idle but still routed: not deleted',
      {
        eips: [eip('eu-central-1a')],
        nats: [nat('nat-a', 'eu-central-1a', 'available', { tags: { 'kubeaws.io/idle-since': '2026-01-01T00:00:00Z' } })],
        routesByNat: new Map([['nat-a', 1]]),
        wanted: false,
        now: Date.parse('2026-01-02T00:00:00Z'),
      },
      { availabilityZones: ['eu-central-1a'] },
      [],
    ],
    [
      'teardown: NAT gateways without routes deleted at once, no idle tag',
      { eips: [eip('eu-central-1a')], nats: [nat('nat-a', 'eu-central-1a')], wanted: false, teardown: true },
      { availabilityZones: ['eu-central-1a'] },
      [['deleteNatGateway', 'eu-central-1a', 'nat-a']],
    ],
    [
      'CIDRs back: idle tag removed',
      { eips: [eip('eu-central-1a')], nats: [nat('nat-a', 'eu-central-1a', 'available', { tags: { 'kubeaws.io/idle-since': '2026-01-01T00:00:00Z' } })] },
      { availabilityZones: ['eu-central-1a'] },
      [['untagIdle', undefined, 'nat-a']],
    ],
    [
      'EIP of a deleted NAT released only with release',
      { eips: [eip('eu-central-1a')], nats: [nat('nat-a', 'eu-central-1a', 'deleted')], wanted: false },
      { availabilityZones: ['eu-central-1a'], eipRetention: 'release' },
      [['releaseAddress', 'eu-central-1a', undefined]],
    ],
    [
      'EIP of a deleted NAT retained by default',
      { eips: [eip('eu-central-1a')], nats: [nat('nat-a', 'eu-central-1a', 'deleted')], wanted: false },
      { availabilityZones: ['eu-central-1a'] },
      [],
    ],
    [
      'NAT of a removed AZ is idle',
      { eips: [eip('eu-central-1a')], nats: [nat('nat-a', 'eu-central-1a'), nat('nat-z', 'eu-central-1z')] },
      { availabilityZones: ['eu-central-1a'] },
      [['tagIdle', undefined, 'nat-z']],
    ],
  ])('%s', (_name, input, s, want) => expect(kinds(input, s)).toEqual(want));

  describe('idle NAT gateways still routed (docs/static-egress-controller.md#seg-retention)', () => {
    const idle = (extra: Partial<NatView> = {}) =>
      nat('nat-a', 'eu-central-1a', 'available', { tags: { 'kubeaws.io/idle-since': '2026-01-01T00:00:00Z' }, ...extra });
    const one = { availabilityZones: ['eu-central-1a'] };
    const kept = new Map([['nat-a', ['rtb-x pl-partners']]]);
    const pastGrace = Date.parse('2026-01-01T01:00:00Z');
    it.each<[string, Partial<InfraInput>, Partial<PlanSettings>, string[], string[]]>([
      [
        'past the grace, a route the controller does not delete: kept, NATGatewayInUse naming the route',
        { nats: [idle()], routesByNat: new Map([['nat-a', 1]]), keptRoutesByNat: kept, now: pastGrace },
        {},
        [],
        ['NATGatewayInUse: NAT gateway nat-a in eu-central-1a idle since 2026-01-01T00:00:00Z is kept past --nat-idle-grace: routes not managed by this controller target it (rtb-x pl-partners); delete them to let it go'],
      ],
      [
        'past the grace, only routes the controller deletes this round: neither deleted nor warned yet',
        { nats: [idle()], routesByNat: new Map([['nat-a', 2]]), keptRoutesByNat: new Map(), now: pastGrace },
        {},
        [],
        [],
      ],
      ['past the grace, no route: deleted, no warning', { nats: [idle()], keptRoutesByNat: new Map(), now: pastGrace }, {}, ['deleteNatGateway nat-a'], []],
      ['within the grace: no warning yet', { nats: [idle()], routesByNat: new Map([['nat-a', 1]]), keptRoutesByNat: kept, now: pastGrace - 1 }, {}, [], []],
      ['retain: never deleted, so no warning', { nats: [idle()], routesByNat: new Map([['nat-a', 1]]), keptRoutesByNat: kept, now: pastGrace }, { natRetention: 'retain' }, [], []],
      ['pending: no warning', { nats: [idle({ state: 'pending' })], routesByNat: new Map([['nat-a', 1]]), keptRoutesByNat: kept, now: pastGrace }, {}, [], []],
      [
        'not yet tagged and still routed: tagged now, the grace counts from when nothing is desired',
        { nats: [nat('nat-a', 'eu-central-1a')], routesByNat: new Map([['nat-a', 1]]), keptRoutesByNat: kept, now: pastGrace },
        {},
        ['tagIdle nat-a'],
        [],
      ],
      [
        'removed AZ past the grace with a kept route: NATGatewayInUse too',
        { eips: [eip('eu-central-1b')], nats: [idle(), nat('nat-b', 'eu-central-1b')], wanted: true, routesByNat: new Map([['nat-a', 1]]), keptRoutesByNat: kept, now: pastGrace },
        { availabilityZones: ['eu-central-1b'] },
        [],
        ['NATGatewayInUse: NAT gateway nat-a in eu-central-1a idle since 2026-01-01T00:00:00Z is kept past --nat-idle-grace: routes not managed by this controller target it (rtb-x pl-partners); delete them to let it go'],
      ],
      [
        'teardown: a still routed gateway waits for its routes, no warning',
        { nats: [nat('nat-a', 'eu-central-1a')], routesByNat: new Map([['nat-a', 1]]), keptRoutesByNat: kept, teardown: true },
        {},
        [],
        [],
      ],
    ])('%s', (_name, input, s, actions, warnings) => {
      const p = planInfra({ ...base, eips: [eip('eu-central-1a')], wanted: false, ...input }, { ...settings, ...one, ...s });
      expect(p.actions.map((a) => `${a.kind} ${'natGatewayId' in a ? a.natGatewayId : ''}`.trim())).toEqual(actions);
      expect(p.warnings.map((w) => `${w.reason}: ${w.message}`)).toEqual(warnings);
    });
  });

  it('reports duplicate EIPs and never uses or releases them', () => {
    const p = planInfra(
      { ...base, eips: [eip('eu-central-1a'), eip('eu-central-1a', { allocationId: 'eipalloc-z' }), eip('eu-central-1b')] },
      { ...settings, eipRetention: 'release' },
    );
    expect(p.duplicateEips.map((e) => e.allocationId)).toEqual(['eipalloc-z']);
    expect(p.warnings.map((w) => w.reason)).toContain('DuplicateElasticIP');
    expect(p.actions.some((a) => a.kind === 'releaseAddress')).toBe(false);
  });

  it('active NAT per AZ and zones for the status', () => {
    const p = planInfra({ ...base, eips: AZS.map((az) => eip(az)), nats: [nat('nat-a', 'eu-central-1a'), nat('nat-b', 'eu-central-1b', 'pending')] }, settings);
    expect([...p.activeNat]).toEqual([['eu-central-1a', 'nat-a']]);
    expect(p.inTransition).toBe(true);
    expect(p.zones.get('eu-central-1b')).toMatchObject({ natGatewayId: 'nat-b', state: 'pending' });
  });
});

describe('natRouteUse (docs/static-egress-controller.md#seg-retention)', () => {
  const ours = new Set(['nat-a', 'nat-b']);
  it.each<[string, RouteTableView[], string | undefined, Record<string, number>, Record<string, string[]>]>([
    ['CIDR routes to our NAT gateways are the controller\'s to delete', [table('rtb-a', 'eu-central-1a', [route('203.0.113.0/24', 'nat-a')])], undefined, { 'nat-a': 1 }, {}],
    ['IPv6 destinations too (a route to our gateway is ours)', [table('rtb-x', undefined, [route('64:ff9b::/96', 'nat-a')], { tags: {} })], undefined, { 'nat-a': 1 }, {}],
    [
      'a route of our prefix list is ours, one of another list is not',
      [
        table('rtb-a', 'eu-central-1a', [{ prefixListId: 'pl-own', natGatewayId: 'nat-a', state: 'active', origin: 'CreateRoute' }]),
        table('rtb-x', undefined, [{ prefixListId: 'pl-partners', natGatewayId: 'nat-a', state: 'active', origin: 'CreateRoute' }], { tags: {} }),
      ],
      'pl-own',
      { 'nat-a': 2 },
      { 'nat-a': ['rtb-x pl-partners'] },
    ],
    [
      'without a list of ours every prefix-list route is foreign; routes to other NAT gateways only count',
      [
        table('rtb-x', undefined, [
          { prefixListId: 'pl-partners', natGatewayId: 'nat-b', state: 'blackhole', origin: 'CreateRoute' },
          route('198.51.100.0/24', 'nat-foreign'),
        ], { tags: {} }),
      ],
      undefined,
      { 'nat-b': 1, 'nat-foreign': 1 },
      { 'nat-b': ['rtb-x pl-partners'] },
    ],
  ])('%s', (_name, tables, own, counts, kept) => {
    const u = natRouteUse(tables, ours, own);
    expect(Object.fromEntries(u.routesByNat)).toEqual(counts);
    expect(Object.fromEntries(u.keptRoutesByNat)).toEqual(kept);
  });
});

describe('planRoutes', () => {
  const A = 'eu-central-1a';
  const B = 'eu-central-1b';
  function input(tables: RouteTableView[], over: Partial<RouteInput> = {}): RouteInput {
    const targets = targetTables(tables, settings);
    return {
      desired: ['203.0.113.0/24'],
      targets,
      tables,
      ourNats: new Set(['nat-a', 'nat-b', 'nat-old']),
      existingNats: new Set(['nat-a', 'nat-b', 'nat-old', 'nat-foreign']),
      activeNat: new Map([[A, 'nat-a'], [B, 'nat-b']]),
      failed: new Map(),
      routeQuota: 50,
      ...over,
    };
  }
  const show = (i: RouteInput) => {
    const p = planRoutes(i);
    return { actions: p.actions.map((a) => `${a.kind} ${a.routeTableId} ${a.cidr}${a.natGatewayId ? ` ${a.natGatewayId}` : ''}`), states: Object.fromEntries([...p.states].map(([c, s]) => [c, s.state === 'Pending' ? `Pending(${s.reason})` : s.state])), again: p.again };
  };

  it.each<[string, RouteInput, ReturnType<typeof show>]>([
    ['new CIDR: created in every table, same-AZ NAT', input([table('rtb-a', A), table('rtb-b', B)]), { actions: ['create rtb-a 203.0.113.0/24 nat-a', 'create rtb-b 203.0.113.0/24 nat-b'], states: { '203.0.113.0/24': 'Applied' }, again: false }],
    ['applied: no calls', input([table('rtb-a', A, [route('203.0.113.0/24', 'nat-a')]), table('rtb-b', B, [route('203.0.113.0/24', 'nat-b')])]), { actions: [], states: { '203.0.113.0/24': 'Applied' }, again: false }],
    ['a NAT not available: new CIDR pending', input([table('rtb-a', A), table('rtb-b', B)], { activeNat: new Map([[A, 'nat-a']]) }), { actions: [], states: { '203.0.113.0/24': 'Pending(WaitingForNATGateway)' }, again: false }],
    [
      'NAT replaced (make before break): routes replaced to the new NAT, none deleted',
      input([table('rtb-a', A, [route('203.0.113.0/24', 'nat-old', 'blackhole')]), table('rtb-b', B, [route('203.0.113.0/24', 'nat-b')])]),
      { actions: ['replace rtb-a 203.0.113.0/24 nat-a'], states: { '203.0.113.0/24': 'Applied' }, again: false },
    ],
    [
      'stale blackhole to a vanished NAT is taken over',
      input([table('rtb-a', A, [route('203.0.113.0/24', 'nat-gone', 'blackhole')]), table('rtb-b', B)]),
      { actions: ['replace rtb-a 203.0.113.0/24 nat-a', 'create rtb-b 203.0.113.0/24 nat-b'], states: { '203.0.113.0/24': 'Applied' }, again: false },
    ],
    [
      'foreign overlapping route: Conflict, nothing created',
      input([table('rtb-a', A, [route('203.0.0.0/16', 'nat-foreign')]), table('rtb-b', B)]),
      { actions: [], states: { '203.0.113.0/24': 'Conflict' }, again: false },
    ],
    [
      'no capacity in one table: Pending(RouteCapacity), nothing created anywhere',
      input([table('rtb-a', A, [route('198.51.100.0/24', 'nat-foreign')]), table('rtb-b', B)], { routeQuota: 1 }),
      { actions: [], states: { '203.0.113.0/24': 'Pending(RouteCapacity)' }, again: false },
    ],
    [
      'applied CIDR never withdrawn because a new table is full: Degraded',
      input([table('rtb-a', A, [route('203.0.113.0/24', 'nat-a')]), table('rtb-b', B, [route('198.51.100.0/24', 'nat-foreign')])], { routeQuota: 1 }),
      { actions: [], states: { '203.0.113.0/24': 'Degraded' }, again: false },
    ],
    [
      'removed CIDR deleted after the creates',
      input([table('rtb-a', A, [route('192.0.2.0/24', 'nat-a')]), table('rtb-b', B, [route('192.0.2.0/24', 'nat-b')])]),
      { actions: ['create rtb-a 203.0.113.0/24 nat-a', 'create rtb-b 203.0.113.0/24 nat-b', 'delete rtb-a 192.0.2.0/24', 'delete rtb-b 192.0.2.0/24'], states: { '203.0.113.0/24': 'Applied' }, again: false },
    ],
    [
      'narrowed CIDR: the wider route stays until the narrower one is routed everywhere',
      input([table('rtb-a', A, [route('203.0.0.0/16', 'nat-a')]), table('rtb-b', B, [route('203.0.0.0/16', 'nat-b')])], { activeNat: new Map([[A, 'nat-a']]) }),
      { actions: [], states: { '203.0.113.0/24': 'Pending(WaitingForNATGateway)' }, again: false },
    ],
    [
      'narrowed CIDR with NATs ready: create then delete',
      input([table('rtb-a', A, [route('203.0.0.0/16', 'nat-a')]), table('rtb-b', B, [route('203.0.0.0/16', 'nat-b')])]),
      { actions: ['create rtb-a 203.0.113.0/24 nat-a', 'create rtb-b 203.0.113.0/24 nat-b', 'delete rtb-a 203.0.0.0/16', 'delete rtb-b 203.0.0.0/16'], states: { '203.0.113.0/24': 'Applied' }, again: false },
    ],
    [
      'our routes in a table that is no longer a target are deleted',
      input([table('rtb-a', A, [route('203.0.113.0/24', 'nat-a')]), table('rtb-b', B, [route('203.0.113.0/24', 'nat-b')]), { ...table('rtb-old', undefined, [route('203.0.113.0/24', 'nat-a')]), tags: {} }]),
      { actions: ['delete rtb-old 203.0.113.0/24'], states: { '203.0.113.0/24': 'Applied' }, again: false },
    ],
    [
      'capacity freed by deletes: plan again',
      input([table('rtb-a', A, [route('192.0.2.0/24', 'nat-a')]), table('rtb-b', B, [route('192.0.2.0/24', 'nat-b')])], { routeQuota: 1 }),
      { actions: ['delete rtb-a 192.0.2.0/24', 'delete rtb-b 192.0.2.0/24'], states: { '203.0.113.0/24': 'Pending(RouteCapacity)' }, again: true },
    ],
    ['failed CIDR not retried', input([table('rtb-a', A), table('rtb-b', B)], { failed: new Map([['203.0.113.0/24', 'InvalidParameterValue']]) }), { actions: [], states: { '203.0.113.0/24': 'Failed' }, again: false }],
    ['EIP quota: new CIDRs pending', input([table('rtb-a', A), table('rtb-b', B)], { blocked: { reason: 'EIPQuotaExceeded', message: 'x' } }), { actions: [], states: { '203.0.113.0/24': 'Pending(EIPQuotaExceeded)' }, again: false }],
    [
      'foreign routes are never deleted or replaced',
      input([table('rtb-a', A, [route('192.0.2.0/24', 'nat-foreign')]), table('rtb-b', B)], { desired: [] }),
      { actions: [], states: {}, again: false },
    ],
  ])('%s', (_name, i, want) => expect(show(i)).toEqual(want));

  it('admits new CIDRs in sort order while every table has room', () => {
    const p = planRoutes(input([table('rtb-a', A), table('rtb-b', B)], { desired: ['1.0.0.0/24', '2.0.0.0/24', '3.0.0.0/24'], routeQuota: 2 }));
    expect([...p.states].map(([c, s]) => `${c} ${s.state}`)).toEqual(['1.0.0.0/24 Applied', '2.0.0.0/24 Applied', '3.0.0.0/24 Pending']);
    expect([...p.headroom]).toEqual([['rtb-a', 0], ['rtb-b', 0]]);
  });
});

describe('classifyAwsError', () => {
  it.each([
    ['AddressLimitExceeded', 'eip-quota'],
    ['NatGatewayLimitExceeded', 'az-not-ready'],
    ['InsufficientFreeAddressesInSubnet', 'az-not-ready'],
    ['InvalidAllocationID.NotFound', 'az-not-ready'],
    ['RouteLimitExceeded', 'route-capacity'],
    ['RouteAlreadyExists', 'route-exists'],
    ['InvalidRoute.NotFound', 'gone'],
    ['NatGatewayNotFound', 'gone'],
    ['RequestLimitExceeded', 'throttled'],
    ['UnauthorizedOperation', 'permission'],
    ['DependencyViolation', 'requeue'],
    ['Resource.AlreadyAssociated', 'requeue'],
    ['IdempotentParameterMismatch', 'idempotency'],
    ['InvalidParameterValue', 'cidr-failed'],
  ])('%s -> %s', (code, cls) => expect(classifyAwsError(code)).toBe(cls));
});

describe('status', () => {
  const zones = new Map([
    ['eu-central-1b', { publicIp: '3.64.1.11', allocationId: 'eipalloc-2', natGatewayId: 'nat-2', state: 'available' }],
    ['eu-central-1a', { publicIp: '3.64.1.9', allocationId: 'eipalloc-1', natGatewayId: 'nat-1', state: 'available' }],
  ]);
  const input = {
    vpcId: 'vpc-1',
    zones,
    states: new Map([['203.0.113.0/24', { state: 'Applied' as const }]]),
    sources: new Map([['203.0.113.0/24', ['checkout/p/acq']]]),
    problems: [{ source: 'checkout/p/bad', namespace: 'checkout', name: 'p', key: 'bad', value: '10.0.0.300/24', reason: 'InvalidCIDR' as const, expected: 'x' }],
    previous: [],
    now: Date.parse('2026-01-01T00:00:00Z'),
  };
  it('is byte-stable and lists the egress IPs sorted numerically', () => {
    const a = renderStatus(input);
    expect(renderStatus({ ...input, zones: new Map([...zones].reverse()) }).data).toEqual(a.data);
    expect(a.data['egress-ips']).toBe('3.64.1.9,3.64.1.11');
    expect(a.doc.rejected).toEqual([{ source: 'checkout/p/bad', value: '10.0.0.300/24', reason: 'InvalidCIDR' }]);
    expect(a.doc.conditions[0]).toEqual({ type: 'Ready', status: 'True', reason: 'AllApplied', lastTransitionTime: '2026-01-01T00:00:00Z' });
  });
  it('keeps transition times while a condition holds', () => {
    const prev = conditions(input.states, zones, [], 0);
    const later = conditions(input.states, zones, prev, 10_000_000);
    expect(later).toEqual(prev);
    const pending = conditions(new Map([['1.0.0.0/24', { state: 'Pending', reason: 'RouteCapacity', message: '' }]]), zones, prev, 10_000_000);
    expect(pending[0]).toMatchObject({ status: 'False', reason: 'RouteCapacity', lastTransitionTime: '1970-01-01T02:46:40Z' });
  });
});

describe('planPrefixList (docs/static-egress-controller.md#seg-prefix-list)', () => {
  const natA = 'nat-a';
  const natB = 'nat-b';
  const activeNat = new Map([[AZS[0]!, natA], [AZS[1]!, natB]]);
  const ourNats = new Set([natA, natB]);
  const plRoute = (id: string, natGatewayId: string) => ({ prefixListId: id, natGatewayId, state: 'active' as const, origin: 'CreateRoute' });
  const list = (entries: string[], extra: Partial<PrefixListView> = {}): PrefixListView => ({
    id: 'pl-1', state: 'create-complete', version: 1, maxEntries: 3, entries: new Map(entries.map((c) => [c, 'src'])), ...extra,
  });
  const input = (tables: RouteTableView[], extra: Partial<PrefixListInput> = {}): PrefixListInput => ({
    desired: ['198.51.100.0/24', '203.0.113.0/24'],
    sources: new Map([['198.51.100.0/24', ['a/x/k1']], ['203.0.113.0/24', ['a/x/k2', 'b/y/k']]]),
    maxEntries: 3,
    targets: targetTables(tables, settings),
    tables,
    ourNats,
    activeNat,
    failed: new Map(),
    routeQuota: 50,
    ...extra,
  });

  it('creates the list when none is found by tags; CIDRs wait for it', () => {
    const p = planPrefixList(input([table('rtb-a', AZS[0]), table('rtb-b', AZS[1])]));
    expect(p.listActions).toEqual([{ kind: 'createPrefixList', maxEntries: 3 }]);
    expect(p.routeActions).toEqual([]);
    expect(p.inTransition).toBe(true);
    expect([...p.states.values()].map((s) => s.state)).toEqual(['Pending', 'Pending']);
  });

  it('one modify with CurrentVersion adds sorted entries with their sources; one route per table to the same-AZ NAT; beyond MaxEntries PrefixListFull', () => {
    const tables = [table('rtb-a', AZS[0]), table('rtb-b', AZS[1])];
    const p = planPrefixList(input(tables, { desired: ['8.8.8.0/24', '198.51.100.0/24', '203.0.113.0/24'], list: list(['8.8.8.0/24'], { maxEntries: 2 }) }));
    expect(p.listActions).toEqual([
      { kind: 'modifyPrefixList', prefixListId: 'pl-1', version: 1, add: [{ cidr: '198.51.100.0/24', description: 'a/x/k1' }], remove: [] },
    ]);
    expect(p.states.get('203.0.113.0/24')).toMatchObject({ state: 'Pending', reason: 'PrefixListFull' });
    expect(p.routeActions).toEqual([
      { kind: 'create', routeTableId: 'rtb-a', cidr: 'pl-1', prefixListId: 'pl-1', natGatewayId: natA, az: AZS[0] },
      { kind: 'create', routeTableId: 'rtb-b', cidr: 'pl-1', prefixListId: 'pl-1', natGatewayId: natB, az: AZS[1] },
    ]);
    expect(p.headroom.get('rtb-a')).toBe(48); // MaxEntries is charged against the quota
    expect(p.switched).toBe(false);
  });

  it('make before break: per-CIDR routes go only once the list is routed in every table', () => {
    const old = [route('198.51.100.0/24', natA), route('203.0.113.0/24', natA)];
    const oldB = [route('198.51.100.0/24', natB), route('203.0.113.0/24', natB)];
    const entries = ['198.51.100.0/24', '203.0.113.0/24'];
    const half = planPrefixList(input([table('rtb-a', AZS[0], [...old, plRoute('pl-1', natA)]), table('rtb-b', AZS[1], oldB)], { list: list(entries) }));
    expect(half.switched).toBe(false);
    expect(half.routeActions.map((a) => `${a.kind} ${a.routeTableId} ${a.cidr}`)).toEqual(['create rtb-b pl-1']);
    expect(half.states.get('203.0.113.0/24')).toMatchObject({ state: 'Degraded' });
    const done = planPrefixList(
      input([table('rtb-a', AZS[0], [...old, plRoute('pl-1', natA)]), table('rtb-b', AZS[1], [...oldB, plRoute('pl-1', natB)])], { list: list(entries) }),
    );
    expect(done.switched).toBe(true);
    expect(done.routeActions.map((a) => `${a.kind} ${a.routeTableId} ${a.cidr}`)).toEqual([
      'delete rtb-a 198.51.100.0/24', 'delete rtb-a 203.0.113.0/24', 'delete rtb-b 198.51.100.0/24', 'delete rtb-b 203.0.113.0/24',
    ]);
    expect([...done.states.values()].every((s) => s.state === 'Applied')).toBe(true);
  });

  it('without headroom for both the routes and the list the switch waits (ModeSwitchBlocked), routes stay', () => {
    const old = [route('198.51.100.0/24', natA), route('203.0.113.0/24', natA)];
    const p = planPrefixList(input([table('rtb-a', AZS[0], old), table('rtb-b', AZS[1])], { list: list(['198.51.100.0/24', '203.0.113.0/24'], { maxEntries: 49 }) }));
    expect(p.modeSwitchBlocked).toContain('rtb-a');
    expect(p.routeActions.filter((a) => a.kind === 'delete')).toEqual([]);
    expect(p.states.get('198.51.100.0/24')).toMatchObject({ state: 'Degraded' });
  });

  it('the next modify waits for *-complete; a *-failed change marks its CIDRs Failed and surfaces StateMessage', () => {
    const tables = [table('rtb-a', AZS[0]), table('rtb-b', AZS[1])];
    const busy = planPrefixList(input(tables, { list: list([], { state: 'modify-in-progress' }) }));
    expect(busy.listActions).toEqual([]);
    expect(busy.inTransition).toBe(true);
    const failed = planPrefixList(
      input(tables, { list: list([], { state: 'modify-failed', stateMessage: 'boom' }), lastChange: ['203.0.113.0/24'] }),
    );
    expect(failed.failure).toEqual({ message: 'boom', cidrs: ['203.0.113.0/24'] });
    expect(failed.states.get('203.0.113.0/24')).toEqual({ state: 'Failed', code: 'PrefixListModifyFailed' });
    expect(failed.listActions).toEqual([
      { kind: 'modifyPrefixList', prefixListId: 'pl-1', version: 1, add: [{ cidr: '198.51.100.0/24', description: 'a/x/k1' }], remove: [] },
    ]);
  });

  it('splits at the API entry limit, adds first; removes entries no longer desired; conflicts stay out', () => {
    const many = Array.from({ length: 150 }, (_, i) => `100.${64 + Math.floor(i / 256)}.${i % 256}.0/24`);
    const tables = [table('rtb-a', AZS[0]), table('rtb-b', AZS[1])];
    const p = planPrefixList(input(tables, { desired: many, list: list(['8.8.8.0/24'], { maxEntries: 1000 }) }));
    const m = p.listActions[0] as Extract<PrefixListAction, { kind: 'modifyPrefixList' }>;
    expect(m.add).toHaveLength(PREFIX_LIST_CHUNK);
    expect(m.remove).toEqual([]);
    const last = planPrefixList(input(tables, { desired: ['203.0.113.0/24'], list: list(['8.8.8.0/24']) }));
    expect(last.listActions).toEqual([
      { kind: 'modifyPrefixList', prefixListId: 'pl-1', version: 1, add: [{ cidr: '203.0.113.0/24', description: 'a/x/k2,b/y/k' }], remove: ['8.8.8.0/24'] },
    ]);
    const foreign = [{ destination: '203.0.113.128/25', otherTarget: 'pcx-1', state: 'active' as const, origin: 'CreateRoute' }];
    const c = planPrefixList(input([table('rtb-a', AZS[0], foreign), table('rtb-b', AZS[1])], { list: list([]) }));
    expect(c.states.get('203.0.113.0/24')).toMatchObject({ state: 'Conflict' });
    expect((c.listActions[0] as Extract<PrefixListAction, { kind: 'modifyPrefixList' }>).add.map((e) => e.cidr)).toEqual(['198.51.100.0/24']);
  });

  it('raising --prefix-list-max-entries resizes in place once every table has headroom for the difference', () => {
    const entries = ['198.51.100.0/24', '203.0.113.0/24'];
    const routed = () => [table('rtb-a', AZS[0], [plRoute('pl-1', natA)]), table('rtb-b', AZS[1], [plRoute('pl-1', natB)])];
    const p = planPrefixList(input(routed(), { list: list(entries), maxEntries: 40 }));
    expect(p.listActions).toEqual([{ kind: 'resizePrefixList', prefixListId: 'pl-1', version: 1, maxEntries: 40 }]);
    const tight = planPrefixList(input(routed(), { list: list(entries), maxEntries: 49, routeQuota: 40 }));
    expect(tight.listActions).toEqual([]);
  });

  it('nothing desired: entries removed and the list routes deleted; prefixListRouteDeletes finds them in any table', () => {
    const tables = [table('rtb-a', AZS[0], [plRoute('pl-1', natA)]), table('rtb-b', AZS[1], [plRoute('pl-1', natB)])];
    const p = planPrefixList(input(tables, { desired: [], list: list(['203.0.113.0/24']) }));
    expect(p.listActions).toEqual([{ kind: 'modifyPrefixList', prefixListId: 'pl-1', version: 1, add: [], remove: ['203.0.113.0/24'] }]);
    expect(p.routeActions.map((a) => `${a.kind} ${a.routeTableId} ${a.prefixListId}`)).toEqual(['delete rtb-a pl-1', 'delete rtb-b pl-1']);
    expect(prefixListRouteDeletes(tables, 'pl-1', new Set([natA]))).toHaveLength(1);
  });

  it('routes mode charges a prefix-list route its MaxEntries', () => {
    const tables = [table('rtb-a', AZS[0], [plRoute('pl-1', natA)]), table('rtb-b', AZS[1])];
    const p = planRoutes({
      desired: ['203.0.113.0/24'], targets: targetTables(tables, settings), tables, ourNats, existingNats: ourNats, activeNat,
      failed: new Map(), routeQuota: 20, prefixListWeights: new Map([['pl-1', 20]]),
    });
    expect(p.states.get('203.0.113.0/24')).toMatchObject({ state: 'Pending', reason: 'RouteCapacity' });
    expect(routeWeight(plRoute('pl-1', natA), new Map([['pl-1', 20]]))).toBe(20);
  });
});

describe('resolveExistingRoute: RouteAlreadyExists re-described (docs/static-egress-controller.md#seg-failures)', () => {
  const ours = new Set(['nat-a', 'nat-old']);
  const existing = new Set(['nat-a', 'nat-old', 'nat-x']);
  const t = (routes: RouteTableView['routes']) => table('rtb-a', AZS[0], routes);
  it.each<[string, RouteTableView | undefined, string]>([
    ['ours, right target: success', t([route('203.0.113.0/24', 'nat-a')]), 'ours'],
    ['ours, another of our NATs: replace', t([route('203.0.113.0/24', 'nat-old')]), 'replace'],
    ['ours, blackhole: replace', t([route('203.0.113.0/24', 'nat-a', 'blackhole')]), 'replace'],
    ['blackhole to a NAT gateway that no longer exists: replace', t([route('203.0.113.0/24', 'nat-gone', 'blackhole')]), 'replace'],
    ['gone meanwhile', t([]), 'gone'],
    ['table gone', undefined, 'gone'],
  ])('%s', (_n, table_, kind) => {
    expect(resolveExistingRoute(table_, { cidr: '203.0.113.0/24' }, 'nat-a', ours, existing).kind).toBe(kind);
  });
  it('foreign: Conflict naming table and target', () => {
    const r = resolveExistingRoute(
      t([{ destination: '203.0.113.0/24', otherTarget: 'igw-1', state: 'active', origin: 'CreateRoute' }]), { cidr: '203.0.113.0/24' }, 'nat-a', ours, existing,
    );
    expect(r).toEqual({ kind: 'conflict', message: 'route table rtb-a routes 203.0.113.0/24 to igw-1' });
    expect(resolveExistingRoute(t([route('203.0.113.0/24', 'nat-x')]), { cidr: '203.0.113.0/24' }, 'nat-a', ours, existing).kind).toBe('conflict');
  });
  it('prefix-list routes are matched by list ID', () => {
    const r = t([{ prefixListId: 'pl-1', natGatewayId: 'nat-a', state: 'active', origin: 'CreateRoute' }]);
    expect(resolveExistingRoute(r, { prefixListId: 'pl-1' }, 'nat-a', ours, existing).kind).toBe('ours');
  });
});

describe('vpcDiscoveryError (docs/static-egress-controller.md#seg-vpc)', () => {
  it('names the tag filter and what was found; none for exactly one', () => {
    expect(vpcDiscoveryError('kubernetes.io/cluster/c1', ['vpc-1'])).toBeUndefined();
    expect(vpcDiscoveryError('kubernetes.io/cluster/c1', [])).toBe(
      '--vpc-id is not set and DescribeVpcs filter tag:kubernetes.io/cluster/c1 in [owned, shared] found no VPC, expected exactly 1: ' +
        'set --vpc-id=vpc-<hex> (or STATIC_EGRESS_VPC_ID), or tag exactly one VPC kubernetes.io/cluster/c1=owned|shared',
    );
    expect(vpcDiscoveryError('kubernetes.io/cluster/c1', ['vpc-b', 'vpc-a'])).toContain('found 2 VPCs (vpc-a, vpc-b), expected exactly 1');
  });

  it('with --vpc-id: an ID DescribeVpcs does not find is an error naming the flag and the value', () => {
    expect(vpcDiscoveryError('kubernetes.io/cluster/c1', ['vpc-0a1'], 'vpc-0a1')).toBeUndefined();
    expect(vpcDiscoveryError('kubernetes.io/cluster/c1', [], 'vpc-0a1')).toBe(
      '--vpc-id=vpc-0a1: DescribeVpcs filter vpc-id=vpc-0a1 found no VPC: set --vpc-id (or STATIC_EGRESS_VPC_ID) to a VPC of ' +
        'this account and region, or unset it to use the one VPC tagged kubernetes.io/cluster/c1=owned|shared',
    );
  });
});
