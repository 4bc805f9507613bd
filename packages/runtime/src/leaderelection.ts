import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type Clock, type TimerHandle, realClock, sleep } from './clock.js';
import { type KubeClient, type KubeObject, resourcePath } from './client.js';
import { isConflict, isNotFound } from './errors.js';
import { type Logger, silentLogger } from './logging.js';
import { ComponentMetrics, detachedMetrics } from './metrics.js';

/** `spec` of a `coordination.k8s.io/v1` Lease. Times are MicroTime strings (RFC 3339, microseconds). */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** A `coordination.k8s.io/v1` Lease object. */
export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

/** Formats ms since the epoch as a Kubernetes MicroTime (`2006-01-02T15:04:05.000000Z`). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * The identity of this candidate: `POD_NAME` when set (downward API), else `<hostname>_<uuid>` as
 * client-go examples do.
 */
export function defaultIdentity(env: NodeJS.ProcessEnv = process.env): string {
  return env.POD_NAME || `${hostname()}_${randomUUID()}`;
}

/** Outcome of {@link decideLease}. */
export type LeaseDecision =
  /** Write `spec` (create when no Lease exists, else update with the read resourceVersion). */
  | { action: 'create' | 'renew' | 'acquire'; spec: LeaseSpec }
  /** Someone else holds a valid lease; try again later. `expiresAtMs` is our local estimate. */
  | { action: 'wait'; holder: string; expiresAtMs: number };

/**
 * The decision of client-go's `LeaderElector.tryAcquireOrRenew`, as a pure function.
 *
 * - no Lease: create one held by `identity` (acquireTime = renewTime = now, transitions 0);
 * - held by `identity`: renew (keep acquireTime and transitions, renewTime = now);
 * - held by another identity whose record was first observed locally at `observedAtMs` and
 *   `observedAtMs + record.leaseDurationSeconds` is still in the future: wait. Expiry is judged from
 *   the local observation time, not from `renewTime`, so clock skew between nodes does not matter;
 * - otherwise (empty holder, i.e. released, or expired): acquire (acquireTime = now, transitions + 1).
 *
 * @param p.current spec of the Lease read from the API (undefined when it does not exist)
 * @param p.nowMs local time (ms)
 * @param p.observedAtMs local time when the current record (holder, renewTime, ...) was first seen
 * @param p.leaseDurationMs our lease duration, written into the record
 */
export function decideLease(p: {
  current: LeaseSpec | undefined;
  identity: string;
  nowMs: number;
  observedAtMs: number;
  leaseDurationMs: number;
}): LeaseDecision {
  const durationSeconds = Math.max(1, Math.ceil(p.leaseDurationMs / 1000));
  const now = microTime(p.nowMs);
  if (!p.current) {
    return {
      action: 'create',
      spec: {
        holderIdentity: p.identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      },
    };
  }
  const holder = p.current.holderIdentity ?? '';
  if (holder === p.identity) {
    return {
      action: 'renew',
      spec: {
        holderIdentity: p.identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: p.current.acquireTime ?? now,
        renewTime: now,
        leaseTransitions: p.current.leaseTransitions ?? 0,
      },
    };
  }
  const expiresAtMs = p.observedAtMs + (p.current.leaseDurationSeconds ?? durationSeconds) * 1000;
  if (holder !== '' && expiresAtMs > p.nowMs) return { action: 'wait', holder, expiresAtMs };
  return {
    action: 'acquire',
    spec: {
      holderIdentity: p.identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: (p.current.leaseTransitions ?? 0) + 1,
    },
  };
}

/** Options of {@link LeaderElector}. */
export interface LeaderElectionOptions {
  /** Client used for the Lease (should not be write-guarded). */
  client: KubeClient;
  /** Lease namespace. */
  namespace: string;
  /** Lease name. */
  name: string;
  /** Candidate identity; default {@link defaultIdentity}. */
  identity?: string;
  /** How long a lease is valid after its last observed renewal; default 15 000 ms. */
  leaseDurationMs?: number;
  /** The leader gives up when it could not renew for this long; default 10 000 ms (< leaseDuration). */
  renewDeadlineMs?: number;
  /** Interval between acquire / renew attempts; default 2000 ms. */
  retryPeriodMs?: number;
  /** Release the Lease when {@link LeaderElector.run}'s signal aborts (default true, client-go ReleaseOnCancel). */
  releaseOnCancel?: boolean;
  /** Called when this candidate became leader; `signal` aborts when leadership ends. */
  onStartedLeading?: (signal: AbortSignal) => void;
  /** Called when leadership ended (lost, or released on shutdown). */
  onStoppedLeading?: () => void;
  /** Called when the observed holder changes (including to this candidate). */
  onNewLeader?: (identity: string) => void;
  clock?: Clock;
  logger?: Logger;
  metrics?: ComponentMetrics;
}

