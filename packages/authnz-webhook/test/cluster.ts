/**
 * Cluster fixtures of the integration suites, on the real control plane of the jest globalSetup: the
 * shipped manifests (emergency-access namespace, AccessRequest CRD, ServiceAccount, RBAC) applied as they
 * are, the webhook's ServiceAccount identity once its Role is in effect, and readers for AccessRequests,
 * Events and kube-apiserver's audit log.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, resourcePath } from '@kubeaws/runtime';
import { TEST_ENV, serviceAccountKubeConfig } from '@kubeaws/testenv';
import { parseAllDocuments } from 'yaml';
import { accessRequestsPath } from '../src/access-store';
import { until } from './helpers';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const MANIFESTS = path.join(REPO_ROOT, 'manifests/authnz-webhook');
/** The emergency-access namespace of the shipped manifests and of `configYaml()`. */
export const ACCESS_NAMESPACE = 'kubeaws-access';
/** Collection path of AccessRequests in {@link ACCESS_NAMESPACE}. */
export const ACCESS_REQUESTS = accessRequestsPath(ACCESS_NAMESPACE);

const PLURAL: Record<string, string> = {
  Namespace: 'namespaces',
  CustomResourceDefinition: 'customresourcedefinitions',
  ServiceAccount: 'serviceaccounts',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
};

/** A client for fixtures and checks (system:masters). */
export function adminClient(kc: KubeConfig): KubeClient {
  return new KubeClient({ kubeConfig: kc, component: 'authnz-test' });
}

/** Server-side applies every document of a file in `manifests/authnz-webhook` (idempotent). */
export async function applyManifest(admin: KubeClient, file: string): Promise<void> {
  for (const doc of parseAllDocuments(readFileSync(path.join(MANIFESTS, file), 'utf8'))) {
    const obj = doc.toJS();
    if (!obj) continue;
    const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
    const p = resourcePath({
      group,
      version,
      resource: PLURAL[obj.kind]!,
      namespace: obj.metadata.namespace,
      name: obj.metadata.name,
    });
    await admin.apply(p, obj, { force: true, fieldManager: 'kubeaws' });
  }
}

/** Applies the namespace, the CRD, the ServiceAccount and the RBAC, and waits until AccessRequests are served. */
export async function installAccessManifests(admin: KubeClient): Promise<void> {
  for (const file of ['namespace.yaml', 'crds.yaml', 'serviceaccount.yaml', 'rbac.yaml'])
    await applyManifest(admin, file);
  await until(
    async () => {
      try {
        await admin.list(ACCESS_REQUESTS);
        return true;
      } catch {
        return false;
      }
    },
    'AccessRequest CRD established',
    60_000,
    250,
  );
}

/** The webhook's identity (ServiceAccount kube-system/kubeaws-authnz-webhook) once its Role is in effect. */
export function webhookKubeConfig(adminKc: KubeConfig): Promise<KubeConfig> {
  return serviceAccountKubeConfig(adminKc, 'kube-system', 'kubeaws-authnz-webhook', {
    waitForList: [ACCESS_REQUESTS],
  });
}

/** Events in the emergency-access namespace about one AccessRequest. */
export async function accessEvents(admin: KubeClient, name: string): Promise<any[]> {
  const events = await admin.list<any>(`/apis/events.k8s.io/v1/namespaces/${ACCESS_NAMESPACE}/events`);
  return events.items.filter((e: any) => e.regarding?.name === name);
}

/** One kube-apiserver audit event (Metadata level). */
export interface AuditEvent {
  verb: string;
  stage: string;
  requestURI: string;
  user: { username: string };
  responseStatus?: { code?: number };
}

/** Response-complete audit events whose request URI starts with `uriPrefix` (testenv audits writes only). */
export function auditEvents(uriPrefix: string): AuditEvent[] {
  const file = process.env[TEST_ENV.auditLog];
  if (!file) throw new Error(`${TEST_ENV.auditLog} is not set: is the testenv globalSetup configured?`);
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes(uriPrefix))
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter((e) => e.stage === 'ResponseComplete' && e.requestURI.startsWith(uriPrefix));
}
