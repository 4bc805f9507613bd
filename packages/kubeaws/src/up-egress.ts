/**
 * The static-egress-controller's part of `kubeaws up` on a local cluster (docs/static-egress-controller.md): a
 * moto server stands in for EC2 (the controller reaches it through the SDK's own `AWS_ENDPOINT_URL`), with a
 * VPC tagged for the cluster `local`, an internet gateway, one NAT subnet per AZ (`kubeaws.io/role=egress-nat`,
 * routed to the internet gateway) and one `Type=dmz` target route table per AZ. The status view prints each
 * AZ's NAT gateway and public IP read back from moto, and the routes of the target tables.
 */
import {
  AssociateRouteTableCommand,
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeNatGatewaysCommand,
  DescribeRouteTablesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import type { MotoServer } from '@kubeaws/testenv';

/** Region and AZs of the local EC2 stand-in. */
export const EGRESS_DEMO = { region: 'eu-central-1', zones: ['eu-central-1a', 'eu-central-1b'], clusterId: 'local' } as const;

/** What `kubeaws up` gets from {@link prepareStaticEgress}. */
export interface StaticEgressDemo {
  /** Environment of the controller process (the SDK's endpoint, region and credentials settings for moto). */
  env: Record<string, string>;
  /** Extra flags: cluster ID, AZs, VPC. */
  args: string[];
  /** Status lines: per AZ the NAT gateway, its state and public IP; routes per target table. */
  status(): Promise<string[]>;
  stop(): Promise<void>;
}

const tags = (t: Record<string, string>) => Object.entries(t).map(([Key, Value]) => ({ Key, Value }));

/**
 * Creates the demo VPC in `moto` (the local AWS stand-in `kubeaws up` shares between the demos, one region each; it
 * outlives the demo).
 */
export async function prepareStaticEgress(moto: MotoServer, say: (line: string) => void): Promise<StaticEgressDemo> {
  say('creating the demo VPC in moto (local EC2 stand-in) for the static-egress-controller');
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const ec2 = new EC2Client({ endpoint: moto.endpoint, region: EGRESS_DEMO.region, credentials });
  const owner = { [`kubernetes.io/cluster/${EGRESS_DEMO.clusterId}`]: 'owned' };
  const vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16', TagSpecifications: [{ ResourceType: 'vpc', Tags: tags(owner) }] })))
    .Vpc!.VpcId!;
  const igw = (await ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
  await ec2.send(new AttachInternetGatewayCommand({ VpcId: vpcId, InternetGatewayId: igw }));
  const pub = (await ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }))).RouteTable!.RouteTableId!;
  await ec2.send(new CreateRouteCommand({ RouteTableId: pub, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }));
  const targets: Record<string, string> = {};
  for (const [i, az] of EGRESS_DEMO.zones.entries()) {
    const subnet = (
      await ec2.send(
        new CreateSubnetCommand({
          VpcId: vpcId, CidrBlock: `10.0.${i}.0/28`, AvailabilityZone: az,
          TagSpecifications: [{ ResourceType: 'subnet', Tags: tags({ ...owner, 'kubeaws.io/role': 'egress-nat' }) }],
        }),
      )
    ).Subnet!.SubnetId!;
    await ec2.send(new AssociateRouteTableCommand({ RouteTableId: pub, SubnetId: subnet }));
    targets[az] = (
      await ec2.send(
        new CreateRouteTableCommand({ VpcId: vpcId, TagSpecifications: [{ ResourceType: 'route-table', Tags: tags({ ...owner, Type: 'dmz', AvailabilityZone: az }) }] }),
      )
    ).RouteTable!.RouteTableId!;
  }
  return {
    env: { AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: EGRESS_DEMO.region, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' },
    args: [`--cluster-id=${EGRESS_DEMO.clusterId}`, `--availability-zones=${EGRESS_DEMO.zones.join(',')}`, `--vpc-id=${vpcId}`],
    async status() {
      const nats = (await ec2.send(new DescribeNatGatewaysCommand({ Filter: [{ Name: 'vpc-id', Values: [vpcId] }] }))).NatGateways ?? [];
      const tables = (await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: Object.values(targets) }))).RouteTables ?? [];
      const lines: string[] = [];
      for (const az of EGRESS_DEMO.zones) {
        const n = nats.find((x) => x.State !== 'deleted' && x.Tags?.some((t) => t.Key === 'kubeaws.io/az' && t.Value === az));
        const t = tables.find((x) => x.RouteTableId === targets[az]);
        const routes = (t?.Routes ?? []).filter((r) => r.NatGatewayId).map((r) => r.DestinationCidrBlock);
        lines.push(
          `  egress ${az}: ${n ? `${n.NatGatewayId} ${n.State} public IP ${n.NatGatewayAddresses?.[0]?.PublicIp ?? '-'}` : 'no NAT gateway yet'}; ` +
            `${targets[az]} routes ${routes.length ? routes.join(', ') : 'none'}`,
        );
      }
      return lines;
    },
    async stop() {
      ec2.destroy();
    },
  };
}
