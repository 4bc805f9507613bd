/**
 * One reconcile of the static-egress-controller (docs/static-egress-controller.md#seg-reconcile):
 * debounce, discover, validate the inputs, plan and execute EIPs and NAT gateways, then routes
 * (creates and replaces before deletes, rollback of a failing CIDR), then status, Events and metrics.
 * Decisions are the pure functions of `decide.ts`; this file only sequences I/O around them.
 */
import {
  ApiError,
  cidrContains,
  type Informer,
  type Logger,
  type Manager,
  type ReconcileResult,
  objectReference,
} from '@kubeaws/runtime';
import {
  type CidrState,
  type Condition,
  type InputConfigMap,
  type PrefixListAction,
  type RouteAction,
  type RoutePlan,
  type SourceProblem,
  type StatusDoc,
  classifyAwsError,
  clientToken,
  collectSources,
  desiredSet,
  natRouteUse,
  natSubnets,
  planInfra,
  planPrefixList,
  planRoutes,
  prefixListRouteDeletes,
  renderStatus,
  resolveExistingRoute,
  targetTables,
} from './decide';
import { type Ec2, Ec2Error, type Observed } from './ec2';
import type { EgressConfig } from './flags';
import type { EgressMetrics } from './metrics';

/** Label of the status ConfigMap (docs/static-egress-controller.md#seg-status). */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'kubeaws-static-egress-controller' };
/** Non-retryable CIDR failures are retried after this long, or when the CIDR's sources change. */
export const FAILED_RETRY_MS = 3_600_000;
/** Backoff after UnauthorizedOperation (docs/static-egress-controller.md#seg-failures). */
export const PERMISSION_BACKOFF_MS = 300_000;
/** Same Event (object, reason, note) at most once per this period. */
export const EVENT_PERIOD_MS = 3_600_000;
/** `--teardown` gives up (exit 1) after this many polls of --poll-interval. */
export const TEARDOWN_MAX_ROUNDS = 120;
/** Upper bound of ClientToken attempts. */
export const MAX_ATTEMPT = 20;

type ConfigMap = InputConfigMap & {
  apiVersion?: string;
  kind?: string;
  metadata: InputConfigMap['metadata'] & { resourceVersion?: string; annotations?: Record<string, string> };
};

/** Annotation written with `--annotate-configmaps` (docs/static-egress-controller.md#seg-annotate). */
export const EGRESS_IPS_ANNOTATION = 'kubeaws.io/egress-ips';

/** Dependencies of {@link EgressReconciler}. */
export interface ReconcilerDeps {
  mgr: Manager;
  cfg: EgressConfig;
  ec2: Ec2;
  metrics: EgressMetrics;
  /** The input ConfigMaps: one informer for all namespaces or one per watched namespace. */
  configMaps: ReadonlyArray<Informer<ConfigMap & { metadata: { name?: string } }>>;
}

/** The outcome of the last reconcile, for tests and the local status view. */
export interface LastOutcome {
  status?: StatusDoc;
  /** Mutating calls planned in dry run or executed. */
  planned: string[];
}

/** The reconcile loop's state kept in memory only (everything else lives in AWS tags and the cache). */
export class EgressReconciler {
  private firstEvent: number | undefined;
  private lastEvent: number | undefined;
  private readonly attempts = new Map<string, number>();
  private readonly failed = new Map<string, { code: string; at: number; sources: string }>();
  private eipQuotaUntil = 0;
  private readonly seen = new Set<string>();
  private readonly eventTimes = new Map<string, number>();
  private previousConditions: Condition[] | undefined;
  private lastWritten: string | undefined;
  private teardownRounds = 0;
  /** CIDRs the last ModifyManagedPrefixList of this process added (a `*-failed` list names that change). */
  private lastPrefixListChange: string[] = [];
  private vpc: { vpcId: string; cidrs: string[] } | undefined;
  /** True after the first discovery (readiness). */
  discovered = false;
  /** Message of the last failed discovery (DescribeVpcs and the resource Describe calls); undefined once one succeeds. */
  discoveryError?: string;
  /** The last outcome. */
  readonly last: LastOutcome = { planned: [] };

  constructor(private readonly d: ReconcilerDeps) {}

  /** An input event: mark dirty for the debounce (docs/static-egress-controller.md#seg-coalescing). */
  markDirty(): void {
    const now = this.d.mgr.clock.now();
    this.firstEvent ??= now;
    this.lastEvent = now;
  }

