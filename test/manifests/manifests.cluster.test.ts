import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { type AccessRecord, KubeClient, type RunningComponent, createLogger, startComponent } from '@kubeaws/runtime';
import { pdbController, type PdbConfig, type PdbControllerParts } from '@kubeaws/pdb-controller';
import { createTestNamespace, serviceAccountKubeConfig, testKubeConfig, waitFor } from '@kubeaws/testenv';
import { componentDirs, loadComponent, loadFile, ROOT } from './load';

// docs/infra.md#infra-manifest-checks: every shipped object passes a strict server-side dry-run, and each component
// runs under its own ServiceAccount with exactly the shipped RBAC: no 403, every access allowed by a
// SelfSubjectAccessReview with the same token, every granted permission exercised or explained.
let admin: KubeConfig;
let client: KubeClient;

beforeAll(() => {
  admin = testKubeConfig();
  client = new KubeClient({ kubeConfig: admin, component: 'manifests-test' });
});

/** REST path of an object from its apiVersion/kind (only the kinds our manifests ship). */
function objectPath(obj: any): string {
  const plural: Record<string, string> = {
    ServiceAccount: 'serviceaccounts', ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings', Role: 'roles',
    RoleBinding: 'rolebindings', Deployment: 'deployments', DaemonSet: 'daemonsets', PodDisruptionBudget: 'poddisruptionbudgets',
    Service: 'services', ConfigMap: 'configmaps', APIService: 'apiservices', CustomResourceDefinition: 'customresourcedefinitions',
    Namespace: 'namespaces',
  };
  const resource = plural[obj.kind];
  if (!resource) throw new Error(`no REST mapping for kind ${obj.kind}: extend objectPath`);
  const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const ns = obj.metadata.namespace ? `/namespaces/${obj.metadata.namespace}` : '';
  return `${base}${ns}/${resource}/${obj.metadata.name}`;
}

async function apply(obj: any, dryRun: boolean): Promise<void> {
  await client.request({
    method: 'PATCH',
    path: objectPath(obj),
    query: { fieldManager: 'kubeaws', force: true, fieldValidation: 'Strict', dryRun: dryRun ? 'All' : undefined },
    contentType: 'application/apply-patch+yaml',
    body: obj,
  });
}

describe('server-side dry-run of every manifest', () => {
  const objects = componentDirs().flatMap((d) => loadComponent(d));

  // Namespaces and CRDs are applied for real first (and CRDs awaited Established), so that the objects that
  // live in those namespaces or are instances of those CRDs can be dry-run (docs/infra.md#infra-manifest-checks).
  beforeAll(async () => {
    for (const { obj } of objects.filter((o) => ['Namespace', 'CustomResourceDefinition'].includes(o.obj.kind))) {
      await apply(obj, false);
      if (obj.kind === 'CustomResourceDefinition') {
        await waitFor(
          async () => {
            const crd = await client.get<any>(objectPath(obj));
            return crd.status?.conditions?.some((c: any) => c.type === 'Established' && c.status === 'True') ? true : undefined;
          },
          { timeoutMs: 30_000, description: `CRD ${obj.metadata.name} Established` },
        );
      }
    }
  });
  it.each(objects.map((o) => [`${o.file} ${o.obj.kind}/${o.obj.metadata.name}`, o.obj]))('%s is accepted', async (_name, obj) => {
    await expect(apply(obj, true)).resolves.toBeUndefined();
  });
});

