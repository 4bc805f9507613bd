/**
 * The flags of the static-egress-controller (docs/static-egress-controller.md#seg-flags); each also reads
 * `STATIC_EGRESS_<FLAG>` (the flag wins). Durations through the runtime's duration grammar.
 */
import { ConfigError, LABEL_SELECTOR_FORMS, type SharedConfig, flag, parseLabelSelector, parsers } from '@kubeaws/runtime';

const ENV = 'STATIC_EGRESS_';
const CLUSTER_ID = /^[A-Za-z0-9._-]{1,64}$/;
const AZ = /^[a-z]{2}(-[a-z]+)+-\d[a-z]$/;
/** A namespace name: an RFC 1123 label (at most 63 characters). */
const NAMESPACE = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function keyValues(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of parsers.list()(raw)) {
    const i = item.indexOf('=');
    if (i <= 0) throw new Error(`"${item}" is not key=value`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

/** The component's own flags. */
export function egressFlags() {
  return {
    clusterId: flag({
      flag: 'cluster-id', env: `${ENV}CLUSTER_ID`, description: 'Cluster ID: owner tag, names and ClientTokens',
      expected: '1-64 characters [A-Za-z0-9._-]', default: '',
      parse: (raw) => { if (!CLUSTER_ID.test(raw)) throw new Error('bad'); return raw; },
    }),
    clusterIdTagPrefix: flag({
      flag: 'cluster-id-tag-prefix', env: `${ENV}CLUSTER_ID_TAG_PREFIX`, description: 'Prefix of the owner tag key',
      expected: 'a tag key prefix', default: 'kubernetes.io/cluster/', parse: parsers.nonEmpty,
    }),
    vpcId: flag({
      flag: 'vpc-id', env: `${ENV}VPC_ID`, description: 'VPC; default the one VPC tagged with the owner tag key',
      expected: 'vpc-<hex>', default: '', parse: (raw) => { if (!/^vpc-[0-9a-f]+$/.test(raw)) throw new Error('bad'); return raw; },
    }),
    availabilityZones: flag({
      flag: 'availability-zones', env: `${ENV}AVAILABILITY_ZONES`, description: 'AZs that get an EIP and a NAT gateway',
      expected: 'a comma list of AZ names like eu-central-1a', default: [] as string[],
      parse: parsers.list((x) => { if (!AZ.test(x)) throw new Error(`"${x}" is not an AZ name`); return x; }),
    }),
    routeTableSelector: flag({
      flag: 'route-table-selector', env: `${ENV}ROUTE_TABLE_SELECTOR`, description: 'Tags of the target route tables (AND)',
      expected: 'a comma list of key=value', default: { Type: 'dmz' } as Record<string, string>, parse: keyValues,
    }),
    routeTableAzTag: flag({
      flag: 'route-table-az-tag', env: `${ENV}ROUTE_TABLE_AZ_TAG`, description: "Tag key giving a route table's AZ",
      expected: 'a tag key', default: 'AvailabilityZone', parse: parsers.nonEmpty,
    }),
    natSubnetSelector: flag({
      flag: 'nat-subnet-selector', env: `${ENV}NAT_SUBNET_SELECTOR`, description: 'Tags of the public NAT subnet per AZ (AND)',
      expected: 'a comma list of key=value', default: { 'kubeaws.io/role': 'egress-nat' } as Record<string, string>, parse: keyValues,
    }),
    eipAllocationIds: flag({
      flag: 'eip-allocation-ids', env: `${ENV}EIP_ALLOCATION_IDS`, description: 'Bring-your-own EIPs per AZ',
      expected: 'a comma list of <az>=eipalloc-<hex>', default: {} as Record<string, string>,
      parse: (raw) => {
        const kv = keyValues(raw);
        for (const [az, id] of Object.entries(kv)) {
          if (!AZ.test(az) || !/^eipalloc-[0-9a-f]+$/.test(id)) throw new Error(`"${az}=${id}"`);
        }
        return kv;
      },
    }),
    eipRetention: flag({
      flag: 'eip-retention', env: `${ENV}EIP_RETENTION`, description: 'Release owned EIPs once their NAT gateway is deleted',
      expected: 'retain or release', default: 'retain' as 'retain' | 'release', parse: parsers.oneOf(['retain', 'release'] as const),
    }),
    natRetention: flag({
      flag: 'nat-retention', env: `${ENV}NAT_RETENTION`, description: 'Delete idle NAT gateways after the grace',
      expected: 'retain or delete', default: 'delete' as 'retain' | 'delete', parse: parsers.oneOf(['retain', 'delete'] as const),
    }),
    natIdleGraceMs: flag({
      flag: 'nat-idle-grace', env: `${ENV}NAT_IDLE_GRACE`, description: 'How long a NAT gateway stays idle before deletion',
      expected: 'a duration like 1h', default: 3_600_000, parse: parsers.duration(),
    }),
    mode: flag({
      flag: 'mode', env: `${ENV}MODE`, description: 'routes: one route per CIDR; prefix-list: one customer-managed prefix list',
      expected: 'routes or prefix-list', default: 'routes' as 'routes' | 'prefix-list', parse: parsers.oneOf(['routes', 'prefix-list'] as const),
    }),
    prefixListMaxEntries: flag({
      flag: 'prefix-list-max-entries', env: `${ENV}PREFIX_LIST_MAX_ENTRIES`, description: 'MaxEntries of the prefix list (charged against every table\'s route quota)',
      expected: 'an integer 1-1000', default: 20, parse: parsers.int({ min: 1, max: 1000 }),
    }),
    routeQuota: flag({
      flag: 'route-quota', env: `${ENV}ROUTE_QUOTA`, description: 'Routes per route table in this account',
      expected: 'an integer 1-1000', default: 50, parse: parsers.int({ min: 1, max: 1000 }),
    }),
    minPrefixLength: flag({
      flag: 'min-prefix-length', env: `${ENV}MIN_PREFIX_LENGTH`, description: 'Shortest accepted prefix length',
      expected: 'an integer 1-32', default: 8, parse: parsers.int({ min: 1, max: 32 }),
    }),
    namespaces: flag({
      flag: 'namespace', env: `${ENV}NAMESPACE`, description: 'Namespaces to watch; default all',
      expected: 'a comma list of namespace names (DNS-1123 labels)', default: [] as string[],
      parse: parsers.list((x) => { if (!NAMESPACE.test(x)) throw new Error(`"${x}" is not a namespace name`); return x; }),
    }),
    configmapSelector: flag({
      flag: 'configmap-selector', env: `${ENV}CONFIGMAP_SELECTOR`, description: 'Label selector of the input ConfigMaps',
      expected: `a non-empty label selector like egress=static (${LABEL_SELECTOR_FORMS})`, default: 'egress=static',
      // checked with the API server's grammar at start, so a bad selector exits 2 instead of failing every list call
      parse: (raw) => {
        if (!parseLabelSelector(raw).length) throw new Error('empty selector');
        return raw.trim();
      },
    }),
    statusConfigMap: flag({
      flag: 'status-configmap', env: `${ENV}STATUS_CONFIGMAP`, description: 'Status output ConfigMap',
      expected: 'namespace/name', default: (env: NodeJS.ProcessEnv) => `${env.POD_NAMESPACE || 'kube-system'}/static-egress-status`,
      parse: (raw) => { if (!/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(raw)) throw new Error('bad'); return raw; },
    }),
    annotateConfigMaps: flag({
      flag: 'annotate-configmaps', env: `${ENV}ANNOTATE_CONFIGMAPS`, description: 'Also write kubeaws.io/egress-ips on input ConfigMaps',
      expected: 'true or false', default: false, boolean: true, parse: parsers.bool,
    }),
    debounceMs: flag({
      flag: 'debounce', env: `${ENV}DEBOUNCE`, description: 'Quiet time before a reconcile',
      expected: 'a duration like 3s', default: 3_000, parse: parsers.duration(),
    }),
    maxDebounceMs: flag({
      flag: 'max-debounce', env: `${ENV}MAX_DEBOUNCE`, description: 'Upper bound on the debounce wait',
      expected: 'a duration like 30s', default: 30_000, parse: parsers.duration(),
    }),
    resyncIntervalMs: flag({
      flag: 'resync-interval', env: `${ENV}RESYNC_INTERVAL`, description: 'Full rediscovery and drift repair',
      expected: 'a duration like 5m', default: 300_000, parse: parsers.duration({ minMs: 1_000 }),
    }),
    pollIntervalMs: flag({
      flag: 'poll-interval', env: `${ENV}POLL_INTERVAL`, description: 'Requeue while a NAT gateway is in transition',
      expected: 'a duration like 15s', default: 15_000, parse: parsers.duration({ minMs: 100 }),
    }),
    awsMaxAttempts: flag({
      flag: 'aws-max-attempts', env: `${ENV}AWS_MAX_ATTEMPTS`, description: 'SDK adaptive retry attempts',
      expected: 'an integer 1-20', default: 8, parse: parsers.int({ min: 1, max: 20 }),
    }),
    awsConcurrency: flag({
      flag: 'aws-concurrency', env: `${ENV}AWS_CONCURRENCY`, description: 'Mutating EC2 calls in flight',
      expected: 'an integer 1-64', default: 4, parse: parsers.int({ min: 1, max: 64 }),
    }),
    additionalTags: flag({
      flag: 'additional-tags', env: `${ENV}ADDITIONAL_TAGS`, description: 'Extra tags on every resource created',
      expected: 'a comma list of key=value', default: {} as Record<string, string>, parse: keyValues,
    }),
    teardown: flag({
      flag: 'teardown', env: `${ENV}TEARDOWN`, description: 'One-shot removal of every route and NAT gateway owned (EIPs only with release)',
      expected: 'true or false', default: false, boolean: true, parse: parsers.bool,
    }),
    dryRun: flag({
      flag: 'dry-run', env: `${ENV}DRY_RUN`, description: 'Describe calls only; the plan is logged',
      expected: 'true or false', default: false, boolean: true, parse: parsers.bool,
    }),
  };
}

/** The component's own flags (spec record). */
export type EgressFlags = ReturnType<typeof egressFlags>;

/** The configuration: shared flags plus the component's own. */
export type EgressConfig = SharedConfig & {
  [K in keyof EgressFlags]: EgressFlags[K] extends { parse: (raw: string) => infer T } ? T : never;
} & { ownerTagKey: string };

/**
 * Cross-field checks (exit 2 before any call): `--cluster-id` and `--availability-zones` are required, a
 * BYO allocation ID must name a listed AZ, `--max-debounce` ≥ `--debounce`.
 */
export function configureEgress(values: Omit<EgressConfig, 'ownerTagKey'>): EgressConfig {
  if (!values.clusterId) {
    throw new ConfigError('cluster-id', '', '1-64 characters [A-Za-z0-9._-] (required)', `${ENV}CLUSTER_ID`, 'default');
  }
  if (!values.availabilityZones.length) {
    throw new ConfigError('availability-zones', '', 'a comma list of AZ names (required)', `${ENV}AVAILABILITY_ZONES`, 'default');
  }
  for (const [az, id] of Object.entries(values.eipAllocationIds)) {
    if (!values.availabilityZones.includes(az)) {
      throw new ConfigError(
        'eip-allocation-ids', `${az}=${id}`, `<az>=eipalloc-<hex> with an AZ of --availability-zones (${values.availabilityZones.join(',')})`,
        `${ENV}EIP_ALLOCATION_IDS`,
      );
    }
  }
  if (values.maxDebounceMs < values.debounceMs) {
    throw new ConfigError('max-debounce', String(values.maxDebounceMs), 'a duration >= --debounce', `${ENV}MAX_DEBOUNCE`);
  }
  return { ...values, ownerTagKey: `${values.clusterIdTagPrefix}${values.clusterId}` };
}
