/**
 * Read-only discovery of the values a cluster file may leave out: the VPC (when the account has exactly one),
 * the public subnet per AZ, the internet gateway, the hosted zone ID and the ACM certificate that best matches
 * the API hostname. Every missing value is reported in one error.
 */
import { ACMClient, ListCertificatesCommand } from '@aws-sdk/client-acm';
import {
  DescribeInternetGatewaysCommand,
  DescribeRouteTablesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { ListHostedZonesByNameCommand, Route53Client } from '@aws-sdk/client-route-53';
import type { ResolvedCluster } from '../config/load';

/** AWS clients of one region. The SDK finds endpoints (`AWS_ENDPOINT_URL`) and credentials itself. */
export interface AwsClients {
  ec2: EC2Client;
  route53: Route53Client;
  acm: ACMClient;
}

/** Creates the discovery clients for a region. */
export function discoveryClients(region: string): AwsClients {
  return { ec2: new EC2Client({ region }), route53: new Route53Client({ region }), acm: new ACMClient({ region }) };
}

/** Discovery failed: `problems` names every value that could not be found and how to give it. */
export class DiscoveryError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

/** How well a certificate domain covers a hostname: 2 exact, 1 wildcard, 0 not at all. */
export function certificateMatch(domain: string, hostname: string): number {
  if (domain === hostname) return 2;
  if (
    domain.startsWith('*.') &&
    hostname.endsWith(domain.slice(1)) &&
    !hostname.slice(0, -(domain.length - 1)).includes('.')
  )
    return 1;
  return 0;
}

/**
 * Fills the values the cluster file does not give (mutates and returns `c`). Read-only AWS calls.
 * @throws DiscoveryError naming every value that could not be discovered.
 */
export async function discover(
  c: ResolvedCluster,
  clients: AwsClients = discoveryClients(c.region),
): Promise<ResolvedCluster> {
  const problems: string[] = [];
  const where = `${c.file}: spec`;
  if (!c.vpcId) {
    const vpcs = (await clients.ec2.send(new DescribeVpcsCommand({}))).Vpcs ?? [];
    const nonDefault = vpcs.filter((v) => !v.IsDefault);
    const candidates = nonDefault.length > 0 ? nonDefault : vpcs;
    if (candidates.length === 1) c.vpcId = candidates[0].VpcId;
    else
      problems.push(
        `${where}.vpcId: the account has ${candidates.length} VPCs in ${c.region} (${candidates.map((v) => v.VpcId).join(', ') || 'none'}); set spec.vpcId`,
      );
  }
  if (c.vpcId && (!c.internetGatewayId || Object.keys(c.subnets).length === 0)) {
    const igws =
      (
        await clients.ec2.send(
          new DescribeInternetGatewaysCommand({ Filters: [{ Name: 'attachment.vpc-id', Values: [c.vpcId] }] }),
        )
      ).InternetGateways ?? [];
    if (!c.internetGatewayId) {
      if (igws.length === 1) c.internetGatewayId = igws[0].InternetGatewayId;
      else if (c.items.get('static_egress_enabled') === true)
        problems.push(
          `${where}.internetGatewayId: VPC ${c.vpcId} has ${igws.length} internet gateways; set spec.internetGatewayId`,
        );
    }
    if (Object.keys(c.subnets).length === 0) {
      const igwIds = new Set(igws.map((g) => g.InternetGatewayId));
      const tables =
        (await clients.ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [c.vpcId] }] })))
          .RouteTables ?? [];
      const publicTable = (t: (typeof tables)[number]): boolean =>
        (t.Routes ?? []).some(
          (r) => r.DestinationCidrBlock === '0.0.0.0/0' && r.GatewayId !== undefined && igwIds.has(r.GatewayId),
        );
      const main = tables.find((t) => (t.Associations ?? []).some((a) => a.Main));
      const subnets =
        (await clients.ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [c.vpcId] }] })))
          .Subnets ?? [];
      const byZone = new Map<string, string[]>();
      for (const s of subnets) {
        if ((s.Tags ?? []).some((t) => t.Key === 'kubeaws.io/role' && t.Value === 'egress-nat')) continue;
        const table = tables.find((t) => (t.Associations ?? []).some((a) => a.SubnetId === s.SubnetId)) ?? main;
        if (!table || !publicTable(table)) continue;
        const list = byZone.get(s.AvailabilityZone!) ?? [];
        list.push(s.SubnetId!);
        byZone.set(s.AvailabilityZone!, list);
      }
      for (const [az, ids] of [...byZone.entries()].sort()) {
        if (ids.length === 1) c.subnets[az] = ids[0];
        else
          problems.push(
            `${where}.subnets: ${az} has ${ids.length} public subnets (${ids.sort().join(', ')}); set spec.subnets`,
          );
      }
      if (byZone.size === 0) problems.push(`${where}.subnets: VPC ${c.vpcId} has no public subnet; set spec.subnets`);
    }
  }
  if (!c.hostedZoneId) {
    const zones =
      (await clients.route53.send(new ListHostedZonesByNameCommand({ DNSName: c.hostedZone }))).HostedZones ?? [];
    const match = zones.filter((z) => z.Name === `${c.hostedZone}.` && !z.Config?.PrivateZone);
    if (match.length === 1) c.hostedZoneId = match[0].Id!.replace(/^\/hostedzone\//, '');
    else
      problems.push(
        `${where}.hostedZoneId: ${match.length} public hosted zones named ${c.hostedZone}; set spec.hostedZoneId`,
      );
  }
  if (!c.certificateArn) {
    const certs =
      (await clients.acm.send(new ListCertificatesCommand({ CertificateStatuses: ['ISSUED'] })))
        .CertificateSummaryList ?? [];
    let best: { arn: string; score: number } | undefined;
    for (const cert of certs) {
      const names = [cert.DomainName ?? '', ...(cert.SubjectAlternativeNameSummaries ?? [])];
      const score = Math.max(...names.map((n) => certificateMatch(n, c.apiHostname)));
      if (score > 0 && (!best || score > best.score || (score === best.score && cert.CertificateArn! < best.arn)))
        best = { arn: cert.CertificateArn!, score };
    }
    if (best) c.certificateArn = best.arn;
    else
      problems.push(
        `${where}.certificateArn: no issued ACM certificate covers ${c.apiHostname}; set spec.certificateArn`,
      );
  }
  if (problems.length > 0) throw new DiscoveryError(problems);
  return c;
}
