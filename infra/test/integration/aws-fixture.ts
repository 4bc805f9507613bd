/**
 * The pre-existing AWS resources a cluster assumes (VPC, internet gateway, a public route table, three public
 * subnets, a hosted zone, an issued ACM certificate), created in moto, and the cluster files of the scenario.
 */
import { ACMClient, RequestCertificateCommand } from '@aws-sdk/client-acm';
import {
  AssociateRouteTableCommand,
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { CreateHostedZoneCommand, Route53Client } from '@aws-sdk/client-route-53';

/** IDs of the pre-existing resources. */
export interface AwsFixture {
  region: string;
  vpcId: string;
  internetGatewayId: string;
  routeTableId: string;
  subnets: Record<string, string>;
  hostedZoneId: string;
  certificateArn: string;
}

/** Creates the pre-existing resources in `region` (the SDK finds moto through AWS_ENDPOINT_URL). */
export async function createAwsFixture(region: string): Promise<AwsFixture> {
  const ec2 = new EC2Client({ region });
  const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!;
  const igw = (await ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway!;
  await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw.InternetGatewayId, VpcId: vpc.VpcId }));
  const rt = (await ec2.send(new CreateRouteTableCommand({ VpcId: vpc.VpcId }))).RouteTable!;
  await ec2.send(
    new CreateRouteCommand({
      RouteTableId: rt.RouteTableId,
      DestinationCidrBlock: '0.0.0.0/0',
      GatewayId: igw.InternetGatewayId,
    }),
  );
  const subnets: Record<string, string> = {};
  for (const [i, az] of [`${region}a`, `${region}b`, `${region}c`].entries()) {
    const s = (
      await ec2.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: `10.0.${i}.0/24`, AvailabilityZone: az }))
    ).Subnet!;
    await ec2.send(new AssociateRouteTableCommand({ RouteTableId: rt.RouteTableId, SubnetId: s.SubnetId }));
    subnets[az] = s.SubnetId!;
  }
  const zone = (
    await new Route53Client({ region }).send(
      new CreateHostedZoneCommand({ Name: 'example.org', CallerReference: `kubeaws-${Date.now()}` }),
    )
  ).HostedZone!;
  const cert = await new ACMClient({ region }).send(new RequestCertificateCommand({ DomainName: '*.example.org' }));
  return {
    region,
    vpcId: vpc.VpcId!,
    internetGatewayId: igw.InternetGatewayId!,
    routeTableId: rt.RouteTableId!,
    subnets,
    hostedZoneId: zone.Id!.replace(/^\/hostedzone\//, ''),
    certificateArn: cert.CertificateArn!,
  };
}

/** Options of {@link clusterFile}. */
export interface ScenarioOptions {
  name: string;
  region: string;
  spotMaxSize: number;
  /** Add the `extra` pool (empty: minSize 0). */
  extraPool: boolean;
  queueRetention?: string;
}

/** The scenario's cluster file: VPC, subnets, zone and certificate are left to discovery. */
export function clusterFile(o: ScenarioOptions): string {
  return `apiVersion: kubeaws.io/v1alpha1
kind: Cluster
metadata:
  name: ${o.name}
spec:
  environment: test
  account: "123456789012"
  region: ${o.region}
  hostedZone: example.org
  apiHostname: ${o.name}.example.org
  imageId: ami-0123456789abcdef0
  images:
    registry: registry.example.org/kubeaws
  nodePools:
    - name: master
      role: master
      instanceTypes: [m6i.large]
    - name: spot
      role: worker
      capacity: spot
      instanceTypes: [m6i.xlarge, m6a.xlarge]
      maxSize: ${o.spotMaxSize}
    - name: fallback
      role: worker
      instanceTypes: [m6i.xlarge]
      minSize: 1
      maxSize: 4
${o.extraPool ? '    - name: extra\n      role: worker\n      instanceTypes: [c6i.large]\n      maxSize: 2\n' : ''}  configItems:
    static_egress_nat_cidrs: [10.0.255.0/28, 10.0.255.16/28, 10.0.255.32/28]
${o.queueRetention ? `    interruption_queue_retention: ${o.queueRetention}\n` : ''}`;
}
