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
import { type RunningComponent, startComponent } from '@kubeaws/runtime';
import { type MotoServer, startMoto, testKubeConfig } from '@kubeaws/testenv';
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

/** Starts the controller in-process with short timers. */
export async function startController(
  clusterId: string,
  vpcId: string,
  statusNamespace: string,
  config: Partial<EgressConfig> = {},
): Promise<RunningComponent<EgressConfig, EgressParts>> {
  const rc = await startComponent(staticEgressController, {
    kubeConfig: testKubeConfig(),
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
