/**
 * Applying, deleting and diffing a cluster's stacks with CloudFormation: etcd → cluster → master pool → worker
 * pools (at most 3 in parallel) → removal of pools that left the config; delete in reverse order. Waits poll
 * with deadlines.
 */
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import {
  CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStacksCommand,
  GetTemplateCommand,
  ListExportsCommand,
  type Stack,
  UpdateStackCommand,
  UpdateTerminationProtectionCommand,
} from '@aws-sdk/client-cloudformation';
import { CreateTagsCommand, DeleteTagsCommand, DescribeRouteTablesCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { ResolvedCluster } from '../config/load';
import { sortKeys } from '../render';
import { ownerTagKey, type RenderedStack, stackName } from '../stacks/common';
import { asgName } from '../stacks/pool';

/** Clients used to apply and delete. */
export interface StackClients {
  cfn: CloudFormationClient;
  ec2: EC2Client;
  autoscaling: AutoScalingClient;
}

/** Creates the clients for a region. */
export function stackClients(region: string): StackClients {
  return {
    cfn: new CloudFormationClient({ region }),
    ec2: new EC2Client({ region }),
    autoscaling: new AutoScalingClient({ region }),
  };
}

/** A failure the operator must act on (exit code 1), with a message that says what to do. */
export class ApplyError extends Error {}

/** Options of waits and progress output. */
export interface ApplyOptions {
  /** Progress lines. */
  log?: (line: string) => void;
  /** Deadline of one stack operation, ms (default 30 min). */
  timeoutMs?: number;
  /** Poll interval, ms (default 5 s; tests use less). */
  pollMs?: number;
}

/** What happened to a stack in an apply or delete. */
export type StackOutcome = 'created' | 'updated' | 'unchanged' | 'deleted';

const TERMINAL_OK = new Set(['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'IMPORT_COMPLETE']);
const TERMINAL_FAIL = new Set([
  'CREATE_FAILED',
  'ROLLBACK_COMPLETE',
  'ROLLBACK_FAILED',
  'UPDATE_ROLLBACK_COMPLETE',
  'UPDATE_ROLLBACK_FAILED',
  'DELETE_FAILED',
  'UPDATE_FAILED',
]);

/** The stack, or undefined when it does not exist (or is deleted). */
export async function describeStack(cfn: CloudFormationClient, name: string): Promise<Stack | undefined> {
  try {
    const s = (await cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks?.[0];
    return s && s.StackStatus !== 'DELETE_COMPLETE' ? s : undefined;
  } catch (err) {
    if (/does not exist/.test((err as Error).message)) return undefined;
    throw err;
  }
}

async function waitStack(
  cfn: CloudFormationClient,
  name: string,
  want: 'ready' | 'gone',
  o: ApplyOptions,
): Promise<void> {
  const deadline = Date.now() + (o.timeoutMs ?? 30 * 60_000);
  for (;;) {
    const s = await describeStack(cfn, name);
    if (want === 'gone' && !s) return;
    if (s) {
      const status = s.StackStatus ?? '';
      if (want === 'ready' && TERMINAL_OK.has(status)) return;
      if (TERMINAL_FAIL.has(status) && !(want === 'gone' && status === 'ROLLBACK_COMPLETE')) {
        throw new ApplyError(
          `stack ${name} ended in ${status}${s.StackStatusReason ? `: ${s.StackStatusReason}` : ''}`,
        );
      }
    }
    if (Date.now() > deadline)
      throw new ApplyError(
        `stack ${name} did not become ${want} within ${Math.round((o.timeoutMs ?? 1_800_000) / 1000)} s (status ${s?.StackStatus ?? 'none'})`,
      );
    await new Promise((r) => setTimeout(r, o.pollMs ?? 5_000));
  }
}

/**
 * Exports an imported name needs, by the stack that must exist first, the earliest stack first: the cluster stack
 * imports the etcd security group and the files bucket and key (etcd stack); a pool its role's profile and security
 * group and the masters' target group (cluster stack) and the files bucket (etcd stack).
 */
export function requiredExports(stack: RenderedStack, cluster: string): { name: string; from: string }[] {
  const fromEtcd = (names: string[]) => names.map((n) => ({ name: `${cluster}:${n}`, from: stackName.etcd(cluster) }));
  if (stack.kind === 'cluster') return fromEtcd(['etcd-security-group', 'files-bucket-arn', 'kms-key-arn']);
  if (stack.kind !== 'pool') return [];
  const role = stack.parameters.Role;
  const names = [`${role}-instance-profile`, `${role}-security-group`, ...(role === 'master' ? ['api-target-group'] : [])];
  return [...fromEtcd(['files-bucket']), ...names.map((n) => ({ name: `${cluster}:${n}`, from: stackName.cluster(cluster) }))];
}

async function listExports(cfn: CloudFormationClient): Promise<Set<string>> {
  const names = new Set<string>();
  let token: string | undefined;
  do {
    const r = await cfn.send(new ListExportsCommand({ NextToken: token }));
    for (const e of r.Exports ?? []) if (e.Name) names.add(e.Name);
    token = r.NextToken;
  } while (token);
  return names;
}

/**
 * A list parameter value as `a,b`: CloudFormation answers `a,b`; some emulators (moto) answer the Python repr
 * `['a', 'b']`, which is read the same way.
 */
export function normalizeListValue(value: string): string {
  const m = /^\[(.*)\]$/.exec(value);
  if (!m) return value;
  return m[1]
    .split(',')
    .map((v) => v.trim().replace(/^'(.*)'$/, '$1'))
    .filter((v) => v !== '')
    .join(',');
}

/** True when the deployed stack has exactly the rendered template, parameters and tags (no update needed). */
async function deployedEquals(
  cfn: CloudFormationClient,
  existing: Stack,
  body: string,
  stack: RenderedStack,
): Promise<boolean> {
  const deployed =
    (await cfn.send(new GetTemplateCommand({ StackName: stack.name, TemplateStage: 'Original' }))).TemplateBody ?? '';
  let same: boolean;
  try {
    same = JSON.stringify(sortKeys(JSON.parse(deployed))) === body;
  } catch {
    return false;
  }
  const params = Object.fromEntries(
    (existing.Parameters ?? []).map((p) => [p.ParameterKey!, normalizeListValue(p.ParameterValue ?? '')]),
  );
  const tags = Object.fromEntries((existing.Tags ?? []).map((t) => [t.Key!, t.Value ?? '']));
  return (
    same &&
    JSON.stringify(sortKeys(params)) === JSON.stringify(sortKeys(stack.parameters)) &&
    JSON.stringify(sortKeys(tags)) === JSON.stringify(sortKeys(stack.tags))
  );
}

/**
 * Creates or updates one stack and waits for it. "No updates are to be performed" counts as success. Checks
 * first that every export the template imports exists.
 * @throws ApplyError naming a missing export and the stack that must come first, or a failed stack.
 */
export async function deployStack(
  clients: StackClients,
  cluster: string,
  stack: RenderedStack,
  o: ApplyOptions = {},
): Promise<StackOutcome> {
  const exports = await listExports(clients.cfn);
  const missing = requiredExports(stack, cluster).filter((e) => !exports.has(e.name));
  if (missing.length > 0) {
    throw new ApplyError(
      `${stack.name}: missing export ${missing.map((m) => m.name).join(', ')}: create stack ${missing[0].from} first (kubeaws apply creates the stacks in order)`,
    );
  }
  const body = JSON.stringify(sortKeys(stack.template));
  const Parameters = Object.entries(stack.parameters).map(([ParameterKey, ParameterValue]) => ({
    ParameterKey,
    ParameterValue,
  }));
  const Tags = Object.entries(stack.tags).map(([Key, Value]) => ({ Key, Value }));
  const existing = await describeStack(clients.cfn, stack.name);
  if (existing?.StackStatus === 'ROLLBACK_COMPLETE') {
    throw new ApplyError(
      `stack ${stack.name} is in ROLLBACK_COMPLETE after a failed create: delete it, fix the cause (see its events), then apply again`,
    );
  }
  if (!existing) {
    o.log?.(`creating ${stack.name}`);
    await clients.cfn.send(
      new CreateStackCommand({
        StackName: stack.name,
        TemplateBody: body,
        Parameters,
        Tags,
        Capabilities: ['CAPABILITY_NAMED_IAM'],
        EnableTerminationProtection: stack.terminationProtection,
      }),
    );
    await waitStack(clients.cfn, stack.name, 'ready', o);
    return 'created';
  }
  if (Boolean(existing.EnableTerminationProtection) !== stack.terminationProtection) {
    await clients.cfn.send(
      new UpdateTerminationProtectionCommand({
        StackName: stack.name,
        EnableTerminationProtection: stack.terminationProtection,
      }),
    );
  }
  if (await deployedEquals(clients.cfn, existing, body, stack)) {
    o.log?.(`${stack.name} unchanged`);
    return 'unchanged';
  }
  try {
    await clients.cfn.send(
      new UpdateStackCommand({
        StackName: stack.name,
        TemplateBody: body,
        Parameters,
        Tags,
        Capabilities: ['CAPABILITY_NAMED_IAM'],
      }),
    );
  } catch (err) {
    if (/No updates are to be performed/i.test((err as Error).message)) {
      o.log?.(`${stack.name} unchanged`);
      return 'unchanged';
    }
    throw err;
  }
  o.log?.(`updating ${stack.name}`);
  await waitStack(clients.cfn, stack.name, 'ready', o);
  return 'updated';
}

/** The cluster's existing stacks (by name prefix and the cluster-id tag), by name. */
export async function clusterStacks(cfn: CloudFormationClient, c: ResolvedCluster): Promise<Stack[]> {
  const out: Stack[] = [];
  let token: string | undefined;
  do {
    const r = await cfn.send(new DescribeStacksCommand({ NextToken: token }));
    for (const s of r.Stacks ?? []) {
      if (s.StackStatus === 'DELETE_COMPLETE' || !s.StackName?.startsWith(`${c.name}-`)) continue;
      if ((s.Tags ?? []).some((t) => t.Key === 'kubeaws.io/cluster-id' && t.Value === c.clusterId)) out.push(s);
    }
    token = r.NextToken;
  } while (token);
  return out.sort((a, b) => (a.StackName! < b.StackName! ? -1 : 1));
}

/** Pre-existing resources the cluster tags `shared`: the VPC, its public subnets and their route tables. */
export async function sharedResources(ec2: EC2Client, c: ResolvedCluster): Promise<string[]> {
  const subnets = Object.values(c.subnets).sort();
  const tables =
    (await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'association.subnet-id', Values: subnets }] })))
      .RouteTables ?? [];
  const tableIds = tables.map((t) => t.RouteTableId!).filter((id) => id !== undefined);
  return [c.vpcId!, ...subnets, ...[...new Set(tableIds)].sort()];
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  });
  await Promise.all(workers);
  return results;
}

