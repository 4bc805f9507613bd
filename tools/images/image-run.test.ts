/**
 * Image run of one service (KUBEAWS_SERVICE): the container image built by tools/images/build.sh (nx target
 * `image-build`) is run from its own root filesystem, as a pod with readOnlyRootFilesystem and runAsNonRoot runs it
 * (tools/images/run-rootfs.py: `buildah mount`, read-only bind as the new root, the emptyDir volumes of its manifest
 * as tmpfs, new mount and PID namespaces, chroot, the image's numeric USER, ENV, WORKDIR, ENTRYPOINT + CMD), against
 * the local cluster (loopback networking is shared). /healthz, /readyz and /metrics answer, the service does its job
 * for one example object, and SIGTERM ends it with exit code 0 within its manifest's grace period. See docs/images.md.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  type KubernetesObject,
  PolicyV1Api,
} from '@kubernetes/client-node';
import { freePorts, startMoto, TEST_ENV, waitFor } from '@kubeaws/testenv';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { AZS, createVpc, eipsOf, routesOf } from '../../packages/static-egress-controller/test/support';

const ROOT = path.resolve(__dirname, '../..');
const SERVICE = process.env.KUBEAWS_SERVICE!;
const VERSION = (
  JSON.parse(fs.readFileSync(path.join(ROOT, 'packages', SERVICE, 'package.json'), 'utf8')) as {
    version: string;
  }
).version;
const IMAGE = `localhost/kubeaws/${SERVICE}:${VERSION}`;
const NODE_VERSION = (
  JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: { node: string } }
).devDependencies.node;
/** Where the test's files (kubeconfig, configuration) are mounted read-only in the container. */
const FILES = '/etc/kubeaws';

/** buildah on the shared storage under the cache (tools/images/build.sh). */
const buildah = (...args: string[]): string =>
  execFileSync('bash', [path.join(ROOT, 'tools/images/build.sh'), 'buildah', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).trim();

interface ImageConfig {
  User?: string;
  Env?: string[];
  WorkingDir?: string;
  Entrypoint?: string[];
  Cmd?: string[];
}

/** The pod of the service's manifest: emptyDir mount paths and the termination grace period. */
function podSpec(): { emptyDirs: string[]; graceSeconds: number } {
  const dir = path.join(ROOT, 'manifests', SERVICE);
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
      const o = doc.toJS() as { kind?: string; spec?: any } | null;
      if (!o || !['Deployment', 'DaemonSet', 'StatefulSet'].includes(o.kind ?? '')) continue;
      const pod = o.spec.template.spec;
      const empty = new Set(
        (pod.volumes ?? []).filter((v: { emptyDir?: unknown }) => v.emptyDir).map((v: { name: string }) => v.name),
      );
      return {
        emptyDirs: (pod.containers[0].volumeMounts ?? [])
          .filter((m: { name: string }) => empty.has(m.name))
          .map((m: { mountPath: string }) => m.mountPath),
        graceSeconds: pod.terminationGracePeriodSeconds ?? 30,
      };
    }
  }
  throw new Error(`no workload in manifests/${SERVICE}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function get(url: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

const adminKc = (): KubeConfig => {
  const kc = new KubeConfig();
  kc.loadFromFile(process.env[TEST_ENV.kubeconfig]!);
  return kc;
};

/** What a service needs beyond the shared flags, and the one job it is checked on. */
interface Variant {
  args: string[];
  /** Extra environment of the container, as the pod spec's `env` (e.g. the AWS SDK's endpoint settings). */
  env?: Record<string, string>;
  job: string;
  check: () => Promise<void>;
  cleanup?: () => Promise<void>;
}

async function exampleNamespace(kc: KubeConfig): Promise<string> {
  const name = `image-run-${randomBytes(3).toString('hex')}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

function deployment(name: string, replicas: number, annotations: Record<string, string> = {}) {
  const labels = { app: name };
  return {
    metadata: { name, labels, annotations },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] } },
    },
  };
}