  private get log(): Logger {
    return this.d.mgr.logger;
  }

  private statusRef() {
    const [namespace, name] = this.d.cfg.statusConfigMap.split('/') as [string, string];
    return { apiVersion: 'v1', kind: 'ConfigMap', namespace, name };
  }

  /**
   * Records an Event at most once per {@link EVENT_PERIOD_MS} per object (its UID when known, so a re-created
   * ConfigMap of the same name is a new object), reason and note (docs/static-egress-controller.md#seg-events).
   */
  private event(regarding: ReturnType<EgressReconciler['statusRef']> & { uid?: string }, type: 'Normal' | 'Warning', reason: string, note: string): void {
    const key = `${regarding.uid ?? `${regarding.namespace}/${regarding.name}`}|${reason}|${note}`;
    const now = this.d.mgr.clock.now();
    const at = this.eventTimes.get(key);
    if (at !== undefined && now - at < EVENT_PERIOD_MS) return;
    if (this.eventTimes.size > 10_000) {
      for (const [k, t] of this.eventTimes) if (now - t >= EVENT_PERIOD_MS) this.eventTimes.delete(k);
    }
    if (this.d.mgr.events.record({ regarding, type, reason, action: 'Reconcile', note })) this.eventTimes.set(key, now);
  }

  /** The reconcile of the one key. */
  async reconcile(): Promise<ReconcileResult | void> {
    const { mgr, cfg, metrics } = this.d;
    const now = mgr.clock.now();
    if (this.firstEvent !== undefined) {
      const due = Math.min((this.lastEvent ?? now) + cfg.debounceMs, this.firstEvent + cfg.maxDebounceMs);
      if (due > now) return { requeueAfter: due - now };
      this.firstEvent = this.lastEvent = undefined;
    }
    const end = metrics.reconcileDuration.startTimer();
    try {
      const r = await this.run();
      metrics.reconciles.inc({ result: 'success' });
      metrics.setLastSync(mgr.clock.now() / 1000);
      end({ result: 'success' });
      return r;
    } catch (err) {
      metrics.reconciles.inc({ result: 'error' });
      end({ result: 'error' });
      if (err instanceof Ec2Error && classifyAwsError(err.code) === 'permission') {
        this.event(this.statusRef(), 'Warning', 'AWSPermissionDenied', `${err.operation} denied: ${err.code}`);
        this.log.warn({ operation: err.operation, code: err.code }, 'AWS permission denied');
        return { requeueAfter: PERMISSION_BACKOFF_MS };
      }
      throw err;
    }
  }

  private async run(): Promise<ReconcileResult> {
    const { mgr, cfg, ec2 } = this.d;
    this.last.planned = [];
    const byo = Object.values(cfg.eipAllocationIds);
    const withPl = cfg.mode === 'prefix-list' || cfg.teardown;
    let observed: Awaited<ReturnType<typeof ec2.discover>>;
    try {
      this.vpc = await ec2.findVpc(cfg.vpcId || undefined);
      observed = await ec2.discover(this.vpc, byo, withPl);
    } catch (err) {
      this.discoveryError = (err as Error)?.message ?? String(err);
      throw err;
    }
    this.discoveryError = undefined;
    this.discovered = true;
    const cms = this.d.configMaps.flatMap((inf) => inf.cache.list());
    const sources = collectSources(cms, { minPrefixLength: cfg.minPrefixLength, vpcCidrs: observed.vpcCidrs });
    this.reportProblems(sources.problems, cms);
    const desired = cfg.teardown ? [] : desiredSet(sources.cidrs.keys());
    const now = mgr.clock.now();
    for (const [cidr, f] of this.failed) {
      const srcs = (sources.cidrs.get(cidr) ?? []).join(',');
      if (now - f.at >= FAILED_RETRY_MS || srcs !== f.sources) this.failed.delete(cidr);
    }

    let plan = this.planAll(observed, desired, now, sources.cidrs);
    for (let round = 0; round < 4; round++) {
      const infraMutated = await this.executeInfra(observed, plan.infra);
      const mutated = (await this.executePrefixList(plan.listActions, plan.routes.states)) || infraMutated;
      const routeMutated = await this.executeRoutes(plan.routes.actions, plan.routes.states, sources.cidrs, observed);
      if (!mutated && !routeMutated) break;
      if (cfg.dryRun) break;
      observed = await ec2.discover(this.vpc, byo, withPl);
      const next = this.planAll(observed, desired, mgr.clock.now(), sources.cidrs);
      // keep Failed states found while executing
      plan = next;
      if (!next.infra.actions.length && !next.routes.actions.length && !next.listActions.length) break;
    }
    if (cfg.teardown) return this.teardownOutcome(observed);
    this.publish(observed, plan, sources.cidrs, sources.problems, cms);
    const transition = plan.infra.inTransition || plan.listInTransition || [...plan.routes.states.values()].some((s) => s.state === 'Pending' && s.reason === 'WaitingForNATGateway');
    if (plan.blockedByQuota) return { requeueAfter: Math.max(cfg.pollIntervalMs * 4, 60_000) };
    return { requeueAfter: transition ? cfg.pollIntervalMs : cfg.resyncIntervalMs };
  }