describe('pdb-controller RBAC', () => {
  const dir = path.join(ROOT, 'manifests/pdb-controller');
  let handle: RunningComponent<PdbConfig, PdbControllerParts> | undefined;
  let saKc: KubeConfig;
  let accesses: AccessRecord[] = [];

  beforeAll(async () => {
    for (const f of ['serviceaccount.yaml', 'rbac.yaml']) for (const obj of loadFile(path.join(dir, f))) await apply(obj, false);
    saKc = await serviceAccountKubeConfig(admin, 'kube-system', 'kubeaws-pdb-controller', { expirationSeconds: 3600 });
    handle = await startComponent(pdbController, {
      kubeConfig: saKc,
      env: {},
      config: { leaseNamespace: 'kube-system', metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0' },
      identity: 'manifests-test',
      logger: createLogger({ component: 'pdb-controller', level: 'warn' }),
      processMetrics: false,
    });
    await handle.synced();

    // Exercise every behaviour that needs a permission: create, apply (drift), delete, Events, the Lease.
    const ns = await createTestNamespace(admin, 'rbac');
    const deploy = {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns },
      spec: { replicas: 2, selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web' }] } } },
    };
    await client.create(`/apis/apps/v1/namespaces/${ns}/deployments`, deploy);
    const pdbPath = `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/web-deployment-pdb`;
    await waitFor(() => client.get(pdbPath), { timeoutMs: 90_000, description: 'managed PDB web-deployment-pdb created' });
    await client.mergePatch(pdbPath, { spec: { maxUnavailable: 2 } });
    await waitFor(
      async () => ((await client.get<any>(pdbPath)).spec.maxUnavailable === 1 ? true : undefined),
      { timeoutMs: 60_000, description: 'drift of maxUnavailable reverted to 1' },
    );
    await client.mergePatch(`/apis/apps/v1/namespaces/${ns}/deployments/web`, { spec: { replicas: 1 } });
    await waitFor(
      async () => ((await client.get(pdbPath).then(() => false, () => true)) ? true : undefined),
      { timeoutMs: 60_000, description: 'managed PDB deleted after scaling to 1 replica' },
    );
    // The Lease is renewed every 2 s while leading: wait for at least one renewal (update). Events are
    // written through the Manager's own Events client, so its accesses count too.
    const recorded = () => [...handle!.manager.client.accesses(), ...handle!.manager.eventsClient.accesses()];
    await waitFor(
      () => ((accesses = recorded()).some((a) => a.resource === 'leases' && a.verb === 'update') ? true : undefined),
      { timeoutMs: 30_000, description: 'Lease renewed by the controller' },
    );
  }, 240_000);

  afterAll(async () => {
    await handle?.stop();
  });

  it('gets no 403 from the API server', async () => {
    const metrics = await handle!.metrics.registry.getSingleMetricAsString('kubeaws_pdb_controller_api_requests_total');
    expect(metrics).not.toMatch(/code="403"/);
    expect(accesses.length).toBeGreaterThan(0);
  });

  it('has every recorded access allowed by a SelfSubjectAccessReview with its own token', async () => {
    const sa = new KubeClient({ kubeConfig: saKc, component: 'manifests-test' });
    const unique = new Map(accesses.map((a) => [`${a.verb} ${a.group}/${a.resource}/${a.subresource ?? ''} ${a.namespace ?? '*'} ${a.name ?? ''}`, a]));
    const denied: string[] = [];
    for (const [key, a] of unique) {
      const review = await sa.create<any>('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { verb: a.verb, group: a.group, resource: a.resource, subresource: a.subresource, namespace: a.namespace, name: a.name } },
      });
      if (!review.status?.allowed) denied.push(key);
    }
    expect(denied).toEqual([]);
  });

  it('exercises every granted permission or explains it in rbac-unused.yaml', () => {
    const unused = loadFile(path.join(dir, 'rbac-unused.yaml')).flat() as { apiGroup: string; resource: string; verb: string; reason: string }[];
    const missing: string[] = [];
    for (const role of loadFile(path.join(dir, 'rbac.yaml')).filter((o) => /^(Cluster)?Role$/.test(o.kind))) {
      for (const rule of role.rules) for (const group of rule.apiGroups) for (const resource of rule.resources) for (const verb of rule.verbs) {
        const used = accesses.some((a) => a.group === group && a.resource === resource && a.verb === verb);
        const explained = unused.some((u) => u.apiGroup === group && u.resource === resource && u.verb === verb && u.reason);
        if (!used && !explained) missing.push(`${verb} ${group}/${resource}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
