/**
 * Rolling-update detection (docs/node-lifecycle-controller.md#nlc-rolling-update): a leader-only Runnable
 * that lists the cluster's ASGs every `--asg-sync-interval` and requests the decommission of each
 * `ready`, unblocked Node whose InService instance runs another launch template version (or launch
 * configuration) than its ASG. ASGs on `$Latest`/`$Default` are skipped with one Warning.
 */
import { type Manager, type Runnable, awsErrorCode, objectReference } from '@kubeaws/runtime';
import type { AsgInfo, AwsApi } from './aws';
import type { NlcConfig } from './config';
import { PENDING_TAINT, STATE_LABEL, nodeBlocked, readMarkers } from './decide';
import type { NlcMetrics } from './metrics';
import type { NodeReconciler } from './reconcile';
import { INSTANCE_INDEX } from './sqs';
import { type NodeObject, nodeView } from './views';

/** Instance IDs of InService instances whose template differs from their ASG's (pinned ASGs only). */
export function outdatedInstances(asgs: AsgInfo[]): { outdated: string[]; unpinned: string[] } {
  const outdated: string[] = [];
  const unpinned: string[] = [];
  for (const g of asgs) {
    if (g.unpinned) {
      unpinned.push(g.name);
      continue;
    }
    if (!g.template) continue;
    for (const i of g.instances) if (i.lifecycleState === 'InService' && i.template !== g.template) outdated.push(i.id);
  }
  return { outdated, unpinned };
}

/** The periodic ASG sync. */
export class RollingUpdateSync implements Runnable {
  readonly name = 'asg-sync';
  readonly leaderOnly = true;
  private readonly warned = new Set<string>();

  constructor(
    private readonly o: {
      mgr: Manager;
      cfg: NlcConfig;
      aws: AwsApi;
      metrics: NlcMetrics;
      reconciler: NodeReconciler;
      nodes: { cache: { byIndex(i: string, v: string): NodeObject[] } };
      ownPod?: { name: string; namespace: string; uid?: string };
    },
  ) {}

  /** Syncs at once and then every `--asg-sync-interval` until `signal` aborts; a failed sync is logged and retried next period. */
  async start(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.syncOnce().catch((err) => this.o.mgr.logger.warn({ error: String(err), code: awsErrorCode(err) }, 'ASG sync failed'));
      await new Promise<void>((r) => {
        const t = setTimeout(r, this.o.cfg.asgSyncInterval);
        signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
      });
    }
  }

  /**
   * One sync: lists the ASGs and marks outdated nodes (one PATCH each, then Normal `DecommissionRequested`
   * naming the instance's and the ASG's launch template, docs/node-lifecycle-controller.md#nlc-events).
   */
  async syncOnce(): Promise<number> {
    const asgs = await this.o.aws.describeClusterAsgs(this.o.cfg.clusterName);
    const { outdated, unpinned } = outdatedInstances(asgs);
    for (const g of unpinned)
      if (!this.warned.has(g) && this.o.ownPod) {
        this.warned.add(g);
        this.o.mgr.events.warning({ apiVersion: 'v1', kind: 'Pod', ...this.o.ownPod }, 'UnpinnedLaunchTemplate', 'Sync', `ASG ${g} uses $Latest/$Default: skipped for rolling updates`);
      }
    this.o.metrics.outdated.set(outdated.length);
    let marked = 0;
    if (this.o.reconciler.clusterBlocked()) return 0;
    const now = this.o.mgr.clock.now();
    for (const iid of outdated) {
      const obj = this.o.nodes.cache.byIndex(INSTANCE_INDEX, iid)[0];
      if (!obj) continue;
      const n = nodeView(obj);
      const m = readMarkers(n, now);
      if ((m.state !== undefined && m.state !== 'ready') || m.pendingTaint || nodeBlocked(n.annotations).blocked) continue;
      await this.o.reconciler.patch(obj, {
        metadata: { labels: { [STATE_LABEL]: 'decommission-pending' } },
        spec: { taints: [...n.taints, { key: PENDING_TAINT, value: 'rolling-update', effect: this.o.cfg.decommissionNoScheduleTaint ? 'NoSchedule' : 'PreferNoSchedule' }] },
      });
      const g = asgs.find((a) => a.instances.some((i) => i.id === iid));
      const runs = g?.instances.find((i) => i.id === iid)?.template ?? 'no launch template';
      this.o.mgr.events.normal(
        objectReference(obj, 'v1', 'Node'),
        'DecommissionRequested',
        'Request',
        `Decommission requested (rolling-update): instance ${iid} runs ${runs}, ASG ${g?.name ?? '?'} has ${g?.template ?? '?'}`,
      );
      marked++;
    }
    return marked;
  }
}
