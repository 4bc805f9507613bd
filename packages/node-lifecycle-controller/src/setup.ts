/**
 * Wires the node-lifecycle-controller onto a runtime Manager: the Node, Pod, PDB and block-ConfigMap
 * informers (trimmed, indexed by instance ID, node and namespace), one controller for Nodes with Pods and
 * PDBs as watches (docs/node-lifecycle-controller.md#nlc-drain), the leader-only SQS consumer
 * (#nlc-sqs) and ASG sync (#nlc-rolling-update), and the health and readiness checks.
 */
import { type Controller, type KubeObject, type Manager, type Predicate, dropManagedFields } from '@kubeaws/runtime';
import { type AwsApi, sdkAwsApi } from './aws';
import type { NlcConfig } from './config';
import { STATE_LABEL } from './decide';
import { type NlcMetrics, nlcMetrics } from './metrics';
import { NODE_INDEX, NodeReconciler } from './reconcile';
import { RollingUpdateSync } from './rolling';
import { INSTANCE_INDEX, SqsConsumer, instanceIndex } from './sqs';
import { type NodeObject, type PdbObject, type PodObject, trimPdb, trimPod } from './views';

/** The controller's own Pod (downward API), subject of Events about the controller itself. */
export interface OwnPod {
  name: string;
  namespace: string;
  uid?: string;
}

/** Reads POD_NAME / POD_NAMESPACE / POD_UID. */
export function ownPodFromEnv(env: NodeJS.ProcessEnv): OwnPod | undefined {
  return env.POD_NAME && env.POD_NAMESPACE ? { name: env.POD_NAME, namespace: env.POD_NAMESPACE, uid: env.POD_UID || undefined } : undefined;
}

/** The parts of a running node-lifecycle-controller (the component's `handle`). */
export interface NlcParts {
  controller: Controller;
  reconciler: NodeReconciler;
  sqs?: SqsConsumer;
  rolling?: RollingUpdateSync;
  metrics: NlcMetrics;
  aws: AwsApi;
}

/** Node updates that matter: labels, annotations, spec (taints, unschedulable, providerID); not heartbeats. */
export function nodeChanged(): Predicate<NodeObject> {
  return {
    update: (a, b) =>
      JSON.stringify([a.metadata?.labels, a.metadata?.annotations, a.spec]) !==
      JSON.stringify([b.metadata?.labels, b.metadata?.annotations, b.spec]),
  };
}

/** Node informer transform: metadata, spec and the Ready condition only. */
export function trimNode(n: NodeObject): NodeObject {
  const md = dropManagedFields(n as KubeObject).metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: md,
    spec: n.spec,
    status: { conditions: n.status?.conditions?.filter((c) => c.type === 'Ready').map((c) => ({ type: c.type, status: c.status })) },
  } as NodeObject;
}

/** Declares the controller on `mgr`. `aws` replaces the SDK-backed API (tests). */
export function setupNlc(mgr: Manager, cfg: NlcConfig, env: NodeJS.ProcessEnv, aws?: AwsApi): NlcParts {
  const metrics = nlcMetrics(mgr.metrics);
  const api = aws ?? sdkAwsApi({ region: cfg.awsRegion, component: mgr.component, metrics: mgr.metrics, logger: mgr.logger });
  const ownPod = ownPodFromEnv(env);
  const ns = env.POD_NAMESPACE || cfg.leaseNamespace;
  const nodes = mgr.informer<NodeObject>({ path: '/api/v1/nodes', transform: trimNode, indexers: { [INSTANCE_INDEX]: instanceIndex } });
  const pods = mgr.informer<PodObject>({
    path: '/api/v1/pods',
    transform: trimPod,
    indexers: { [NODE_INDEX]: (p) => (p.spec?.nodeName ? [p.spec.nodeName] : []) },
  });
  const pdbs = mgr.informer<PdbObject>({ path: '/apis/policy/v1/poddisruptionbudgets', transform: trimPdb });
  // Optional for the controller's start (an unreadable block counts as blocked, involuntary work goes on,
  // docs/node-lifecycle-controller.md#nlc-blocks); still required for /readyz below.
  const block = mgr.informer<KubeObject>({
    optional: true,
    path: `/api/v1/namespaces/${ns}/configmaps`,
    fieldSelector: `metadata.name=${cfg.updateBlockConfigmap}`,
    transform: (c) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: c.metadata?.name, namespace: c.metadata?.namespace } }),
  });
  const reconciler = new NodeReconciler({ mgr, cfg, aws: api, caches: { nodes, pods, pdbs, block }, metrics, ownPod, blockNamespace: ns });
  pods.addEventHandler({
    onDelete: (p) => {
      if (p.metadata?.uid) reconciler.forgetPod(p.metadata.uid);
    },
  });
  const inWorkflow = () =>
    nodes.cache
      .list()
      .filter((n) => ['draining', 'decommission-pending', 'drained'].includes(n.metadata?.labels?.[STATE_LABEL] ?? ''))
      .map((n) => n.metadata!.name!);
  const controller = mgr
    .builder('nodes')
    .for(nodes, { kind: 'Node', predicates: [nodeChanged()] })
    .watches(pods, (p, ev) => {
      const names = new Set<string>();
      for (const x of [p, ev.old]) if (x?.spec?.nodeName) names.add(x.spec.nodeName);
      return [...names].filter((n) => (nodes.cache.get(n)?.metadata?.labels?.[STATE_LABEL] ?? 'ready') === 'draining');
    })
    .watches(pdbs, () => nodes.cache.list().filter((n) => n.metadata?.labels?.[STATE_LABEL] === 'draining').map((n) => n.metadata!.name!))
    .watches(block, () => inWorkflow())
    .withOptions({ workers: 4 })
    .complete((key, { log }) => reconciler.reconcile(key, log));
  let sqs: SqsConsumer | undefined;
  if (cfg.sqsQueueUrl) {
    sqs = new SqsConsumer({ mgr, cfg, aws: api, metrics, reconciler, nodes, enqueue: (k) => controller.enqueue(k), ownPod });
    mgr.add(sqs);
    const consumer = sqs;
    mgr.addHealthzCheck('sqs-loop', () => !mgr.isLeader() || Date.now() - consumer.lastLoopAt < 5 * 60_000 + cfg.sqsWaitTime);
  }
  let rolling: RollingUpdateSync | undefined;
  if (cfg.rollingUpdate) {
    rolling = new RollingUpdateSync({ mgr, cfg, aws: api, metrics, reconciler, nodes, ownPod });
    mgr.add(rolling);
  }
  mgr.onStoppedLeading(() => reconciler.forget());
  mgr.addReadyzCheck('config', () => true);
  mgr.addReadyzCheck('block-configmap-informer', () => block.hasSynced() || `the ${ns}/${cfg.updateBlockConfigmap} ConfigMap informer has not synced`);
  return { controller, reconciler, sqs, rolling, metrics, aws: api };
}
