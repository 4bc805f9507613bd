import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { type AccessRecord, KubeClient, type RunningComponent, createLogger, startComponent } from '@kubeaws/runtime';
import { type EgressConfig, type EgressParts, staticEgressController } from '@kubeaws/static-egress-controller';
import { type MotoServer, createTestNamespace, startMoto, testKubeConfig, waitFor } from '@kubeaws/testenv';
import { AZS, createVpc } from '../../packages/static-egress-controller/test/support';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ROOT } from './load';
import { applyRbac, itChecksRbac, leaseRenewed, waitForAccesses } from './rbac';

// docs/infra.md#infra-manifest-checks for the static-egress-controller: it runs under its own ServiceAccount with
// exactly the shipped RBAC (against a moto-backed VPC): no 403, every access allowed by a SelfSubjectAccessReview
// with the same token, every granted permission exercised or explained in rbac-unused.yaml.
const dir = path.join(ROOT, 'manifests/static-egress-controller');
let admin: KubeConfig;
let client: KubeClient;
let moto: MotoServer;
let handle: RunningComponent<EgressConfig, EgressParts> | undefined;
let saKc: KubeConfig;
let accesses: AccessRecord[] = [];

beforeAll(async () => {
  admin = testKubeConfig();
  client = new KubeClient({ kubeConfig: admin, component: 'manifests-test' });
  moto = await startMoto();
  // the SDK's own endpoint and region settings, read from the process environment
  Object.assign(process.env, { AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: 'eu-central-1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
  const ec2 = new EC2Client({ endpoint: moto.endpoint, region: 'eu-central-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const vpc = await createVpc(ec2, 'rbac');
  ec2.destroy();
  saKc = await applyRbac(admin, client, dir);
  handle = await startComponent(staticEgressController, {
    kubeConfig: saKc,
    argv: ['--cluster-id=rbac', `--availability-zones=${AZS.join(',')}`],
    env: {},
    config: {
      leaseNamespace: 'kube-system', metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0',
      vpcId: vpc.vpcId, statusConfigMap: 'kube-system/static-egress-status', debounceMs: 100, maxDebounceMs: 500, pollIntervalMs: 300, awsMaxAttempts: 1,
    },
    identity: 'manifests-test',
    logger: createLogger({ component: 'static-egress-controller', level: 'warn' }),
    processMetrics: false,
  });
  await handle.synced();
  // Exercise: input ConfigMaps (list/watch), a bad value (Warning Event), the status ConfigMap (create, patch), the Lease.
  const ns = await createTestNamespace(admin, 'rbac-egress');
  await client.create(`/api/v1/namespaces/${ns}/configmaps`, {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'partners', namespace: ns, labels: { egress: 'static' } },
    data: { ok: '203.0.113.0/24', bad: '10.0.0.300/24' },
  });
  await waitFor(
    async () => {
      const cm = await client.get<any>('/api/v1/namespaces/kube-system/configmaps/static-egress-status').catch(() => undefined);
      return cm?.data?.['status.json']?.includes('"Applied"') ? true : undefined;
    },
    { timeoutMs: 90_000, description: 'status ConfigMap shows the CIDR Applied' },
  );
  await client.mergePatch(`/api/v1/namespaces/${ns}/configmaps/partners`, { data: { ok: '203.0.113.0/24', more: '198.51.100.0/24' } });
  await waitFor(
    async () => {
      const cm = await client.get<any>('/api/v1/namespaces/kube-system/configmaps/static-egress-status');
      return cm.data?.['status.json']?.includes('198.51.100.0/24') ? true : undefined;
    },
    { timeoutMs: 60_000, description: 'status ConfigMap patched' },
  );
  accesses = await waitForAccesses(handle!, leaseRenewed, { timeoutMs: 30_000, description: 'Lease renewed by the controller' });
}, 240_000);

afterAll(async () => {
  await handle?.stop();
  await moto?.stop();
});

describe('static-egress-controller RBAC', () => {
  itChecksRbac({ dir, requestsMetric: 'kubeaws_static_egress_controller_api_requests_total', run: () => ({ handle, saKc, accesses }) });
});