  /**
   * `--teardown` (docs/static-egress-controller.md#seg-teardown): done when no route of ours and no live NAT
   * gateway remains (and, with `release`, no owned EIP); then exit 0. While NAT gateways are deleting, poll.
   * Exit 1 after {@link TEARDOWN_MAX_ROUNDS} polls without getting there.
   */
  private teardownOutcome(observed: Observed): ReconcileResult {
    const { cfg, mgr } = this.d;
    const ours = new Set(observed.nats.map((n) => n.id));
    const routes = observed.tables.flatMap((t) => t.routes).filter((r) => r.natGatewayId && ours.has(r.natGatewayId)).length;
    const nats = observed.nats.filter((n) => n.state !== 'deleted').length + (observed.prefixList ? 1 : 0);
    const eips = cfg.eipRetention === 'release' ? observed.eips.filter((e) => !e.byo).length : 0;
    this.log.info({ routes, natGateways: nats, elasticIps: eips }, 'teardown: owned resources left');
    if (!routes && !nats && !eips) {
      mgr.requestExit(0);
      return {};
    }
    if (++this.teardownRounds >= TEARDOWN_MAX_ROUNDS) {
      this.log.error({ routes, natGateways: nats, elasticIps: eips }, 'teardown incomplete');
      mgr.requestExit(1);
      return {};
    }
    return { requeueAfter: cfg.pollIntervalMs };
  }

