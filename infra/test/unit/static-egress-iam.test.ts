/**
 * The IAM policy of the static-egress-controller's role (docs/static-egress-controller.md#seg-iam): it allows
 * exactly the EC2 actions the controller calls, and a small evaluator of the IAM condition operators used
 * (StringEquals with string or list values, ForAllValues:StringEquals; IAM policy evaluation logic:
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html) shows what the
 * conditions allow: CreateNatGateway only on Elastic IPs this cluster owns, bring-your-own ones tagged shared for
 * it or listed in the cluster config, never on a foreign one; a bring-your-own one is never released.
 */
// eslint-disable-next-line @nx/enforce-module-boundaries -- infra is rendered and applied by the kubeaws CLI; its tests drive that code
import { componentStatements } from '@kubeaws/kubeaws';
// eslint-disable-next-line @nx/enforce-module-boundaries -- the policy is checked against the actions the controller calls (docs/static-egress-controller.md#seg-iam)
import { EGRESS_IAM_ACTIONS } from '@kubeaws/static-egress-controller';

const CLUSTER = 'kube-1';
const OWNER = `kubernetes.io/cluster/${CLUSTER}`;
/** A bring-your-own Elastic IP listed in the cluster config (static_egress_eip_allocation_ids). */
const LISTED_EIP = 'eipalloc-0123456789abcdef0';
const statements = componentStatements('static-egress-controller', CLUSTER, { eipAllocationIds: [LISTED_EIP] });

/** One authorization request: an action on one resource (EC2 authorizes every resource of a call separately). */
interface Request {
  action: string;
  /** ARN resource type, e.g. `elastic-ip`. */
  resourceType: string;
  /** ARN resource ID, e.g. `eipalloc-0123456789abcdef0`; unset: an ID no statement names. */
  resourceId?: string;
  resourceTags?: Record<string, string>;
  requestTags?: Record<string, string>;
  createAction?: string;
}

/** Whether a statement's resource (`*` or Fn::Sub `arn:…:ec2:…:<type>/<id or *>`) matches the request's. */
function resourceMatches(resource: unknown, req: Request): boolean {
  const text = typeof resource === 'string' ? resource : (resource as { 'Fn::Sub': string })['Fn::Sub'];
  if (text === '*') return true;
  const [, type, id] = /^arn:\$\{AWS::Partition\}:ec2:\$\{AWS::Region\}:\$\{AWS::AccountId\}:([a-z-]+)\/(.+)$/.exec(text)!;
  return type === req.resourceType && (id === '*' || id === req.resourceId);
}

function contextValues(req: Request, key: string): string[] | undefined {
  if (key === 'ec2:CreateAction') return req.createAction ? [req.createAction] : undefined;
  if (key === 'aws:TagKeys') return Object.keys(req.requestTags ?? {});
  let m = /^aws:RequestTag\/(.+)$/.exec(key);
  if (m) return req.requestTags?.[m[1]!] !== undefined ? [req.requestTags[m[1]!]!] : undefined;
  m = /^(?:ec2|aws):ResourceTag\/(.+)$/.exec(key);
  if (m) return req.resourceTags?.[m[1]!] !== undefined ? [req.resourceTags[m[1]!]!] : undefined;
  throw new Error(`condition key ${key} not modelled`);
}

function conditionHolds(req: Request, condition: Record<string, Record<string, string | string[]>> | undefined): boolean {
  for (const [op, entries] of Object.entries(condition ?? {})) {
    for (const [key, want] of Object.entries(entries)) {
      const allowed = ([] as string[]).concat(want);
      const have = contextValues(req, key);
      if (op === 'StringEquals') {
        if (!have || !have.some((v) => allowed.includes(v))) return false;
      } else if (op === 'ForAllValues:StringEquals') {
        if (have && !have.every((v) => allowed.includes(v))) return false;
      } else throw new Error(`condition operator ${op} not modelled`);
    }
  }
  return true;
}

/** True when some Allow statement matches action, resource type and every condition (no Deny statements exist). */
function allowed(req: Request): boolean {
  return statements.some(
    (s) =>
      s.Effect === 'Allow' &&
      ([] as string[]).concat(s.Action).includes(req.action) &&
      ([] as unknown[]).concat(s.Resource).some((r) => resourceMatches(r, req)) &&
      conditionHolds(req, s.Condition as never),
  );
}

const ownTags = { [OWNER]: 'owned', 'kubeaws.io/component': 'static-egress' };

