/**
 * The component metrics, prefix `kubeaws_node_lifecycle_controller_` (the runtime adds reconcile, queue,
 * informer, leader, client and process metrics). Names and labels: docs/node-lifecycle-controller.md#nlc-metrics.
 */
import type { ComponentMetrics } from '@kubeaws/runtime';

/** Creates the metrics on the component's registry. */
export function nlcMetrics(m: ComponentMetrics) {
  return {
    nodes: m.gauge('nodes', 'Nodes by lifecycle state', ['state']),
    updateBlocked: m.gauge('update_blocked', 'Voluntary work blocked: cluster 0/1 (unreadable counts), node = nodes with do-not-disrupt', ['scope']),
    blockedPods: m.gauge('blocked_pods', 'PDB-blocked pods by first failing SLA gate', ['gate']),
    oldestDrain: m.gauge('oldest_drain_age_seconds', 'Age of the oldest drain in progress'),
    outdated: m.gauge('outdated_nodes', 'Nodes whose instance has an outdated launch template'),
    evictions: m.counter('evictions_total', 'Eviction API calls by result', ['result']),
    forced: m.counter('forced_terminations_total', 'Pods deleted bypassing PDBs', ['reason']),
    messages: m.counter('sqs_messages_total', 'SQS messages by kind and outcome', ['kind', 'outcome']),
    receiveErrors: m.counter('sqs_receive_errors_total', 'SQS ReceiveMessage failures', ['code']),
    terminations: m.counter('instance_terminations_total', 'Instance terminate calls', ['api', 'result']),
    replacements: m.counter('replacements_total', 'Prepared replacements by result (ready, timeout, skipped)', ['result']),
    lifecycle: m.counter('lifecycle_actions_total', 'ASG lifecycle hook calls', ['action', 'result']),
    invalidInput: m.counter('invalid_input_total', 'Invalid input by source and field', ['source', 'field']),
    drainDuration: m.histogram('drain_duration_seconds', 'Drain start to drained', ['class', 'result'], [60, 300, 900, 3600, 7200, 21600, 86400, 345600]),
    messageAge: m.histogram('sqs_message_age_seconds', 'Receipt time minus event time', ['kind'], [0.5, 1, 2, 5, 10, 30, 60, 300]),
  };
}

/** The metrics handle ({@link nlcMetrics}). */
export type NlcMetrics = ReturnType<typeof nlcMetrics>;
