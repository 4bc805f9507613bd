/**
 * The rendered bootstrap of an etcd node and a master run unchanged on this machine (docs/infra.md#infra-bootstrap).
 * The cluster files are written to moto's S3 by syncClusterFiles; the bootstrap scripts are taken from the
 * rendered etcd and master launch templates and run with bash, their root, ports and supervisor remapped through
 * the scripts' environment overrides (`KUBEAWS_ROOT`, `KUBEAWS_SUPERVISOR=process`, `KUBEAWS_ETCD_*`,
 * `APISERVER_PORT`, …) and the binaries built by tools/kube-binaries. They fetch their files with SigV4 and start
 * etcd with TLS, then kube-apiserver, kube-controller-manager and kube-scheduler (no kubelet: it is not among
 * the built binaries, `KUBEAWS_COMPONENTS` leaves it out).
 *
 * The authnz webhook is a DaemonSet in a cluster, not part of the bootstrap: the suite starts the built bundle
 * with the arguments of manifests/authnz-webhook/daemonset.yaml, ports and paths remapped, on the certificates the
 * master bootstrap fetched. Node tokens are signed against moto STS; a presigning proxy in front of moto STS
 * records the webhook's GetCallerIdentity calls.
 */
import { type ChildProcess, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { STSClient } from '@aws-sdk/client-sts';
import { type MotoServer, ensureBinaries, freePorts, startMoto, waitFor } from '@kubeaws/testenv';
import { parse, parseAllDocuments } from 'yaml';
import { findRepoRoot, loadCluster, type ResolvedCluster } from '../src/infra/config/load';
import { filesS3Client, syncClusterFiles } from '../src/infra/files';
import { AUTHNZ_POLICY_CONFIGMAP, renderManifests } from '../src/infra/manifests';
import { renderStacks } from '../src/infra/render';
import { AUTHNZ_BUNDLE } from './global-setup';
import { bootstrapOf, nodeToken, type Reply, request, startStsProxy, type StsProxy, type Tls } from './support';

const REGION = 'us-east-1';
const BUCKET = 'test-1-cluster-files';
const repo = findRepoRoot();

/** Ends the process of `pid` (SIGTERM, SIGKILL after 10 s) and waits for it to be gone. */
async function stopPid(pid: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(pid, 'SIGKILL');
}

/** The pids the bootstrap's process supervisor wrote (`$R/run/kubeaws/<name>.pid`). */
function bootstrapPids(root: string): number[] {
  const dir = path.join(root, 'run/kubeaws');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).map((f) => Number(fs.readFileSync(path.join(dir, f), 'utf8')));
}

function logOf(root: string, name: string): string {
  const f = path.join(root, 'var/log/kubeaws', `${name}.log`);
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').slice(-30).join('\n') : '(no log)';
}

