/**
 * `kubeaws validate` on CIDR and duration values: both are checked with the shared units of
 * `@kubeaws/runtime`, so a block with host bits set is refused naming its canonical network.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries -- infra is rendered and applied by the kubeaws CLI; its tests drive that code
import { checkItemValue, defaultRegistry, findRepoRoot, validateCommand } from '@kubeaws/kubeaws';
import { minimal as cluster } from './helpers';

const registry = defaultRegistry(path.join(findRepoRoot(), 'infra', 'config-defaults.yaml'));

function validate(text: string): { code: number; out: string[]; err: string[] } {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-validate-')), 'kube-1.yaml');
  fs.writeFileSync(file, text);
  const out: string[] = [];
  const err: string[] = [];
  const code = validateCommand(file, { out: (t) => void out.push(t), err: (t) => void err.push(t) });
  return { code, out, err: err.map((e) => e.replace(`${file}:`, 'kube-1.yaml:')) };
}

describe('kubeaws validate: CIDRs', () => {
  it('rejects an apiAllowedCidr with host bits set, naming the canonical network', () => {
    const r = validate(cluster({ apiAllowedCidr: '198.51.100.7/24' }));
    expect(r.code).toBe(2);
    expect(r.err).toEqual([
      'kube-1.yaml:12:19 spec.apiAllowedCidr: expected an IPv4 CIDR like 203.0.113.0/24 ("198.51.100.7/24" has host bits set; the network is "198.51.100.0/24"), got "198.51.100.7/24"\n',
    ]);
  });

  it.each(['198.51.100.0/24', '0.0.0.0/0', '203.0.113.9/32'])('accepts apiAllowedCidr %s', (cidr) => {
    const r = validate(cluster({ apiAllowedCidr: cidr }));
    // a restricted CIDR only warns that AWS STS must still reach the OIDC issuer behind the API load balancer
    expect(r.err.filter((e) => !e.includes(' warning: spec.apiAllowedCidr: restricts the API load balancer'))).toEqual([]);
    expect(r.err.length).toBe(cidr === '0.0.0.0/0' ? 0 : 1);
    expect(r.code).toBe(0);
  });

  it.each(['198.51.100.0/33', '198.51.100.300/24', '198.51.100/24', '2001:db8::/32'])(
    'rejects apiAllowedCidr %s as not an IPv4 CIDR',
    (cidr) => {
      const r = validate(cluster({ apiAllowedCidr: JSON.stringify(cidr) }));
      expect(r.code).toBe(2);
      expect(r.err.join('')).toContain(`expected an IPv4 CIDR like 203.0.113.0/24, got ${JSON.stringify(cidr)}`);
    },
  );

  it('rejects a NAT /28 with host bits set, naming the canonical network', () => {
    const r = validate(cluster({ natCidrs: '10.0.255.5/28' }));
    expect(r.code).toBe(2);
    expect(r.err.join('')).toContain(
      'spec.configItems.static_egress_nat_cidrs: expected a list of IPv4 CIDRs like 10.0.255.0/28 ("10.0.255.5/28" has host bits set; the network is "10.0.255.0/28"), got ["10.0.255.5/28"]',
    );
  });

  it('checks cidrList items with the shared parser', () => {
    const item = registry.get('static_egress_nat_cidrs')!;
    expect(checkItemValue(item, ['10.0.255.16/28', '10.0.255.32/28'])).toEqual({
      ok: true,
      value: ['10.0.255.16/28', '10.0.255.32/28'],
    });
    expect(checkItemValue(item, ['10.0.255.17/28'])).toEqual({
      ok: false,
      expected:
        'a list of IPv4 CIDRs like 10.0.255.0/28 ("10.0.255.17/28" has host bits set; the network is "10.0.255.16/28")',
    });
    expect(checkItemValue(item, ['fd00::/64'])).toEqual({
      ok: false,
      expected: 'a list of IPv4 CIDRs like 10.0.255.0/28',
    });
  });
});

describe('kubeaws validate: durations', () => {
  it.each<[string, unknown, number]>([
    ['drain_grace_period', '1h30m', 5400],
    ['drain_grace_period', '1.5h', 5400],
    ['drain_grace_period', '90m', 5400],
    ['drain_grace_period', '5400000ms', 5400],
    ['etcd_backup_retention', '7d', 604_800],
    ['drain_poll_interval', '0', 0],
  ])('%s accepts %j as %d s', (name, raw, seconds) => {
    expect(checkItemValue(registry.get(name)!, raw)).toEqual({ ok: true, value: seconds });
  });

  it.each(['90.5s', '1500ms', '-1h', '1w', '1 h', ''])('drain_grace_period rejects %j', (raw) => {
    expect(checkItemValue(registry.get('drain_grace_period')!, raw)).toEqual({
      ok: false,
      expected: 'a duration like 90s, 5m, 6h or 3d',
    });
  });

  it('names a bad duration in the cluster file', () => {
    const r = validate(
      cluster({ items: '    drain_poll_interval: 30x\n' }),
    );
    expect(r.code).toBe(2);
    expect(r.err.join('')).toContain(
      'spec.configItems.drain_poll_interval: expected a duration like 90s, 5m, 6h or 3d, got "30x"',
    );
  });
});