/**
 * Applies the rendered stacks: tags the shared resources, then etcd → cluster → master pool → worker pools (≤ 3
 * in parallel), then deletes the stacks of pools that left the config (only when their ASG is empty).
 * @returns the outcome per stack name.
 */
export async function applyStacks(
  clients: StackClients,
  c: ResolvedCluster,
  stacks: RenderedStack[],
  o: ApplyOptions = {},
): Promise<Record<string, StackOutcome>> {
  const outcome: Record<string, StackOutcome> = {};
  const shared = await sharedResources(clients.ec2, c);
  await clients.ec2.send(
    new CreateTagsCommand({ Resources: shared, Tags: [{ Key: ownerTagKey(c.name), Value: 'shared' }] }),
  );
  o.log?.(`tagged ${shared.length} shared resources ${ownerTagKey(c.name)}=shared`);

  // Pools that left the config must be empty before anything changes.
  const wanted = new Set(stacks.map((s) => s.name));
  const existing = await clusterStacks(clients.cfn, c);
  const leaving = existing.filter((s) => s.StackName!.startsWith(`${c.name}-pool-`) && !wanted.has(s.StackName!));
  for (const s of leaving) {
    const pool = s.StackName!.slice(`${c.name}-pool-`.length);
    const asg = (
      await clients.autoscaling.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [asgName(c.name, pool)] }),
      )
    ).AutoScalingGroups?.[0];
    const n = asg?.Instances?.length ?? 0;
    if (n > 0)
      throw new ApplyError(
        `pool ${pool} still has ${n} instance${n === 1 ? '' : 's'}; set maxSize: 0, wait for the nodes to drain, then remove it`,
      );
  }

  const byKind = (k: RenderedStack['kind']) => stacks.filter((s) => s.kind === k);
  for (const s of [
    ...byKind('etcd'),
    ...byKind('cluster'),
    ...byKind('pool').filter((p) => p.parameters.Role === 'master'),
  ]) {
    outcome[s.name] = await deployStack(clients, c.name, s, o);
  }
  const workers = byKind('pool').filter((p) => p.parameters.Role !== 'master');
  const results = await mapLimit(workers, 3, (s) => deployStack(clients, c.name, s, o));
  workers.forEach((s, i) => (outcome[s.name] = results[i]));

  for (const s of leaving) {
    o.log?.(`deleting ${s.StackName} (pool left the config)`);
    await clients.cfn.send(new DeleteStackCommand({ StackName: s.StackName }));
    await waitStack(clients.cfn, s.StackName!, 'gone', o);
    outcome[s.StackName!] = 'deleted';
  }
  return outcome;
}