  private planAll(observed: Observed, desired: string[], now: number, sources: Map<string, string[]>) {
    const { cfg } = this.d;
    const settings = {
      clusterId: cfg.clusterId,
      availabilityZones: cfg.availabilityZones,
      routeTableSelector: cfg.routeTableSelector,
      routeTableAzTag: cfg.routeTableAzTag,
      natSubnetSelector: cfg.natSubnetSelector,
      byoEips: cfg.eipAllocationIds,
      eipRetention: cfg.eipRetention,
      natRetention: cfg.natRetention,
      natIdleGraceMs: cfg.natIdleGraceMs,
      routeQuota: cfg.routeQuota,
    };
    const targets = targetTables(observed.tables, settings);
    const subnets = natSubnets(observed.subnets, observed.tables, targets, settings);
    const { routesByNat, keptRoutesByNat } = natRouteUse(observed.tables, new Set(observed.nats.map((n) => n.id)), observed.prefixList?.id);
    const eipQuotaExceeded = now < this.eipQuotaUntil;
    const infra = planInfra(
      { nats: observed.nats, eips: observed.eips, subnets, routesByNat, keptRoutesByNat, wanted: desired.length > 0, eipQuotaExceeded, now, teardown: cfg.teardown },
      settings,
    );
    const notReady = [...infra.zones.entries()].find(([, z]) => z.state === 'AZNotReady');
    const blocked = eipQuotaExceeded
      ? { reason: 'EIPQuotaExceeded' as const, message: 'AllocateAddress: AddressLimitExceeded' }
      : notReady
        ? { reason: 'AZNotReady' as const, message: `${notReady[0]}: ${notReady[1].reason ?? ''}` }
        : undefined;
    const ourNats = new Set(observed.nats.map((n) => n.id));
    const failed = new Map([...this.failed].map(([c, f]) => [c, f.code]));
    const list = observed.prefixList;
    let routes: RoutePlan;
    let listActions: PrefixListAction[] = [];
    let modeSwitchBlocked: string | undefined;
    let listInTransition = false;
    if (cfg.mode === 'prefix-list' && !cfg.teardown) {
      // docs/static-egress-controller.md#seg-prefix-list
      const pl = planPrefixList({
        desired,
        sources: this.sourcesByDesired(new Map(desired.map((d) => [d, { state: 'Applied' }])), sources),
        list,
        maxEntries: cfg.prefixListMaxEntries,
        targets,
        tables: observed.tables,
        ourNats,
        activeNat: infra.activeNat,
        blocked,
        failed,
        routeQuota: cfg.routeQuota,
        lastChange: this.lastPrefixListChange,
      });
      routes = { actions: pl.routeActions, states: pl.states, headroom: pl.headroom, again: false };
      listActions = pl.listActions;
      modeSwitchBlocked = pl.modeSwitchBlocked;
      listInTransition = pl.inTransition;
      if (pl.failure) {
        this.event(this.statusRef(), 'Warning', 'EgressFailed', `prefix list ${list?.id}: ${pl.failure.message}`);
        for (const c of pl.failure.cidrs) this.failed.set(c, { code: 'PrefixListModifyFailed', at: now, sources: (sources.get(c) ?? []).join(',') });
        this.lastPrefixListChange = [];
      }
    } else {
      routes = planRoutes({
        desired,
        targets,
        tables: observed.tables,
        ourNats,
        existingNats: observed.existingNats,
        activeNat: infra.activeNat,
        blocked,
        failed,
        routeQuota: cfg.routeQuota,
        prefixListWeights: list ? new Map([[list.id, list.maxEntries]]) : undefined,
      });
      if (list) {
        // switching back to routes (or teardown): the list's routes go once every desired CIDR is routed
        const allApplied = [...routes.states.values()].every((st) => st.state === 'Applied');
        const plDeletes = prefixListRouteDeletes(observed.tables, list.id, ourNats);
        if (allApplied) routes.actions.push(...plDeletes);
        else if (plDeletes.length && [...routes.states.values()].some((st) => st.state === 'Pending' && st.reason === 'RouteCapacity')) {
          modeSwitchBlocked = 'route tables have no headroom for both the prefix list and the routes';
        }
        const referenced = observed.tables.some((t) => t.routes.some((r) => r.prefixListId === list.id));
        if (cfg.teardown && !referenced) listActions.push({ kind: 'deletePrefixList', prefixListId: list.id });
      }
    }
    return { infra, routes, targets, blockedByQuota: eipQuotaExceeded, listActions, modeSwitchBlocked, listInTransition, prefixListId: list?.id };
  }

  /** Executes EIP and NAT gateway actions; returns whether anything was mutated. */
  private async executeInfra(observed: Observed, infra: ReturnType<typeof planInfra>): Promise<boolean> {
    const { cfg, ec2, mgr } = this.d;
    let mutated = false;
    for (const w of infra.warnings) this.event(this.statusRef(), 'Warning', w.reason, w.message);
    for (const a of infra.actions) {
      this.last.planned.push(JSON.stringify(a));
      try {
        switch (a.kind) {
          case 'allocateAddress':
            await ec2.allocateAddress(a.az);
            this.log.info({ az: a.az, operation: 'AllocateAddress' }, 'allocated Elastic IP');
            break;
          case 'createNatGateway': {
            const attempt = this.attempts.get(a.az) ?? 0;
            const token = clientToken([cfg.clusterId, a.az, a.allocationId, a.subnetId, attempt]);
            const out = (await ec2.createNatGateway(a.az, a.subnetId, a.allocationId, token)) as
              | { NatGateway?: { NatGatewayId?: string; State?: string } }
              | undefined;
            const state = out?.NatGateway?.State;
            if (state === 'failed' || state === 'deleting' || state === 'deleted') {
              this.attempts.set(a.az, Math.min(MAX_ATTEMPT, attempt + 1));
            }
            if (out) {
              this.event(this.statusRef(), 'Normal', 'NATGatewayCreated', `NAT gateway ${out.NatGateway?.NatGatewayId} in ${a.az} on ${a.allocationId}`);
            }
            this.log.info({ az: a.az, natGatewayId: out?.NatGateway?.NatGatewayId, attempt }, 'created NAT gateway');
            break;
          }
          case 'deleteNatGateway':
            await ec2.deleteNatGateway(a.natGatewayId);
            if (a.why === 'failed') this.attempts.set(a.az, Math.min(MAX_ATTEMPT, (this.attempts.get(a.az) ?? 0) + 1));
            this.event(this.statusRef(), 'Normal', 'NATGatewayDeleted', `NAT gateway ${a.natGatewayId} in ${a.az} deleted (${a.why})`);
            break;
          case 'tagIdle':
            await ec2.tagIdle(a.natGatewayId, a.since);
            break;
          case 'untagIdle':
            await ec2.tagIdle(a.natGatewayId, undefined);
            break;
          case 'releaseAddress':
            await ec2.releaseAddress(a.allocationId);
            this.event(this.statusRef(), 'Normal', 'ElasticIPReleased', `Elastic IP ${a.allocationId} released`);
            break;
        }
        mutated = true;
      } catch (err) {
        if (!(err instanceof Ec2Error)) throw err;
        const cls = classifyAwsError(err.code);
        if (cls === 'eip-quota') {
          this.eipQuotaUntil = mgr.clock.now() + Math.max(cfg.pollIntervalMs * 4, 60_000);
          this.event(this.statusRef(), 'Warning', 'EIPQuotaExceeded', `AllocateAddress: ${err.code}; Elastic IPs allocated so far are kept`);
          this.log.warn({ operation: err.operation, code: err.code }, 'Elastic IP quota exceeded');
          return mutated;
        }
        if (cls === 'az-not-ready') {
          const az = 'az' in a ? a.az : undefined;
          this.event(this.statusRef(), 'Warning', 'AZNotReady', `${az ?? ''}: ${err.operation} failed with ${err.code}`);
          this.log.warn({ az, operation: err.operation, code: err.code }, 'AZ not ready');
          continue;
        }
        if (cls === 'idempotency' && a.kind === 'createNatGateway') {
          this.attempts.set(a.az, Math.min(MAX_ATTEMPT, (this.attempts.get(a.az) ?? 0) + 1));
          continue;
        }
        if (cls === 'gone' || cls === 'requeue') continue;
        throw err;
      }
    }
    void observed;
    return mutated;
  }

