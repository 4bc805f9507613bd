/**
 * Argo Rollouts discovery (docs/pdb-controller.md#pdb-rollouts), a Runnable of the Manager that runs on
 * every replica (standbys keep their caches warm too): every `--rollouts-discovery-period` on the
 * Manager's clock it asks whether `argoproj.io/v1alpha1` serves `rollouts` and, before watching them,
 * whether the controller may list them. It starts the Rollout informer (optional: never counts toward
 * `/readyz`) once they can be watched and stops it when they no longer can. A missing CRD or RBAC is
 * reported as bad input and, by the leader, as a `RolloutsUnavailable` Warning on the controller's own
 * Pod; Deployments and StatefulSets are unaffected.
 */
import {
  ApiError,
  type Informer,
  type KubeObject,
  type Logger,
  type Manager,
  type Runnable,
  sleep,
} from '@kubeaws/runtime';
import { INFORMER_NAMES, type PdbCaches, WATCH_PATHS } from './caches';
import { type RequestOutcome, type RolloutsCheck, rolloutsAvailability, rolloutsUnavailable } from './decide';
import type { PdbMetrics } from './metrics';
import type { Reporter } from './report';
import { pdbKeysOfKind } from './triggers';

/** Discovery document of the Argo Rollouts API group version. */
const ROLLOUTS_DISCOVERY_PATH = '/apis/argoproj.io/v1alpha1';

/**
 * The controller's own Pod (downward API `POD_NAME`, `POD_NAMESPACE`, `POD_UID`): the subject of Events
 * about the controller itself.
 */
export interface OwnPod {
  name: string;
  namespace: string;
  uid?: string;
}

/** The own Pod from the environment; undefined unless `POD_NAME` and `POD_NAMESPACE` are set. */
export function ownPodFromEnv(env: NodeJS.ProcessEnv): OwnPod | undefined {
  if (!env.POD_NAME || !env.POD_NAMESPACE) return undefined;
  return { name: env.POD_NAME, namespace: env.POD_NAMESPACE, uid: env.POD_UID || undefined };
}

/** Options of {@link RolloutDiscovery}. */
export interface RolloutDiscoveryOptions {
  mgr: Manager;
  caches: PdbCaches;
  metrics: PdbMetrics;
  report: Reporter;
  /** `--rollouts-discovery-period` in ms. */
  periodMs: number;
  /** The controller's own Pod; without it `RolloutsUnavailable` is only logged. */
  pod?: OwnPod;
  /** Connects a new Rollout informer to the controller's queue. */
  connect(inf: Informer<KubeObject>): void;
  /** Called when the Rollout informer stops: forget the Rollout keys. */
  onStopped(): void;
  /** Queues a key. */
  enqueue(key: string): void;
}

/** The Rollout discovery loop (see the module docs). */
export class RolloutDiscovery implements Runnable {
  readonly name = 'rollouts-discovery';
  readonly leaderOnly = false;
  private readonly log: Logger;
  private problem?: string;
  private reported?: string;

  constructor(private readonly o: RolloutDiscoveryOptions) {
    this.log = o.mgr.logger;
  }

  /** Discovers at once, then every period until `signal` aborts. */
  async start(signal: AbortSignal): Promise<void> {
    do await this.discover(signal);
    while (await sleep(this.o.mgr.clock, this.o.periodMs, signal));
  }

  /**
   * Emits the `RolloutsUnavailable` Warning for the current problem, once per problem and only while
   * leading (called again when this replica starts leading).
   */
  reportProblem(): void {
    const problem = this.problem;
    if (!problem || problem === this.reported || !this.o.mgr.isLeader()) return;
    this.reported = problem;
    const pod = this.o.pod;
    if (!pod) {
      this.log.warn(
        { reason: problem },
        'Rollouts unavailable (no own Pod known for the Event: POD_NAME/POD_NAMESPACE unset)',
      );
      return;
    }
    this.o.report.event(
      rolloutsUnavailable(problem, this.o.periodMs).event,
      { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid },
      'Discover',
    );
  }

  /** Leadership lost: the next leader reports the problem again. */
  forgetReported(): void {
    this.reported = undefined;
  }

  private async discover(signal: AbortSignal): Promise<void> {
    const failures: unknown[] = [];
    try {
      const client = this.o.mgr.client;
      const discovery = await outcome(
        () => client.get<{ resources?: Array<{ name?: string }> }>(ROLLOUTS_DISCOVERY_PATH),
        failures,
      );
      let check: RolloutsCheck = rolloutsAvailability(discovery);
      if (check.kind === 'available' && !this.o.caches.informer('Rollout')) {
        check = rolloutsAvailability(
          discovery,
          await outcome(() => client.list(WATCH_PATHS.Rollout, { limit: 1 }), failures),
        );
      }
      if (check.kind === 'available') {
        this.problem = undefined;
        this.reported = undefined;
        if (!this.o.caches.informer('Rollout')) this.startInformer(signal);
      } else if (check.kind === 'unavailable') {
        await this.stopInformer();
        this.setProblem(check.problem);
      } else {
        this.log.warn({ err: failures[failures.length - 1] }, 'Rollout API discovery failed; retrying');
      }
    } catch (err) {
      this.log.warn({ err }, 'Rollout API discovery failed; retrying');
    }
  }

  private startInformer(signal: AbortSignal): void {
    const { caches, metrics } = this.o;
    const inf = caches.add('Rollout', true);
    this.o.connect(inf);
    metrics.rolloutsEnabled.set(1);
    this.log.info({ resource: INFORMER_NAMES.Rollout }, 'Rollout informer started');
    void inf.waitForSync(signal).then((synced) => {
      if (!synced || caches.informer('Rollout') !== inf) return;
      // Rollout-owned PDBs can be judged for orphans only now (docs/pdb-controller.md#pdb-orphans)
      for (const k of pdbKeysOfKind(caches.pdbs.cache.list(), 'Rollout')) this.o.enqueue(k);
    });
  }

  private async stopInformer(): Promise<void> {
    if (!this.o.caches.informer('Rollout')) return;
    const stopped = this.o.caches.remove('Rollout');
    this.o.metrics.rolloutsEnabled.set(0);
    this.o.onStopped();
    await stopped;
    this.log.warn({ resource: INFORMER_NAMES.Rollout }, 'Rollout informer stopped');
  }

  private setProblem(problem: string): void {
    if (this.problem === problem) return;
    this.problem = problem;
    const pod = this.o.pod;
    this.o.report.badInput(
      { kind: 'Pod', namespace: pod?.namespace ?? '', name: pod?.name ?? '' },
      rolloutsUnavailable(problem, this.o.periodMs).input,
    );
    this.reportProblem();
  }
}

/** Runs one request; a failure becomes its status (0 without a response) and is kept in `failures`. */
async function outcome<T>(request: () => Promise<T>, failures: unknown[]): Promise<RequestOutcome<T>> {
  try {
    return { ok: true, body: await request() };
  } catch (err) {
    failures.push(err);
    return {
      ok: false,
      statusCode: err instanceof ApiError ? err.statusCode : 0,
      message: (err as Error)?.message ?? String(err),
    };
  }
}