/** pdb-controller: a 2-replica Deployment gets its PodDisruptionBudget. */
async function pdbController(): Promise<Variant> {
  const kc = adminKc();
  const ns = await exampleNamespace(kc);
  return {
    args: [],
    job: 'creates the PodDisruptionBudget of a 2-replica Deployment',
    check: async () => {
      await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({ namespace: ns, body: deployment('web', 2) });
      const policy = kc.makeApiClient(PolicyV1Api);
      const pdbs = await waitFor(
        async () => {
          const l = await policy.listNamespacedPodDisruptionBudget({ namespace: ns });
          return l.items.length > 0 ? l.items : undefined;
        },
        { timeoutMs: 60_000, description: `a PodDisruptionBudget in ${ns}` },
      );
      expect(
        pdbs.map((p) => ({ selector: p.spec?.selector?.matchLabels, maxUnavailable: p.spec?.maxUnavailable })),
      ).toEqual([{ selector: { app: 'web' }, maxUnavailable: 1 }]);
    },
    cleanup: async () =>
      void (await kc
        .makeApiClient(CoreV1Api)
        .deleteNamespace({ name: ns })
        .catch(() => undefined)),
  };
}

/** downscaler: a Deployment annotated `downscaler/downtime: always` is scaled to 0, its replicas recorded. */
async function downscaler(): Promise<Variant> {
  const kc = adminKc();
  const ns = await exampleNamespace(kc);
  return {
    args: ['--interval=1s', '--grace-period=0'],
    job: 'scales an annotated Deployment down and records its replicas',
    check: async () => {
      const apps = kc.makeApiClient(AppsV1Api);
      await apps.createNamespacedDeployment({
        namespace: ns,
        body: deployment('web', 2, { 'downscaler/downtime': 'always' }),
      });
      const d = await waitFor(
        async () => {
          const o = await apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
          return o.spec?.replicas === 0 ? o : undefined;
        },
        { timeoutMs: 60_000, description: `Deployment ${ns}/web scaled to 0` },
      );
      expect(d.metadata?.annotations?.['downscaler/original-replicas']).toBe('2');
    },
    cleanup: async () =>
      void (await kc
        .makeApiClient(CoreV1Api)
        .deleteNamespace({ name: ns })
        .catch(() => undefined)),
  };
}

/**
 * authnz-webhook: the shipped configuration with its issuer's keys on a loopback JWKS endpoint, the AccessRequest
 * CRD and namespace applied, the webhook as plain HTTP on loopback; answers a TokenReview and a SubjectAccessReview.
 */
