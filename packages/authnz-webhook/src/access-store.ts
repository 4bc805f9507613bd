/**
 * AccessRequests stored in the cluster (docs/authnz-webhook.md#authnz-access-storage): an informer on the
 * emergency-access namespace keeps an index from user to requests, so neither TokenReview nor SAR
 * handling ever calls kube-apiserver; the access API writes through {@link KubeAccessRepo}; the leader
 * replica runs {@link Housekeeper} (expiry, approval timeout, retention) with an Event per transition.
 */
import { ApiError, type Clock, type Informer, type KubeClient, type Logger, sleep } from '@kubeaws/runtime';
import type { AccessRepo, EmitEvent } from './access-api.js';
import { RepoConflict, RepoUnavailable } from './access-api.js';
import type { AuthnzConfig } from './config.js';
import type { DecisionLog } from './decision-log.js';
import {
  ACCESS_API_VERSION,
  type AccessRequest,
  type AccessRequestStatus,
  type GrantSource,
  activeGrantOf,
  isActiveGrant,
  planHousekeeping,
} from './grants.js';
import type { WebhookMetrics } from './metrics.js';

/** Index name of the informer cache: requests by `spec.user`. */
export const USER_INDEX = 'byUser';

/** Collection path of AccessRequests in a namespace. */
export function accessRequestsPath(namespace: string): string {
  return `/apis/${ACCESS_API_VERSION}/namespaces/${namespace}/accessrequests`;
}

function wrap(e: unknown): never {
  if (e instanceof ApiError && e.statusCode === 409) throw new RepoConflict(e.message);
  throw new RepoUnavailable((e as Error).message);
}

/** {@link AccessRepo} and {@link GrantSource} over the cluster. */
export class KubeAccessRepo implements AccessRepo, GrantSource {
  constructor(
    private readonly client: KubeClient,
    private readonly informer: Informer<AccessRequest & { metadata: { name?: string } }>,
    private readonly namespace: string,
  ) {}

  list(): AccessRequest[] {
    return this.informer.cache.list() as AccessRequest[];
  }

  activeGrant(username: string, uid: string, nowMs: number): AccessRequest | undefined {
    return activeGrantOf(this.informer.cache.byIndex(USER_INDEX, username) as AccessRequest[], username, uid, nowMs);
  }

  synced(): boolean {
    return this.informer.hasSynced();
  }

  async get(name: string): Promise<AccessRequest | undefined> {
    try {
      return await this.client.get<AccessRequest>(`${accessRequestsPath(this.namespace)}/${encodeURIComponent(name)}`);
    } catch (e) {
      if (e instanceof ApiError && e.statusCode === 404) return undefined;
      return wrap(e);
    }
  }

  async create(obj: AccessRequest): Promise<AccessRequest> {
    try {
      return await this.client.create<AccessRequest>(accessRequestsPath(this.namespace), obj);
    } catch (e) {
      return wrap(e);
    }
  }

  async updateStatus(ar: AccessRequest, status: AccessRequestStatus): Promise<AccessRequest> {
    try {
      return await this.client.update<AccessRequest>(
        `${accessRequestsPath(this.namespace)}/${encodeURIComponent(ar.metadata.name!)}/status`,
        {
          ...ar,
          status,
        },
      );
    } catch (e) {
      return wrap(e);
    }
  }

  async delete(name: string): Promise<void> {
    try {
      await this.client.delete(`${accessRequestsPath(this.namespace)}/${encodeURIComponent(name)}`);
    } catch (e) {
      if (e instanceof ApiError && e.statusCode === 404) return;
      wrap(e);
    }
  }
}

/** Options of {@link Housekeeper}. */
export interface HousekeeperOptions {
  repo: AccessRepo;
  config: () => AuthnzConfig;
  clock: Clock;
  logger: Logger;
  log: DecisionLog;
  metrics?: WebhookMetrics;
  emit?: EmitEvent;
  /** Pass interval in ms; default 5 000. */
  intervalMs?: number;
}

/**
 * Leader-only housekeeping of AccessRequests (docs/authnz-webhook.md#authnz-access-expiry), plus the active-grant gauge
 * on every replica.
 */
export class Housekeeper {
  private running = false;
  constructor(private readonly o: HousekeeperOptions) {}

  /** Updates `access_grants_active{type}` from the cache. */
  updateGauge(): void {
    const now = this.o.clock.now();
    const counts = { Manual: 0, Emergency: 0 };
    for (const ar of this.o.repo.list()) if (isActiveGrant(ar, now)) counts[ar.spec.type]++;
    this.o.metrics?.grantsActive.set({ type: 'Manual' }, counts.Manual);
    this.o.metrics?.grantsActive.set({ type: 'Emergency' }, counts.Emergency);
  }

  /**
   * One pass over every request. Errors are logged; the next pass retries. Stops between requests once
   * `signal` aborts (leadership lost or shutdown).
   */
  async pass(signal?: AbortSignal): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const cfg = this.o.config().emergencyAccess;
      for (const ar of this.o.repo.list()) {
        if (signal?.aborted) break;
        const step = planHousekeeping(ar, cfg, this.o.clock.now());
        if (!step) continue;
        try {
          if (step.action === 'delete') {
            await this.o.repo.delete(ar.metadata.name!);
            continue;
          }
          const updated = await this.o.repo.updateStatus(ar, step.status);
          if (step.action === 'expire') {
            this.o.metrics?.accessRequests.inc({ type: ar.spec.type, action: 'expired' });
            this.o.log.audit('access.expired', {
              request: ar.metadata.name,
              type: ar.spec.type,
              requester: { username: ar.spec.user, uid: ar.spec.uid },
              why: step.why,
              expiresAt: ar.status?.expiresAt,
            });
            this.o.emit?.(
              updated,
              'Normal',
              'AccessExpired',
              `${ar.spec.type} access of ${ar.spec.user} expired (${step.why})`,
            );
          } else {
            this.o.emit?.(
              updated,
              'Warning',
              'EmergencyAccessGranted',
              `${ar.spec.user} holds Emergency access until ${step.status.expiresAt}`,
            );
          }
        } catch (e) {
          if (!(e instanceof RepoConflict))
            this.o.logger.warn({ err: e, request: ar.metadata.name }, 'access request housekeeping failed');
        }
      }
    } finally {
      this.running = false;
      this.updateGauge();
    }
  }

  /**
   * Runs {@link pass} at once and then every `intervalMs` (default 5 000 ms) until `signal` aborts; resolves
   * once the pass in progress has finished. The leader-only Runnable of the component
   * (docs/authnz-webhook.md#authnz-access-expiry).
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.pass(signal);
      await sleep(this.o.clock, this.o.intervalMs ?? 5000, signal);
    }
  }
}
