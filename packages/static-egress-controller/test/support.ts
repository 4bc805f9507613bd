/**
 * Helpers of the static-egress-controller integration suites: the moto server (testenv) behind the
 * recording proxy, a VPC fixture built through EC2 calls on moto (NAT subnets with an internet route,
 * `Type=dmz` target tables per AZ), read-back helpers, and an in-process controller started exactly as
 * production (`startComponent`) with short timers.
 */
import {
  AttachInternetGatewayCommand,
  AssociateRouteTableCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeAddressesCommand,
  DescribeNatGatewaysCommand,
  DescribeRouteTablesCommand,
  EC2Client,
  type Tag,
} from '@aws-sdk/client-ec2';
import { KubeClient, type RunningComponent, startComponent } from '@kubeaws/runtime';
import { type MotoServer, createTestNamespace, deleteNamespace, startMoto, testKubeConfig } from '@kubeaws/testenv';
import { type EgressConfig, type EgressParts, staticEgressController } from '../src/index';
import { Ec2Proxy } from './proxy';

export const REGION = 'eu-central-1';
export const AZS = ['eu-central-1a', 'eu-central-1b'];

const tags = (t: Record<string, string>): Tag[] => Object.entries(t).map(([Key, Value]) => ({ Key, Value }));

/** moto + proxy; sets the SDK's own env settings so the controller's client reaches the proxy. */
export async function startAws(): Promise<{ moto: MotoServer; proxy: Ec2Proxy; ec2: EC2Client }> {
  const moto = await startMoto();
  const proxy = new Ec2Proxy(moto.endpoint);
  await proxy.start();
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
  process.env.AWS_REGION = REGION;
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  const ec2 = new EC2Client({ endpoint: moto.endpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  return { moto, proxy, ec2 };
}

/** The VPC of one test: IDs of the VPC, the NAT subnets and the target tables per AZ. */
export interface VpcFixture {
  vpcId: string;
  natSubnets: Record<string, string>;
  targets: Record<string, string>;
}

/** Builds a VPC for cluster `clusterId` on moto (owner tag `owned` on the VPC). */
export async function createVpc(ec2: EC2Client, clusterId: string, cidr = '10.0.0.0/16'): Promise<VpcFixture> {
  const vpc = await ec2.send(
    new CreateVpcCommand({ CidrBlock: cidr, TagSpecifications: [{ ResourceType: 'vpc', Tags: tags({ [`kubernetes.io/cluster/${clusterId}`]: 'owned' }) }] }),
  );
  const vpcId = vpc.Vpc!.VpcId!;
  const igw = await ec2.send(new CreateInternetGatewayCommand({}));
  await ec2.send(new AttachInternetGatewayCommand({ VpcId: vpcId, InternetGatewayId: igw.InternetGateway!.InternetGatewayId! }));
  const pub = await ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }));
  const pubId = pub.RouteTable!.RouteTableId!;
  await ec2.send(new CreateRouteCommand({ RouteTableId: pubId, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw.InternetGateway!.InternetGatewayId! }));
  const base = cidr.split('.').slice(0, 2).join('.');
  const natSubnets: Record<string, string> = {};
  const targets: Record<string, string> = {};
  let i = 0;
  for (const az of AZS) {
    const sn = await ec2.send(
      new CreateSubnetCommand({
        VpcId: vpcId, CidrBlock: `${base}.${i * 16}.0/24`, AvailabilityZone: az,
        TagSpecifications: [{ ResourceType: 'subnet', Tags: tags({ 'kubeaws.io/role': 'egress-nat' }) }],
      }),
    );
    natSubnets[az] = sn.Subnet!.SubnetId!;
    await ec2.send(new AssociateRouteTableCommand({ RouteTableId: pubId, SubnetId: natSubnets[az] }));
    const rt = await ec2.send(
      new CreateRouteTableCommand({
        VpcId: vpcId, TagSpecifications: [{ ResourceType: 'route-table', Tags: tags({ Type: 'dmz', AvailabilityZone: az }) }],
      }),
    );
    targets[az] = rt.RouteTable!.RouteTableId!;
    i++;
  }
  return { vpcId, natSubnets, targets };
}

/** Routes of a table: destination -> NAT gateway ID (or other target). */
export async function routesOf(ec2: EC2Client, routeTableId: string): Promise<Record<string, string>> {
  const out = await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [routeTableId] }));
  const r: Record<string, string> = {};
  for (const x of out.RouteTables?.[0]?.Routes ?? []) {
    if (x.DestinationCidrBlock && x.Origin !== 'CreateRouteTable') r[x.DestinationCidrBlock] = x.NatGatewayId ?? x.GatewayId ?? '?';
  }
  return r;
}

/** Our NAT gateways in a VPC, not deleted. */
export async function natsOf(ec2: EC2Client, vpcId: string, clusterId: string) {
  const out = await ec2.send(new DescribeNatGatewaysCommand({ Filter: [{ Name: 'vpc-id', Values: [vpcId] }] }));
  return (out.NatGateways ?? []).filter(
    (n) => n.State !== 'deleted' && n.Tags?.some((t) => t.Key === `kubernetes.io/cluster/${clusterId}` && t.Value === 'owned'),
  );
}