async function authnzWebhook(files: string): Promise<Variant> {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'image-run', alg: 'ES256', use: 'sig' };
  const jwks = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  const cm = parse(fs.readFileSync(path.join(ROOT, 'manifests/authnz-webhook/configmap.yaml'), 'utf8')) as {
    data: { 'config.yaml': string };
  };
  const config = parse(cm.data['config.yaml']) as { authentication: { issuers: Record<string, unknown>[] } };
  config.authentication.issuers[0].jwksURL = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
  fs.writeFileSync(path.join(files, 'config.yaml'), stringify(config));

  const kc = adminKc();
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const file of ['namespace.yaml', 'crds.yaml']) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(ROOT, 'manifests/authnz-webhook', file), 'utf8'))) {
      await api.patch(
        doc.toJS() as KubernetesObject,
        undefined,
        undefined,
        'kubeaws-image-run',
        true,
        'application/apply-patch+yaml',
      );
    }
  }
  const custom = kc.makeApiClient(CustomObjectsApi);
  await waitFor(
    async () =>
      custom
        .listNamespacedCustomObject({
          group: 'authnz.kubeaws.io',
          version: 'v1alpha1',
          namespace: 'kubeaws-access',
          plural: 'accessrequests',
        })
        .then(
          () => true,
          () => false,
        ),
    { timeoutMs: 30_000, description: 'the AccessRequest CRD is served' },
  );
  const [webhook] = await freePorts(1);
  const post = async (p: string, body: unknown) => {
    const res = await fetch(`http://127.0.0.1:${webhook}${p}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { kind: string; status: Record<string, unknown> } };
  };
  return {
    args: [
      `--config=${FILES}/config.yaml`,
      '--insecure-loopback-webhook',
      `--webhook-bind-address=127.0.0.1:${webhook}`,
      '--access-api-bind-address=',
      '--shutdown-delay=1s',
    ],
    job: 'answers a TokenReview and a SubjectAccessReview',
    check: async () => {
      const tr = await post('/authenticate', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token: 'not-a-token' },
      });
      expect([tr.status, tr.body.kind, tr.body.status.authenticated ?? false]).toEqual([200, 'TokenReview', false]);
      const sar = await post('/authorize', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: 'oidc:jdoe',
          groups: ['ReadOnly'],
          resourceAttributes: { namespace: 'a', verb: 'list', resource: 'pods' },
        },
      });
      expect([sar.status, sar.body.kind, sar.body.status.allowed]).toEqual([200, 'SubjectAccessReview', true]);
    },
    cleanup: () => new Promise<void>((r) => jwks.close(() => r())),
  };
}

/** The AWS SDK's own endpoint settings of a container that reaches moto (testenv), as a pod's `env` would set them. */
const awsEnv = (endpoint: string, region: string): Record<string, string> => ({
  AWS_ENDPOINT_URL: endpoint,
  AWS_REGION: region,
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
});
const awsClientConfig = (endpoint: string, region: string) => ({
  endpoint,
  region,
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
});

/**
 * static-egress-controller: a moto VPC fixture (NAT subnets, `Type=dmz` target tables per AZ; the package's
 * `createVpc`) and one `egress=static` ConfigMap: an Elastic IP and a NAT gateway per AZ, the CIDR routed to them in
 * both target tables, and the status ConfigMap lists the egress IP per AZ.
 */
async function staticEgressController(): Promise<Variant> {
  const region = 'eu-central-1';
  const moto = await startMoto();
  const ec2 = new EC2Client(awsClientConfig(moto.endpoint, region));
  const cluster = 'image-run';
  const vpc = await createVpc(ec2, cluster);
  const kc = adminKc();
  const ns = await exampleNamespace(kc);
  const core = kc.makeApiClient(CoreV1Api);
  return {
    args: [
      `--cluster-id=${cluster}`,
      `--availability-zones=${AZS.join(',')}`,
      `--vpc-id=${vpc.vpcId}`,
      `--namespace=${ns}`,
      `--status-configmap=${ns}/static-egress-status`,
      '--debounce=1s',
      '--max-debounce=2s',
      '--poll-interval=1s',
    ],
    env: awsEnv(moto.endpoint, region),
    job: 'provisions an Elastic IP, a NAT gateway and the routes per AZ for an egress=static ConfigMap',
    check: async () => {
      await core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: 'partners', labels: { egress: 'static' } }, data: { acquirer: '203.0.113.0/24' } },
      });
      const routes = await waitFor(
        async () => {
          const r = await Promise.all(AZS.map((az) => routesOf(ec2, vpc.targets[az]!)));
          return r.every((x) => x['203.0.113.0/24']?.startsWith('nat-')) ? r : undefined;
        },
        { timeoutMs: 60_000, description: '203.0.113.0/24 routed to a NAT gateway in both target tables' },
      );
      expect(new Set(routes.map((r) => r['203.0.113.0/24'])).size).toBe(AZS.length);
      const status = await waitFor(
        async () => {
          const cm = await core
            .readNamespacedConfigMap({ namespace: ns, name: 'static-egress-status' })
            .catch(() => undefined);
          const doc = JSON.parse(cm?.data?.['status.json'] ?? '{}') as {
            conditions?: { status: string }[];
            zones?: Record<string, { natGatewayId?: string; publicIp?: string }>;
          };
          // The status written before the ConfigMap was seen is Ready too, with no zones: wait for the one with them.
          const ips = cm?.data?.['egress-ips'] ?? '';
          return doc.conditions?.[0]?.status === 'True' && ips.split(',').filter((x) => x !== '').length === AZS.length
            ? { ips, doc }
            : undefined;
        },
        { timeoutMs: 60_000, description: `status ConfigMap ${ns}/static-egress-status Ready with an egress IP per AZ` },
      );
      const ips = status.ips.split(',').filter((x) => x !== '');
      expect(ips).toHaveLength(AZS.length);
      expect(ips.sort()).toEqual((await eipsOf(ec2, cluster)).map((e) => e.PublicIp).sort());
      expect(AZS.map((az) => status.doc.zones?.[az]?.natGatewayId)).toEqual(
        AZS.map((_az, i) => routes[i]!['203.0.113.0/24']),
      );
    },
    cleanup: async () => {
      await core.deleteNamespace({ name: ns }).catch(() => undefined);
      ec2.destroy();
      await moto.stop();
    },
  };
}

/**
 * node-lifecycle-controller: a kwok node whose providerID names a moto EC2 instance, and a spot interruption
 * warning for that instance on a moto SQS queue: the node is fenced (lifecycle-state label, unschedulable, the
 * decommission-pending taint).
 */
async function nodeLifecycleController(): Promise<Variant> {
  const region = 'us-east-1';
  const moto = await startMoto();
  const ec2 = new EC2Client(awsClientConfig(moto.endpoint, region));
  const sqs = new SQSClient(awsClientConfig(moto.endpoint, region));
  const suffix = randomBytes(3).toString('hex');
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `image-run-${suffix}` }))).QueueUrl!;
  const images = await ec2.send(new DescribeImagesCommand({}));
  const instanceId = (
    await ec2.send(
      new RunInstancesCommand({
        ImageId: images.Images![0]!.ImageId!,
        MinCount: 1,
        MaxCount: 1,
        InstanceType: 't3.micro',
        Placement: { AvailabilityZone: `${region}a` },
      }),
    )
  ).Instances![0]!.InstanceId!;
  const kc = adminKc();
  const core = kc.makeApiClient(CoreV1Api);
  const name = `image-run-spot-${suffix}`;
  await core.createNode({
    body: {
      metadata: {
        name,
        annotations: { 'kwok.x-k8s.io/node': 'fake' },
        labels: { 'kubernetes.io/hostname': name, type: 'kwok' },
      },
      spec: { providerID: `aws:///${region}a/${instanceId}` },
      status: {
        capacity: { cpu: '32', memory: '256Gi', pods: '110' },
        allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
      },
    },
  });
  await waitFor(
    async () =>
      ((await core.readNode({ name })).status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    { timeoutMs: 60_000, description: `kwok node ${name} Ready` },
  );
  return {
    args: [
      '--cluster-name=image-run',
      `--aws-region=${region}`,
      `--sqs-queue-url=${queueUrl}`,
      '--sqs-wait-time=1s',
      '--sqs-visibility-timeout=10s',
      '--rolling-update=false',
    ],
    env: awsEnv(moto.endpoint, region),
    job: 'fences the kwok node of a spot interruption warning from SQS',
    check: async () => {
      const id = `image-run-${suffix}`;
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify({
            version: '0',
            id,
            source: 'aws.ec2',
            'detail-type': 'EC2 Spot Instance Interruption Warning',
            time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
            account: '123456789012',
            region,
            resources: [],
            detail: { 'instance-id': instanceId, 'instance-action': 'terminate' },
          }),
        }),
      );
      const fenced = await waitFor(
        async () => {
          const n = await core.readNode({ name });
          return n.metadata?.labels?.['kubeaws.io/lifecycle-state'] ? n : undefined;
        },
        { timeoutMs: 60_000, description: `node ${name} fenced` },
      );
      expect(fenced.spec?.unschedulable).toBe(true);
      expect(fenced.spec?.taints).toContainEqual({
        key: 'kubeaws.io/decommission-pending',
        value: 'spot-interruption',
        effect: 'NoSchedule',
      });
      expect(JSON.parse(fenced.metadata!.annotations!['kubeaws.io/interruption']!)).toMatchObject({
        kinds: ['spot-interruption'],
        eventIds: [id],
      });
    },
    cleanup: async () => {
      await core.deleteNode({ name }).catch(() => undefined);
      ec2.destroy();
      sqs.destroy();
      await moto.stop();
    },
  };
}

