/**
 * The SQS consumer (docs/node-lifecycle-controller.md#nlc-sqs): a leader-only Runnable that long-polls
 * the EventBridge-fed interruption queue, classifies each message ({@link classifyMessage}), records it
 * on the Node (one PATCH: the fencing PATCH for a new involuntary workflow, else a record merge) and only
 * then deletes it. Invalid and unsupported messages are dead-lettered (through the queue's redrive
 * policy when it has one); receive errors back off 1 s -> 60 s and the loop never exits. After
 * aws-node-termination-handler's SQS monitor, without its crash loops and in-memory dedupe.
 */
import { ApiError, type Logger, type Manager, type Runnable, awsErrorCode, objectReference } from '@kubeaws/runtime';
import type { AwsApi, QueueMessage } from './aws';
import type { NlcConfig } from './config';
import {
  type Classified,
  INTERRUPTION,
  type InterruptionRecord,
  STATE_LABEL,
  classifyMessage,
  formatTime,
  instanceIdOf,
  isInvoluntary,
  mergeRecord,
  nodeBlocked,
  readMarkers,
} from './decide';
import type { NlcMetrics } from './metrics';
import type { NodeReconciler } from './reconcile';
import { type NodeObject, nodeView } from './views';

/** Index of the node cache by EC2 instance ID (from `spec.providerID` only, never by name). */
export const INSTANCE_INDEX = 'instance';

/** What a message came to (docs/node-lifecycle-controller.md#nlc-sqs). */
export type Outcome = 'invalid' | 'unsupported' | 'ignored' | 'unknown_instance' | 'duplicate' | 'accepted' | 'retry';

