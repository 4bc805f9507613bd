/** Shared helpers of the infra unit tests. */
import * as fs from 'node:fs';
import * as path from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries -- infra is rendered and applied by the kubeaws CLI; its tests drive that code
import { loadCluster, loadClusterText, type ResolvedCluster } from '@kubeaws/kubeaws';

/** The repository root. */
export const ROOT = path.resolve(__dirname, '../../..');
/** The fixture matrix (docs/infra.md#infra-fixtures). */
export const FIXTURES_DIR = path.join(ROOT, 'infra/test/fixtures/clusters');
/** Names of the fixture clusters (file names without `.yaml`). */
export const FIXTURES = fs
  .readdirSync(FIXTURES_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.replace(/\.yaml$/, ''))
  .sort();

/** Loads a fixture (version pinned so renders do not change with releases). */
export function fixture(name: string): ResolvedCluster {
  const r = loadCluster(path.join(FIXTURES_DIR, `${name}.yaml`), {
    displayName: `${name}.yaml`,
    version: '0.0.0-test',
  });
  if (!r.cluster) throw new Error(r.diagnostics.map((d) => `${d.line}:${d.column} ${d.path}: ${d.message}`).join('\n'));
  return r.cluster;
}

/**
 * A minimal valid cluster file; `items` lines are appended under `spec.configItems`, `pools` replace the pools,
 * `apiAllowedCidr` is written after `apiHostname` (line 12), `natCidrs` replaces the NAT /28 list.
 */
export function minimal(
  opts: { environment?: string; items?: string; pools?: string; apiAllowedCidr?: string; natCidrs?: string } = {},
): string {
  return `apiVersion: kubeaws.io/v1alpha1
kind: Cluster
metadata:
  name: kube-1
spec:
  environment: ${opts.environment ?? 'test'}
  account: "123456789012"
  region: eu-central-1
  hostedZone: example.org
  hostedZoneId: Z0123456789ABC
  apiHostname: kube-1.example.org
${opts.apiAllowedCidr !== undefined ? `  apiAllowedCidr: ${opts.apiAllowedCidr}\n` : ''}  vpcId: vpc-0a1b2c3d
  internetGatewayId: igw-0a1b2c3d
  subnets:
    eu-central-1a: subnet-0a000001
  certificateArn: arn:aws:acm:eu-central-1:123456789012:certificate/0b1c2d3e
  imageId: ami-0123456789abcdef0
  images:
    registry: registry.example.org/kubeaws
  nodePools:
${
  opts.pools ??
  `    - name: master
      role: master
      instanceTypes: [m6i.large]
    - name: default
      role: worker
      instanceTypes: [m6i.large]
      maxSize: 3
`
}  configItems:
    static_egress_nat_cidrs: [${opts.natCidrs ?? '10.0.255.0/28'}]
${opts.items ?? ''}`;
}

/** Loads text and returns the formatted diagnostics. */
export function messages(text: string): string[] {
  return loadClusterText(text, { displayName: 'clusters/kube-1.yaml', version: '0.0.0-test' }).diagnostics.map(
    (d) => `${d.file}:${d.line}:${d.column} ${d.severity === 'warning' ? 'warning: ' : ''}${d.path}: ${d.message}`,
  );
}

/** Loads text that must be valid. */
export function load(text: string): ResolvedCluster {
  const r = loadClusterText(text, { displayName: 'clusters/kube-1.yaml', version: '0.0.0-test' });
  if (!r.cluster) throw new Error(r.diagnostics.map((d) => `${d.line}:${d.column} ${d.path}: ${d.message}`).join('\n'));
  return r.cluster;
}