/**
 * Leader election on a `coordination.k8s.io/v1` Lease with client-go semantics (defaults 15 s lease,
 * 10 s renew deadline, 2 s retry period):
 *
 * - candidates poll every retry period (+ up to 20 % jitter); the Lease is read (GET) and written with
 *   PUT carrying the read resourceVersion (optimistic concurrency: 409 = someone else won), or created
 *   (POST) when missing;
 * - the leader renews every retry period; if no renewal succeeded within the renew deadline (measured
 *   from the start of the last successful attempt) it stops leading at once, even while a request
 *   hangs. Since renewDeadline < leaseDuration, other candidates cannot acquire before it stopped;
 * - when the run signal aborts and `releaseOnCancel` is set, the leader writes an empty
 *   holderIdentity (leaseDurationSeconds 1), so the next candidate acquires on its next attempt.
 *
 * Metric: `leader_election_is_leader{lease}` (1 while leading), `leader_election_transitions_total{lease}`.
 */
export class LeaderElector {
  /** This candidate's identity. */
  readonly identity: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observed?: { key: string; at: number; holder: string };
  private lease?: Lease;
  private leading = false;
  private lastRenewAt = 0;
  private leadAbort?: AbortController;
  private deadlineTimer?: TimerHandle;
  private readonly m;