  /**
   * Executes route actions: per CIDR (sort order) its creates and replaces concurrently (bounded by
   * `--aws-concurrency`), then every delete. A CIDR whose create fails with a route quota or a
   * non-retryable error is rolled back in the tables this attempt created it in
   * (docs/static-egress-controller.md#seg-rollback).
   */
  private async executeRoutes(
    actions: RouteAction[],
    states: Map<string, CidrState>,
    sources: Map<string, string[]>,
    observed?: Pick<Observed, 'nats' | 'existingNats'>,
  ): Promise<boolean> {
    const { ec2, metrics, mgr } = this.d;
    const ourNats = new Set((observed?.nats ?? []).map((n) => n.id));
    const existingNats = observed?.existingNats ?? new Set<string>();
    let mutated = false;
    const send = async (a: RouteAction, kind: RouteAction['kind']) => {
      if (a.prefixListId) await ec2.prefixListRoute(kind, a.routeTableId, a.prefixListId, a.natGatewayId);
      else await ec2.route(kind, a.routeTableId, a.cidr, a.natGatewayId);
      metrics.routeChanges.inc({ action: kind });
      mutated = true;
    };
    const byCidr = new Map<string, RouteAction[]>();
    for (const a of actions.filter((x) => x.kind !== 'delete')) byCidr.set(a.cidr, [...(byCidr.get(a.cidr) ?? []), a]);
    for (const [cidr, list] of byCidr) {
      const created: RouteAction[] = [];
      let conflict: string | undefined;
      const results = await Promise.allSettled(
        list.map(async (a) => {
          this.last.planned.push(`${a.kind} ${a.routeTableId} ${a.cidr} -> ${a.natGatewayId}`);
          try {
            await send(a, a.kind);
            if (a.kind === 'create') created.push(a);
          } catch (err) {
            if (!(err instanceof Ec2Error) || classifyAwsError(err.code) !== 'route-exists') throw err;
            // RouteAlreadyExists: re-describe the table now (docs/static-egress-controller.md#seg-failures)
            const table = await ec2.describeRouteTable(a.routeTableId);
            const found = resolveExistingRoute(table, { cidr: a.prefixListId ? undefined : a.cidr, prefixListId: a.prefixListId }, a.natGatewayId, ourNats, existingNats);
            this.log.info({ cidr, routeTable: a.routeTableId, code: err.code, state: found.kind }, 'route already exists: re-described');
            if (found.kind === 'replace') await send(a, 'replace');
            else if (found.kind === 'conflict') {
              conflict = found.message;
              throw err;
            }
          }
        }),
      );
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (!failure) continue;
      const err = failure.reason;
      if (!(err instanceof Ec2Error)) throw err;
      const cls = classifyAwsError(err.code);
      if ((cls === 'throttled' || cls === 'permission') && !conflict) throw err; // progress stays; the next diff continues
      for (const c of created) {
        await (c.prefixListId ? ec2.prefixListRoute('delete', c.routeTableId, c.prefixListId) : ec2.route('delete', c.routeTableId, c.cidr)).catch(() => undefined);
        metrics.routeChanges.inc({ action: 'rollback' });
      }
      if (conflict) {
        states.set(cidr, { state: 'Conflict', message: conflict });
      } else if (cls === 'route-capacity') {
        states.set(cidr, { state: 'Pending', reason: 'RouteCapacity', message: `${err.operation}: ${err.code}` });
      } else {
        this.failed.set(cidr, { code: err.code, at: mgr.clock.now(), sources: (sources.get(cidr) ?? []).join(',') });
        states.set(cidr, { state: 'Failed', code: err.code });
      }
      this.log.warn({ cidr, operation: err.operation, code: err.code, reason: conflict }, 'route change failed; rolled back');
    }
    for (const a of actions.filter((x) => x.kind === 'delete')) {
      this.last.planned.push(`delete ${a.routeTableId} ${a.cidr}`);
      try {
        if (a.prefixListId) await ec2.prefixListRoute('delete', a.routeTableId, a.prefixListId);
        else await ec2.route('delete', a.routeTableId, a.cidr);
        metrics.routeChanges.inc({ action: 'delete' });
        mutated = true;
      } catch (err) {
        if (err instanceof Ec2Error && classifyAwsError(err.code) === 'gone') continue;
        throw err;
      }
    }
    return mutated;
  }

