import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { type AccessRecord, KubeClient, type RunningComponent, createLogger, startComponent } from '@kubeaws/runtime';
import { pdbController, type PdbConfig, type PdbControllerParts } from '@kubeaws/pdb-controller';
import { createTestNamespace, testKubeConfig, waitFor } from '@kubeaws/testenv';
import { apply, componentDirs, loadComponent, objectPath, ROOT } from './load';
import { applyRbac, itChecksRbac, leaseRenewed, waitForAccesses } from './rbac';

// docs/infra.md#infra-manifest-checks: every shipped object passes a strict server-side dry-run, and each component
// runs under its own ServiceAccount with exactly the shipped RBAC: no 403, every access allowed by a
// SelfSubjectAccessReview with the same token, every granted permission exercised or explained.
let admin: KubeConfig;
let client: KubeClient;

beforeAll(() => {
  admin = testKubeConfig();
  client = new KubeClient({ kubeConfig: admin, component: 'manifests-test' });
});

describe('server-side dry-run of every manifest', () => {
  const objects = componentDirs().flatMap((d) => loadComponent(d));

  // Namespaces and CRDs are applied for real first (and CRDs awaited Established), so that the objects that
  // live in those namespaces or are instances of those CRDs can be dry-run (docs/infra.md#infra-manifest-checks).
  beforeAll(async () => {
    for (const { obj } of objects.filter((o) => ['Namespace', 'CustomResourceDefinition'].includes(o.obj.kind))) {
      await apply(client, obj);
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
    await expect(apply(client, obj, true)).resolves.toBeUndefined();
  });
});

describe('pdb-controller RBAC', () => {
  const dir = path.join(ROOT, 'manifests/pdb-controller');
  let handle: RunningComponent<PdbConfig, PdbControllerParts> | undefined;
  let saKc: KubeConfig;
  let accesses: AccessRecord[] = [];

  beforeAll(async () => {
    saKc = await applyRbac(admin, client, dir);
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
    accesses = await waitForAccesses(handle!, leaseRenewed, { timeoutMs: 30_000, description: 'Lease renewed by the controller' });
  }, 240_000);

  afterAll(async () => {
    await handle?.stop();
  });

  itChecksRbac({ dir, requestsMetric: 'kubeaws_pdb_controller_api_requests_total', run: () => ({ handle, saKc, accesses }) });
});