  constructor(private readonly opts: LeaderElectionOptions) {
    this.identity = opts.identity ?? defaultIdentity();
    this.clock = opts.clock ?? realClock;
    this.log = (opts.logger ?? silentLogger()).child({
      lease: `${opts.namespace}/${opts.name}`,
      identity: this.identity,
    });
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs))
      throw new RangeError('leaseDuration must be greater than renewDeadline');
    if (!(this.renewDeadlineMs > this.retryPeriodMs * 1.2))
      throw new RangeError('renewDeadline must be greater than retryPeriod*1.2');
    const metrics = opts.metrics ?? detachedMetrics();
    this.m = {
      leader: metrics
        .gauge('leader_election_is_leader', '1 while this replica holds the Lease', ['lease'])
        .labels(opts.name),
      transitions: metrics
        .counter('leader_election_transitions_total', 'Times this replica started leading', ['lease'])
        .labels(opts.name),
    };
    this.m.leader.set(0);
  }

  private get path(): string {
    return resourcePath({
      group: 'coordination.k8s.io',
      version: 'v1',
      resource: 'leases',
      namespace: this.opts.namespace,
      name: this.opts.name,
    });
  }

  /**
   * True while leading, i.e. the last successful renewal started less than renewDeadline ago. Use it
   * as a write guard.
   */
  isLeader(): boolean {
    return this.leading && this.clock.now() - this.lastRenewAt < this.renewDeadlineMs;
  }

  /** The holder observed at the last attempt ("" when none). */
  observedLeader(): string {
    return this.observed?.holder ?? '';
  }

  /**
   * Campaigns until `signal` aborts: acquires, renews, and after losing the lease campaigns again.
   * On abort, releases the Lease when leading and `releaseOnCancel` (default true). Never throws.
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!this.leading) {
        const attemptAt = this.clock.now();
        const r = await this.tryAcquireOrRenew(signal);
        if (r === 'ok' && !signal.aborted) {
          this.startLeading(attemptAt);
          continue;
        }
        await sleep(this.clock, this.retryPeriodMs * (1 + 0.2 * Math.random()), signal);
        continue;
      }
      await sleep(this.clock, this.retryPeriodMs, signal);
      if (signal.aborted || !this.leading) continue;
      const attemptAt = this.clock.now();
      const r = await this.tryAcquireOrRenew(signal, this.lastRenewAt + this.renewDeadlineMs - attemptAt);
      if (!this.leading) continue; // deadline timer fired meanwhile
      if (r === 'ok') {
        this.lastRenewAt = attemptAt;
        this.armDeadline();
      } else if (r === 'held') {
        this.stopLeading(`lease is held by ${this.observedLeader()}`);
      } else if (this.clock.now() - this.lastRenewAt >= this.renewDeadlineMs) {
        this.stopLeading('failed to renew within the renew deadline');
      }
    }
    if (this.leading) {
      const release = this.opts.releaseOnCancel ?? true;
      if (release) await this.release();
      this.stopLeading(release ? 'released on shutdown' : 'stopped without release');
    }
  }

  private startLeading(attemptAt: number): void {
    this.leading = true;
    this.lastRenewAt = attemptAt;
    this.armDeadline();
    this.leadAbort = new AbortController();
    this.m.leader.set(1);
    this.m.transitions.inc();
    this.log.info('became leader');
    try {
      this.opts.onStartedLeading?.(this.leadAbort.signal);
    } catch (err) {
      this.log.error({ err }, 'onStartedLeading threw');
    }
  }

  private armDeadline(): void {
    this.clock.clearTimeout(this.deadlineTimer);
    const due = this.lastRenewAt + this.renewDeadlineMs - this.clock.now();
    this.deadlineTimer = this.clock.setTimeout(() => {
      if (this.leading && this.clock.now() - this.lastRenewAt >= this.renewDeadlineMs) {
        this.stopLeading('renew deadline passed');
      }
    }, due);
  }

  private stopLeading(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.clock.clearTimeout(this.deadlineTimer);
    this.m.leader.set(0);
    this.log.warn({ reason: why }, 'stopped leading');
    this.leadAbort?.abort();
    try {
      this.opts.onStoppedLeading?.();
    } catch (err) {
      this.log.error({ err }, 'onStoppedLeading threw');
    }
  }

  private observe(spec: LeaseSpec | undefined): void {
    const key = JSON.stringify(spec ?? null);
    if (this.observed?.key !== key) {
      const holder = spec?.holderIdentity ?? '';
      const changed = this.observed?.holder !== holder;
      this.observed = { key, at: this.clock.now(), holder };
      if (changed && holder) {
        try {
          this.opts.onNewLeader?.(holder);
        } catch (err) {
          this.log.error({ err }, 'onNewLeader threw');
        }
      }
    }
  }

  /** One attempt: 'ok' when this candidate holds the Lease afterwards, 'held' when another does, else 'fail'. */
  private async tryAcquireOrRenew(
    signal: AbortSignal,
    timeoutMs = this.renewDeadlineMs,
  ): Promise<'ok' | 'held' | 'fail'> {
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const t = setTimeout(() => ac.abort(), Math.max(1, timeoutMs));
    try {
      let current: Lease | undefined;
      try {
        current = await this.opts.client.get<Lease>(this.path, {
          signal: ac.signal,
        });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      this.observe(current?.spec);
      const d = decideLease({
        current: current?.spec,
        identity: this.identity,
        nowMs: this.clock.now(),
        observedAtMs: this.observed!.at,
        leaseDurationMs: this.leaseDurationMs,
      });
      if (d.action === 'wait') return 'held';
      if (ac.signal.aborted) return 'fail';
      let written: Lease;
      if (d.action === 'create') {
        written = await this.opts.client.create<Lease>(
          resourcePath({
            group: 'coordination.k8s.io',
            version: 'v1',
            resource: 'leases',
            namespace: this.opts.namespace,
          }),
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.opts.name, namespace: this.opts.namespace },
            spec: d.spec,
          },
          { signal: ac.signal },
        );
      } else {
        written = await this.opts.client.update<Lease>(
          this.path,
          { ...current, spec: d.spec, metadata: { ...current!.metadata } },
          { signal: ac.signal },
        );
      }
      this.lease = written;
      this.observe(written.spec);
      return 'ok';
    } catch (err) {
      if (isConflict(err)) this.log.debug('lease changed concurrently (409)');
      else if (!signal.aborted) this.log.warn({ err }, 'lease acquire/renew attempt failed');
      return 'fail';
    } finally {
      clearTimeout(t);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Gives the Lease up if this candidate holds it: holderIdentity "", leaseDurationSeconds 1,
   * optimistic on the last written resourceVersion (one re-read on conflict). Never throws.
   */
  async release(): Promise<boolean> {
    for (let i = 0; i < 2; i++) {
      try {
        const cur = i === 0 && this.lease ? this.lease : await this.opts.client.get<Lease>(this.path);
        if ((cur.spec?.holderIdentity ?? '') !== this.identity) return false;
        const now = microTime(this.clock.now());
        this.lease = await this.opts.client.update<Lease>(this.path, {
          ...cur,
          spec: {
            ...cur.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            acquireTime: now,
            renewTime: now,
          },
        });
        this.log.info('released lease');
        return true;
      } catch (err) {
        if (isConflict(err) && i === 0) continue;
        this.log.warn({ err }, 'failed to release lease');
        return false;
      }
    }
    return false;
  }
}
