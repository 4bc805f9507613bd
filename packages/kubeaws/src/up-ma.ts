/**
 * The metrics-adapter's part of `kubeaws up` on a local cluster (docs/metrics-adapter.md#ma-local): moto stands in
 * for SQS (the adapter reaches it through the SDK's own `AWS_ENDPOINT_URL_SQS`), the adapter serves HTTPS on a
 * loopback port with a serving certificate for `kubeaws-metrics-adapter.kube-system.svc`, and its APIServices
 * route to it through the ExternalName Service `kube-system/kubeaws-metrics-adapter` (`localhost`). The demo
 * fills the queue `kubeaws-demo-jobs` and drains it every minute; the status shows the HPA's desired replicas
 * following the queue length.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CreateQueueCommand, GetQueueAttributesCommand, PurgeQueueCommand, SQSClient, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { KubeClient } from '@kubeaws/runtime';
import { type MotoServer, freePorts, generatePki } from '@kubeaws/testenv';
import type { KubeConfig } from '@kubernetes/client-node';

/** Region of the local SQS stand-in (the examples' HPA names it). */
export const MA_REGION = 'eu-central-1';
/** The demo queue. */
export const MA_QUEUE = 'kubeaws-demo-jobs';

/**
 * What the local cluster needs for the adapter (StartClusterOptions): no aggregator endpoint routing (the
 * ExternalName Service is resolved instead), a 5 s HPA sync, and loopback pod IPs for json-path scrapes.
 */
export const METRICS_ADAPTER_CLUSTER = {
  apiserverExtraArgs: { 'enable-aggregator-routing': null },
  controllerManagerExtraArgs: { 'horizontal-pod-autoscaler-sync-period': '5s' },
  kwokExtraArgs: { cidr: '127.100.0.0/16' },
};

/** What `kubeaws up` gets from {@link prepareMetricsAdapter}. */
export interface MetricsAdapterDemo {
  env: Record<string, string>;
  args: string[];
  /** Registers the APIServices (after the adapter started) and starts filling and draining the queue. */
  start(): Promise<void>;
  /** Status lines: queue length and the HPA's desired replicas. */
  status(): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * Creates the demo queue in `moto` (the local AWS stand-in `kubeaws up` shares between the demos; it outlives the
 * demo) and writes the adapter's serving certificate into `workDir`.
 */
export async function prepareMetricsAdapter(kc: KubeConfig, moto: MotoServer, workDir: string, say: (line: string) => void): Promise<MetricsAdapterDemo> {
  say('creating the demo queue in moto (local SQS) for the metrics-adapter');
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const sqs = new SQSClient({ endpoint: moto.endpoint, region: MA_REGION, credentials });
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: MA_QUEUE }))).QueueUrl!;
  const pki = await generatePki({ extraDnsNames: ['kubeaws-metrics-adapter.kube-system.svc'] });
  const certFile = path.join(workDir, 'metrics-adapter.crt');
  const keyFile = path.join(workDir, 'metrics-adapter.key');
  fs.writeFileSync(certFile, pki.apiserver.cert);
  fs.writeFileSync(keyFile, pki.apiserver.key, { mode: 0o600 });
  const [port] = await freePorts(1);
  const kube = new KubeClient({ kubeConfig: kc, component: 'kubeaws-up' });
  let timer: NodeJS.Timeout | undefined;
  let filled = false;
  const apply = (p: string, body: unknown) =>
    kube.request({ method: 'PATCH', path: p, query: { fieldManager: 'kubeaws-up', force: true }, contentType: 'application/apply-patch+yaml', body });
  return {
    env: { AWS_ENDPOINT_URL_SQS: moto.endpoint, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_REGION: MA_REGION },
    args: [
      `--secure-port=${port}`, '--bind-address=127.0.0.1', `--tls-cert-file=${certFile}`, `--tls-private-key-file=${keyFile}`,
      `--aws-region=${MA_REGION}`, '--min-collection-interval=1s', '--default-collection-interval=5s',
    ],
    async start() {
      await apply('/api/v1/namespaces/kube-system/services/kubeaws-metrics-adapter', {
        apiVersion: 'v1', kind: 'Service', metadata: { name: 'kubeaws-metrics-adapter', namespace: 'kube-system' },
        spec: { type: 'ExternalName', externalName: 'localhost' },
      });
      const caBundle = Buffer.from(pki.ca.cert).toString('base64');
      for (const [group, version, priority] of [['custom.metrics.k8s.io', 'v1beta2', 200], ['custom.metrics.k8s.io', 'v1beta1', 100], ['external.metrics.k8s.io', 'v1beta1', 100]] as const)
        await apply(`/apis/apiregistration.k8s.io/v1/apiservices/${version}.${group}`, {
          apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService',
          metadata: { name: `${version}.${group}`, labels: { 'kubeaws.io/component': 'metrics-adapter' } },
          spec: { group, version, groupPriorityMinimum: 100, versionPriority: priority, caBundle, service: { namespace: 'kube-system', name: 'kubeaws-metrics-adapter', port } },
        });
      const cycle = async () => {
        try {
          if (filled) await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
          else
            for (let b = 0; b < 4; b++)
              await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: `job ${b}-${i}` })) }));
          filled = !filled;
        } catch {
          // moto gone while stopping
        }
      };
      await cycle();
      timer = setInterval(() => void cycle(), 60_000);
    },
    async status() {
      const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
      const hpa = await kube.get<any>('/apis/autoscaling/v2/namespaces/demo-metrics/horizontalpodautoscalers/worker').catch(() => undefined);
      const active = hpa?.status?.conditions?.find((c: any) => c.type === 'ScalingActive');
      return [
        `  metrics demo: queue ${MA_QUEUE} holds ${attrs.Attributes?.ApproximateNumberOfMessages ?? '?'} messages (target 10 per replica); ` +
          `HPA demo-metrics/worker desired ${hpa?.status?.desiredReplicas ?? '?'}, current ${hpa?.status?.currentReplicas ?? '?'}` +
          (active && active.status !== 'True' ? ` (${active.reason}: ${String(active.message).slice(0, 160)})` : ''),
      ];
    },
    async stop() {
      if (timer) clearInterval(timer);
      for (const n of ['v1beta2.custom.metrics.k8s.io', 'v1beta1.custom.metrics.k8s.io', 'v1beta1.external.metrics.k8s.io'])
        await kube.request({ method: 'DELETE', path: `/apis/apiregistration.k8s.io/v1/apiservices/${n}` }).catch(() => undefined);
      sqs.destroy();
    },
  };
}