  /**
   * Executes prefix-list calls (docs/static-egress-controller.md#seg-prefix-list): create with a ClientToken
   * over `cluster-id|prefix-list|attempt`, one modify with `CurrentVersion`, a resize, delete at teardown.
   * A change refused for its entries marks those CIDRs `Failed(code)`.
   */
  private async executePrefixList(actions: PrefixListAction[], states: Map<string, CidrState>): Promise<boolean> {
    const { cfg, ec2, mgr } = this.d;
    let mutated = false;
    for (const a of actions) {
      this.last.planned.push(JSON.stringify(a));
      try {
        switch (a.kind) {
          case 'createPrefixList': {
            const attempt = this.attempts.get('prefix-list') ?? 0;
            const out = (await ec2.createPrefixList(a.maxEntries, clientToken([cfg.clusterId, 'prefix-list', attempt]))) as
              | { PrefixList?: { PrefixListId?: string; State?: string } }
              | undefined;
            if (/^(create-failed|delete-)/.test(out?.PrefixList?.State ?? '')) this.attempts.set('prefix-list', Math.min(MAX_ATTEMPT, attempt + 1));
            this.log.info({ operation: 'CreateManagedPrefixList', attempt, state: out?.PrefixList?.State }, `created prefix list ${out?.PrefixList?.PrefixListId}`);
            break;
          }
          case 'modifyPrefixList':
            await ec2.modifyPrefixList(a.prefixListId, a.version, { add: a.add, remove: a.remove });
            this.lastPrefixListChange = a.add.map((e) => e.cidr);
            break;
          case 'resizePrefixList':
            await ec2.modifyPrefixList(a.prefixListId, a.version, { maxEntries: a.maxEntries });
            break;
          case 'deletePrefixList':
            await ec2.deletePrefixList(a.prefixListId);
            break;
        }
        mutated = true;
      } catch (err) {
        if (!(err instanceof Ec2Error)) throw err;
        const cls = classifyAwsError(err.code);
        if (cls === 'idempotency' && a.kind === 'createPrefixList') {
          this.attempts.set('prefix-list', Math.min(MAX_ATTEMPT, (this.attempts.get('prefix-list') ?? 0) + 1));
          continue;
        }
        if (cls === 'cidr-failed' && a.kind === 'modifyPrefixList' && err.code !== 'IncorrectState' && a.add.length) {
          for (const e of a.add) {
            this.failed.set(e.cidr, { code: err.code, at: mgr.clock.now(), sources: e.description });
            states.set(e.cidr, { state: 'Failed', code: err.code });
          }
          this.log.warn({ operation: err.operation, code: err.code }, 'prefix list change failed');
          continue;
        }
        if (cls === 'gone' || cls === 'requeue' || err.code === 'IncorrectState') continue;
        throw err;
      }
    }
    return mutated;
  }

