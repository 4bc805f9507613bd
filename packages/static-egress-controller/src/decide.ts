/**
 * Every decision of the static-egress-controller as a pure function of plain inputs: the desired set
 * from the ConfigMaps (docs/static-egress-controller.md#seg-desired), the Elastic IP and NAT gateway plan
 * per AZ (#seg-make-before-break, #seg-retention), the route plan with admission, capacity and conflicts
 * (#seg-admission), ClientTokens (#seg-idempotency), AWS error classes (#seg-failures) and the status
 * document (#seg-status). No I/O, no clock: `now` is an argument.
 */
import { createHash } from 'node:crypto';
import { cidrContains, cidrsOverlap, parseCidr } from '@kubeaws/runtime';
import { type RejectDetail, type RejectReason, validateValue } from './validate';

// ---------------------------------------------------------------------------------------------------
// Input: ConfigMaps -> sources -> desired set

/** The part of a ConfigMap the controller reads. */
export interface InputConfigMap {
  metadata: { namespace?: string; name?: string; uid?: string };
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

/** A rejected or warned value (docs/static-egress-controller.md#seg-bad-input). */
export interface SourceProblem {
  /** `<namespace>/<name>/<key>`. */
  source: string;
  namespace: string;
  name: string;
  key: string;
  value: string;
  /** Event reason: `InvalidCIDR`, `CIDRRejected`, `HostBitsSet` or `UnsupportedBinaryData`. */
  reason: RejectReason | 'HostBitsSet' | 'UnsupportedBinaryData';
  detail?: RejectDetail;
  /** The valid form (or, for HostBitsSet, the network applied). */
  expected: string;
}

/** Result of {@link collectSources}. */
export interface Sources {
  /** Valid CIDR (canonical) -> its sources, sorted. */
  cidrs: Map<string, string[]>;
  /** Rejected values (left out) and warnings (HostBitsSet: applied normalised; binaryData: ignored). */
  problems: SourceProblem[];
}

/**
 * Reads every value of every input ConfigMap as one source `<namespace>/<name>/<key>`, validates it
 * (`validate.ts`) and groups the valid ones by CIDR (reference counting: a CIDR stays while any source
 * names it). A bad value quarantines only its own source (docs/static-egress-controller.md#seg-validation).
 */
export function collectSources(
  configMaps: Iterable<InputConfigMap>,
  opts: { minPrefixLength: number; vpcCidrs: readonly string[] },
): Sources {
  const cidrs = new Map<string, string[]>();
  const problems: SourceProblem[] = [];
  // many sources name the same few CIDRs: validate each distinct value once per call
  const results = new Map<string, ReturnType<typeof validateValue>>();
  for (const cm of configMaps) {
    const namespace = cm.metadata.namespace ?? '';
    const name = cm.metadata.name ?? '';
    for (const key of Object.keys(cm.binaryData ?? {}).sort()) {
      problems.push({
        source: `${namespace}/${name}/${key}`, namespace, name, key, value: '<binary>',
        reason: 'UnsupportedBinaryData', expected: 'CIDRs under data, not binaryData',
      });
    }
    for (const key of Object.keys(cm.data ?? {}).sort()) {
      const value = cm.data![key]!;
      const source = `${namespace}/${name}/${key}`;
      let r = results.get(value);
      if (!r) results.set(value, (r = validateValue(value, opts)));
      if (!r.ok) {
        problems.push({ source, namespace, name, key, value, reason: r.reason, detail: r.detail, expected: r.expected });
        continue;
      }
      if (r.hostBitsSet) {
        problems.push({ source, namespace, name, key, value, reason: 'HostBitsSet', expected: `applied as ${r.cidr}` });
      }
      const list = cidrs.get(r.cidr) ?? [];
      list.push(source);
      cidrs.set(r.cidr, list);
    }
  }
  for (const l of cidrs.values()) l.sort();
  return { cidrs, problems };
}

/** Numeric sort key of an IPv4 CIDR: network address as an unsigned integer, then prefix length. */
function sortKey(cidr: string): [number, number] {
  const c = parseCidr(cidr, { family: 'ipv4' });
  const n = c.address.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return [n, c.prefixLength];
}

/** Compares IPv4 CIDRs by (network address, prefix length). */
export function compareCidrs(a: string, b: string): number {
  const [x, p] = sortKey(a);
  const [y, q] = sortKey(b);
  return x - y || p - q;
}

/**
 * The desired set (docs/static-egress-controller.md#seg-desired): the valid CIDRs minus those contained in
 * another one, sorted by (network address, prefix length). Adjacent blocks are not merged.
 */
export function desiredSet(cidrs: Iterable<string>): string[] {
  const sorted = [...new Set(cidrs)].sort(compareCidrs);
  // sorted by address then prefix: a container precedes what it contains, and contained blocks follow it
  const out: string[] = [];
  for (const c of sorted) {
    const last = out[out.length - 1];
    if (last && cidrContains(last, c)) continue;
    out.push(c);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Observed AWS state (plain views built by ec2.ts)

/** A route of a route table (EC2 `Route`). */
export interface RouteView {
  destination?: string;
  prefixListId?: string;
  natGatewayId?: string;
  /** Any other target (igw-, tgw-, eni-, pcx-, local …) as one id. */
  otherTarget?: string;
  state: 'active' | 'blackhole';
  /** `CreateRouteTable` (local), `CreateRoute`, `EnableVgwRoutePropagation`. */
  origin: string;
}

/** A route table of the VPC. */
export interface RouteTableView {
  id: string;
  tags: Record<string, string>;
  routes: RouteView[];
  /** Subnets explicitly associated. */
  subnetIds: string[];
  main: boolean;
}

/** A NAT gateway of ours (owner tag) in the VPC. */
export interface NatView {
  id: string;
  az: string;
  subnetId: string;
  state: 'pending' | 'available' | 'failed' | 'deleting' | 'deleted';
  allocationId?: string;
  publicIp?: string;
  /** ms since epoch. */
  createTime: number;
  failureCode?: string;
  tags: Record<string, string>;
}

/** An Elastic IP of ours (owner and component tags) or a bring-your-own one. */
export interface EipView {
  allocationId: string;
  publicIp: string;
  /** `kubeaws.io/az` tag, or the AZ it was listed for (BYO). */
  az?: string;
  associationId?: string;
  byo: boolean;
}

/** A subnet of the VPC. */
export interface SubnetView {
  id: string;
  az: string;
  tags: Record<string, string>;
  availableIps: number;
}

// ---------------------------------------------------------------------------------------------------
// Infrastructure per AZ: target tables, NAT subnets, EIPs, NAT gateways

/** Settings the planners need (from the flags). */
export interface PlanSettings {
  clusterId: string;
  availabilityZones: readonly string[];
  routeTableSelector: Readonly<Record<string, string>>;
  routeTableAzTag: string;
  natSubnetSelector: Readonly<Record<string, string>>;
  /** AZ -> BYO allocation ID. */
  byoEips: Readonly<Record<string, string>>;
  eipRetention: 'retain' | 'release';
  natRetention: 'retain' | 'delete';
  natIdleGraceMs: number;
  routeQuota: number;
}

/** Tag key of the owner tag, e.g. `kubernetes.io/cluster/c1`. */
export const IDLE_SINCE_TAG = 'kubeaws.io/idle-since';

function matches(tags: Record<string, string>, selector: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([k, v]) => tags[k] === v);
}

/** Target tables by AZ and the skipped ones (docs/static-egress-controller.md#seg-route-tables). */
export interface Targets {
  byAz: Map<string, RouteTableView[]>;
  /** Selected tables without an AZ tag or with an unconfigured AZ: id -> reason. */
  skipped: Map<string, string>;
}

/** Selects the target route tables: selector tags (AND), AZ from `--route-table-az-tag`, configured AZs only. */
export function targetTables(tables: readonly RouteTableView[], s: PlanSettings): Targets {
  const byAz = new Map<string, RouteTableView[]>(s.availabilityZones.map((az) => [az, []]));
  const skipped = new Map<string, string>();
  for (const t of [...tables].sort((a, b) => a.id.localeCompare(b.id))) {
    if (!matches(t.tags, s.routeTableSelector)) continue;
    const az = t.tags[s.routeTableAzTag];
    if (!az) skipped.set(t.id, `no ${s.routeTableAzTag} tag`);
    else if (!byAz.has(az)) skipped.set(t.id, `AZ ${az} is not in --availability-zones`);
    else byAz.get(az)!.push(t);
  }
  return { byAz, skipped };
}

/**
 * The NAT subnet of each AZ, or why the AZ is not ready (docs/static-egress-controller.md#seg-az-ready):
 * exactly one subnet with the selector tags and a free address, whose route table (explicit or main)
 * sends 0.0.0.0/0 to an internet gateway and is not a target table.
 */
export function natSubnets(
  subnets: readonly SubnetView[],
  tables: readonly RouteTableView[],
  targets: Targets,
  s: PlanSettings,
): Map<string, { subnetId: string } | { notReady: string }> {
  const targetIds = new Set([...targets.byAz.values()].flat().map((t) => t.id));
  const main = tables.find((t) => t.main);
  const out = new Map<string, { subnetId: string } | { notReady: string }>();
  for (const az of s.availabilityZones) {
    const cands = subnets.filter((n) => n.az === az && matches(n.tags, s.natSubnetSelector));
    if (cands.length !== 1) {
      out.set(az, { notReady: `${cands.length} subnets tagged ${selectorText(s.natSubnetSelector)} in ${az}, expected 1` });
      continue;
    }
    const sn = cands[0]!;
    if (sn.availableIps < 1) {
      out.set(az, { notReady: `subnet ${sn.id} has no free address` });
      continue;
    }
    const rt = tables.find((t) => t.subnetIds.includes(sn.id)) ?? main;
    if (!rt || !rt.routes.some((r) => r.destination === '0.0.0.0/0' && r.otherTarget?.startsWith('igw-') && r.state === 'active')) {
      out.set(az, { notReady: `subnet ${sn.id} has no route 0.0.0.0/0 to an internet gateway` });
      continue;
    }
    if (targetIds.has(rt.id)) {
      out.set(az, { notReady: `subnet ${sn.id} uses target route table ${rt.id}: traffic would loop` });
      continue;
    }
    out.set(az, { subnetId: sn.id });
  }
  return out;
}

/** `k=v,k2=v2`. */
export function selectorText(sel: Readonly<Record<string, string>>): string {
  return Object.entries(sel)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/**
 * The ClientToken of a create (docs/static-egress-controller.md#seg-idempotency): the first 64 hex
 * characters of SHA-256 over the `|`-joined parts, e.g. `[clusterId, az, allocationId, subnetId, attempt]`.
 */
export function clientToken(parts: ReadonlyArray<string | number>): string {
  return createHash('sha256').update(parts.join('|')).digest('hex').slice(0, 64);
}

/** One step of the infrastructure plan, in execution order. */
export type InfraAction =
  | { kind: 'allocateAddress'; az: string }
  | { kind: 'createNatGateway'; az: string; subnetId: string; allocationId: string }
  | { kind: 'deleteNatGateway'; az: string; natGatewayId: string; why: 'failed' | 'surplus' | 'idle' | 'az-removed' }
  | { kind: 'tagIdle'; natGatewayId: string; since: string }
  | { kind: 'untagIdle'; natGatewayId: string }
  | { kind: 'releaseAddress'; az?: string; allocationId: string };

/** Per-AZ state reported in the status (docs/static-egress-controller.md#seg-status). */
export interface ZoneState {
  publicIp?: string;
  allocationId?: string;
  natGatewayId?: string;
  /** NAT gateway state, or `AZNotReady`, `WaitingForEIP`. */
  state: string;
  reason?: string;
}

/** Result of {@link natRouteUse}. */
export interface NatRouteUse {
  /** natGatewayId -> number of routes of the VPC that target it. */
  routesByNat: Map<string, number>;
  /** natGatewayId -> the routes targeting it that the controller never deletes, as `<route table> <destination>`. */
  keptRoutesByNat: Map<string, string[]>;
}

/**
 * Which routes of the VPC target which NAT gateway (docs/static-egress-controller.md#seg-retention). Of the routes
 * to one of our NAT gateways (`ourNats`), the controller deletes those with a CIDR destination once it is no longer
 * desired, and those to its own prefix list (`ownPrefixListId`); any other one, e.g. a route of another
 * team's prefix list to the gateway, is never touched and keeps an idle gateway from being deleted.
 */
export function natRouteUse(tables: readonly RouteTableView[], ourNats: ReadonlySet<string>, ownPrefixListId?: string): NatRouteUse {
  const routesByNat = new Map<string, number>();
  const keptRoutesByNat = new Map<string, string[]>();
  for (const t of tables) {
    for (const r of t.routes) {
      if (!r.natGatewayId) continue;
      routesByNat.set(r.natGatewayId, (routesByNat.get(r.natGatewayId) ?? 0) + 1);
      if (!ourNats.has(r.natGatewayId) || r.destination || (r.prefixListId && r.prefixListId === ownPrefixListId)) continue;
      const list = keptRoutesByNat.get(r.natGatewayId) ?? [];
      list.push(`${t.id} ${r.prefixListId ?? 'unknown destination'}`);
      keptRoutesByNat.set(r.natGatewayId, list);
    }
  }
  return { routesByNat, keptRoutesByNat };
}

/** Result of {@link planInfra}. */
export interface InfraPlan {
  actions: InfraAction[];
  /** The NAT gateway routes of each configured AZ point at, when `available`. */
  activeNat: Map<string, string>;
  zones: Map<string, ZoneState>;
  /** Surplus owned EIPs per AZ (reported as DuplicateElasticIP, never used or released). */
  duplicateEips: EipView[];
  surplusNats: number;
  /** Some NAT gateway is pending or deleting: requeue after --poll-interval. */
  inTransition: boolean;
  /** Warnings to report on the status ConfigMap: reason -> messages. */
  warnings: Array<{ reason: string; message: string; az?: string }>;
}

/** Inputs of {@link planInfra}. */
export interface InfraInput {
  nats: readonly NatView[];
  eips: readonly EipView[];
  subnets: Map<string, { subnetId: string } | { notReady: string }>;
  /** Every route of the VPC that targets a NAT gateway: natGatewayId -> number of routes. */
  routesByNat: ReadonlyMap<string, number>;
  /**
   * The routes of {@link routesByNat} that the controller never deletes (see {@link natRouteUse}):
   * natGatewayId -> `<route table> <destination>` each. An idle NAT gateway past the grace that one of these
   * targets is kept with Warning `NATGatewayInUse`; absent = none.
   */
  keptRoutesByNat?: ReadonlyMap<string, readonly string[]>;
  /** Desired set not empty. */
  wanted: boolean;
  /** AZs where EIP allocation hit AddressLimitExceeded (kept until the next success). */
  eipQuotaExceeded: boolean;
  /** `--teardown`: nothing is desired and NAT gateways go without the idle grace (docs/static-egress-controller.md#seg-teardown). */
  teardown?: boolean;
  now: number;
}

/**
 * Plans EIPs and NAT gateways (docs/static-egress-controller.md#seg-make-before-break, #seg-retention):
 * one EIP per configured AZ (tagged or BYO) first, from the first desired CIDR on; NAT gateways only once every AZ has its EIP; a failed
 * NAT gateway is deleted and replaced on the same EIP; a surplus NAT gateway without routes is deleted;
 * idle NAT gateways are tagged and, after the grace and with `delete` retention, deleted once no route of
 * the VPC targets them; one that a route the controller does not delete still targets is kept with Warning
 * `NATGatewayInUse`; EIPs of deleted NAT gateways are released only with `release` retention.
 */
export function planInfra(input: InfraInput, s: PlanSettings): InfraPlan {
  const actions: InfraAction[] = [];
  const zones = new Map<string, ZoneState>();
  const activeNat = new Map<string, string>();
  const warnings: InfraPlan['warnings'] = [];
  const duplicateEips: EipView[] = [];
  let surplusNats = 0;
  let inTransition = false;
  const used = (id: string) => (input.routesByNat.get(id) ?? 0) > 0;
  const eipOf = new Map<string, EipView>();
  const eipInUse = new Set(input.nats.filter((n) => n.state === 'pending' || n.state === 'available').map((n) => n.allocationId));

  for (const az of s.availabilityZones) {
    const byo = s.byoEips[az];
    let eip: EipView | undefined;
    if (byo) eip = input.eips.find((e) => e.allocationId === byo);
    else {
      const own = input.eips
        .filter((e) => !e.byo && e.az === az)
        .sort((a, b) => Number(eipInUse.has(b.allocationId)) - Number(eipInUse.has(a.allocationId)) || a.allocationId.localeCompare(b.allocationId));
      eip = own[0];
      duplicateEips.push(...own.slice(1));
    }
    if (eip) eipOf.set(az, eip);
    else if (byo) warnings.push({ reason: 'AZNotReady', az, message: `Elastic IP ${byo} listed for ${az} does not exist` });
    else if (!input.eipQuotaExceeded && input.wanted) actions.push({ kind: 'allocateAddress', az }); // first CIDR allocates
  }
  const allEips = s.availabilityZones.every((az) => eipOf.has(az));

  for (const az of s.availabilityZones) {
    const eip = eipOf.get(az);
    const sub = input.subnets.get(az);
    const live = input.nats
      .filter((n) => n.az === az && (n.state === 'pending' || n.state === 'available'))
      .sort((a, b) => Number(used(b.id)) - Number(used(a.id)) || a.createTime - b.createTime || a.id.localeCompare(b.id));
    const failed = input.nats.filter((n) => n.az === az && n.state === 'failed');
    for (const f of failed) {
      warnings.push({ reason: 'NATGatewayFailed', az, message: `NAT gateway ${f.id} in ${az} failed: ${f.failureCode ?? 'unknown'}` });
      actions.push({ kind: 'deleteNatGateway', az, natGatewayId: f.id, why: 'failed' });
    }
    if (input.nats.some((n) => n.az === az && n.state === 'deleting')) inTransition = true;
    const keep = live[0];
    for (const extra of live.slice(1)) {
      surplusNats++;
      if (!used(extra.id) && extra.state === 'available') actions.push({ kind: 'deleteNatGateway', az, natGatewayId: extra.id, why: 'surplus' });
    }
    const zone: ZoneState = { publicIp: eip?.publicIp, allocationId: eip?.allocationId, state: 'WaitingForEIP' };
    if (sub && 'notReady' in sub) {
      zone.state = 'AZNotReady';
      zone.reason = sub.notReady;
      warnings.push({ reason: 'AZNotReady', az, message: `${az}: ${sub.notReady}` });
    }
    if (keep) {
      zone.natGatewayId = keep.id;
      zone.state = keep.state;
      zone.publicIp = keep.publicIp ?? zone.publicIp;
      if (keep.state === 'available') activeNat.set(az, keep.id);
      else inTransition = true;
    } else if (allEips && eip && sub && 'subnetId' in sub && (input.wanted || failed.length > 0)) {
      actions.push({ kind: 'createNatGateway', az, subnetId: sub.subnetId, allocationId: eip.allocationId });
      zone.state = 'pending';
      inTransition = true;
    }
    zones.set(az, zone);
  }

  // idle handling: NAT gateways of configured AZs while nothing is desired, and of removed AZs
  const configured = new Set(s.availabilityZones);
  for (const n of input.nats) {
    if (n.state !== 'available' && n.state !== 'pending') continue;
    const removedAz = !configured.has(n.az);
    if (!removedAz && input.wanted) {
      if (n.tags[IDLE_SINCE_TAG]) actions.push({ kind: 'untagIdle', natGatewayId: n.id });
      continue;
    }
    if (input.teardown) {
      // routes go first; delete after they are gone
      if (n.state === 'available' && !used(n.id)) actions.push({ kind: 'deleteNatGateway', az: n.az, natGatewayId: n.id, why: 'idle' });
      continue;
    }
    // the grace counts from when nothing is desired, whatever still routes to the gateway
    const since = Date.parse(n.tags[IDLE_SINCE_TAG] ?? '');
    if (Number.isNaN(since)) {
      actions.push({ kind: 'tagIdle', natGatewayId: n.id, since: new Date(input.now).toISOString().replace(/\.\d{3}Z$/, 'Z') });
      continue;
    }
    if (s.natRetention !== 'delete' || input.now - since < s.natIdleGraceMs || n.state !== 'available') continue;
    if (!used(n.id)) {
      actions.push({ kind: 'deleteNatGateway', az: n.az, natGatewayId: n.id, why: removedAz ? 'az-removed' : 'idle' });
      continue;
    }
    // routes the controller deletes itself go this round and the gateway with the next; others keep it
    const kept = input.keptRoutesByNat?.get(n.id) ?? [];
    if (kept.length) {
      warnings.push({
        reason: 'NATGatewayInUse',
        az: n.az,
        message:
          `NAT gateway ${n.id} in ${n.az} idle since ${n.tags[IDLE_SINCE_TAG]} is kept past --nat-idle-grace: ` +
          `routes not managed by this controller target it (${[...kept].sort().join(', ')}); delete them to let it go`,
      });
    }
  }
  // EIP release: owned EIPs with no live NAT on them, only with release retention and nothing desired there
  if (s.eipRetention === 'release') {
    for (const e of input.eips) {
      if (e.byo || e.associationId || eipInUse.has(e.allocationId)) continue;
      const azConfigured = e.az !== undefined && configured.has(e.az);
      const natGone = !input.nats.some((n) => n.allocationId === e.allocationId && n.state !== 'deleted');
      if (natGone && (!input.wanted || !azConfigured) && input.nats.some((n) => n.allocationId === e.allocationId)) {
        actions.push({ kind: 'releaseAddress', az: e.az, allocationId: e.allocationId });
      }
    }
  }
  for (const d of duplicateEips) {
    warnings.push({ reason: 'DuplicateElasticIP', az: d.az, message: `surplus Elastic IP ${d.allocationId} (${d.publicIp}) in ${d.az}: not used, not released` });
  }
  return { actions, activeNat, zones, duplicateEips, surplusNats, inTransition, warnings };
}

// ---------------------------------------------------------------------------------------------------
// Routes: admission, capacity, conflicts, make-before-break

/** A CIDR's state (docs/static-egress-controller.md#seg-cidr-states). */
export type CidrState =
  | { state: 'Applied' }
  | { state: 'Degraded'; reason: string }
  | {
      state: 'Pending';
      reason: 'WaitingForNATGateway' | 'RouteCapacity' | 'EIPQuotaExceeded' | 'AZNotReady' | 'PrefixListFull' | 'WaitingForPrefixList';
      message: string;
    }
  | { state: 'Conflict'; message: string }
  | { state: 'Failed'; code: string };

/** One route mutation. */
export interface RouteAction {
  kind: 'create' | 'replace' | 'delete';
  routeTableId: string;
  cidr: string;
  /** Target for create/replace. */
  natGatewayId?: string;
  /** For make-before-break ordering: deletes run after every create and replace. */
  az?: string;
  /** A prefix-list route (`cidr` then holds the list ID): `DestinationPrefixListId` instead of a CIDR. */
  prefixListId?: string;
}

/** Inputs of {@link planRoutes}. */
export interface RouteInput {
  desired: readonly string[];
  targets: Targets;
  /** Every route table of the VPC (for our routes in tables that are no longer targets). */
  tables: readonly RouteTableView[];
  /** IDs of all our NAT gateways in any state. */
  ourNats: ReadonlySet<string>;
  /** IDs of every NAT gateway that exists in the VPC (ours or not), any state but deleted. */
  existingNats: ReadonlySet<string>;
  /** NAT gateway per configured AZ that routes should target (available only). */
  activeNat: ReadonlyMap<string, string>;
  /** Why new CIDRs cannot be admitted at all (EIP quota, AZ not ready), if so. */
  blocked?: { reason: 'EIPQuotaExceeded' | 'AZNotReady'; message: string };
  /** CIDRs that failed with a non-retryable code and must not be retried yet: cidr -> code. */
  failed: ReadonlyMap<string, string>;
  routeQuota: number;
  /** MaxEntries of known prefix lists: a route to one weighs that much (docs/static-egress-controller.md#seg-prefix-list). */
  prefixListWeights?: ReadonlyMap<string, number>;
}

/** Result of {@link planRoutes}. */
export interface RoutePlan {
  /** Creates and replaces in sort order, then deletes. */
  actions: RouteAction[];
  states: Map<string, CidrState>;
  /** Remaining capacity per target table after the plan. */
  headroom: Map<string, number>;
  /** Creates were short of capacity while deletes free some: plan again after executing. */
  again: boolean;
}

/** True for a route of ours: its target is one of our NAT gateways. */
function isOurs(r: RouteView, ourNats: ReadonlySet<string>): boolean {
  return !!r.natGatewayId && ourNats.has(r.natGatewayId);
}

/** A blackhole route to a NAT gateway that no longer exists can be taken over. */
function isStale(r: RouteView, existing: ReadonlySet<string>): boolean {
  return r.state === 'blackhole' && !!r.natGatewayId && !existing.has(r.natGatewayId);
}

/**
 * Weight of a route against the route quota: non-propagated, non-local IPv4 routes count 1, a prefix-list
 * route counts the list's MaxEntries when known (docs/static-egress-controller.md#seg-prefix-list).
 */
export function routeWeight(r: RouteView, prefixListWeights?: ReadonlyMap<string, number>): number {
  if (r.origin === 'CreateRouteTable' || r.origin === 'EnableVgwRoutePropagation') return 0;
  if (r.destination && !r.destination.includes(':')) return 1;
  return r.prefixListId ? (prefixListWeights?.get(r.prefixListId) ?? 1) : 0;
}

/**
 * Plans the route calls of one reconcile (docs/static-egress-controller.md#seg-admission,
 * #seg-make-before-break): for each desired CIDR in sort order, an already routed one (some table holds
 * our route) is completed where capacity allows and otherwise `Degraded`, never withdrawn; a new one is
 * admitted only when every configured AZ has an available NAT gateway, no target table holds a foreign
 * overlapping route, and every target table has room. Replaces fix our routes with the wrong NAT gateway,
 * blackholes and stale routes. Deletes (undesired CIDRs, tables no longer targets) come last, and a
 * deleted route overlapping a desired CIDR waits until that CIDR is routed everywhere.
 */
export function planRoutes(input: RouteInput): RoutePlan {
  const { targets, ourNats } = input;
  const tables = [...targets.byAz.entries()].flatMap(([az, ts]) => ts.map((t) => ({ az, t })));
  const headroom = new Map<string, number>();
  for (const { t } of tables) headroom.set(t.id, input.routeQuota - t.routes.reduce((a, r) => a + routeWeight(r, input.prefixListWeights), 0));
  const actions: RouteAction[] = [];
  const states = new Map<string, CidrState>();
  const routedEverywhere = new Set<string>();
  let shortOfCapacity = false;
  const allNats = [...targets.byAz.keys()].every((az) => input.activeNat.has(az));

  for (const cidr of input.desired) {
    const failedCode = input.failed.get(cidr);
    const per = tables.map(({ az, t }) => {
      const exact = t.routes.find((r) => r.destination === cidr);
      const want = input.activeNat.get(az);
      const foreign = t.routes.find(
        (r) =>
          r.destination &&
          r.destination !== '0.0.0.0/0' &&
          !r.destination.includes(':') &&
          r.state === 'active' &&
          !isOurs(r, ourNats) &&
          r.origin !== 'CreateRouteTable' &&
          cidrsOverlap(r.destination, cidr),
      );
      return { az, t, exact, want, foreign };
    });
    const routedSomewhere = per.some((p) => p.exact && isOurs(p.exact, ourNats));
    const conflict = per.find((p) => p.foreign && !(p.exact === p.foreign && isStale(p.exact, input.existingNats)));
    if (!routedSomewhere) {
      if (failedCode) {
        states.set(cidr, { state: 'Failed', code: failedCode });
        continue;
      }
      if (conflict) {
        const target = conflict.foreign!.natGatewayId ?? conflict.foreign!.otherTarget ?? 'unknown';
        states.set(cidr, {
          state: 'Conflict',
          message: `route table ${conflict.t.id} routes ${conflict.foreign!.destination} to ${target}`,
        });
        continue;
      }
      if (input.blocked) {
        states.set(cidr, { state: 'Pending', reason: input.blocked.reason, message: input.blocked.message });
        continue;
      }
      if (!allNats) {
        states.set(cidr, { state: 'Pending', reason: 'WaitingForNATGateway', message: 'a NAT gateway is not available yet' });
        continue;
      }
      const full = per.find((p) => !p.exact && (headroom.get(p.t.id) ?? 0) < 1);
      if (full) {
        shortOfCapacity = true;
        states.set(cidr, {
          state: 'Pending',
          reason: 'RouteCapacity',
          message: `route table ${full.t.id} is full (${input.routeQuota - (headroom.get(full.t.id) ?? 0)}/${input.routeQuota})`,
        });
        continue;
      }
    }
    // admitted (new) or already routed: create missing, replace wrong targets
    let complete = true;
    for (const p of per) {
      if (!p.want) {
        if (!(p.exact && isOurs(p.exact, ourNats) && p.exact.state === 'active')) complete = false;
        continue;
      }
      if (!p.exact) {
        if (p.foreign || (headroom.get(p.t.id) ?? 0) < 1) {
          complete = false;
          if (!p.foreign) shortOfCapacity = true;
          continue;
        }
        headroom.set(p.t.id, headroom.get(p.t.id)! - 1);
        actions.push({ kind: 'create', routeTableId: p.t.id, cidr, natGatewayId: p.want, az: p.az });
      } else if (isOurs(p.exact, ourNats) || isStale(p.exact, input.existingNats) || p.exact.state === 'blackhole') {
        if (p.exact.natGatewayId !== p.want || p.exact.state === 'blackhole') {
          if (!isOurs(p.exact, ourNats) && !isStale(p.exact, input.existingNats)) {
            complete = false; // a foreign blackhole to a live target: not ours to touch
            continue;
          }
          actions.push({ kind: 'replace', routeTableId: p.t.id, cidr, natGatewayId: p.want, az: p.az });
        }
      } else complete = false; // foreign route with this destination
    }
    if (complete) {
      routedEverywhere.add(cidr);
      states.set(cidr, { state: 'Applied' });
    } else states.set(cidr, { state: 'Degraded', reason: 'missing in some target table' });
  }

  // deletes: our routes whose destination is not desired, in any table of the VPC
  const desired = new Set(input.desired);
  const targetIds = new Set(tables.map(({ t }) => t.id));
  let freed = false;
  for (const t of [...input.tables].sort((a, b) => a.id.localeCompare(b.id))) {
    for (const r of t.routes) {
      if (!r.destination || !isOurs(r, ourNats)) continue;
      const stillTarget = targetIds.has(t.id);
      if (stillTarget && desired.has(r.destination)) continue;
      // make before break: wait for overlapping desired CIDRs to be routed everywhere
      const waits = stillTarget && input.desired.some((d) => cidrsOverlap(d, r.destination!) && !routedEverywhere.has(d));
      if (waits) continue;
      actions.push({ kind: 'delete', routeTableId: t.id, cidr: r.destination });
      freed = true;
    }
  }
  return { actions, states, headroom, again: shortOfCapacity && freed };
}

/** What a `RouteAlreadyExists` turned out to be, from the re-described table. */
export type ExistingRoute =
  | { kind: 'ours' }
  | { kind: 'replace' }
  | { kind: 'conflict'; message: string }
  | { kind: 'gone' };

/**
 * Resolves `RouteAlreadyExists` for `cidr` (or a prefix list) in a re-described table
 * (docs/static-egress-controller.md#seg-failures): our route with the wanted NAT gateway is success, ours
 * with another target (or a blackhole of a gone NAT gateway) gets `ReplaceRoute`, anything else is foreign:
 * `Conflict` naming table and target. A route gone meanwhile is left to the next round.
 */
export function resolveExistingRoute(
  table: RouteTableView | undefined,
  dest: { cidr?: string; prefixListId?: string },
  want: string | undefined,
  ourNats: ReadonlySet<string>,
  existingNats: ReadonlySet<string>,
): ExistingRoute {
  const r = table?.routes.find((x) => (dest.prefixListId ? x.prefixListId === dest.prefixListId : x.destination === dest.cidr));
  if (!r) return { kind: 'gone' };
  if (isOurs(r, ourNats)) return r.natGatewayId === want && r.state === 'active' ? { kind: 'ours' } : { kind: 'replace' };
  if (isStale(r, existingNats)) return { kind: 'replace' };
  const target = r.natGatewayId ?? r.otherTarget ?? 'unknown';
  return { kind: 'conflict', message: `route table ${table!.id} routes ${dest.cidr ?? dest.prefixListId} to ${target}` };
}

/** Exit code of a start-up VPC discovery that found zero or several VPCs (docs/static-egress-controller.md#seg-vpc). */
export const VPC_DISCOVERY_EXIT_CODE = 3;

/**
 * The start-up error of the VPC discovery (docs/static-egress-controller.md#seg-vpc), undefined when exactly
 * one VPC was found: without `vpcId` (`--vpc-id`), `found` are the VPCs tagged `<owner tag key>` (`owned` or
 * `shared`), which must be exactly one; with it, `found` are the VPCs DescribeVpcs returned for that ID, so
 * none means it does not exist in this account and region.
 */
export function vpcDiscoveryError(ownerTagKey: string, found: readonly string[], vpcId?: string): string | undefined {
  if (found.length === 1) return undefined;
  if (vpcId) {
    return (
      `--vpc-id=${vpcId}: DescribeVpcs filter vpc-id=${vpcId} found no VPC: set --vpc-id (or STATIC_EGRESS_VPC_ID) ` +
      `to a VPC of this account and region, or unset it to use the one VPC tagged ${ownerTagKey}=owned|shared`
    );
  }
  const filter = `DescribeVpcs filter tag:${ownerTagKey} in [owned, shared]`;
  const what = found.length ? `${found.length} VPCs (${[...found].sort().join(', ')})` : 'no VPC';
  return (
    `--vpc-id is not set and ${filter} found ${what}, expected exactly 1: ` +
    `set --vpc-id=vpc-<hex> (or STATIC_EGRESS_VPC_ID), or tag exactly one VPC ${ownerTagKey}=owned|shared`
  );
}

// ---------------------------------------------------------------------------------------------------
// Prefix-list mode (docs/static-egress-controller.md#seg-prefix-list)

/** Our customer-managed prefix list (owner and role tags) as discovered. */
export interface PrefixListView {
  id: string;
  /** `create-in-progress`, `modify-complete`, `modify-failed` … */
  state: string;
  version: number;
  maxEntries: number;
  stateMessage?: string;
  /** CIDR -> entry description, of the current version. */
  entries: ReadonlyMap<string, string>;
}

/** Entries per `AddEntries` and per `RemoveEntries` of one `ModifyManagedPrefixList` (the EC2 API limit). */
export const PREFIX_LIST_CHUNK = 100;

/** One prefix-list call. */
export type PrefixListAction =
  | { kind: 'createPrefixList'; maxEntries: number }
  | { kind: 'modifyPrefixList'; prefixListId: string; version: number; add: Array<{ cidr: string; description: string }>; remove: string[] }
  | { kind: 'resizePrefixList'; prefixListId: string; version: number; maxEntries: number }
  | { kind: 'deletePrefixList'; prefixListId: string };

/** Inputs of {@link planPrefixList}. */
export interface PrefixListInput {
  desired: readonly string[];
  /** Desired CIDR -> its sources (entry descriptions). */
  sources: ReadonlyMap<string, readonly string[]>;
  list?: PrefixListView;
  /** `--prefix-list-max-entries`. */
  maxEntries: number;
  targets: Targets;
  tables: readonly RouteTableView[];
  ourNats: ReadonlySet<string>;
  activeNat: ReadonlyMap<string, string>;
  blocked?: { reason: 'EIPQuotaExceeded' | 'AZNotReady'; message: string };
  failed: ReadonlyMap<string, string>;
  routeQuota: number;
  /** CIDRs the last modify of this process added: when the list reads `*-failed`, that change failed. */
  lastChange?: readonly string[];
}

/** Result of {@link planPrefixList}. */
export interface PrefixListPlan {
  listActions: PrefixListAction[];
  /** Prefix-list routes (create/replace), then deletes of our per-CIDR routes once switched. */
  routeActions: RouteAction[];
  states: Map<string, CidrState>;
  headroom: Map<string, number>;
  /** Every target table routes the list to its AZ's NAT gateway: routes of the other mode may go. */
  switched: boolean;
  /** Why the switch from routes mode waits (condition Degraded/ModeSwitchBlocked). */
  modeSwitchBlocked?: string;
  /** The list is being created or modified: requeue after --poll-interval. */
  inTransition: boolean;
  /** The last change failed (`*-failed`): its message, for Warning `EgressFailed`. */
  failure?: { message: string; cidrs: string[] };
}

/** Entry description: the sources of the CIDR, at most 255 characters. */
export function entryDescription(sources: readonly string[]): string {
  const text = sources.join(',');
  return text.length <= 255 ? text : `${text.slice(0, 252)}...`;
}

function foreignOverlap(t: RouteTableView, cidr: string, ourNats: ReadonlySet<string>): RouteView | undefined {
  return t.routes.find(
    (r) =>
      r.destination &&
      r.destination !== '0.0.0.0/0' &&
      !r.destination.includes(':') &&
      r.state === 'active' &&
      !isOurs(r, ourNats) &&
      r.origin !== 'CreateRouteTable' &&
      cidrsOverlap(r.destination, cidr),
  );
}

/**
 * Plans prefix-list mode (docs/static-egress-controller.md#seg-prefix-list): the list (describe by tags,
 * create once), one `ModifyManagedPrefixList` per reconcile round with `CurrentVersion` (adds before
 * removes, split at {@link PREFIX_LIST_CHUNK}; the next waits for `*-complete`), CIDRs beyond MaxEntries
 * `Pending(PrefixListFull)`, a resize once every table has headroom for the difference, and one route
 * `DestinationPrefixListId` -> same-AZ NAT gateway per target table. Our per-CIDR routes are deleted only
 * once every target table routes the list (make before break); without headroom for both the switch
 * waits (`modeSwitchBlocked`).
 */
export function planPrefixList(input: PrefixListInput): PrefixListPlan {
  const { targets, ourNats, list } = input;
  const tables = [...targets.byAz.entries()].flatMap(([az, ts]) => ts.map((t) => ({ az, t })));
  const weights = new Map(list ? [[list.id, list.maxEntries]] : []);
  const headroom = new Map<string, number>();
  for (const { t } of tables) headroom.set(t.id, input.routeQuota - t.routes.reduce((a, r) => a + routeWeight(r, weights), 0));
  const states = new Map<string, CidrState>();
  const listActions: PrefixListAction[] = [];
  const routeActions: RouteAction[] = [];
  const allNats = [...targets.byAz.keys()].every((az) => input.activeNat.has(az));
  const entries = list?.entries ?? new Map<string, string>();
  const capacity = list?.maxEntries ?? input.maxEntries;
  const inTransition = !!list && list.state.endsWith('-in-progress');
  let failure: PrefixListPlan['failure'];
  const failedChange = new Set(list?.state.endsWith('-failed') ? (input.lastChange ?? []).filter((c) => !entries.has(c)) : []);
  if (list?.state.endsWith('-failed')) failure = { message: list.stateMessage ?? list.state, cidrs: [...failedChange] };

  // routes to the list, per target table
  let routedEverywhere = !!list && tables.length > 0;
  let routedSomewhere = false;
  let blockedTable: string | undefined;
  const hasOldRoutes = input.tables.some((t) => t.routes.some((r) => r.destination && isOurs(r, ourNats)));
  if (list && input.desired.length) {
    for (const { az, t } of tables) {
      const r = t.routes.find((x) => x.prefixListId === list.id);
      const want = input.activeNat.get(az);
      if (r && isOurs(r, ourNats) && r.state === 'active' && r.natGatewayId === want) {
        routedSomewhere = true;
        continue;
      }
      routedEverywhere = false;
      if (!want) continue;
      if (!r) {
        if ((headroom.get(t.id) ?? 0) < list.maxEntries) {
          blockedTable ??= t.id;
          continue;
        }
        headroom.set(t.id, headroom.get(t.id)! - list.maxEntries);
        routeActions.push({ kind: 'create', routeTableId: t.id, cidr: list.id, prefixListId: list.id, natGatewayId: want, az });
      } else if (isOurs(r, ourNats) || r.state === 'blackhole') {
        routeActions.push({ kind: 'replace', routeTableId: t.id, cidr: list.id, prefixListId: list.id, natGatewayId: want, az });
      }
    }
  }

  // entries: existing ones stay while desired; new ones are admitted in sort order while the list has room
  const keep: string[] = [];
  const add: string[] = [];
  for (const cidr of input.desired) {
    if (entries.has(cidr)) {
      keep.push(cidr);
      continue;
    }
    const code = input.failed.get(cidr) ?? (failedChange.has(cidr) ? 'PrefixListModifyFailed' : undefined);
    if (code) {
      states.set(cidr, { state: 'Failed', code });
      continue;
    }
    const conflict = tables.map(({ t }) => ({ t, r: foreignOverlap(t, cidr, ourNats) })).find((x) => x.r);
    if (conflict) {
      const target = conflict.r!.natGatewayId ?? conflict.r!.otherTarget ?? 'unknown';
      states.set(cidr, { state: 'Conflict', message: `route table ${conflict.t.id} routes ${conflict.r!.destination} to ${target}` });
      continue;
    }
    if (input.blocked) {
      states.set(cidr, { state: 'Pending', reason: input.blocked.reason, message: input.blocked.message });
      continue;
    }
    if (!allNats) {
      states.set(cidr, { state: 'Pending', reason: 'WaitingForNATGateway', message: 'a NAT gateway is not available yet' });
      continue;
    }
    add.push(cidr);
  }
  const room = Math.max(0, capacity - keep.length);
  for (const cidr of add.slice(room)) {
    states.set(cidr, { state: 'Pending', reason: 'PrefixListFull', message: `prefix list ${list?.id ?? `egress-<cluster-id>`} holds ${capacity} entries (--prefix-list-max-entries)` });
  }
  const admitted = add.slice(0, room);
  const desiredSet_ = new Set(input.desired);
  const remove = [...entries.keys()].filter((c) => !desiredSet_.has(c)).sort(compareCidrs);

  if (!list && input.desired.length) listActions.push({ kind: 'createPrefixList', maxEntries: input.maxEntries });
  const settled = !!list && !inTransition && !list.state.startsWith('create-failed');
  if (list && settled && (admitted.length || remove.length)) {
    // adds first; one call per round, the next waits for *-complete
    const addChunk = admitted.slice(0, PREFIX_LIST_CHUNK);
    const removeChunk = addChunk.length && admitted.length > PREFIX_LIST_CHUNK ? [] : remove.slice(0, PREFIX_LIST_CHUNK);
    listActions.push({
      kind: 'modifyPrefixList',
      prefixListId: list.id,
      version: list.version,
      add: addChunk.map((cidr) => ({ cidr, description: entryDescription(input.sources.get(cidr) ?? []) })),
      remove: removeChunk,
    });
  } else if (list && settled && list.maxEntries < input.maxEntries) {
    const diff = input.maxEntries - list.maxEntries;
    const short = tables.find(({ t }) => (headroom.get(t.id) ?? 0) < diff);
    if (!short) listActions.push({ kind: 'resizePrefixList', prefixListId: list.id, version: list.version, maxEntries: input.maxEntries });
  }
  for (const c of admitted) {
    if (!states.has(c)) states.set(c, { state: 'Pending', reason: 'WaitingForPrefixList', message: `being added to prefix list ${list?.id ?? '(new)'}` });
  }
  for (const c of keep) {
    if (routedEverywhere) states.set(c, { state: 'Applied' });
    else if (routedSomewhere) states.set(c, { state: 'Degraded', reason: 'prefix-list route missing in some target table' });
    else if (blockedTable && hasOldRoutes) states.set(c, { state: 'Degraded', reason: 'ModeSwitchBlocked' });
    else if (blockedTable) {
      states.set(c, { state: 'Pending', reason: 'RouteCapacity', message: `route table ${blockedTable} has no room for the prefix list (${list!.maxEntries} entries)` });
    } else if (!allNats) states.set(c, { state: 'Pending', reason: 'WaitingForNATGateway', message: 'a NAT gateway is not available yet' });
    else states.set(c, { state: 'Pending', reason: 'WaitingForPrefixList', message: `route to prefix list ${list!.id} being created` });
  }

  // make before break: our per-CIDR routes go once the list is routed everywhere and holds the desired entries
  // with nothing desired the list's routes go too (docs/static-egress-controller.md#seg-retention)
  if (list && !input.desired.length) routeActions.push(...prefixListRouteDeletes(input.tables, list.id, ourNats));
  const switched = (routedEverywhere && settled && admitted.length === 0) || !input.desired.length;
  if (switched) {
    for (const t of [...input.tables].sort((a, b) => a.id.localeCompare(b.id))) {
      for (const r of t.routes) {
        if (r.destination && isOurs(r, ourNats)) routeActions.push({ kind: 'delete', routeTableId: t.id, cidr: r.destination });
      }
    }
  }
  // our prefix-list routes in tables that are no longer targets
  const targetIds = new Set(tables.map(({ t }) => t.id));
  for (const t of input.tables) {
    if (targetIds.has(t.id) || !list || !input.desired.length) continue;
    if (t.routes.some((r) => r.prefixListId === list.id && isOurs(r, ourNats))) {
      routeActions.push({ kind: 'delete', routeTableId: t.id, cidr: list.id, prefixListId: list.id });
    }
  }
  const modeSwitchBlocked = blockedTable && hasOldRoutes ? `route table ${blockedTable} has no headroom for both the routes and the prefix list` : undefined;
  return { listActions, routeActions, states, headroom, switched, modeSwitchBlocked, inTransition: inTransition || listActions.length > 0, failure };
}

/**
 * Deletes of our routes to prefix list `prefixListId` in every table: in routes mode once every desired
 * CIDR is routed (make before break), and at teardown (docs/static-egress-controller.md#seg-prefix-list).
 */
export function prefixListRouteDeletes(tables: readonly RouteTableView[], prefixListId: string, ourNats: ReadonlySet<string>): RouteAction[] {
  return [...tables]
    .sort((a, b) => a.id.localeCompare(b.id))
    .filter((t) => t.routes.some((r) => r.prefixListId === prefixListId && isOurs(r, ourNats)))
    .map((t) => ({ kind: 'delete' as const, routeTableId: t.id, cidr: prefixListId, prefixListId }));
}

// ---------------------------------------------------------------------------------------------------
// AWS errors

/** How to handle an EC2 error code (docs/static-egress-controller.md#seg-failures). */
export type ErrorClass =
  | 'eip-quota'
  | 'az-not-ready'
  | 'route-capacity'
  | 'route-exists'
  | 'gone'
  | 'throttled'
  | 'permission'
  | 'requeue'
  | 'idempotency'
  | 'cidr-failed';

/** Classifies an EC2 error code. */
export function classifyAwsError(code: string): ErrorClass {
  switch (code) {
    case 'AddressLimitExceeded':
      return 'eip-quota';
    case 'NatGatewayLimitExceeded':
    case 'InsufficientFreeAddressesInSubnet':
    case 'InvalidAllocationID.NotFound':
      return 'az-not-ready';
    case 'RouteLimitExceeded':
      return 'route-capacity';
    case 'RouteAlreadyExists':
      return 'route-exists';
    case 'InvalidRoute.NotFound':
    case 'InvalidNatGatewayID.NotFound':
    case 'NatGatewayNotFound':
      return 'gone';
    case 'RequestLimitExceeded':
    case 'Throttling':
    case 'ThrottlingException':
    case 'ServiceUnavailable':
    case 'InternalError':
    case 'NetworkError':
      return 'throttled';
    case 'UnauthorizedOperation':
    case 'AccessDenied':
      return 'permission';
    case 'DependencyViolation':
    case 'InvalidIPAddress.InUse':
    case 'Resource.AlreadyAssociated': // the EIP is still held by a NAT gateway being deleted
      return 'requeue';
    case 'IdempotentParameterMismatch':
      return 'idempotency';
    default:
      return 'cidr-failed';
  }
}

// ---------------------------------------------------------------------------------------------------
// Status

/** A condition of the status document. */
export interface Condition {
  type: 'Ready' | 'Degraded';
  status: 'True' | 'False';
  reason: string;
  lastTransitionTime: string;
}

/** The status document (docs/static-egress-controller.md#seg-status). */
export interface StatusDoc {
  vpcId: string;
  mode: 'routes' | 'prefix-list';
  /** Our prefix list, when one exists. */
  prefixListId?: string;
  zones: Record<string, ZoneState>;
  cidrs: Record<string, { state: string; reason?: string; message?: string; sources: string[] }>;
  rejected: Array<{ source: string; value: string; reason: string }>;
  conditions: Condition[];
}

/** Inputs of {@link renderStatus}. */
export interface StatusInput {
  vpcId: string;
  zones: ReadonlyMap<string, ZoneState>;
  states: ReadonlyMap<string, CidrState>;
  sources: ReadonlyMap<string, readonly string[]>;
  problems: readonly SourceProblem[];
  /** Conditions of the previous status document, for transition times. */
  previous: readonly Condition[];
  now: number;
  mode?: 'routes' | 'prefix-list';
  prefixListId?: string;
  /** Why a mode switch waits (condition Degraded/ModeSwitchBlocked). */
  modeSwitchBlocked?: string;
}

/** The Ready and Degraded conditions from the CIDR states and zones. */
export function conditions(
  states: ReadonlyMap<string, CidrState>,
  zones: ReadonlyMap<string, ZoneState>,
  previous: readonly Condition[],
  now: number,
  modeSwitchBlocked?: string,
): Condition[] {
  const list = [...states.values()];
  const blocking = list.find((s) => s.state !== 'Applied');
  const zoneBad = [...zones.values()].find((z) => z.state !== 'available');
  let ready: Pick<Condition, 'status' | 'reason'> = { status: 'True', reason: list.length ? 'AllApplied' : 'NothingDesired' };
  if (blocking) {
    const reason =
      blocking.state === 'Pending' ? blocking.reason : blocking.state === 'Failed' ? blocking.code : blocking.state;
    ready = { status: 'False', reason };
  } else if (zoneBad && list.length) ready = { status: 'False', reason: zoneBad.state };
  const degraded = modeSwitchBlocked
    ? { status: 'True' as const, reason: 'ModeSwitchBlocked' }
    : list.some((s) => s.state === 'Degraded')
      ? { status: 'True' as const, reason: 'RoutesMissing' }
      : { status: 'False' as const, reason: 'AllRoutesPresent' };
  const at = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const mk = (type: Condition['type'], c: Pick<Condition, 'status' | 'reason'>): Condition => {
    const prev = previous.find((p) => p.type === type);
    return { type, ...c, lastTransitionTime: prev && prev.status === c.status ? prev.lastTransitionTime : at };
  };
  return [mk('Ready', ready), mk('Degraded', degraded)];
}

/**
 * Renders the status ConfigMap data (docs/static-egress-controller.md#seg-status): `egress-ips` (the
 * sorted public IPs of all configured AZs) and `status.json` (stable key order, no timestamps except the
 * conditions' transition times). Byte-stable for equal inputs.
 */
export function renderStatus(input: StatusInput): { data: Record<string, string>; doc: StatusDoc } {
  const zones: Record<string, ZoneState> = {};
  for (const az of [...input.zones.keys()].sort()) zones[az] = input.zones.get(az)!;
  const cidrs: StatusDoc['cidrs'] = {};
  for (const cidr of [...input.states.keys()].sort(compareCidrs)) {
    const s = input.states.get(cidr)!;
    const entry: StatusDoc['cidrs'][string] = { state: s.state, sources: [...(input.sources.get(cidr) ?? [])] };
    if (s.state === 'Pending') {
      entry.reason = s.reason;
      entry.message = s.message;
    } else if (s.state === 'Failed') entry.reason = s.code;
    else if (s.state === 'Conflict') entry.message = s.message;
    else if (s.state === 'Degraded') entry.reason = s.reason;
    cidrs[cidr] = entry;
  }
  const rejected = input.problems
    .filter((p) => p.reason === 'InvalidCIDR' || p.reason === 'CIDRRejected')
    .map((p) => ({ source: p.source, value: p.value, reason: p.detail ? `${p.reason}/${p.detail}` : p.reason }))
    .sort((a, b) => a.source.localeCompare(b.source));
  const doc: StatusDoc = {
    vpcId: input.vpcId,
    mode: input.mode ?? 'routes',
    ...(input.prefixListId ? { prefixListId: input.prefixListId } : {}),
    zones,
    cidrs,
    rejected,
    conditions: conditions(input.states, input.zones, input.previous, input.now, input.modeSwitchBlocked),
  };
  const ips = Object.values(zones)
    .map((z) => z.publicIp)
    .filter((x): x is string => !!x)
    .sort(compareIps);
  return { data: { 'egress-ips': ips.join(','), 'status.json': `${JSON.stringify(doc, null, 2)}\n` }, doc };
}

/** Compares dotted IPv4 addresses numerically. */
export function compareIps(a: string, b: string): number {
  return compareCidrs(`${a}/32`, `${b}/32`);
}
