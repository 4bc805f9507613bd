/**
 * What the three stack builders share: names, stack tags, and Parameters derived from config items.
 */
import type { ConfigItem, ItemValue } from '../config/items';
import type { ResolvedCluster } from '../config/load';
import type { CfnParameter, CfnTemplate } from './intrinsics';

/** Stack kinds. */
export type StackKind = 'etcd' | 'cluster' | 'pool';

/** A rendered stack: its name, final template, parameter values and stack-level tags. */
export interface RenderedStack {
  name: string;
  kind: StackKind;
  /** Pool name for pool stacks. */
  pool?: string;
  template: CfnTemplate;
  parameters: Record<string, string>;
  tags: Record<string, string>;
  /** Termination protection (production etcd and cluster stacks). */
  terminationProtection: boolean;
}

/** Stack names. */
export const stackName = {
  etcd: (cluster: string): string => `${cluster}-etcd`,
  cluster: (cluster: string): string => `${cluster}-cluster`,
  pool: (cluster: string, pool: string): string => `${cluster}-pool-${pool}`,
};

/** The AWS partition of a region: `aws-cn`, `aws-us-gov` or `aws` (AWS General Reference, "Amazon Resource Names"). */
export function partitionOf(region: string): string {
  return region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';
}

/** The ownership tag key of a cluster: `kubernetes.io/cluster/<name>`. */
export const ownerTagKey = (cluster: string): string => `kubernetes.io/cluster/${cluster}`;

/** Stack-level tags (CloudFormation propagates them to every taggable resource). */
export function stackTags(c: ResolvedCluster, kind: StackKind): Record<string, string> {
  return {
    [ownerTagKey(c.name)]: 'owned',
    'kubeaws.io/cluster-id': c.clusterId,
    'kubeaws.io/environment': c.environment,
    'kubeaws.io/version': c.version,
    'kubeaws.io/stack-kind': kind,
  };
}

const days = (name: string): boolean => name.endsWith('Days');

/** The CloudFormation parameter of an item: type and constraints derived from the item type. */
export function itemParameter(item: ConfigItem): CfnParameter {
  const description = `${item.description.replace(/\.$/, '')} (config item ${item.name})`;
  switch (item.type) {
    case 'duration': {
      const div = days(item.parameter ?? '') ? 86400 : 1;
      const unit = div === 1 ? 'seconds' : 'days';
      return {
        Type: 'Number',
        Description: `${description}, in ${unit}`,
        ...(item.min !== undefined ? { MinValue: item.min / div } : {}),
        ...(item.max !== undefined ? { MaxValue: item.max / div } : {}),
      };
    }
    case 'int':
      if (item.odd && item.min !== undefined && item.max !== undefined) {
        const odd: number[] = [];
        for (let n = item.min; n <= item.max; n++) if (n % 2 === 1) odd.push(n);
        return { Type: 'Number', Description: description, AllowedValues: odd };
      }
      return {
        Type: 'Number',
        Description: description,
        ...(item.min !== undefined ? { MinValue: item.min } : {}),
        ...(item.max !== undefined ? { MaxValue: item.max } : {}),
      };
    case 'enum':
      return { Type: 'String', Description: description, AllowedValues: [...(item.values ?? [])] };
    case 'bool':
      return { Type: 'String', Description: description, AllowedValues: ['true', 'false'] };
    default:
      return {
        Type: 'String',
        Description: description,
        ...(item.pattern ? { AllowedPattern: item.pattern, ConstraintDescription: `must match ${item.pattern}` } : {}),
      };
  }
}

/** The parameter value of an item: durations in seconds (or days), everything else as a string. */
export function itemParameterValue(item: ConfigItem, value: ItemValue): string {
  if (item.type === 'duration') return String((value as number) / (days(item.parameter ?? '') ? 86400 : 1));
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

/** Adds the parameters of every item with `parameter` consumed by `consumer`, with the values from `items`. */
export function addItemParameters(
  c: ResolvedCluster,
  consumer: 'etcd-stack' | 'cluster-stack' | 'pool-stack',
  items: Map<string, ItemValue>,
  template: CfnTemplate,
  values: Record<string, string>,
): void {
  for (const item of c.registry.values()) {
    if (!item.parameter || !item.consumers.includes(consumer)) continue;
    template.Parameters[item.parameter] = itemParameter(item);
    values[item.parameter] = itemParameterValue(item, items.get(item.name) ?? null);
  }
}

/** Parameter helpers for the fixed (non-item) parameters. */
export const param = {
  string: (Description: string, extra: Partial<CfnParameter> = {}): CfnParameter => ({
    Type: 'String',
    Description,
    ...extra,
  }),
  clusterName: (): CfnParameter => ({
    Type: 'String',
    Description: 'Cluster name (metadata.name of the cluster file)',
    AllowedPattern: '^[a-z][a-z0-9-]{1,23}$',
    ConstraintDescription: 'must match ^[a-z][a-z0-9-]{1,23}$',
  }),
};