  /** Events, metric and log line for each rejected or warned value, first sighting only for metric and log. */
  private reportProblems(problems: SourceProblem[], cms: ConfigMap[]): void {
    for (const p of problems) {
      const cm = cms.find((c) => c.metadata.namespace === p.namespace && c.metadata.name === p.name);
      const key = `${p.source}|${p.value}`;
      const reason = p.detail ? `${p.reason}/${p.detail}` : p.reason;
      if (!this.seen.has(key)) {
        this.seen.add(key);
        this.d.metrics.invalidValues.inc({ namespace: p.namespace, reason: p.reason });
        this.log.warn(
          { source: p.source, object: `configmaps/${p.namespace}/${p.name}`, field: `data.${p.key}`, value: p.value, reason, expected: p.expected },
          `ConfigMap ${p.namespace}/${p.name} data.${p.key}: ${JSON.stringify(p.value)} ${reason}: expected ${p.expected}`,
        );
      }
      if (cm) {
        const ref = objectReference(cm as never, 'v1', 'ConfigMap') as ReturnType<EgressReconciler['statusRef']>;
        this.event(ref, 'Warning', p.reason, `data.${p.key}: ${JSON.stringify(p.value)} ${reason}; expected ${p.expected}`);
      }
    }
  }

  /** Status ConfigMap, per-ConfigMap Events, metrics (docs/static-egress-controller.md#seg-status). */
  private publish(
    observed: Observed,
    plan: ReturnType<EgressReconciler['planAll']>,
    sources: Map<string, string[]>,
    problems: SourceProblem[],
    cms: ConfigMap[],
  ): void {
    const { mgr, metrics, cfg } = this.d;
    const { data, doc } = renderStatus({
      vpcId: observed.vpcId,
      zones: plan.infra.zones,
      states: plan.routes.states,
      sources: this.sourcesByDesired(plan.routes.states, sources),
      problems,
      previous: this.previousConditions ?? [],
      now: mgr.clock.now(),
      mode: cfg.mode,
      prefixListId: plan.prefixListId,
      modeSwitchBlocked: plan.modeSwitchBlocked,
    });
    this.previousConditions = doc.conditions;
    this.last.status = doc;
    // metrics
    metrics.cidrs.reset();
    for (const s of ['Applied', 'Degraded', 'Pending', 'Conflict', 'Failed']) metrics.cidrs.set({ state: s }, 0);
    for (const s of plan.routes.states.values()) metrics.cidrs.inc({ state: s.state });
    metrics.natGateways.reset();
    for (const n of observed.nats) metrics.natGateways.inc({ az: n.az, state: n.state });
    metrics.publicIp.reset();
    for (const [az, z] of plan.infra.zones) if (z.publicIp && z.allocationId) metrics.publicIp.set({ az, public_ip: z.publicIp, allocation_id: z.allocationId }, 1);
    metrics.headroom.reset();
    for (const [id, h] of plan.routes.headroom) metrics.headroom.set({ route_table: id }, h);
    metrics.routeTables.set({ state: 'target' }, [...plan.targets.byAz.values()].flat().length);
    metrics.routeTables.set({ state: 'skipped' }, plan.targets.skipped.size);
    metrics.routes.reset();
    const ours = new Set(observed.nats.map((n) => n.id));
    for (const [az, ts] of plan.targets.byAz) {
      for (const t of ts) metrics.routes.set({ route_table: t.id, az }, t.routes.filter((r) => r.natGatewayId && ours.has(r.natGatewayId)).length);
    }
    metrics.duplicates.set({ kind: 'eip' }, plan.infra.duplicateEips.length);
    metrics.duplicates.set({ kind: 'nat-gateway' }, plan.infra.surplusNats);
    for (const [id, why] of plan.targets.skipped) this.event(this.statusRef(), 'Warning', 'RouteTableSkipped', `route table ${id} skipped: ${why}`);
    // per input ConfigMap: EgressReady / EgressPending / RouteConflict / EgressFailed
    const ips = data['egress-ips'];
    for (const cm of cms) {
      const prefix = `${cm.metadata.namespace}/${cm.metadata.name}/`;
      const mine = [...sources].filter(([, srcs]) => srcs.some((s) => s.startsWith(prefix))).map(([c]) => c);
      if (!mine.length) continue;
      const ref = objectReference(cm as never, 'v1', 'ConfigMap') as ReturnType<EgressReconciler['statusRef']>;
      const st = mine.map((c) => [c, this.stateOf(c, plan.routes.states)] as const);
      const conflict = st.find(([, s]) => s?.state === 'Conflict');
      const failed = st.find(([, s]) => s?.state === 'Failed');
      const pending = st.find(([, s]) => s && s.state !== 'Applied');
      if (conflict) this.event(ref, 'Warning', 'RouteConflict', `${conflict[0]}: ${(conflict[1] as { message: string }).message}`);
      if (failed) this.event(ref, 'Warning', 'EgressFailed', `${failed[0]}: ${(failed[1] as { code: string }).code}`);
      const capacity = st.find(([, s]) => s?.state === 'Pending' && s.reason === 'RouteCapacity');
      if (capacity) this.event(ref, 'Warning', 'RouteCapacityExceeded', `${capacity[0]}: ${(capacity[1] as { message: string }).message}`);
      if (!pending) this.event(ref, 'Normal', 'EgressReady', `${mine.length} CIDR(s) routed through egress IPs ${ips}`);
      else if (pending[1]?.state === 'Pending') this.event(ref, 'Normal', 'EgressPending', `${pending[0]}: ${pending[1].reason}`);
    }
    if (cfg.dryRun) {
      this.log.info({ dryRun: true, egressIps: ips }, 'plan: status not written (dry run)');
      return;
    }
    if (cfg.annotateConfigMaps) void this.annotate(cms, sources, plan.infra.zones, ips);
    void this.writeStatus(data).catch((err: unknown) => this.log.warn({ err }, 'status ConfigMap write failed'));
  }

