/**
 * The EC2 calls of the static-egress-controller (docs/static-egress-controller.md#seg-aws,
 * #seg-iam): read-only discovery into the plain views of `decide.ts`, and the mutating calls, each
 * counted in `aws_requests_total` / `aws_errors_total`. Endpoints, region and credentials only from the
 * SDK's own settings (`AWS_ENDPOINT_URL*`, `AWS_REGION`, the default credential chain), via the
 * runtime's `awsClientConfig`. With dry run every mutating call is logged as `plan: …` and skipped.
 */
import {
  AllocateAddressCommand,
  CreateManagedPrefixListCommand,
  CreateNatGatewayCommand,
  CreateRouteCommand,
  CreateTagsCommand,
  DeleteManagedPrefixListCommand,
  DeleteNatGatewayCommand,
  DeleteRouteCommand,
  DeleteTagsCommand,
  DescribeAddressesCommand,
  DescribeManagedPrefixListsCommand,
  DescribeNatGatewaysCommand,
  DescribeRouteTablesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  type Filter,
  GetManagedPrefixListEntriesCommand,
  type ManagedPrefixList,
  ModifyManagedPrefixListCommand,
  ReleaseAddressCommand,
  ReplaceRouteCommand,
  type RouteTable,
  type Tag,
} from '@aws-sdk/client-ec2';
import { type Logger, awsClientConfig, awsErrorCode } from '@kubeaws/runtime';
import type { EipView, NatView, PrefixListView, RouteTableView, SubnetView } from './decide';
import type { EgressMetrics } from './metrics';

/**
 * The EC2 error code of a failed SDK call: the service's code when EC2 answered (`awsErrorCode`), and
 * `NetworkError` when no HTTP response came back (connection refused or reset, timeout: the SDK's error then
 * carries `$metadata` without `httpStatusCode`), so such a call is retried like throttling and never taken for
 * EC2 refusing a CIDR (docs/static-egress-controller.md#seg-failures).
 */
export function ec2ErrorCode(err: unknown): string {
  const meta = (err as { $metadata?: { httpStatusCode?: number } } | null | undefined)?.$metadata;
  if (meta && meta.httpStatusCode === undefined && !(err as { Code?: string }).Code) return 'NetworkError';
  return awsErrorCode(err);
}

/** An EC2 error with its code ({@link ec2ErrorCode}) and operation. */
export class Ec2Error extends Error {
  override readonly name = 'Ec2Error';
  constructor(
    readonly operation: string,
    readonly code: string,
    message: string,
  ) {
    super(`${operation}: ${code}: ${message}`);
  }
}

/** Everything discovery reads in one reconcile. */
export interface Observed {
  vpcId: string;
  vpcCidrs: string[];
  subnets: SubnetView[];
  tables: RouteTableView[];
  /** Our NAT gateways (owner tag) in the VPC. */
  nats: NatView[];
  /** IDs of every NAT gateway in the VPC not `deleted`. */
  existingNats: Set<string>;
  eips: EipView[];
  /** Our prefix list (owner and role tags), when one exists and is not deleted. */
  prefixList?: PrefixListView;
}

/** Options of {@link Ec2}. */
export interface Ec2Options {
  clusterId: string;
  ownerTagKey: string;
  additionalTags: Readonly<Record<string, string>>;
  maxAttempts: number;
  concurrency: number;
  dryRun: boolean;
  logger: Logger;
  metrics: EgressMetrics;
  /** Test hook: a prebuilt client. */
  client?: EC2Client;
}

function tagMap(tags: Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key) out[t.Key] = t.Value ?? '';
  return out;
}