/** Our Elastic IPs. */
export async function eipsOf(ec2: EC2Client, clusterId: string) {
  const out = await ec2.send(new DescribeAddressesCommand({}));
  return (out.Addresses ?? []).filter((a) => a.Tags?.some((t) => t.Key === `kubernetes.io/cluster/${clusterId}` && t.Value === 'owned'));
}

/** Starts the controller in-process with short timers (admin credentials unless `kubeConfig`). */
export async function startController(
  clusterId: string,
  vpcId: string,
  statusNamespace: string,
  config: Partial<EgressConfig> = {},
  kubeConfig = testKubeConfig(),
): Promise<RunningComponent<EgressConfig, EgressParts>> {
  const rc = await startComponent(staticEgressController, {
    kubeConfig,
    argv: [`--cluster-id=${clusterId}`, `--availability-zones=${AZS.join(',')}`],
    env: {},
    config: {
      leaderElect: false,
      metricsBindAddress: '127.0.0.1:0',
      healthProbeBindAddress: '127.0.0.1:0',
      logLevel: 'warn',
      clusterId,
      ownerTagKey: `kubernetes.io/cluster/${clusterId}`,
      vpcId,
      availabilityZones: AZS,
      statusConfigMap: `${statusNamespace}/static-egress-status`,
      debounceMs: 100,
      maxDebounceMs: 1_000,
      pollIntervalMs: 300,
      resyncIntervalMs: 1_500,
      awsMaxAttempts: 1,
      ...config,
    },
  });
  return rc;
}

type Controller = RunningComponent<EgressConfig, EgressParts>;

/**
 * The shared environment of one integration file: the testenv kubeconfig and a KubeClient on it, moto behind
 * the recording proxy with the AWS env set (`moto`, `proxy`, `ec2` are set in `beforeAll`), the namespaces
 * and controllers the tests create, and the teardown of all of it.
 */
export interface EgressEnv {
  kc: ReturnType<typeof testKubeConfig>;
  api: KubeClient;
  moto: MotoServer;
  proxy: Ec2Proxy;
  ec2: EC2Client;
  /** Namespaces to delete at teardown. */
  namespaces: string[];
  /** Controllers still running; stopped at teardown. */
  running: Controller[];
  /** A test namespace, deleted at teardown. */
  ns(prefix: string): Promise<string>;
  /** The controller for `vpc` watching `statusNs` (unless `cfg.namespaces`), registered for teardown, synced. */
  start(cluster: string, vpc: VpcFixture, statusNs: string, cfg?: Partial<EgressConfig>): Promise<Controller>;
  /** Stops a controller `start` returned. */
  stop(rc: Controller): Promise<void>;
  /** Creates or replaces a ConfigMap (label `egress: static` unless `labels`). */
  putCm(namespace: string, name: string, data: Record<string, string>, labels?: Record<string, string>): Promise<void>;
  /** The parsed `status.json` of the status ConfigMap in `namespace`, or undefined. */
  statusDoc(namespace: string): Promise<any>;
  /** Stops the controllers, deletes the namespaces, stops the EC2 client, proxy and moto. */
  teardown(): Promise<void>;
}

function newEgressEnv(): EgressEnv {
  const kc = testKubeConfig();
  const env: EgressEnv = {
    kc,
    api: new KubeClient({ kubeConfig: kc, component: 'static-egress-test', fieldManager: 'static-egress-test' }),
    moto: undefined as unknown as MotoServer,
    proxy: undefined as unknown as Ec2Proxy,
    ec2: undefined as unknown as EC2Client,
    namespaces: [],
    running: [],
    async ns(prefix) {
      const n = await createTestNamespace(kc, prefix);
      env.namespaces.push(n);
      return n;
    },
    async start(cluster, vpc, statusNs, cfg = {}) {
      const rc = await startController(cluster, vpc.vpcId, statusNs, { namespaces: [statusNs], ...cfg });
      env.running.push(rc);
      await rc.synced();
      return rc;
    },
    async stop(rc) {
      await rc.stop();
      env.running.splice(env.running.indexOf(rc), 1);
    },
    async putCm(namespace, name, data, labels = { egress: 'static' }) {
      const path = `/api/v1/namespaces/${namespace}/configmaps`;
      const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels }, data };
      try {
        await env.api.create(path, body);
      } catch {
        await env.api.update(`${path}/${name}`, body);
      }
    },
    async statusDoc(namespace) {
      try {
        const cm = await env.api.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${namespace}/configmaps/static-egress-status`);
        return JSON.parse(cm.data?.['status.json'] ?? '{}');
      } catch {
        return undefined;
      }
    },
    async teardown() {
      for (const rc of env.running) await rc.stop().catch(() => undefined);
      await Promise.all(env.namespaces.map((n) => deleteNamespace(kc, n, { wait: false })));
      env.ec2?.destroy();
      await env.proxy?.stop();
      await env.moto?.stop();
    },
  };
  return env;
}

/**
 * The environment of a test file: registers `beforeAll` (moto, proxy) and `afterAll` (teardown) and returns
 * the environment at once; its `moto`, `proxy` and `ec2` are there from `beforeAll` on.
 */
export function useEgressEnv(): EgressEnv {
  const env = newEgressEnv();
  beforeAll(async () => {
    Object.assign(env, await startAws());
  });
  afterAll(() => env.teardown());
  return env;
}