/** The leader-only SQS consumer. */
export class SqsConsumer implements Runnable {
  readonly name = 'sqs-consumer';
  readonly leaderOnly = true;
  /** Last loop iteration (epoch ms, real time) for /healthz. */
  lastLoopAt = Date.now();
  private redrive = false;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly o: {
      mgr: Manager;
      cfg: NlcConfig;
      aws: AwsApi;
      metrics: NlcMetrics;
      reconciler: NodeReconciler;
      nodes: { cache: { byIndex(i: string, v: string): NodeObject[]; get(k: string): NodeObject | undefined } };
      enqueue: (node: string) => void;
      ownPod?: { name: string; namespace: string; uid?: string };
    },
  ) {}

  private get log(): Logger {
    return this.o.mgr.logger;
  }

  /** Runs until `signal` aborts. */
  async start(signal: AbortSignal): Promise<void> {
    const q = this.o.cfg.sqsQueueUrl;
    let backoff = 1000;
    for (;;) {
      if (signal.aborted) return;
      try {
        this.redrive = await this.o.aws.hasRedrivePolicy(q);
        break;
      } catch (err) {
        this.o.metrics.receiveErrors.inc({ code: awsErrorCode(err) });
        this.log.warn({ error: String(err) }, 'GetQueueAttributes failed');
        await sleep(backoff, signal);
        backoff = Math.min(60_000, backoff * 2);
      }
    }
    backoff = 1000;
    while (!signal.aborted) {
      this.lastLoopAt = Date.now();
      let msgs: QueueMessage[];
      try {
        msgs = await this.o.aws.receive(q, Math.round(this.o.cfg.sqsWaitTime / 1000), Math.round(this.o.cfg.sqsVisibilityTimeout / 1000), signal);
        backoff = 1000;
      } catch (err) {
        if (signal.aborted) return;
        this.o.metrics.receiveErrors.inc({ code: awsErrorCode(err) });
        this.log.warn({ error: String(err), awsOperation: 'sqs:ReceiveMessage' }, 'receive failed');
        await sleep(backoff, signal);
        backoff = Math.min(60_000, backoff * 2);
        continue;
      }
      await Promise.all(msgs.map((m) => this.handle(m).catch((err) => this.log.error({ error: String(err), messageId: m.messageId }, 'message handling failed'))));
    }
  }

  /** Handles one message to exactly one outcome; exported for tests. */
  async handle(msg: QueueMessage): Promise<Outcome> {
    const now = this.o.mgr.clock.now();
    const c = classifyMessage(msg.body, {
      now,
      spotNoticeMs: this.o.cfg.spotNotice,
      hookName: this.o.cfg.lifecycleHookName,
      rebalanceAction: this.o.cfg.rebalanceAction,
    });
    const kind = 'kind' in c ? c.kind : 'unknown';
    let outcome: Outcome;
    try {
      outcome = await this.outcomeOf(c, now);
    } catch (err) {
      this.log.warn({ messageId: msg.messageId, error: String(err) }, 'message will be retried');
      outcome = 'retry';
    }
    this.o.metrics.messages.inc({ kind, outcome });
    if (c.outcome === 'event') this.o.metrics.messageAge.observe({ kind }, Math.max(0, (now - c.time) / 1000));
    this.log.info({ messageId: msg.messageId, kind, outcome, receiveCount: msg.receiveCount, ...('eventId' in c ? { eventId: c.eventId } : {}) }, 'sqs message');
    if (this.o.cfg.dryRun || outcome === 'retry') return outcome;
    try {
      if (outcome === 'invalid' || outcome === 'unsupported') await this.deadLetter(msg, c);
      else await this.o.aws.deleteMessage(this.o.cfg.sqsQueueUrl, msg.receiptHandle);
    } catch (err) {
      this.log.warn({ messageId: msg.messageId, error: String(err) }, 'queue action failed; the message comes back after its visibility timeout');
    }
    return outcome;
  }

  private async deadLetter(msg: QueueMessage, c: Classified): Promise<void> {
    const first = msg.receiveCount <= 1;
    const why = c.outcome === 'invalid' ? `${c.field}: ${c.reason}` : c.outcome === 'unsupported' ? `${c.source}/${c.detailType}` : '';
    if (!this.redrive || first) {
      this.o.metrics.invalidInput.inc({ source: 'sqs', field: c.outcome === 'invalid' ? c.field : 'detail-type' });
      this.log.warn({ messageId: msg.messageId, outcome: c.outcome, field: why, value: msg.body.slice(0, this.redrive ? 2048 : 65536) }, 'dead-lettering SQS message');
      if (this.o.ownPod)
        this.o.mgr.events.warning({ apiVersion: 'v1', kind: 'Pod', ...this.o.ownPod }, 'InvalidSQSMessage', 'DeadLetter', `Message ${msg.messageId}: ${c.outcome} (${why})`);
    }
    if (this.redrive) await this.o.aws.changeVisibility(this.o.cfg.sqsQueueUrl, msg.receiptHandle, 0);
    else await this.o.aws.deleteMessage(this.o.cfg.sqsQueueUrl, msg.receiptHandle);
  }

  private async outcomeOf(c: Classified, now: number): Promise<Outcome> {
    if (c.outcome !== 'event') return c.outcome;
    let accepted = false;
    let duplicate = false;
    let unknown = 0;
    for (const iid of c.instanceIds) {
      const node = this.o.nodes.cache.byIndex(INSTANCE_INDEX, iid)[0];
      if (!node) {
        unknown++;
        if (c.kind === 'asg-termination' && c.lifecycle) await this.hookWithoutNode(iid, c.lifecycle);
        continue;
      }
      const r = await this.locked(node.metadata!.name!, () => this.record(node.metadata!.name!, c, now));
      if (r === 'accepted') accepted = true;
      else if (r === 'duplicate') duplicate = true;
      else if (r === 'ignored') return 'ignored';
    }
    if (accepted) return 'accepted';
    if (duplicate) return 'duplicate';
    return unknown > 0 ? 'unknown_instance' : 'ignored';
  }

  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    this.locks.set(key, run.catch(() => undefined));
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === run) this.locks.delete(key);
    }
  }

  /** An ASG hook with no Node: complete it at once when the instance is this cluster's, else leave it. */
  private async hookWithoutNode(iid: string, lc: { asg: string; hook: string; token: string }): Promise<void> {
    const info = (await this.o.aws.describeInstances([iid])).get(iid);
    if (info?.tags[`kubernetes.io/cluster/${this.o.cfg.clusterName}`] !== 'owned') return;
    await this.completeAtOnce(iid, lc);
  }

  /** CompleteLifecycleAction(CONTINUE); `ValidationError` (no pending action) counts as done, other errors retry the message. */
  private async completeAtOnce(iid: string, lc: { asg: string; hook: string; token: string }): Promise<void> {
    if (this.o.cfg.dryRun) return;
    try {
      await this.o.aws.completeLifecycleAction({ ...lc, instanceId: iid });
      this.o.metrics.lifecycle.inc({ action: 'complete', result: 'ok' });
    } catch (err) {
      this.o.metrics.lifecycle.inc({ action: 'complete', result: awsErrorCode(err) });
      if (awsErrorCode(err) !== 'ValidationError') throw err;
    }
  }

  private async record(name: string, c: Extract<Classified, { outcome: 'event' }>, now: number): Promise<'accepted' | 'duplicate' | 'ignored'> {
    for (let attempt = 0; ; attempt++) {
      let obj = this.o.nodes.cache.get(name);
      if (attempt > 0) obj = await this.o.mgr.client.get<NodeObject>(`/api/v1/nodes/${name}`);
      if (!obj) return 'duplicate';
      const n = nodeView(obj);
      const m = readMarkers(n, now);
      if (m.state === 'terminating' || m.state === 'terminated') {
        // Nothing left to drain (e.g. we terminated it through its ASG, which fired the hook): let it go at once.
        if (c.lifecycle) await this.completeAtOnce(c.instanceIds[0], c.lifecycle);
        return 'duplicate';
      }
      let lifecycle: InterruptionRecord['lifecycle'];
      let deadline = c.deadline;
      if (c.lifecycle) {
        const h = await this.o.reconciler.holdUntil(c.lifecycle.asg, c.lifecycle.hook, c.time);
        lifecycle = { ...c.lifecycle, heartbeatTimeoutSeconds: h.heartbeatSeconds, holdUntil: formatTime(h.holdUntil), completedAt: null };
        deadline = h.holdUntil - this.o.cfg.deadlineMargin;
      }
      const merged = mergeRecord(m.interruption, { kind: c.kind, eventId: c.eventId, deadline, stopOnly: c.stopOnly, lifecycle }, now);
      if (merged.duplicate) return 'duplicate';
      const annotations = { [INTERRUPTION]: JSON.stringify(merged.record) };
      const inWorkflow = m.state === 'draining' || m.state === 'drained' || m.state === 'fenced';
      let patch: object;
      if (c.kind === 'rebalance-recommendation') {
        const blocked = this.o.reconciler.clusterBlocked() || nodeBlocked(n.annotations).blocked;
        if (blocked && !inWorkflow) return 'ignored';
        if (inWorkflow) patch = { metadata: { annotations } };
        else if (this.o.cfg.rebalanceAction === 'fence') patch = this.o.reconciler.fencePatch(n, m, 'rebalance-recommendation', 'fenced', now, annotations);
        else patch = { metadata: { labels: { [STATE_LABEL]: 'decommission-pending' }, annotations } };
      } else if (m.state === 'draining' || m.state === 'drained') {
        patch = { metadata: { annotations } };
      } else {
        patch = this.o.reconciler.fencePatch(n, m, c.reason, 'draining', now, annotations);
      }
      try {
        await this.o.reconciler.patch(obj, patch);
      } catch (err) {
        if (err instanceof ApiError && err.statusCode === 409 && attempt < 3) continue;
        throw err;
      }
      const ref = objectReference(obj, 'v1', 'Node');
      this.o.mgr.events.normal(ref, 'InterruptionReceived', 'Record', `${c.kind} (event ${c.eventId})${deadline ? `, deadline ${formatTime(deadline)}` : ''}`);
      if (isInvoluntary(merged.record) && (this.o.reconciler.clusterBlocked() || nodeBlocked(n.annotations).blocked))
        this.o.mgr.events.normal(ref, 'BlockIgnored', 'Record', 'Involuntary workflow: blocks do not apply');
      this.o.enqueue(name);
      return 'accepted';
    }
  }
}

/** Index function of the node cache: the instance ID of an AWS providerID. */
export function instanceIndex(n: NodeObject): string[] {
  const id = instanceIdOf(n.spec?.providerID);
  return id ? [id] : [];
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