/** The plain view of one EC2 route table. */
function tableView(t: RouteTable): RouteTableView {
  return {
    id: t.RouteTableId!,
    tags: tagMap(t.Tags),
    main: (t.Associations ?? []).some((a) => a.Main),
    subnetIds: (t.Associations ?? []).filter((a) => a.SubnetId).map((a) => a.SubnetId!),
    routes: (t.Routes ?? []).map((r) => ({
      destination: r.DestinationCidrBlock ?? r.DestinationIpv6CidrBlock,
      prefixListId: r.DestinationPrefixListId,
      natGatewayId: r.NatGatewayId,
      otherTarget: r.GatewayId ?? r.TransitGatewayId ?? r.NetworkInterfaceId ?? r.VpcPeeringConnectionId ?? r.InstanceId ?? undefined,
      state: r.State === 'blackhole' ? 'blackhole' : 'active',
      origin: r.Origin ?? 'CreateRoute',
    })),
  };
}

/** A small semaphore bounding mutating calls in flight (`--aws-concurrency`). */
class Semaphore {
  private active = 0;
  private waiting: Array<() => void> = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    while (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** EC2 access of one controller process. */
export class Ec2 {
  readonly client: EC2Client;
  private readonly sem: Semaphore;
  /** Entries of the last prefix-list version read in a `*-complete` state (a version's entries are immutable). */
  private prefixListEntries: { id: string; version: number; entries: ReadonlyMap<string, string> } | undefined;

  constructor(private readonly o: Ec2Options) {
    this.client =
      o.client ?? new EC2Client(awsClientConfig({ component: 'static-egress-controller', maxAttempts: o.maxAttempts }));
    this.sem = new Semaphore(o.concurrency);
  }

  /** Tags every created resource carries (docs/static-egress-controller.md#seg-tags). */
  creationTags(role: 'eip' | 'nat-gateway' | 'prefix-list', az?: string): Tag[] {
    const tags: Record<string, string> = {
      ...this.o.additionalTags,
      [this.o.ownerTagKey]: 'owned',
      'kubeaws.io/component': 'static-egress',
      'kubeaws.io/role': role,
      ...(az ? { 'kubeaws.io/az': az } : {}),
      Name: az ? `egress-${this.o.clusterId}-${az}` : `egress-${this.o.clusterId}`,
    };
    return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  }

  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      const out = await fn();
      this.o.metrics.awsRequests.inc({ operation, outcome: 'success' });
      return out;
    } catch (err) {
      const code = ec2ErrorCode(err);
      this.o.metrics.awsRequests.inc({ operation, outcome: 'error' });
      this.o.metrics.awsErrors.inc({ operation, code });
      throw new Ec2Error(operation, code, err instanceof Error ? err.message : String(err));
    }
  }

  private async mutate<T>(operation: string, plan: string, fn: () => Promise<T>): Promise<T | undefined> {
    if (this.o.dryRun) {
      this.o.logger.info({ operation, dryRun: true }, `plan: ${operation} ${plan}`);
      return undefined;
    }
    return this.sem.run(() => this.call(operation, fn));
  }