/**
 * metrics-adapter: its HTTPS API on a loopback port registered as the external.metrics.k8s.io APIService (an
 * ExternalName Service to localhost, the caBundle of the certificate it serves), as its manifests register it: the
 * discovery document and a Status from the adapter answer through the kube-apiserver's aggregator.
 */
async function metricsAdapter(): Promise<Variant> {
  const kc = adminKc();
  const ns = await exampleNamespace(kc);
  const [secure] = await freePorts(1);
  const api = KubernetesObjectApi.makeApiClient(kc);
  const apply = (o: KubernetesObject) =>
    api.patch(o, undefined, undefined, 'kubeaws-image-run', true, 'application/apply-patch+yaml');
  const apiService = 'v1beta1.external.metrics.k8s.io';
  /** GET on the kube-apiserver as the admin; the JSON body and status. */
  const request = async (p: string): Promise<{ status: number; body: any }> => {
    const opts: https.RequestOptions = { method: 'GET', headers: { accept: 'application/json' } };
    await kc.applyToHTTPSOptions(opts);
    return new Promise((resolve, reject) => {
      const req = https.request(new URL(p, kc.getCurrentCluster()!.server), opts, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString('utf8')));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(body);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: json });
        });
      });
      req.on('error', reject);
      req.end();
    });
  };
  return {
    args: [`--secure-port=${secure}`, '--bind-address=127.0.0.1', '--shutdown-delay=1s', '--shutdown-grace-period=5s'],
    job: 'serves external.metrics.k8s.io through the aggregator (discovery, a Status for an unknown metric)',
    check: async () => {
      // the certificate it serves, as the caBundle of its APIService
      const der = await waitFor(
        () =>
          new Promise<Buffer | undefined>((resolve) => {
            const s = tls.connect({ host: '127.0.0.1', port: secure, rejectUnauthorized: false }, () => {
              const raw = s.getPeerCertificate().raw;
              s.end();
              resolve(raw);
            });
            s.on('error', () => resolve(undefined));
          }),
        { timeoutMs: 30_000, description: 'the adapter serving HTTPS' },
      );
      const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
      await apply({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'kubeaws-metrics-adapter', namespace: 'kube-system' },
        spec: { type: 'ExternalName', externalName: 'localhost' },
      } as KubernetesObject);
      await apply({
        apiVersion: 'apiregistration.k8s.io/v1',
        kind: 'APIService',
        metadata: { name: apiService, labels: { 'kubeaws.io/component': 'metrics-adapter' } },
        spec: {
          group: 'external.metrics.k8s.io',
          version: 'v1beta1',
          groupPriorityMinimum: 100,
          versionPriority: 100,
          caBundle: Buffer.from(pem).toString('base64'),
          service: { namespace: 'kube-system', name: 'kubeaws-metrics-adapter', port: secure },
        },
      } as KubernetesObject);
      let last: unknown;
      const discovery = await waitFor(
        async () => {
          const r = await request('/apis/external.metrics.k8s.io/v1beta1');
          last = r;
          return r.status === 200 ? r.body : undefined;
        },
        { timeoutMs: 60_000, description: `${apiService} discovery through the aggregator` },
      ).catch(async (e: Error) => {
        const conditions = (await request(`/apis/apiregistration.k8s.io/v1/apiservices/${apiService}`)).body?.status;
        throw new Error(
          `${e.message}\nlast answer: ${JSON.stringify(last)}\nAPIService status: ${JSON.stringify(conditions)}`,
        );
      });
      expect(discovery).toMatchObject({ kind: 'APIResourceList', groupVersion: 'external.metrics.k8s.io/v1beta1' });
      const status = await waitFor(
        async () => {
          const r = await request(`/apis/external.metrics.k8s.io/v1beta1/namespaces/${ns}/nothing`);
          return r.status === 404 && r.body?.kind === 'Status' ? r.body : undefined;
        },
        { timeoutMs: 30_000, description: 'a 404 Status from the adapter through the aggregator' },
      );
      expect(status.message).toContain('no HPA in namespace');
    },
    cleanup: async () => {
      for (const o of [
        { apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: apiService } },
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'kubeaws-metrics-adapter', namespace: 'kube-system' } },
      ])
        await api.delete(o as KubernetesObject).catch(() => undefined);
      await kc
        .makeApiClient(CoreV1Api)
        .deleteNamespace({ name: ns })
        .catch(() => undefined);
    },
  };
}