describe('etcd and master bootstrap (moto S3 and STS, built binaries)', () => {
  let moto: MotoServer;
  let s3: S3Client;
  let sts: STSClient;
  let ec2: EC2Client;
  let stsProxy: StsProxy;
  let c: ResolvedCluster;
  let stacks: ReturnType<typeof renderStacks>;
  let bin: string;
  let etcdRoot: string;
  let masterRoot: string;
  let work: string;
  let webhook: ChildProcess | undefined;
  let webhookLog = '';
  let renderedPolicy = '';
  let etcdRun: SpawnSyncReturns<string>;
  let masterRun: SpawnSyncReturns<string>;
  const ports: Record<string, number> = {};
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    moto = await startMoto();
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: REGION });
    const sdk = { region: REGION, endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
    s3 = filesS3Client(REGION, { endpoint: moto.endpoint });
    sts = new STSClient(sdk);
    ec2 = new EC2Client(sdk);
    stsProxy = await startStsProxy(moto.endpoint);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    etcdRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-etcd-'));
    masterRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-master-'));
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-authnz-'));
    c = loadCluster(path.join(repo, 'infra/test/fixtures/clusters/test-1az.yaml')).cluster!;
    await syncClusterFiles(s3, c, { bucket: BUCKET, kmsKeyArn: `arn:aws:kms:${REGION}:123456789012:alias/test-1-cluster` });
    stacks = renderStacks(c);
    const binaries = await ensureBinaries();
    bin = path.dirname(binaries.kubeApiserver);
    expect(path.dirname(binaries.etcd)).toBe(bin);
    [ports.etcdClient, ports.etcdPeer, ports.apiserver, ports.webhook, ports.cm, ports.scheduler, ports.metrics, ports.probes] =
      await freePorts(8);
    const common = {
      ...process.env,
      KUBEAWS_BIN: bin,
      KUBEAWS_SUPERVISOR: 'process',
      KUBEAWS_FETCH_TIMEOUT: '10',
      AWS_ENDPOINT_URL: moto.endpoint,
    };
    // The bucket reaches the scripts as the stacks pass it: the `${FilesBucket}` of their user data.
    const vars = { FilesBucket: BUCKET, BackupBucket: `${c.name}-etcd-backups` };
    etcdRun = spawnSync('bash', ['-c', bootstrapOf(stacks.find((s) => s.kind === 'etcd')!.template as never, 'EtcdMember0', vars)], {
      encoding: 'utf8',
      env: {
        ...common,
        KUBEAWS_ROOT: etcdRoot,
        KUBEAWS_ETCD_ADVERTISE_HOST: '127.0.0.1',
        KUBEAWS_ETCD_LISTEN_HOST: '127.0.0.1',
        KUBEAWS_ETCD_CLIENT_PORT: String(ports.etcdClient),
        KUBEAWS_ETCD_PEER_PORT: String(ports.etcdPeer),
        KUBEAWS_ETCD_INITIAL_CLUSTER: `etcd-0=https://127.0.0.1:${ports.etcdPeer}`,
      },
    });
    const master = stacks.find((s) => s.kind === 'pool' && s.name === `${c.name}-pool-master`)!;
    masterRun = spawnSync('bash', ['-c', bootstrapOf(master.template as never, 'LaunchTemplate', vars)], {
      encoding: 'utf8',
      env: {
        ...common,
        KUBEAWS_ROOT: masterRoot,
        // kubelet is not among the built binaries (tools/kube-binaries builds the control plane only).
        KUBEAWS_COMPONENTS: 'kube-apiserver kube-controller-manager kube-scheduler',
        NODE_IP: '127.0.0.1',
        APISERVER_BIND_ADDRESS: '127.0.0.1',
        APISERVER_PORT: String(ports.apiserver),
        AUTHNZ_WEBHOOK_PORT: String(ports.webhook),
        CONTROLLER_MANAGER_PORT: String(ports.cm),
        SCHEDULER_PORT: String(ports.scheduler),
        ETCD_SERVERS: `https://127.0.0.1:${ports.etcdClient}`,
        KUBEAWS_READY_TIMEOUT: '60',
      },
    });
    if (masterRun.status === 0) {
      // The webhook runs in a cluster: its kubeconfig (the break-glass admin one, server remapped) and the
      // AccessRequest CRD of the overlay must exist before it starts, as they do for the DaemonSet.
      await readyz();
      const admin = await adminTls();
      for (const crd of parseAllDocuments(fs.readFileSync(path.join(repo, 'manifests/authnz-webhook/crds.yaml'), 'utf8'))
        .map((d) => d.toJS())
        .filter((o) => o?.kind === 'CustomResourceDefinition')) {
        const r = await request(api('/apis/apiextensions.k8s.io/v1/customresourcedefinitions'), admin, { method: 'POST', body: crd });
        expect(r.status).toBe(201);
        await waitFor(
          async () => {
            const g = await request(api(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`), admin);
            const conds = (JSON.parse(g.body).status?.conditions ?? []) as { type: string; status: string }[];
            return conds.some((x) => x.type === 'Established' && x.status === 'True') || undefined;
          },
          { timeoutMs: 20_000, description: `CRD ${crd.metadata.name} established` },
        );
      }
      const kc = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'admin/admin.kubeconfig' }));
      fs.writeFileSync(
        path.join(work, 'admin.kubeconfig'),
        (await kc.Body!.transformToString('utf8')).replace('https://127.0.0.1:443', `https://127.0.0.1:${ports.apiserver}`),
      );
      webhook = startWebhook();
    }
  }, 180_000);

  /**
   * The built webhook bundle with the DaemonSet's arguments: its certificate paths under the master's root, its
   * listeners on free loopback ports, and the configuration of the rendered overlay's policy ConfigMap (the cluster's,
   * not the bootstrap's). Its cluster access is the break-glass admin kubeconfig (the DaemonSet's is in-cluster).
   */
  function startWebhook(): ChildProcess {
    const ds = parseAllDocuments(fs.readFileSync(path.join(repo, 'manifests/authnz-webhook/daemonset.yaml'), 'utf8'))
      .map((d) => d.toJS())
      .find((o) => o?.kind === 'DaemonSet');
    // node's own flags (such as --no-maglev), then the bundle, then the webhook's flags
    const containerArgs = ds.spec.template.spec.containers[0].args as string[];
    const bundleAt = containerArgs.indexOf('/app/main.mjs');
    expect(bundleAt).toBeGreaterThanOrEqual(0);
    const nodeFlags = containerArgs.slice(0, bundleAt);
    const args = containerArgs.slice(bundleAt + 1);
    // The policy ConfigMap of the rendered authnz-webhook overlay, unchanged: its `authentication.nodes` is what
    // rendering generates for the cluster (docs/infra.md#infra-node-authentication).
    const overlay = renderManifests(c, repo, path.join(work, 'manifests')).overlays.find((o) => o.component === 'authnz-webhook')!;
    const policy = overlay.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === AUTHNZ_POLICY_CONFIGMAP.name)!;
    renderedPolicy = (policy.data as Record<string, string>)[AUTHNZ_POLICY_CONFIGMAP.key]!;
    const config = path.join(work, 'config.yaml');
    fs.writeFileSync(config, renderedPolicy);
    const remap: Record<string, string> = {
      config,
      'webhook-bind-address': `127.0.0.1:${ports.webhook}`,
      'access-api-bind-address': '',
      'metrics-bind-address': `127.0.0.1:${ports.metrics}`,
      'health-probe-bind-address': `127.0.0.1:${ports.probes}`,
      'shutdown-delay': '0s',
    };
    const argv = args.map((a) => {
      const [flag, value] = a.replace(/^--/, '').split(/=(.*)/s) as [string, string];
      if (flag in remap) return `--${flag}=${remap[flag]}`;
      return `--${flag}=${value.replace(/^\/etc\/kubernetes\//, `${masterRoot}/etc/kubernetes/`)}`;
    });
    const child = spawn(process.execPath, [...nodeFlags, path.join(repo, AUTHNZ_BUNDLE), ...argv], {
      env: {
        PATH: process.env.PATH,
        HOME: work,
        KUBECONFIG: path.join(work, 'admin.kubeconfig'),
        AWS_REGION: REGION,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_ENDPOINT_URL_STS: stsProxy.endpoint,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => (webhookLog = (webhookLog + d.toString('utf8')).slice(-20_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    return child;
  }

  afterAll(async () => {
    if (webhook?.pid !== undefined && webhook.exitCode === null) {
      const gone = new Promise((r) => webhook!.once('exit', r));
      webhook.kill('SIGTERM');
      await gone;
    }
    // kube-apiserver before etcd, so that it does not retry a vanished etcd.
    for (const root of [masterRoot, etcdRoot]) if (root) await Promise.all(bootstrapPids(root).map(stopPid));
    s3?.destroy();
    sts?.destroy();
    ec2?.destroy();
    await stsProxy?.stop();
    await moto?.stop();
    for (const root of [etcdRoot, masterRoot, work]) if (root) fs.rmSync(root, { recursive: true, force: true });
    process.env = savedEnv;
  }, 60_000);

  const etcdPki = () => path.join(etcdRoot, 'etc/kubernetes/pki/etcd');
  const masterPki = () => path.join(masterRoot, 'etc/kubernetes/pki');
  const read = (f: string) => fs.readFileSync(f, 'utf8');
  const apiTls = (): Tls => ({ ca: read(path.join(masterPki(), 'ca.crt')) });
  const api = (p: string) => `https://127.0.0.1:${ports.apiserver}${p}`;

  /** Client certificate of the break-glass admin kubeconfig (`admin/admin.kubeconfig`, read from the bucket). */
  async function adminTls(): Promise<Tls> {
    const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'admin/admin.kubeconfig' }));
    const kc = parse(await r.Body!.transformToString('utf8')) as { users: { user: Record<string, string> }[] };
    const u = kc.users[0]!.user;
    const b64 = (v: string | undefined) => Buffer.from(v ?? '', 'base64').toString('utf8');
    return { ...apiTls(), cert: b64(u['client-certificate-data']), key: b64(u['client-key-data']) };
  }

  async function readyz(): Promise<Reply> {
    return waitFor(
      async () => {
        const r = await request(api('/readyz?verbose'), apiTls());
        return r.status === 200 ? r : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, description: `kube-apiserver /readyz (log: ${logOf(masterRoot, 'kube-apiserver')})` },
    );
  }

  it('etcd: fetches its files from S3 and serves TLS with client certificate authentication', async () => {
    expect(etcdRun.stderr).toBe('');
    expect(etcdRun.status).toBe(0);
    expect(fs.readdirSync(etcdPki()).sort()).toEqual(['ca.crt', 'peer.crt', 'peer.key', 'server.crt', 'server.key']);
    const health = (withCert: boolean) =>
      spawnSync(
        'curl',
        [
          '-sS',
          '--max-time',
          '2',
          '--cacert',
          `${etcdPki()}/ca.crt`,
          ...(withCert ? ['--cert', `${etcdPki()}/server.crt`, '--key', `${etcdPki()}/server.key`] : []),
          `https://127.0.0.1:${ports.etcdClient}/health`,
        ],
        { encoding: 'utf8' },
      );
    const body = await waitFor(() => (health(true).stdout.includes('"health":"true"') ? health(true).stdout : undefined), {
      timeoutMs: 30_000,
      description: 'etcd /health over TLS',
    });
    expect(JSON.parse(body)).toEqual({ health: 'true', reason: '' });
    expect(health(false).stdout).not.toContain('"health":"true"');
    const plain = spawnSync('curl', ['-sS', '--max-time', '2', `http://127.0.0.1:${ports.etcdClient}/health`], { encoding: 'utf8' });
    expect(plain.stdout).not.toContain('"health"');
  });

  it('master: fetches its files, writes the authnz wiring and starts the control plane without kubelet', () => {
    expect(masterRun.stderr).toBe('');
    expect(masterRun.status).toBe(0);
    const k = path.join(masterRoot, 'etc/kubernetes');
    expect(fs.readdirSync(path.join(k, 'authnz')).sort()).toEqual([
      'apiserver-client-ca.crt',
      'apiserver-client.crt',
      'apiserver-client.key',
      'authn-webhook.kubeconfig',
      'authorization-config.yaml',
      'authz-webhook.kubeconfig',
      'webhook-ca.crt',
      'webhook.crt',
      'webhook.key',
    ]);
    expect(read(path.join(k, 'authnz/authn-webhook.kubeconfig'))).toContain(`server: https://127.0.0.1:${ports.webhook}/authenticate`);
    expect(read(path.join(k, 'kubeconfigs/scheduler.kubeconfig'))).toContain(`server: https://127.0.0.1:${ports.apiserver}\n`);
    expect(fs.readdirSync(path.join(masterRoot, 'run/kubeaws')).sort()).toEqual([
      'kube-apiserver.pid',
      'kube-controller-manager.pid',
      'kube-scheduler.pid',
    ]);
    expect(fs.existsSync(path.join(k, 'kubelet-config.yaml'))).toBe(false);
  });

  it('master: kube-apiserver is ready over TLS with its storage in etcd over TLS', async () => {
    const r = await readyz();
    expect(r.body).toContain('[+]etcd ok');
    expect(r.body).toContain('[+]etcd-readiness ok');
  });

  it('master: kube-controller-manager and kube-scheduler run with their kubeconfigs and take their leases', async () => {
    await readyz();
    const admin = await adminTls();
    for (const name of ['kube-controller-manager', 'kube-scheduler']) {
      const holder = await waitFor(
        async () => {
          const r = await request(api(`/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/${name}`), admin);
          return r.status === 200 ? (JSON.parse(r.body).spec.holderIdentity as string) : undefined;
        },
        { timeoutMs: 45_000, intervalMs: 500, description: `${name} lease (log: ${logOf(masterRoot, name)})` },
      );
      expect(holder).toMatch(/^.+_[0-9a-f-]{36}$/);
    }
    // their secure ports (self-signed serving certificates) answer /healthz
    for (const port of [ports.cm, ports.scheduler]) {
      const r = spawnSync('curl', ['-sSk', '--max-time', '2', `https://127.0.0.1:${port}/healthz`], { encoding: 'utf8' });
      expect(r.stdout).toBe('ok');
    }
  });

  it('master: the authnz webhook answers the TokenReview of a node token signed against moto STS', async () => {
    await readyz();
    // The rendered configuration names the cluster's node role and id, and nothing the test wrote.
    expect(parse(renderedPolicy).authentication.nodes).toEqual({
      clusterID: c.clusterId,
      workerRoleARN: `arn:aws:iam::${c.account}:role/${c.name}-worker`,
      regions: [REGION],
    });
    // /healthz, not /readyz: the shipped issuer (idp.example.com) is a placeholder whose keys never load here, and
    // node tokens do not depend on it.
    await waitFor(
      async () => {
        const r = await fetch(`http://127.0.0.1:${ports.probes}/healthz`).catch(() => undefined);
        return r?.ok;
      },
      { timeoutMs: 30_000, description: `authnz webhook /healthz (log: ${webhookLog.slice(-3000)})` },
    );
    const images = await ec2.send(new DescribeImagesCommand({}));
    const inst = (
      await ec2.send(new RunInstancesCommand({ ImageId: images.Images![0]!.ImageId!, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }))
    ).Instances![0]!;
    const workerRole = `arn:aws:iam::${c.account}:role/${c.name}-worker`;
    const sign = (clusterId: string, roleArn = workerRole) =>
      nodeToken(sts, { roleArn, session: inst.InstanceId!, clusterId, region: REGION, stsEndpoint: stsProxy.endpoint });
    const review = (token: string) =>
      request(api('/apis/authentication.k8s.io/v1/selfsubjectreviews'), apiTls(), {
        method: 'POST',
        token,
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      });
    const token = await sign(c.clusterId);
    const r = await waitFor(
      async () => {
        const x = await review(token);
        return x.status === 201 ? x : undefined;
      },
      { timeoutMs: 30_000, description: `TokenReview of a node token (log: ${webhookLog.slice(-3000)})` },
    );
    const user = JSON.parse(r.body).status.userInfo as { username: string; groups: string[] };
    expect(user.username).toBe(`system:node:${inst.PrivateDnsName}`);
    expect(user.groups).toEqual(expect.arrayContaining(['system:nodes', 'system:authenticated']));
    // kube-apiserver → webhook → STS, with the cluster id the token signed
    expect(stsProxy.calls.map((x) => x.clusterId)).toContain(c.clusterId);
    // moto does not verify signatures, so a token signed for another cluster id is not refused here (real STS
    // refuses it, the header the webhook sends no longer matches the signature); another role is refused
    expect((await review(await sign(c.clusterId, `arn:aws:iam::${c.account}:role/${c.name}-master`))).status).toBe(401);
  });

  it('master: Secrets are encrypted at rest in etcd (secretbox), readable through the API', async () => {
    await readyz();
    const admin = await adminTls();
    const plaintext = 'kubeaws-bootstrap-plaintext-value';
    const created = await request(api('/api/v1/namespaces/default/secrets'), admin, {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'at-rest' }, stringData: { v: plaintext } },
    });
    expect(created.status).toBe(201);
    const back = await request(api('/api/v1/namespaces/default/secrets/at-rest'), admin);
    expect(Buffer.from(JSON.parse(back.body).data.v, 'base64').toString()).toBe(plaintext);
    // etcd's gRPC gateway with kube-apiserver's etcd client certificate
    const range = await request(
      `https://127.0.0.1:${ports.etcdClient}/v3/kv/range`,
      {
        ca: read(path.join(masterPki(), 'etcd-ca.crt')),
        cert: read(path.join(masterPki(), 'apiserver-etcd-client.crt')),
        key: read(path.join(masterPki(), 'apiserver-etcd-client.key')),
      },
      { method: 'POST', body: { key: Buffer.from('/registry/secrets/default/at-rest').toString('base64') } },
    );
    expect(range.status).toBe(200);
    const kvs = JSON.parse(range.body).kvs as { value: string }[];
    expect(kvs).toHaveLength(1);
    const stored = Buffer.from(kvs[0]!.value, 'base64');
    expect(stored.subarray(0, 26).toString('latin1')).toBe('k8s:enc:secretbox:v1:key1:');
    expect(stored.includes(plaintext)).toBe(false);
  });

  it('master: serves the service-account issuer discovery and keys of https://<apiHostname>', async () => {
    await readyz();
    const admin = await adminTls();
    const d = await request(api('/.well-known/openid-configuration'), admin);
    expect(d.status).toBe(200);
    expect(JSON.parse(d.body)).toMatchObject({
      issuer: `https://${c.apiHostname}`,
      jwks_uri: `https://${c.apiHostname}/openid/v1/jwks`,
      id_token_signing_alg_values_supported: ['ES256'],
    });
    // AWS STS fetches both without credentials: anonymous callers pass the authnz webhook's match conditions to
    // RBAC, which lets them in once the cluster's binding (manifests/cluster/rbac.yaml) is applied
    expect((await request(api('/.well-known/openid-configuration'), apiTls())).status).toBe(403);
    const binding = parse(read(path.join(repo, 'manifests/cluster/rbac.yaml')));
    expect(binding.subjects).toEqual([expect.objectContaining({ kind: 'Group', name: 'system:unauthenticated' })]);
    const applied = await request(api('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings'), admin, { method: 'POST', body: binding });
    expect(applied.status).toBe(201);
    const anonymous = await waitFor(
      async () => {
        const r = await request(api('/.well-known/openid-configuration'), apiTls());
        return r.status === 200 ? r : undefined;
      },
      { timeoutMs: 10_000, description: 'anonymous issuer discovery after the binding' },
    );
    expect(JSON.parse(anonymous.body).issuer).toBe(`https://${c.apiHostname}`);
    expect((await request(api('/openid/v1/jwks'), apiTls())).status).toBe(200);
    const jwks = await request(api('/openid/v1/jwks'), admin);
    expect(jwks.status).toBe(200);
    expect(JSON.parse(jwks.body).keys).toEqual([expect.objectContaining({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' })]);
    // a token kube-apiserver issues carries that issuer
    const tr = await request(api('/api/v1/namespaces/default/serviceaccounts/default/token'), admin, {
      method: 'POST',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['sts.amazonaws.com'] } },
    });
    const token = await waitFor(async () => {
      const again = tr.status === 201 ? tr : await request(api('/api/v1/namespaces/default/serviceaccounts/default/token'), admin, {
        method: 'POST',
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['sts.amazonaws.com'] } },
      });
      return again.status === 201 ? (JSON.parse(again.body).status.token as string) : undefined;
    }, { timeoutMs: 30_000, description: 'TokenRequest of default/default (the controller-manager creates the ServiceAccount)' });
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ iss: `https://${c.apiHostname}`, aud: ['sts.amazonaws.com'], sub: 'system:serviceaccount:default:default' });
  });
});
