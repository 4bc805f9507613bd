/**
 * The config registry, the cluster-file schema, precedence of item values and the error messages (full text,
 * including line:column), all reported in one run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries -- infra is rendered and applied by the kubeaws CLI; its tests drive that code
import {
  checkItemValue,
  clusterJsonSchema,
  defaultRegistry,
  envValue,
  itemParameter,
  loadRegistry,
  parseDurationSeconds,
  RegistryError,
  validateCommand,
} from '@kubeaws/kubeaws';
import { FIXTURES, fixture, load, messages, minimal, ROOT } from './helpers';

const registry = defaultRegistry(path.join(ROOT, 'infra/config-defaults.yaml'));

describe('config-defaults.yaml', () => {
  it('declares every documented item (INFRA-CONFIG) with production and test values', () => {
    const values = Object.fromEntries(
      [...registry.values()].map((i) => [i.name, [envValue(i, i.production), envValue(i, i.test)]]),
    );
    expect(values).toMatchObject({
      drain_grace_period: ['6h', '2h'],
      drain_min_pod_lifetime: ['72h', '8h'],
      drain_min_healthy_sibling_lifetime: ['1h', '1h'],
      drain_min_unhealthy_sibling_lifetime: ['6h', '1h'],
      drain_force_evict_interval: ['5m', '5m'],
      drain_poll_interval: ['30s', '30s'],
      decommission_no_schedule_taint: ['true', 'true'],
      node_replacement_prepare: ['true', 'false'],
      lifecycle_hook_heartbeat_timeout: ['5m', '5m'],
      interruption_queue_retention: ['1h', '1h'],
      downscaler_enabled: ['false', 'true'],
      downscaler_default_uptime: ['always', 'Mon-Fri 07:30-20:30 Europe/Berlin'],
      downscaler_default_downtime: ['never', 'never'],
      downscaler_exclude_namespaces: ['kube-system', 'kube-system'],
      downscaler_include_resources: ['deployments,statefulsets', 'deployments,statefulsets'],
      downscaler_grace_period: ['15m', '15m'],
      downscaler_interval: ['30s', '30s'],
      pdb_controller_max_unavailable: ['1', '1'],
      pdb_controller_non_ready_ttl: ['', '1h'],
      static_egress_enabled: ['true', 'true'],
      static_egress_eip_retention: ['retain', 'release'],
      static_egress_nat_cidrs: ['', ''],
      metrics_adapter_aws_regions: ['', ''],
      authnz_token_cache_ttl: ['10s', '10s'],
      authnz_authorization_failure_policy: ['Deny', 'Deny'],
      etcd_instance_count: ['5', '3'],
      etcd_instance_type: ['m5.large', 't3.medium'],
      etcd_backup_retention: ['720h', '168h'],
      master_node_count: ['3', '2'],
      spot_allocation_strategy: ['price-capacity-optimized', 'price-capacity-optimized'],
      scaling_priority_spot: ['1000', '1000'],
      scaling_priority_on_demand: ['0', '0'],
    });
  });

  it('rejects a malformed registry naming every broken entry', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-reg-')), 'config-defaults.yaml');
    fs.writeFileSync(
      file,
      'items:\n  a_b:\n    type: duration\n    scope: cluster\n    consumers: [downscaler]\n    description: x\n    production: 5 minutes\n    test: 5m\n  c_d:\n    type: float\n    scope: node\n    consumers: [nobody]\n    description: y\n    production: 1\n    test: 1\n',
    );
    expect(() => loadRegistry(file)).toThrow(RegistryError);
    expect(() => loadRegistry(file)).toThrow(
      [
        'invalid config registry:',
        'config-defaults.yaml: items.a_b.env: items consumed by a component need an env var',
        'config-defaults.yaml: items.a_b.production: expected a duration like 90s, 5m, 6h or 3d, got "5 minutes"',
        'config-defaults.yaml: items.c_d.type: expected one of duration, bool, int, intOrPercent, enum, string, list, cidrList, schedule',
        'config-defaults.yaml: items.c_d.scope: expected cluster or pool',
        'config-defaults.yaml: items.c_d.consumers: unknown consumer nobody',
      ].join('\n'),
    );
  });

  it.each([
    ['duration', 'drain_grace_period', '1h30m', 5400],
    ['duration with days', 'etcd_backup_retention', '3d', 259200],
    ['bool', 'node_replacement_prepare', false, false],
    ['int', 'master_node_count', 3, 3],
    ['intOrPercent percent', 'pdb_controller_max_unavailable', '25%', '25%'],
    ['intOrPercent int', 'pdb_controller_max_unavailable', 2, 2],
    ['enum', 'spot_allocation_strategy', 'capacity-optimized', 'capacity-optimized'],
    ['list from string', 'downscaler_include_resources', 'deployments, cronjobs', ['deployments', 'cronjobs']],
    [
      'list from sequence',
      'downscaler_exclude_namespaces',
      ['kube-system', 'monitoring'],
      ['kube-system', 'monitoring'],
    ],
    ['cidrList', 'static_egress_nat_cidrs', ['10.0.0.0/28'], ['10.0.0.0/28']],
    ['schedule', 'downscaler_default_uptime', 'Mon-Fri 08:00-18:00 UTC', 'Mon-Fri 08:00-18:00 UTC'],
    ['empty allowed', 'pdb_controller_non_ready_ttl', '', ''],
  ])('accepts a %s value', (_kind, name, raw, value) => {
    expect(checkItemValue(registry.get(name)!, raw)).toEqual({ ok: true, value });
  });

  it.each([
    ['duration', 'drain_grace_period', '4 hours', 'a duration like 90s, 5m, 6h or 3d'],
    [
      'duration out of range',
      'lifecycle_hook_heartbeat_timeout',
      '10s',
      'a duration like 90s, 5m, 6h or 3d between 30s and 2h',
    ],
    ['bool', 'downscaler_enabled', 'yes', 'true or false'],
    ['odd int', 'etcd_instance_count', 2, 'an integer between 1 and 9 (odd)'],
    ['intOrPercent', 'pdb_controller_max_unavailable', '-1', 'an integer ≥ 0 or a percentage like 25%'],
    ['enum', 'authnz_authorization_failure_policy', 'Allow', 'one of Deny, NoOpinion'],
    [
      'list value',
      'downscaler_include_resources',
      'deployments,pods',
      'a comma-separated list of deployments, statefulsets, cronjobs, horizontalpodautoscalers, scaledobjects',
    ],
    ['cidrList', 'static_egress_nat_cidrs', ['10.0.0.300/28'], 'a list of IPv4 CIDRs like 10.0.255.0/28'],
    ['string pattern', 'etcd_instance_type', 'large', 'a string matching ^[a-z][a-z0-9-]*\\.[a-z0-9]+$'],
  ])('rejects a bad %s value naming what is allowed', (_kind, name, raw, expected) => {
    expect(checkItemValue(registry.get(name)!, raw)).toEqual({ ok: false, expected });
  });

  it('derives CloudFormation parameter constraints from item types', () => {
    expect(itemParameter(registry.get('etcd_instance_count')!)).toEqual({
      Type: 'Number',
      Description: 'etcd members (odd) (config item etcd_instance_count)',
      AllowedValues: [1, 3, 5, 7, 9],
    });
    expect(itemParameter(registry.get('etcd_backup_retention')!)).toMatchObject({
      Type: 'Number',
      MinValue: 1,
      MaxValue: 365,
    });
    expect(itemParameter(registry.get('lifecycle_hook_heartbeat_timeout')!)).toMatchObject({
      Type: 'Number',
      MinValue: 30,
      MaxValue: 7200,
    });
    expect(itemParameter(registry.get('spot_allocation_strategy')!)).toMatchObject({
      Type: 'String',
      AllowedValues: [
        'price-capacity-optimized',
        'capacity-optimized',
        'capacity-optimized-prioritized',
        'lowest-price',
      ],
    });
    expect(itemParameter(registry.get('etcd_instance_type')!)).toMatchObject({
      Type: 'String',
      AllowedPattern: '^[a-z][a-z0-9-]*\\.[a-z0-9]+$',
    });
  });

  it('parses durations as seconds', () => {
    expect([
      parseDurationSeconds('90s'),
      parseDurationSeconds('5m'),
      parseDurationSeconds('6h'),
      parseDurationSeconds('3d'),
      parseDurationSeconds('1h5m'),
    ]).toEqual([90, 300, 21600, 259200, 3900]);
    expect(parseDurationSeconds('5 m')).toBeUndefined();
  });
});

describe('cluster files', () => {
  it.each(FIXTURES)('fixture %s is valid', (name) => {
    expect(fixture(name).name).toMatch(/^[a-z][a-z0-9-]{1,23}$/);
  });

  it('takes the environment default, then the cluster value, then the pool value (pool-scoped items only)', () => {
    const text = minimal({
      environment: 'production',
      items: '    drain_grace_period: 4h\n    lifecycle_hook_heartbeat_timeout: 10m\n',
      pools:
        '    - name: master\n      role: master\n      instanceTypes: [m6i.large]\n    - name: a\n      role: worker\n      instanceTypes: [m6i.large]\n      maxSize: 3\n      configItems:\n        lifecycle_hook_heartbeat_timeout: 20m\n    - name: b\n      role: worker\n      instanceTypes: [m6i.large]\n      maxSize: 3\n',
    });
    const c = load(text);
    expect(c.items.get('drain_min_pod_lifetime')).toBe(72 * 3600); // production default
    expect(c.items.get('drain_grace_period')).toBe(4 * 3600); // cluster value
    expect(c.items.get('lifecycle_hook_heartbeat_timeout')).toBe(600);
    expect(c.pools.map((p) => [p.name, p.items.get('lifecycle_hook_heartbeat_timeout')])).toEqual([
      ['master', 600],
      ['a', 1200],
      ['b', 600],
    ]);
    expect(c.pools[0]).toMatchObject({ minSize: 3, maxSize: 3, capacity: 'on-demand' }); // master_node_count (production)
    expect(c.clusterId).toBe('aws:123456789012:eu-central-1:kube-1');
    expect(load(minimal()).items.get('drain_min_pod_lifetime')).toBe(8 * 3600); // test default
  });

  it('reports every problem of a file in one run, each with file, line:column, path, value and what is allowed', () => {
    const text = fs.readFileSync(path.join(ROOT, 'infra/test/fixtures/invalid/many-errors.yaml'), 'utf8');
    expect(messages(text)).toEqual([
      'clusters/kube-1.yaml:6:16 spec.environment: expected one of production, test, got "prod"',
      'clusters/kube-1.yaml:10:16 spec.apiHostname: must be inside the hosted zone example.org, got "kube-1.example.com"',
      'clusters/kube-1.yaml:18:7 warning: spec.nodePools[1]: spot pool spot has no on-demand fallback pool with the same labels and taints',
      'clusters/kube-1.yaml:22:9 spec.nodePools[1].instanceTypes: spot pools need at least 2 instance types, got ["m6i.xlarge"]',
      'clusters/kube-1.yaml:25:9 spec.nodePools[1].configItems.drain_grace_period: drain_grace_period is cluster-scoped: set it in spec.configItems; pool-scoped items: lifecycle_hook_heartbeat_timeout, root_volume_size, spot_allocation_strategy, scaling_priority_spot, scaling_priority_on_demand',
      'clusters/kube-1.yaml:27:5 spec.configItems.drain_grace_perid: unknown config item (did you mean drain_grace_period?)',
      'clusters/kube-1.yaml:28:26 spec.configItems.etcd_instance_count: expected an integer between 1 and 9 (odd), got 4',
      'clusters/kube-1.yaml:29:32 spec.configItems.downscaler_default_uptime: expected a downscaler schedule: always, never or items like "Mon-Fri 07:30-20:30 Europe/Berlin" (unknown zone "Mars/Olympus": use an IANA location name such as Europe/Berlin, or UTC), got "Mon-Fri 07:30-20:30 Mars/Olympus"',
      'clusters/kube-1.yaml:30:31 spec.configItems.static_egress_nat_cidrs[0]: expected a /28, got "10.0.255.0/27"',
      'clusters/kube-1.yaml:31:3 spec.extra: unknown field; allowed: environment, account, region, hostedZone, hostedZoneId, apiHostname, apiAllowedCidr, vpcId, internetGatewayId, subnets, certificateArn, imageId, images, nodePools, configItems',
    ]);
  });

  const pools = (extra: string) => `    - name: master\n      role: master\n      instanceTypes: [m6i.large]\n${extra}`;
  it.each([
    [
      'a bad cluster name',
      minimal().replace('name: kube-1', 'name: Kube_1'),
      ['clusters/kube-1.yaml:4:9 metadata.name: expected a name matching ^[a-z][a-z0-9-]{1,23}$, got "Kube_1"'],
    ],
    [
      'a missing required field',
      minimal().replace('  imageId: ami-0123456789abcdef0\n', ''),
      ['clusters/kube-1.yaml:6:3 spec.imageId: required (expected an AMI ID like ami-0a1b2c3d)'],
    ],
    [
      'a wrong type',
      minimal().replace('maxSize: 3', 'maxSize: three'),
      ['clusters/kube-1.yaml:27:16 spec.nodePools[1].maxSize: expected an integer ≥ 0, got "three"'],
    ],
    [
      'a spot master pool',
      minimal({
        pools: pools(
          '    - name: spot\n      role: worker\n      capacity: spot\n      instanceTypes: [m6i.large, m5.large]\n      maxSize: 3\n    - name: od\n      role: worker\n      instanceTypes: [m6i.large]\n      maxSize: 3\n',
        ),
      }).replace('      role: master\n', '      role: master\n      capacity: spot\n      minSize: 1\n'),
      [
        'clusters/kube-1.yaml:23:17 spec.nodePools[0].capacity: master pools must be on-demand, got "spot"',
        'clusters/kube-1.yaml:24:16 spec.nodePools[0].minSize: master pools are sized by config item master_node_count; remove minSize, got 1',
        'clusters/kube-1.yaml:25:22 spec.nodePools[0].instanceTypes: spot pools need at least 2 instance types, got ["m6i.large"]',
      ],
    ],
    [
      'duplicate pools, minSize above maxSize and a missing maxSize',
      minimal({
        pools: pools(
          '    - name: a\n      role: worker\n      instanceTypes: [m6i.large]\n      minSize: 5\n      maxSize: 3\n    - name: a\n      role: worker\n      instanceTypes: [m6i.large]\n',
        ),
      }),
      [
        'clusters/kube-1.yaml:27:16 spec.nodePools[1].minSize: must be ≤ maxSize (3), got 5',
        'clusters/kube-1.yaml:29:7 spec.nodePools[2].maxSize: required for worker pools (an integer ≥ 0), got nothing',
        'clusters/kube-1.yaml:29:13 spec.nodePools[2].name: duplicate pool name (also spec.nodePools[1]), got "a"',
      ],
    ],
    [
      'no master pool',
      minimal({ pools: '    - name: a\n      role: worker\n      instanceTypes: [m6i.large]\n      maxSize: 3\n' }),
      ['clusters/kube-1.yaml:21:5 spec.nodePools: expected exactly one pool with role master, got 0 ([])'],
    ],
    [
      'static egress without NAT CIDRs',
      minimal().replace('    static_egress_nat_cidrs: [10.0.255.0/28]\n', '    drain_poll_interval: 1m\n'),
      [
        'clusters/kube-1.yaml:29:5 spec.configItems: static_egress_nat_cidrs is required when static_egress_enabled is true: one free /28 per zone (1: eu-central-1a)',
      ],
    ],
    [
      'a pool item of the wrong type',
      minimal({
        pools: pools(
          '    - name: a\n      role: worker\n      instanceTypes: [m6i.large]\n      maxSize: 3\n      configItems:\n        spot_allocation_strategy: cheapest\n',
        ),
      }),
      [
        'clusters/kube-1.yaml:29:35 spec.nodePools[1].configItems.spot_allocation_strategy: expected one of price-capacity-optimized, capacity-optimized, capacity-optimized-prioritized, lowest-price, got "cheapest"',
      ],
    ],
    [
      'a YAML syntax error',
      'apiVersion: kubeaws.io/v1alpha1\nkind: Cluster\nmetadata: {name: kube-1\n',
      ['clusters/kube-1.yaml:4:1 (yaml): Flow map in block collection must be sufficiently indented and end with a }'],
    ],
  ])('reports %s', (_what, text, expected) => {
    expect(messages(text)).toEqual(expected);
  });

  it('validate exits 2 with the messages on stderr, 0 with a summary on stdout', () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) };
    expect(validateCommand(path.join(ROOT, 'infra/test/fixtures/invalid/many-errors.yaml'), io)).toBe(2);
    expect(err).toHaveLength(10);
    expect(out).toEqual([]);
    err.length = 0;
    const file = path.join(ROOT, 'infra/test/fixtures/clusters/spot-fallback.yaml');
    expect(validateCommand(file, io)).toBe(0);
    expect(out).toEqual([`${file}: valid (5 node pools, 0 warnings)\n`]);
  });
});

describe('docs/infra.md', () => {
  it('documents every config item with its production and test value', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs/infra.md'), 'utf8');
    const rows = new Map(
      doc
        .split('\n')
        .filter((l) => /^\| `[a-z_]+` \|/.test(l))
        .map((l) => [/^\| `([a-z_]+)`/.exec(l)![1], l.split('|').map((c) => c.trim())]),
    );
    for (const item of registry.values()) {
      const row = rows.get(item.name);
      expect({ item: item.name, documented: row !== undefined }).toEqual({ item: item.name, documented: true });
      const shown = (v: string) => (v === '—' ? null : v.replace(/^`(.*)`$/, '$1').replace(/^""$/, ''));
      const parsed = (v: string | null) =>
        v === null
          ? null
          : checkItemValue(
              item,
              item.type === 'int' || item.type === 'intOrPercent'
                ? /^[0-9]+$/.test(v)
                  ? Number(v)
                  : v
                : item.type === 'bool'
                  ? v === 'true'
                  : v,
            );
      expect({ item: item.name, production: parsed(shown(row![6])), test: parsed(shown(row![7])) }).toEqual({
        item: item.name,
        production: item.production === null ? null : { ok: true, value: item.production },
        test: item.test === null ? null : { ok: true, value: item.test },
      });
    }
  });
});

describe('JSON Schema of the cluster file', () => {
  it('is in sync with the zod schema (regenerate with KUBEAWS_UPDATE_SCHEMA=1)', () => {
    const file = path.join(ROOT, 'infra/cluster.schema.json');
    const generated = `${JSON.stringify(clusterJsonSchema(), null, 2)}\n`;
    if (process.env.KUBEAWS_UPDATE_SCHEMA === '1') fs.writeFileSync(file, generated);
    expect(fs.readFileSync(file, 'utf8')).toBe(generated);
    expect(JSON.parse(generated)).toMatchObject({
      properties: {
        apiVersion: { const: 'kubeaws.io/v1alpha1' },
        spec: { required: expect.arrayContaining(['environment', 'nodePools']) },
      },
    });
  });
});