  /**
   * Start-up discovery (docs/static-egress-controller.md#seg-vpc), paginated: the IDs of the VPCs tagged
   * `<owner tag key>` = `owned` or `shared`, or with `vpcId` the IDs matching that ID (empty when it does not exist).
   */
  async taggedVpcs(vpcId?: string): Promise<string[]> {
    const filter = vpcId ? { Name: 'vpc-id', Values: [vpcId] } : { Name: `tag:${this.o.ownerTagKey}`, Values: ['owned', 'shared'] };
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.call('DescribeVpcs', () => this.client.send(new DescribeVpcsCommand({ Filters: [filter], NextToken: token })));
      for (const v of out.Vpcs ?? []) if (v.VpcId) ids.push(v.VpcId);
      token = out.NextToken;
    } while (token);
    return ids;
  }

  /** The VPC: `vpcId`, or the one tagged `<owner tag key>` (owned or shared). Throws when zero or several. */
  async findVpc(vpcId: string | undefined): Promise<{ vpcId: string; cidrs: string[] }> {
    const filters: Filter[] = vpcId
      ? [{ Name: 'vpc-id', Values: [vpcId] }]
      : [{ Name: `tag:${this.o.ownerTagKey}`, Values: ['owned', 'shared'] }];
    const out = await this.call('DescribeVpcs', () => this.client.send(new DescribeVpcsCommand({ Filters: filters })));
    const vpcs = out.Vpcs ?? [];
    if (vpcs.length !== 1) {
      throw new Ec2Error('DescribeVpcs', 'VPCNotFound', `${vpcs.length} VPCs match ${vpcId ?? `tag ${this.o.ownerTagKey}`}, expected 1`);
    }
    const v = vpcs[0]!;
    const cidrs = (v.CidrBlockAssociationSet ?? [])
      .filter((a) => a.CidrBlockState?.State !== 'disassociated' && a.CidrBlock)
      .map((a) => a.CidrBlock!);
    if (!cidrs.length && v.CidrBlock) cidrs.push(v.CidrBlock);
    return { vpcId: v.VpcId!, cidrs };
  }

  /** One discovery: subnets, route tables, NAT gateways and EIPs (paginated Describe calls). */
  async discover(vpc: { vpcId: string; cidrs: string[] }, byoAllocationIds: readonly string[], withPrefixList = false): Promise<Observed> {
    const vpcFilter = [{ Name: 'vpc-id', Values: [vpc.vpcId] }];
    const subnets: SubnetView[] = [];
    let token: string | undefined;
    do {
      const out = await this.call('DescribeSubnets', () =>
        this.client.send(new DescribeSubnetsCommand({ Filters: vpcFilter, NextToken: token })),
      );
      for (const s of out.Subnets ?? []) {
        subnets.push({ id: s.SubnetId!, az: s.AvailabilityZone ?? '', tags: tagMap(s.Tags), availableIps: s.AvailableIpAddressCount ?? 0 });
      }
      token = out.NextToken;
    } while (token);
    const tables: RouteTableView[] = [];
    do {
      const out = await this.call('DescribeRouteTables', () =>
        this.client.send(new DescribeRouteTablesCommand({ Filters: vpcFilter, NextToken: token })),
      );
      for (const t of out.RouteTables ?? []) tables.push(tableView(t));
      token = out.NextToken;
    } while (token);
    const nats: NatView[] = [];
    const existingNats = new Set<string>();
    do {
      const out = await this.call('DescribeNatGateways', () =>
        this.client.send(new DescribeNatGatewaysCommand({ Filter: vpcFilter, NextToken: token })),
      );
      for (const n of out.NatGateways ?? []) {
        if (n.State !== 'deleted') existingNats.add(n.NatGatewayId!);
        const tags = tagMap(n.Tags);
        if (tags[this.o.ownerTagKey] !== 'owned' || tags['kubeaws.io/component'] !== 'static-egress') continue;
        const addr = n.NatGatewayAddresses?.[0];
        nats.push({
          id: n.NatGatewayId!,
          az: tags['kubeaws.io/az'] ?? subnets.find((s) => s.id === n.SubnetId)?.az ?? '',
          subnetId: n.SubnetId ?? '',
          state: (n.State ?? 'pending') as NatView['state'],
          allocationId: addr?.AllocationId,
          publicIp: addr?.PublicIp,
          createTime: n.CreateTime ? new Date(n.CreateTime).getTime() : 0,
          failureCode: n.FailureCode,
          tags,
        });
      }
      token = out.NextToken;
    } while (token);
    const out = await this.call('DescribeAddresses', () =>
      this.client.send(new DescribeAddressesCommand({ Filters: [{ Name: 'domain', Values: ['vpc'] }] })),
    );
    const byo = new Set(byoAllocationIds);
    const eips: EipView[] = [];
    for (const a of out.Addresses ?? []) {
      const tags = tagMap(a.Tags);
      const owned = tags[this.o.ownerTagKey] === 'owned' && tags['kubeaws.io/component'] === 'static-egress';
      if (!owned && !byo.has(a.AllocationId!)) continue;
      eips.push({
        allocationId: a.AllocationId!,
        publicIp: a.PublicIp ?? '',
        az: tags['kubeaws.io/az'],
        associationId: a.AssociationId,
        byo: !owned,
      });
    }
    // the list is read in prefix-list mode, and in routes mode only while a route of ours still targets one
    const ours = new Set(nats.map((n) => n.id));
    const plRoutes = tables.some((t) => t.routes.some((r) => r.prefixListId && r.natGatewayId && ours.has(r.natGatewayId)));
    const prefixList = withPrefixList || plRoutes ? await this.findPrefixList() : undefined;
    return { vpcId: vpc.vpcId, vpcCidrs: vpc.cidrs, subnets, tables, nats, existingNats, eips, prefixList };
  }

  /**
   * Our prefix list by tags (owner `owned`, `kubeaws.io/role=prefix-list`), with the entries of its current
   * version (docs/static-egress-controller.md#seg-prefix-list). Deleted lists are ignored; of several, the
   * lowest ID.
   */
  async findPrefixList(): Promise<PrefixListView | undefined> {
    // one tag filter: the role and component tags are checked below (moto 5.2 fails with HTTP 500 when a list
    // misses more than one tag filter, e.g. its AWS-managed lists)
    const filters: Filter[] = [{ Name: `tag:${this.o.ownerTagKey}`, Values: ['owned'] }];
    const lists = [];
    let token: string | undefined;
    do {
      const out = await this.call('DescribeManagedPrefixLists', () =>
        this.client.send(new DescribeManagedPrefixListsCommand({ Filters: filters, NextToken: token })),
      );
      lists.push(...(out.PrefixLists ?? []));
      token = out.NextToken;
    } while (token);
    const pl = lists
      .filter((l) => l.PrefixListId && !/^delete-/.test(l.State ?? ''))
      .filter((l) => tagMap(l.Tags)['kubeaws.io/component'] === 'static-egress' && tagMap(l.Tags)['kubeaws.io/role'] === 'prefix-list')
      .sort((a, b) => a.PrefixListId!.localeCompare(b.PrefixListId!))[0];
    if (!pl) return undefined;
    const version = Number(pl.Version ?? 1);
    // a version's entries never change: an unchanged list is not read again (steady state ≤ 6 Describe calls,
    // docs/static-egress-controller.md#seg-aws)
    const cached = this.prefixListEntries;
    if (cached && cached.id === pl.PrefixListId && cached.version === version && /-complete$/.test(pl.State ?? '')) {
      return { ...this.prefixListView(pl, version), entries: cached.entries };
    }
    const entries = new Map<string, string>();
    do {
      const out = await this.call('GetManagedPrefixListEntries', () =>
        this.client.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: pl.PrefixListId!, NextToken: token })),
      );
      for (const e of out.Entries ?? []) if (e.Cidr) entries.set(e.Cidr, e.Description ?? '');
      token = out.NextToken;
    } while (token);
    this.prefixListEntries = /-complete$/.test(pl.State ?? '') ? { id: pl.PrefixListId!, version, entries } : undefined;
    return { ...this.prefixListView(pl, version), entries };
  }

  private prefixListView(pl: ManagedPrefixList, version: number): Omit<PrefixListView, 'entries'> {
    return {
      id: pl.PrefixListId!,
      state: pl.State ?? 'create-complete',
      version,
      maxEntries: Number(pl.MaxEntries ?? 0),
      stateMessage: pl.StateMessage,
    };
  }

  /** CreateManagedPrefixList `egress-<cluster-id>` (IPv4, empty) with the creation tags and a derived ClientToken. */
  createPrefixList(maxEntries: number, token: string): Promise<unknown> {
    const name = `egress-${this.o.clusterId}`;
    return this.mutate('CreateManagedPrefixList', `${name} MaxEntries=${maxEntries}`, () =>
      this.client.send(
        new CreateManagedPrefixListCommand({
          PrefixListName: name,
          AddressFamily: 'IPv4',
          MaxEntries: maxEntries,
          ClientToken: token,
          TagSpecifications: [{ ResourceType: 'prefix-list', Tags: this.creationTags('prefix-list') }],
        }),
      ),
    );
  }

  /** ModifyManagedPrefixList with `CurrentVersion`: entries (AddEntries/RemoveEntries) or MaxEntries (a resize). */
  modifyPrefixList(
    id: string,
    version: number,
    change: { add?: Array<{ cidr: string; description: string }>; remove?: string[]; maxEntries?: number },
  ): Promise<unknown> {
    const plan = change.maxEntries
      ? `${id} v${version} MaxEntries=${change.maxEntries}`
      : `${id} v${version} +${(change.add ?? []).map((e) => e.cidr).join(',')} -${(change.remove ?? []).join(',')}`;
    return this.mutate('ModifyManagedPrefixList', plan, () =>
      this.client.send(
        new ModifyManagedPrefixListCommand({
          PrefixListId: id,
          CurrentVersion: version,
          PrefixListName: `egress-${this.o.clusterId}`,
          ...(change.maxEntries
            ? { MaxEntries: change.maxEntries }
            : {
                AddEntries: change.add?.length ? change.add.map((e) => ({ Cidr: e.cidr, Description: e.description })) : undefined,
                RemoveEntries: change.remove?.length ? change.remove.map((Cidr) => ({ Cidr })) : undefined,
              }),
        }),
      ),
    );
  }

  /** DeleteManagedPrefixList (teardown). */
  deletePrefixList(id: string): Promise<unknown> {
    return this.mutate('DeleteManagedPrefixList', id, () => this.client.send(new DeleteManagedPrefixListCommand({ PrefixListId: id })));
  }

  /** CreateRoute / ReplaceRoute / DeleteRoute with `DestinationPrefixListId`. */
  prefixListRoute(kind: 'create' | 'replace' | 'delete', routeTableId: string, prefixListId: string, natGatewayId?: string): Promise<unknown> {
    const op = kind === 'create' ? 'CreateRoute' : kind === 'replace' ? 'ReplaceRoute' : 'DeleteRoute';
    const input = { RouteTableId: routeTableId, DestinationPrefixListId: prefixListId, ...(kind === 'delete' ? {} : { NatGatewayId: natGatewayId }) };
    return this.mutate(op, `${routeTableId} ${prefixListId}${natGatewayId && kind !== 'delete' ? ` -> ${natGatewayId}` : ''}`, () =>
      this.client.send(
        kind === 'create' ? new CreateRouteCommand(input) : kind === 'replace' ? new ReplaceRouteCommand(input) : new DeleteRouteCommand(input),
      ),
    );
  }

  /** One route table, re-described (after `RouteAlreadyExists`, docs/static-egress-controller.md#seg-failures). */
  async describeRouteTable(routeTableId: string): Promise<RouteTableView | undefined> {
    const out = await this.call('DescribeRouteTables', () =>
      this.client.send(new DescribeRouteTablesCommand({ RouteTableIds: [routeTableId] })),
    );
    const t = out.RouteTables?.[0];
    return t ? tableView(t) : undefined;
  }

  /** AllocateAddress{Domain: vpc} with the creation tags. */
  allocateAddress(az: string): Promise<unknown> {
    return this.mutate('AllocateAddress', az, () =>
      this.client.send(
        new AllocateAddressCommand({ Domain: 'vpc', TagSpecifications: [{ ResourceType: 'elastic-ip', Tags: this.creationTags('eip', az) }] }),
      ),
    );
  }

  /** CreateNatGateway (public) on `allocationId` in `subnetId`, with a derived ClientToken. */
  createNatGateway(az: string, subnetId: string, allocationId: string, token: string): Promise<unknown> {
    return this.mutate('CreateNatGateway', `${az} ${subnetId} ${allocationId}`, () =>
      this.client.send(
        new CreateNatGatewayCommand({
          SubnetId: subnetId,
          AllocationId: allocationId,
          ConnectivityType: 'public',
          ClientToken: token,
          TagSpecifications: [{ ResourceType: 'natgateway', Tags: this.creationTags('nat-gateway', az) }],
        }),
      ),
    );
  }

  /** DeleteNatGateway. */
  deleteNatGateway(id: string): Promise<unknown> {
    return this.mutate('DeleteNatGateway', id, () => this.client.send(new DeleteNatGatewayCommand({ NatGatewayId: id })));
  }

  /** ReleaseAddress. */
  releaseAddress(allocationId: string): Promise<unknown> {
    return this.mutate('ReleaseAddress', allocationId, () =>
      this.client.send(new ReleaseAddressCommand({ AllocationId: allocationId })),
    );
  }

  /** Sets or removes `kubeaws.io/idle-since` on a NAT gateway. */
  tagIdle(id: string, since: string | undefined): Promise<unknown> {
    if (since === undefined) {
      return this.mutate('DeleteTags', `${id} kubeaws.io/idle-since`, () =>
        this.client.send(new DeleteTagsCommand({ Resources: [id], Tags: [{ Key: 'kubeaws.io/idle-since' }] })),
      );
    }
    return this.mutate('CreateTags', `${id} kubeaws.io/idle-since=${since}`, () =>
      this.client.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'kubeaws.io/idle-since', Value: since }] })),
    );
  }

  /** CreateRoute / ReplaceRoute `cidr` -> `natGatewayId`, or DeleteRoute. */
  route(kind: 'create' | 'replace' | 'delete', routeTableId: string, cidr: string, natGatewayId?: string): Promise<unknown> {
    if (kind === 'delete') {
      return this.mutate('DeleteRoute', `${routeTableId} ${cidr}`, () =>
        this.client.send(new DeleteRouteCommand({ RouteTableId: routeTableId, DestinationCidrBlock: cidr })),
      );
    }
    const input = { RouteTableId: routeTableId, DestinationCidrBlock: cidr, NatGatewayId: natGatewayId };
    return kind === 'create'
      ? this.mutate('CreateRoute', `${routeTableId} ${cidr} -> ${natGatewayId}`, () => this.client.send(new CreateRouteCommand(input)))
      : this.mutate('ReplaceRoute', `${routeTableId} ${cidr} -> ${natGatewayId}`, () => this.client.send(new ReplaceRouteCommand(input)));
  }
}

/**
 * Every EC2 action {@link Ec2} calls (docs/static-egress-controller.md#seg-iam); the infra tests check that
 * the IAM policy rendered for the controller's role allows exactly these.
 */
export const EGRESS_IAM_ACTIONS = [
  'ec2:DescribeVpcs',
  'ec2:DescribeSubnets',
  'ec2:DescribeRouteTables',
  'ec2:DescribeAddresses',
  'ec2:DescribeNatGateways',
  'ec2:DescribeManagedPrefixLists',
  'ec2:GetManagedPrefixListEntries',
  'ec2:AllocateAddress',
  'ec2:CreateNatGateway',
  'ec2:CreateManagedPrefixList',
  'ec2:ModifyManagedPrefixList',
  'ec2:DeleteManagedPrefixList',
  'ec2:CreateTags',
  'ec2:DeleteTags',
  'ec2:DeleteNatGateway',
  'ec2:ReleaseAddress',
  'ec2:CreateRoute',
  'ec2:ReplaceRoute',
  'ec2:DeleteRoute',
] as const;