describe('static-egress-controller IAM policy', () => {
  it('names each listed bring-your-own EIP by its ARN, and none without a list', () => {
    const listed = statements.find((s) => s.Sid === 'NatGatewaysOnListedAddresses');
    expect(listed).toEqual({
      Sid: 'NatGatewaysOnListedAddresses',
      Effect: 'Allow',
      Action: 'ec2:CreateNatGateway',
      Resource: [{ 'Fn::Sub': `arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:elastic-ip/${LISTED_EIP}` }],
    });
    const none = componentStatements('static-egress-controller', CLUSTER);
    expect(none.map((s) => s.Sid)).not.toContain('NatGatewaysOnListedAddresses');
  });

  it('allows exactly the EC2 actions the controller calls', () => {
    const actions = [...new Set(statements.flatMap((s) => ([] as string[]).concat(s.Action)))].sort();
    expect(actions).toEqual([...EGRESS_IAM_ACTIONS].sort());
  });

  it.each<[string, Request, boolean]>([
    ['CreateNatGateway on an owned EIP', { action: 'ec2:CreateNatGateway', resourceType: 'elastic-ip', resourceTags: ownTags }, true],
    ['CreateNatGateway on a foreign EIP', { action: 'ec2:CreateNatGateway', resourceType: 'elastic-ip', resourceTags: { 'kubernetes.io/cluster/other': 'owned' }, requestTags: ownTags }, false],
    ['CreateNatGateway on an untagged EIP, request tags alone', { action: 'ec2:CreateNatGateway', resourceType: 'elastic-ip', requestTags: ownTags }, false],
    ['CreateNatGateway on a bring-your-own EIP tagged shared for this cluster', { action: 'ec2:CreateNatGateway', resourceType: 'elastic-ip', resourceTags: { [OWNER]: 'shared' }, requestTags: ownTags }, true],
    ['CreateNatGateway on a listed bring-your-own EIP without tags', { action: 'ec2:CreateNatGateway', resourceType: 'elastic-ip', resourceId: LISTED_EIP, requestTags: ownTags }, true],
    ['CreateNatGateway on an unlisted foreign EIP', { action: 'ec2:CreateNatGateway', resourceType: 'elastic-ip', resourceId: 'eipalloc-0fedcba9876543210', resourceTags: { 'kubernetes.io/cluster/other': 'owned' }, requestTags: ownTags }, false],
    ['ReleaseAddress of a listed bring-your-own EIP', { action: 'ec2:ReleaseAddress', resourceType: 'elastic-ip', resourceId: LISTED_EIP }, false],
    ['CreateNatGateway on a bring-your-own EIP shared with another cluster', { action: 'ec2:CreateNatGateway', resourceType: 'elastic-ip', resourceTags: { 'kubernetes.io/cluster/other': 'shared' }, requestTags: ownTags }, false],
    ['ReleaseAddress of a bring-your-own EIP tagged shared', { action: 'ec2:ReleaseAddress', resourceType: 'elastic-ip', resourceTags: { [OWNER]: 'shared' } }, false],
    ['CreateNatGateway: the new gateway with the owner request tag', { action: 'ec2:CreateNatGateway', resourceType: 'natgateway', requestTags: ownTags }, true],
    ['CreateNatGateway: the new gateway without tags', { action: 'ec2:CreateNatGateway', resourceType: 'natgateway' }, false],
    ['CreateNatGateway in a cluster NAT subnet', { action: 'ec2:CreateNatGateway', resourceType: 'subnet', resourceTags: { [OWNER]: 'shared', 'kubeaws.io/role': 'egress-nat' } }, true],
    ['CreateNatGateway in another subnet of the cluster', { action: 'ec2:CreateNatGateway', resourceType: 'subnet', resourceTags: { [OWNER]: 'owned' } }, false],
    ['AllocateAddress with the owner request tag', { action: 'ec2:AllocateAddress', resourceType: 'elastic-ip', requestTags: ownTags }, true],
    ['AllocateAddress untagged', { action: 'ec2:AllocateAddress', resourceType: 'elastic-ip' }, false],
    ['ReleaseAddress of a foreign EIP', { action: 'ec2:ReleaseAddress', resourceType: 'elastic-ip', resourceTags: { 'kubernetes.io/cluster/other': 'owned' } }, false],
    ['DeleteNatGateway of an owned gateway', { action: 'ec2:DeleteNatGateway', resourceType: 'natgateway', resourceTags: ownTags }, true],
    ['idle tag on an owned gateway', { action: 'ec2:CreateTags', resourceType: 'natgateway', resourceTags: ownTags, requestTags: { 'kubeaws.io/idle-since': '2026-01-01T00:00:00Z' } }, true],
    ['other tags on an owned gateway', { action: 'ec2:CreateTags', resourceType: 'natgateway', resourceTags: ownTags, requestTags: { Name: 'x' } }, false],
    ['CreateRoute in a cluster dmz table', { action: 'ec2:CreateRoute', resourceType: 'route-table', resourceTags: { [OWNER]: 'shared', Type: 'dmz' } }, true],
    ['CreateManagedPrefixList with the owner request tag', { action: 'ec2:CreateManagedPrefixList', resourceType: 'prefix-list', requestTags: ownTags }, true],
    ['CreateManagedPrefixList untagged', { action: 'ec2:CreateManagedPrefixList', resourceType: 'prefix-list' }, false],
    ['tags on create of the prefix list', { action: 'ec2:CreateTags', resourceType: 'prefix-list', createAction: 'CreateManagedPrefixList', requestTags: ownTags }, true],
    ['ModifyManagedPrefixList of the owned list', { action: 'ec2:ModifyManagedPrefixList', resourceType: 'prefix-list', resourceTags: ownTags }, true],
    ['ModifyManagedPrefixList of a foreign list', { action: 'ec2:ModifyManagedPrefixList', resourceType: 'prefix-list', resourceTags: { 'kubernetes.io/cluster/other': 'owned' } }, false],
    ['DeleteManagedPrefixList of the owned list', { action: 'ec2:DeleteManagedPrefixList', resourceType: 'prefix-list', resourceTags: ownTags }, true],
    ['CreateRoute in a foreign table', { action: 'ec2:CreateRoute', resourceType: 'route-table', resourceTags: { Type: 'dmz' } }, false],
  ])('%s: allowed=%s', (_name, req, want) => expect(allowed(req)).toBe(want));
});