/**
 * Deletes the cluster's stacks: pools → cluster → etcd, lifting termination protection first, then removes the
 * `shared` tags. Refuses to delete a stack while stacks that depend on it exist.
 */
export async function deleteStacks(
  clients: StackClients,
  c: ResolvedCluster,
  o: ApplyOptions = {},
): Promise<Record<string, StackOutcome>> {
  const outcome: Record<string, StackOutcome> = {};
  const remove = async (name: string): Promise<void> => {
    const s = await describeStack(clients.cfn, name);
    if (!s) return;
    if (s.EnableTerminationProtection) {
      await clients.cfn.send(
        new UpdateTerminationProtectionCommand({ StackName: name, EnableTerminationProtection: false }),
      );
    }
    o.log?.(`deleting ${name}`);
    await clients.cfn.send(new DeleteStackCommand({ StackName: name }));
    await waitStack(clients.cfn, name, 'gone', o);
    outcome[name] = 'deleted';
  };
  const pools = (await clusterStacks(clients.cfn, c)).filter((s) => s.StackName!.startsWith(`${c.name}-pool-`));
  await mapLimit(pools, 3, (s) => remove(s.StackName!));
  const refuse = async (stack: string, dependents: (n: string) => boolean): Promise<void> => {
    const left = (await clusterStacks(clients.cfn, c)).map((s) => s.StackName!).filter(dependents);
    if (left.length > 0)
      throw new ApplyError(`refusing to delete ${stack}: dependent stacks still exist: ${left.join(', ')}`);
  };
  await refuse(stackName.cluster(c.name), (n) => n.startsWith(`${c.name}-pool-`));
  await remove(stackName.cluster(c.name));
  await refuse(stackName.etcd(c.name), (n) => n !== stackName.etcd(c.name));
  await remove(stackName.etcd(c.name));
  if (c.vpcId) {
    const shared = await sharedResources(clients.ec2, c);
    await clients.ec2.send(
      new DeleteTagsCommand({ Resources: shared, Tags: [{ Key: ownerTagKey(c.name), Value: 'shared' }] }),
    );
    o.log?.(`removed ${ownerTagKey(c.name)}=shared from ${shared.length} resources`);
  }
  return outcome;
}