  /**
   * `--annotate-configmaps` (docs/static-egress-controller.md#seg-annotate): `kubeaws.io/egress-ips` = the
   * sorted egress IPs on every input ConfigMap with at least one valid source, once every configured AZ has
   * its public IP; patched only when the value differs from the cached object's.
   */
  private async annotate(cms: ConfigMap[], sources: Map<string, string[]>, zones: ReadonlyMap<string, { publicIp?: string }>, ips: string): Promise<void> {
    const { cfg, mgr } = this.d;
    if (cfg.availabilityZones.some((az) => !zones.get(az)?.publicIp)) return;
    const withSources = new Set([...sources.values()].flat().map((s) => s.split('/').slice(0, 2).join('/')));
    for (const cm of cms) {
      const { namespace, name } = cm.metadata;
      if (!withSources.has(`${namespace}/${name}`) || cm.metadata.annotations?.[EGRESS_IPS_ANNOTATION] === ips) continue;
      try {
        await mgr.leaderClient.mergePatch(`/api/v1/namespaces/${namespace}/configmaps/${name}`, {
          metadata: { annotations: { [EGRESS_IPS_ANNOTATION]: ips } },
        });
      } catch (err) {
        this.log.warn({ err, object: `configmaps/${namespace}/${name}` }, 'egress-ips annotation failed');
      }
    }
  }

  private stateOf(cidr: string, states: Map<string, CidrState>): CidrState | undefined {
    const s = states.get(cidr);
    if (s) return s;
    for (const [d, st] of states) if (d !== cidr && cidrOf(d, cidr)) return st;
    return undefined;
  }

  private sourcesByDesired(states: Map<string, CidrState>, sources: Map<string, string[]>): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const d of states.keys()) {
      const list = [...sources].filter(([c]) => c === d || cidrOf(d, c)).flatMap(([, s]) => s);
      out.set(d, [...new Set(list)].sort());
    }
    return out;
  }

  /** Writes the status ConfigMap only when its data changed. */
  private async writeStatus(data: Record<string, string>): Promise<void> {
    const body = JSON.stringify(data);
    if (body === this.lastWritten) return;
    const ref = this.statusRef();
    const client = this.d.mgr.leaderClient;
    const path = `/api/v1/namespaces/${ref.namespace}/configmaps/${ref.name}`;
    try {
      await client.mergePatch(path, { metadata: { labels: MANAGED_BY }, data });
    } catch (err) {
      if (!(err instanceof ApiError) || err.statusCode !== 404) throw err;
      await client.create(`/api/v1/namespaces/${ref.namespace}/configmaps`, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: ref.name, namespace: ref.namespace, labels: MANAGED_BY },
        data,
      });
    }
    this.lastWritten = body;
  }
}

function cidrOf(outer: string, inner: string): boolean {
  return cidrContains(outer, inner);
}