const VARIANTS: Record<string, (files: string) => Promise<Variant>> = {
  'pdb-controller': pdbController,
  downscaler,
  'authnz-webhook': authnzWebhook,
  'static-egress-controller': staticEgressController,
  'node-lifecycle-controller': nodeLifecycleController,
  'metrics-adapter': metricsAdapter,
};

describe(`${SERVICE} image ${IMAGE}`, () => {
  let config: ImageConfig;
  let container: string | undefined;
  let rootfs: string;
  let files: string;
  let variant: Variant | undefined;
  let child: ChildProcess;
  let stdout = '';
  let stderr = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let metricsUrl: string;
  let probesUrl: string;
  const pod = podSpec();

  /** run-rootfs.py arguments for the image as its pod runs it, then the command. */
  const runArgs = (env: Record<string, string>, command: string[]): string[] => [
    path.join(ROOT, 'tools/images/run-rootfs.py'),
    `--rootfs=${rootfs}`,
    `--user=${config.User}`,
    `--workdir=${config.WorkingDir || '/'}`,
    ...pod.emptyDirs.map((d) => `--tmpfs=${d}`),
    `--volume=${files}:${FILES}`,
    ...[...(config.Env ?? []), ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].map((e) => `--env=${e}`),
    '--',
    ...command,
  ];

  beforeAll(async () => {
    // containers left by an earlier run of this suite that was killed before its afterAll
    for (const name of buildah('containers', '--format', '{{.ContainerName}}').split('\n')) {
      const pid = new RegExp(`^image-run-${SERVICE}-(\\d+)$`).exec(name)?.[1];
      if (pid && !isAlive(Number(pid))) buildah('rm', name);
    }
    const inspected = JSON.parse(buildah('inspect', '--type', 'image', IMAGE)) as { OCIv1: { config: ImageConfig } };
    config = inspected.OCIv1.config;
    container = buildah('from', '--quiet', '--pull-never', '--name', `image-run-${SERVICE}-${process.pid}`, IMAGE);
    rootfs = buildah('mount', container);
    files = fs.mkdtempSync(path.join(os.tmpdir(), `kubeaws-image-run-${SERVICE}-`));
    fs.chmodSync(files, 0o755);
    fs.copyFileSync(process.env[TEST_ENV.kubeconfig]!, path.join(files, 'kubeconfig'));
    variant = VARIANTS[SERVICE] ? await VARIANTS[SERVICE](files) : undefined;
    for (const f of fs.readdirSync(files)) fs.chmodSync(path.join(files, f), 0o644);
    const [metrics, probes] = await freePorts(2);
    metricsUrl = `http://127.0.0.1:${metrics}`;
    probesUrl = `http://127.0.0.1:${probes}`;
    child = spawn(
      'python3',
      runArgs({ POD_NAME: `image-run-${SERVICE}`, POD_NAMESPACE: 'kube-system', ...variant?.env }, [
        ...(config.Entrypoint ?? []),
        ...(config.Cmd ?? []),
        `--kubeconfig=${FILES}/kubeconfig`,
        `--metrics-bind-address=127.0.0.1:${metrics}`,
        `--health-probe-bind-address=127.0.0.1:${probes}`,
        ...(variant?.args ?? []),
      ]),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited?.catch(() => undefined);
    await variant?.cleanup?.();
    if (container) {
      try {
        buildah('rm', container);
      } catch {
        // already gone
      }
    }
    if (files) fs.rmSync(files, { recursive: true, force: true });
  });

  it('holds nothing in /app but the bundle, and no npm, npx, corepack or yarn', () => {
    // exactly the bundle: main.mjs, the chunks code splitting writes beside it, their maps and the licenses
    const bundle = fs.readdirSync(path.join(ROOT, 'dist/packages', SERVICE, 'bundle')).sort();
    expect(bundle).toEqual(expect.arrayContaining(['THIRD_PARTY_LICENSES.txt', 'main.mjs', 'main.mjs.map']));
    expect(fs.readdirSync(path.join(rootfs, 'app')).sort()).toEqual(bundle);
    for (const f of [
      'usr/local/bin/npm',
      'usr/local/bin/npx',
      'usr/local/bin/corepack',
      'usr/local/bin/yarn',
      'usr/local/lib/node_modules/npm',
    ])
      expect([f, fs.existsSync(path.join(rootfs, f))]).toEqual([f, false]);
  });

  it('has a numeric non-root USER, WORKDIR /app, the tini entrypoint and the pinned Node inside', () => {
    expect(config.User).toMatch(/^[1-9][0-9]*:[0-9]+$/);
    expect([config.WorkingDir, config.Entrypoint?.[0], config.Cmd]).toEqual([
      '/app',
      '/usr/bin/tini',
      ['/app/main.mjs'],
    ]);
    const r = spawnSync('python3', runArgs({}, ['node', '--version']), { encoding: 'utf8', timeout: 30_000 });
    expect({ code: r.status, out: r.stdout.trim(), err: r.stderr }).toEqual({
      code: 0,
      out: `v${NODE_VERSION}`,
      err: '',
    });
  });

  it('answers /healthz', async () => {
    const r = await waitFor(
      async () => (await get(`${probesUrl}/healthz`))?.status === 200 || child.exitCode !== null,
      { timeoutMs: 60_000, description: `${SERVICE} /healthz` },
    );
    expect({ healthy: r, exitCode: child.exitCode, stderr }).toEqual({ healthy: true, exitCode: null, stderr: '' });
  });

  it('answers /readyz once its caches have synced', async () => {
    await waitFor(async () => (await get(`${probesUrl}/readyz`))?.status === 200, {
      timeoutMs: 60_000,
      description: `${SERVICE} /readyz 200`,
    });
    expect((await get(`${probesUrl}/readyz`))?.status).toBe(200);
  });

  it('serves Prometheus metrics', async () => {
    const r = await get(`${metricsUrl}/metrics`);
    expect(r?.status).toBe(200);
    expect(r?.body).toMatch(/^process_start_time_seconds \d+/m);
    expect(r?.body).toContain(`kubeaws_${SERVICE.replace(/-/g, '_')}_`);
  });

  if (VARIANTS[SERVICE]) {
    it('does its job for one example object', async () => {
      await variant!.check();
    }, 90_000);
  }

  it(`exits 0 within its grace period (${pod.graceSeconds} s) of SIGTERM, having logged JSON lines only`, async () => {
    const t0 = Date.now();
    child.kill('SIGTERM');
    const result = await Promise.race([
      exited,
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), pod.graceSeconds * 1000).unref()),
    ]);
    expect({ result, stderr }).toEqual({ result: { code: 0, signal: null }, stderr: '' });
    expect(Date.now() - t0).toBeLessThan(pod.graceSeconds * 1000);
    const lines = stdout.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    expect(
      lines.filter((l) => {
        try {
          return typeof JSON.parse(l) !== 'object';
        } catch {
          return true;
        }
      }),
    ).toEqual([]);
  }, 120_000);
});
