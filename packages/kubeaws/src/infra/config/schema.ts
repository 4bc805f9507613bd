/**
 * The zod schema of a cluster file (`clusters/<name>.yaml`, `kind: Cluster`). Structural checks only; the
 * cross-field checks and the config items are in `load.ts`. `infra/cluster.schema.json` is generated from
 * this schema (`clusterJsonSchema()`) for editor completion.
 */
import { z } from 'zod';

/** Cluster name: every derived AWS name (NLB `<name>-api`, role `<name>-node-lifecycle-controller`) then fits. */
export const CLUSTER_NAME_RE = /^[a-z][a-z0-9-]{1,23}$/;
/** Node pool name. */
export const POOL_NAME_RE = /^[a-z][a-z0-9-]{0,19}$/;
/** Most node pools a cluster may have (one stack each). */
export const MAX_NODE_POOLS = 16;

const DOMAIN_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const AZ_RE = /^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$/;
const REGION_RE = /^[a-z]{2}(-gov)?-[a-z]+-[0-9]$/;
const INSTANCE_TYPE_RE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const LABEL_KEY_RE =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE_RE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

const re = (r: RegExp, what: string) => z.string({ error: `expected ${what}` }).regex(r, { error: `expected ${what}` });

/** Human-readable forms, used in error messages. */
export const FORMS = {
  clusterName: 'a name matching ^[a-z][a-z0-9-]{1,23}$',
  poolName: 'a name matching ^[a-z][a-z0-9-]{0,19}$',
  account: 'a 12-digit AWS account ID',
  region: 'an AWS region like eu-central-1',
  az: 'an availability zone like eu-central-1a',
  domain: 'a lower-case DNS name like example.org',
  vpcId: 'a VPC ID like vpc-0a1b2c3d',
  subnetId: 'a subnet ID like subnet-0a1b2c3d',
  igwId: 'an internet gateway ID like igw-0a1b2c3d',
  zoneId: 'a Route53 hosted zone ID like Z0123456789ABC',
  certArn: 'an ACM certificate ARN',
  ami: 'an AMI ID like ami-0a1b2c3d',
  instanceType: 'an EC2 instance type like m6i.large',
  cidr: 'an IPv4 CIDR like 203.0.113.0/24',
} as const;

/** A node taint as the kubelet registers it and cluster-autoscaler templates it. */
export const taintSchema = z.strictObject({
  key: re(LABEL_KEY_RE, 'a label key'),
  value: re(LABEL_VALUE_RE, 'a label value').optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
});

/** One node pool (masters are a pool too). */
export const nodePoolSchema = z.strictObject({
  name: re(POOL_NAME_RE, FORMS.poolName),
  role: z.enum(['master', 'worker']),
  capacity: z.enum(['on-demand', 'spot']).optional(),
  instanceTypes: z
    .array(re(INSTANCE_TYPE_RE, FORMS.instanceType))
    .min(1, { error: 'expected at least one instance type' }),
  minSize: z.int({ error: 'expected an integer ≥ 0' }).min(0, { error: 'expected an integer ≥ 0' }).optional(),
  maxSize: z.int({ error: 'expected an integer ≥ 0' }).min(0, { error: 'expected an integer ≥ 0' }).optional(),
  zones: z.array(re(AZ_RE, FORMS.az)).min(1, { error: 'expected at least one zone' }).optional(),
  labels: z.record(re(LABEL_KEY_RE, 'a label key'), re(LABEL_VALUE_RE, 'a label value')).optional(),
  taints: z.array(taintSchema).optional(),
  imageId: re(/^ami-[0-9a-f]{8,17}$/, FORMS.ami).optional(),
  configItems: z.record(z.string(), z.unknown()).optional(),
});

/** The cluster file. */
export const clusterFileSchema = z.strictObject({
  apiVersion: z.literal('kubeaws.io/v1alpha1'),
  kind: z.literal('Cluster'),
  metadata: z.strictObject({ name: re(CLUSTER_NAME_RE, FORMS.clusterName) }),
  spec: z.strictObject({
    environment: z.enum(['production', 'test']),
    account: re(/^[0-9]{12}$/, FORMS.account),
    region: re(REGION_RE, FORMS.region),
    hostedZone: re(DOMAIN_RE, FORMS.domain),
    hostedZoneId: re(/^Z[A-Z0-9]{1,32}$/, FORMS.zoneId).optional(),
    apiHostname: re(DOMAIN_RE, FORMS.domain),
    apiAllowedCidr: re(/^[0-9./]+$/, FORMS.cidr).optional(),
    vpcId: re(/^vpc-[0-9a-f]{8,17}$/, FORMS.vpcId).optional(),
    internetGatewayId: re(/^igw-[0-9a-f]{8,17}$/, FORMS.igwId).optional(),
    subnets: z.record(re(AZ_RE, FORMS.az), re(/^subnet-[0-9a-f]{8,17}$/, FORMS.subnetId)).optional(),
    certificateArn: re(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate\/[A-Za-z0-9-]+$/, FORMS.certArn)
      .nullable()
      .optional(),
    imageId: re(/^ami-[0-9a-f]{8,17}$/, FORMS.ami),
    images: z.strictObject({
      registry: z.string().min(1, { error: 'expected an image registry like registry.example.org/kubeaws' }),
      tag: re(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'an image tag').optional(),
    }),
    nodePools: z.array(nodePoolSchema).min(1, { error: 'expected at least the master pool' }),
    configItems: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** A schema-valid cluster file. */
export type ClusterFile = z.infer<typeof clusterFileSchema>;
/** A schema-valid node pool. */
export type NodePoolFile = z.infer<typeof nodePoolSchema>;

/** The JSON Schema of the cluster file (committed as `infra/cluster.schema.json`). */
export function clusterJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(clusterFileSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    ...schema,
    $id: 'https://kubeaws.io/schemas/cluster.v1alpha1.json',
    title: 'kubeaws cluster file (kind: Cluster)',
  };
}
