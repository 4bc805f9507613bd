/**
 * Helpers of the end-to-end suites: an admin client for fixtures, each component's ServiceAccount with the RBAC
 * shipped in `manifests/<component>` (so a component runs with exactly the permissions it has in a cluster),
 * kwok nodes, the kube-apiserver audit log, and Prometheus text lookups on a component's registry.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, type RunningComponent, resourcePath } from '@kubeaws/runtime';
import { TEST_ENV, serviceAccountKubeConfig, testKubeConfig, waitFor } from '@kubeaws/testenv';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = path.resolve(__dirname, '../..');

/** The admin (system:masters) kubeconfig and client of the shared cluster. */
export function admin(): { kc: KubeConfig; kube: KubeClient } {
  const kc = testKubeConfig();
  return { kc, kube: new KubeClient({ kubeConfig: kc, component: 'e2e-test', fieldManager: 'e2e-test' }) };
}

const PLURAL: Record<string, string> = {
  ServiceAccount: 'serviceaccounts', Role: 'roles', RoleBinding: 'rolebindings', ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings',
};

/**
 * Applies `manifests/<component>/serviceaccount.yaml` and `rbac.yaml` as shipped and returns a kubeconfig of the
 * ServiceAccount (kube-system/kubeaws-<component>) once its RBAC lets it list `waitForList`.
 */
export async function componentKubeConfig(kc: KubeConfig, kube: KubeClient, component: string, waitForList: string[]): Promise<KubeConfig> {
  const dir = path.join(REPO_ROOT, 'manifests', component);
  for (const file of readdirSync(dir).filter((f) => f === 'serviceaccount.yaml' || f === 'rbac.yaml'))
    for (const doc of parseAllDocuments(readFileSync(path.join(dir, file), 'utf8'))) {
      const obj = doc.toJS();
      if (!obj) continue;
      const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
      await kube.apply(resourcePath({ group, version, resource: PLURAL[obj.kind]!, namespace: obj.metadata.namespace, name: obj.metadata.name }), obj, {
        force: true, fieldManager: 'kubeaws',
      });
    }
  return serviceAccountKubeConfig(kc, 'kube-system', `kubeaws-${component}`, { waitForList });
}

/** `system:serviceaccount:kube-system:kubeaws-<component>`. */
export const saUser = (component: string) => `system:serviceaccount:kube-system:kubeaws-${component}`;

/** Creates a kwok fake Node (optionally backed by an EC2 instance) and waits until kwok reports it Ready. */
export async function createNode(kube: KubeClient, name: string, o: { labels?: Record<string, string>; providerID?: string } = {}): Promise<void> {
  const capacity = { cpu: '32', memory: '256Gi', pods: '110' };
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': name, type: 'kwok', ...o.labels } },
    spec: o.providerID ? { providerID: o.providerID } : {},
    status: { capacity, allocatable: capacity },
  });
  await waitFor(async () => ((await kube.get<any>(`/api/v1/nodes/${name}`)).status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True') || undefined, {
    timeoutMs: 60_000, description: `kwok node ${name} Ready`,
  });
}

/** The current size of kube-apiserver's audit log: pass it to {@link auditSince}. */
export async function auditOffset(): Promise<number> {
  return (await stat(process.env[TEST_ENV.auditLog]!)).size;
}

/** One ResponseComplete audit event (testenv audits writes at Metadata level). */
export interface Audit { verb: string; requestURI: string; user: { username: string }; responseStatus?: { code?: number }; objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string } }

/** ResponseComplete audit events written since `offset` bytes of the log. */
export async function auditSince(offset: number): Promise<Audit[]> {
  const fh = await open(process.env[TEST_ENV.auditLog]!, 'r');
  try {
    const size = (await fh.stat()).size;
    const buf = Buffer.alloc(Math.max(0, size - offset));
    await fh.read(buf, 0, buf.length, offset);
    return buf.toString('utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l)).filter((e) => e.stage === 'ResponseComplete');
  } finally {
    await fh.close();
  }
}

/** Sum of a metric's samples in a running component's registry whose labels include `labels` (`a="b"` text). */
export async function metric(rc: RunningComponent<any, any>, name: string, labels = ''): Promise<number> {
  const text = await rc.metrics.registry.metrics();
  return text
    .split('\n')
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(labels))
    .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
}

/** Kubernetes Events (events.k8s.io) in a namespace. */
export async function events(kube: KubeClient, namespace: string): Promise<any[]> {
  return (await kube.list<any>(`/apis/events.k8s.io/v1/namespaces/${namespace}/events`)).items;
}