/** A minimal line diff (LCS) with `-`/`+`/` ` prefixes; only changed regions with 2 lines of context. */
export function lineDiff(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  const n = x.length;
  const m = y.length;
  const dp: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      dp[i][j] = x[i] === y[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const ops: [string, string][] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      ops.push([' ', x[i++]]);
      j++;
    } else if (j < m && (i === n || dp[i][j + 1] >= dp[i + 1][j])) {
      ops.push(['+', y[j++]]);
    } else {
      ops.push(['-', x[i++]]);
    }
  }
  const keep = ops.map((op, k) => op[0] !== ' ' || ops.slice(Math.max(0, k - 2), k + 3).some((o) => o[0] !== ' '));
  const out: string[] = [];
  ops.forEach((op, k) => {
    if (keep[k]) out.push(`${op[0]}${op[1]}`);
    else if (k > 0 && keep[k - 1]) out.push('@@');
  });
  return out.join('\n');
}

/** Per stack: the diff of the deployed template and parameters against the rendered ones ('' = no change). */
export async function diffStacks(cfn: CloudFormationClient, stacks: RenderedStack[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const s of stacks) {
    const existing = await describeStack(cfn, s.name);
    const rendered = `${JSON.stringify(sortKeys({ template: s.template, parameters: s.parameters }), null, 2)}\n`;
    if (!existing) {
      out[s.name] = `(stack does not exist: it will be created)`;
      continue;
    }
    const body =
      (await cfn.send(new GetTemplateCommand({ StackName: s.name, TemplateStage: 'Original' }))).TemplateBody ?? '{}';
    const parameters = Object.fromEntries(
      (existing.Parameters ?? []).map((p) => [p.ParameterKey!, p.ParameterValue ?? '']),
    );
    const deployed = `${JSON.stringify(sortKeys({ template: JSON.parse(body), parameters }), null, 2)}\n`;
    out[s.name] = deployed === rendered ? '' : lineDiff(deployed, rendered);
  }
  return out;
}
