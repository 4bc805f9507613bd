/**
 * The SubjectAccessReview decision (docs/authnz-webhook.md#authnz-subjects, #authnz-role-model, #authnz-order,
 * #authnz-matching, #authnz-denied): a pure function of the request attributes and the compiled policy. Evaluation
 * order (the first match decides): `system-identity` → rows 16, 17 → `systemUsers` → Administrator → overlay rows 15,
 * 14, 10, 9, 11, 12, 8, 3, 5/6, 2, 4 → `extraDenyRules` → role allows → `no-matching-rule`.
 *
 * Wildcards (#authnz-matching): a deny row matches when any value the request covers matches it (`*` as verb,
 * group or resource, an empty name, and an empty namespace on secret reads); an allow rule matches only
 * when it covers every value of the request.
 */
import type { AuthnzConfig, ExtraDenyRule, Rule, SystemUser } from './config.js';
import { type Role, effectiveRole, policyOf } from './roles.js';

/** `spec.resourceAttributes` of a SAR, with absent fields as "". */
export interface ResourceAttributes {
  namespace: string;
  verb: string;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  name: string;
}

/** `spec.nonResourceAttributes` of a SAR. */
export interface NonResourceAttributes {
  path: string;
  verb: string;
}

/** The attributes of one SAR that decisions read. */
export interface SarInput {
  user: string;
  groups: string[];
  uid: string;
  extra: Record<string, string[]>;
  resource?: ResourceAttributes;
  nonResource?: NonResourceAttributes;
}

/** `allow` = allowed:true; `deny` = denied:true (authoritative); `no-opinion` = RBAC decides. */
export type DecisionKind = 'allow' | 'deny' | 'no-opinion';

/**
 * The outcome of one SAR. `reason` follows docs/authnz-webhook.md#authnz-reason:
 * `<decision> rule=<id> role=<role> user=<user>: <sentence>`.
 */
export interface Decision {
  decision: DecisionKind;
  /** Rule id, e.g. `protected-secrets`, `system-user:<user>`, `extra:<name>`. */
  rule: string;
  /** Effective role, `none` or `system`. */
  role: Role | 'none' | 'system';
  reason: string;
}

/** Write verbs (the legend of docs/authnz-webhook.md#authnz-role-model). */
export const WRITE_VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection'] as const;
const WRITE = new Set<string>(WRITE_VERBS);
const READ = new Set(['get', 'list', 'watch']);
const EXEC_POD_SUBS = ['exec', 'attach', 'portforward', 'proxy', 'ephemeralcontainers'];
const IMPERSONATION_RESOURCES = ['users', 'groups', 'serviceaccounts', 'userextras', 'uids'];

/** The policy compiled from a configuration: fast lookups for the request path. */
export interface Policy {
  protected: Set<string>;
  readOnly: Rule[];
  powerUser: Rule[];
  extraDenyRules: ExtraDenyRule[];
  systemUsers: Map<string, SystemUser>;
}

/** Compiles the authorization part of a configuration. */
export function compilePolicy(cfg: AuthnzConfig): Policy {
  return {
    protected: new Set(cfg.protectedNamespaces),
    readOnly: cfg.authorization.roles.ReadOnly.allow,
    powerUser: cfg.authorization.roles.PowerUser.allow,
    extraDenyRules: cfg.authorization.extraDenyRules,
    systemUsers: new Map(cfg.authorization.systemUsers.map((s) => [s.user, s])),
  };
}

/**
 * A request view with the wildcard-aware predicates of deny rows. The predicates take up to three values as
 * arguments (no array per call on the request path) or a list (`...InList`).
 */
class Req {
  constructor(readonly a: ResourceAttributes) {}
  verbIn(x: string, y?: string, z?: string): boolean {
    const v = this.a.verb;
    return v === '*' || v === x || v === y || v === z;
  }
  get write(): boolean {
    return this.a.verb === '*' || WRITE.has(this.a.verb);
  }
  get read(): boolean {
    return this.a.verb === '*' || READ.has(this.a.verb);
  }
  groupIn(x: string, y?: string): boolean {
    const g = this.a.group;
    return g === '*' || g === x || g === y;
  }
  resIn(x: string, y?: string): boolean {
    const r = this.a.resource;
    return r === '*' || r === x || r === y;
  }
  resInList(rs: readonly string[]): boolean {
    return this.a.resource === '*' || rs.includes(this.a.resource);
  }
  /** The request covers the given subresource. */
  subIn(x: string): boolean {
    const s = this.a.subresource;
    return s === '*' || s === x || (this.a.resource === '*' && s === '');
  }
  /** The request covers one of the given subresources. */
  subInList(ss: readonly string[]): boolean {
    const s = this.a.subresource;
    return s === '*' || ss.includes(s) || (this.a.resource === '*' && s === '');
  }
  /** The request covers the main resource (no subresource). */
  get main(): boolean {
    return this.a.subresource === '' || this.a.subresource === '*';
  }
  get execClass(): boolean {
    return (
      this.groupIn('') &&
      ((this.resIn('pods') && this.subInList(EXEC_POD_SUBS)) || (this.resIn('services') && this.subIn('proxy')))
    );
  }
  get clusterScoped(): boolean {
    return this.a.namespace === '';
  }
}

function combined(a: ResourceAttributes): string {
  return a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
}

/** RBAC PolicyRule resource matching: "*", "res", "res/<any>", "<any>/sub", "res/sub". A request for "*" needs the rule "*". */
function ruleCoversResource(ruleResources: readonly string[], a: ResourceAttributes): boolean {
  const want = combined(a);
  for (const r of ruleResources) {
    if (r === '*') return true;
    if (a.resource === '*' || a.subresource === '*') continue;
    if (r === want) return true;
    if (a.subresource && r === `${a.resource}/*`) return true;
    if (a.subresource && r === `*/${a.subresource}`) return true;
  }
  return false;
}

function covers(values: readonly string[], v: string): boolean {
  return values.includes('*') || (v !== '*' && values.includes(v));
}

/** True when an allow rule covers every value of the request (docs/authnz-webhook.md#authnz-matching). */
export function allowRuleMatches(rule: Rule & { namespaces?: string[] }, a: ResourceAttributes): boolean {
  if (!covers(rule.verbs, a.verb)) return false;
  if (!covers(rule.apiGroups, a.group)) return false;
  if (!ruleCoversResource(rule.resources, a)) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0 && !(a.name !== '' && rule.resourceNames.includes(a.name)))
    return false;
  if (rule.namespaces && rule.namespaces.length > 0 && !(a.namespace !== '' && rule.namespaces.includes(a.namespace)))
    return false;
  return true;
}

function denyValues(values: readonly string[], v: string): boolean {
  return values.includes('*') || v === '*' || values.includes(v);
}

/** True when an extra deny rule matches any value the request covers. */
function extraDenyMatches(rule: ExtraDenyRule, a: ResourceAttributes): boolean {
  if (!denyValues(rule.verbs, a.verb)) return false;
  if (!denyValues(rule.apiGroups, a.group)) return false;
  const want = combined(a);
  const resOk = rule.resources.some(
    (r) =>
      r === '*' ||
      a.resource === '*' ||
      r === want ||
      (a.subresource !== '' && (r === `${a.resource}/*` || r === `*/${a.subresource}`)),
  );
  if (!resOk) return false;
  if (rule.namespaces.length > 0 && !(a.namespace !== '' && rule.namespaces.includes(a.namespace))) return false;
  return true;
}

function what(a: ResourceAttributes): string {
  const res = a.group ? `${combined(a)}.${a.group}` : combined(a);
  const obj = a.name ? ` "${a.name}"` : '';
  const where = a.namespace ? ` in namespace "${a.namespace}"` : ' at cluster scope';
  return `${a.verb} ${res}${obj}${where}`;
}

type OverlayHit = { rule: string; sentence: string };

/** Overlay rows 15, 14, 10, 9, 11, 12, 8, 3, 5/6 (every non-Administrator principal), in that order. */
function overlayAll(r: Req, policy: Policy): OverlayHit | undefined {
  const a = r.a;
  if (a.verb.startsWith('impersonate') || (a.verb === '*' && r.resInList(IMPERSONATION_RESOURCES)))
    return {
      rule: 'impersonate',
      sentence: `impersonation (${what(a)}) is for Administrators only; ask an Administrator`,
    };
  if (r.verbIn('escalate', 'bind') && r.groupIn('rbac.authorization.k8s.io') && r.resIn('roles', 'clusterroles'))
    return {
      rule: 'rbac-escalate-bind',
      sentence: `escalate and bind on roles (${what(a)}) are for Administrators only; ask an Administrator`,
    };
  if (r.clusterScoped && r.groupIn('') && r.resIn('nodes') && (r.write || r.subIn('proxy')))
    return {
      rule: 'node-write',
      sentence: `changing nodes and nodes/proxy (${what(a)}) are for Administrators only; ask an Administrator`,
    };
  if (r.write && r.groupIn('apps', 'extensions') && r.resIn('daemonsets'))
    return {
      rule: 'daemonset-write',
      sentence: `changing DaemonSets (${what(a)}) is for Administrators only; ask an Administrator`,
    };
  if (
    r.clusterScoped &&
    ((r.write && r.groupIn('rbac.authorization.k8s.io') && r.resIn('clusterrolebindings')) ||
      (r.write && r.groupIn('admissionregistration.k8s.io')) ||
      (r.write && r.groupIn('apiregistration.k8s.io') && r.resIn('apiservices')) ||
      (r.write && r.groupIn('flowcontrol.apiserver.k8s.io')) ||
      (r.write && r.groupIn('certificates.k8s.io') && r.resIn('certificatesigningrequests') && r.subIn('approval')) ||
      (r.verbIn('approve', 'sign') && r.groupIn('certificates.k8s.io') && r.resIn('signers')))
  )
    return {
      rule: 'cluster-control-write',
      sentence: `changing cluster control objects (${what(a)}) is for Administrators only; ask an Administrator`,
    };
  if (
    r.clusterScoped &&
    r.verbIn('update', 'patch', 'delete') &&
    r.groupIn('apiextensions.k8s.io') &&
    r.resIn('customresourcedefinitions') &&
    (a.name === '' || a.name.endsWith('.kubeaws.io'))
  )
    return {
      rule: 'platform-crd-write',
      sentence: `changing the platform's *.kubeaws.io CRDs (${what(a)}) is for Administrators only; ask an Administrator`,
    };
  if (r.clusterScoped && r.verbIn('deletecollection'))
    return {
      rule: 'cluster-deletecollection',
      sentence: `deletecollection across all namespaces or of cluster-scoped resources (${what(a)}) is for Administrators only; ask an Administrator`,
    };
  if (
    r.read &&
    r.groupIn('') &&
    r.resIn('secrets') &&
    r.main &&
    (a.namespace === '' || policy.protected.has(a.namespace))
  )
    return {
      rule: 'protected-secrets',
      sentence:
        a.namespace === ''
          ? `secrets across all namespaces (${what(a)}) include protected namespaces and are for Administrators only; name an unprotected namespace or ask an Administrator`
          : `secrets in protected namespace "${a.namespace}" are for Administrators only; ask an Administrator`,
    };
  if (
    (a.namespace !== '' && policy.protected.has(a.namespace) && (r.write || r.execClass)) ||
    (a.namespace === '' && r.execClass)
  )
    return {
      rule: 'protected-namespace-write',
      sentence:
        a.namespace === ''
          ? `exec-class access across all namespaces (${what(a)}) includes protected namespaces; name a namespace`
          : `namespace "${a.namespace}" is protected: changes and exec there (${what(a)}) are for Administrators only; ask an Administrator`,
    };
  if (
    r.verbIn('update', 'patch', 'delete') &&
    r.groupIn('') &&
    r.resIn('namespaces') &&
    (a.name === '' || policy.protected.has(a.name))
  )
    return {
      rule: 'protected-namespace-write',
      sentence: `namespace ${a.name ? `"${a.name}"` : 'objects including protected ones'} is protected (${what(a)}); changing it is for Administrators only; ask an Administrator`,
    };
  return undefined;
}

/** Overlay rows 2 and 4 (ReadOnly only), outside protected namespaces. */
function overlayReadOnly(r: Req): OverlayHit | undefined {
  const a = r.a;
  if (r.read && r.groupIn('') && r.resIn('secrets') && r.main)
    return {
      rule: 'readonly-secrets',
      sentence: `ReadOnly may not read secrets (${what(a)}); PowerUser is needed: request Manual access or ask for the PowerUser role`,
    };
  if (r.execClass)
    return {
      rule: 'readonly-exec',
      sentence: `ReadOnly may not exec, attach, port-forward or proxy (${what(a)}); PowerUser is needed: request Manual access or ask for the PowerUser role`,
    };
  return undefined;
}

function decisionOf(
  kind: DecisionKind,
  rule: string,
  role: Decision['role'],
  user: string,
  sentence: string,
): Decision {
  return { decision: kind, rule, role, reason: `${kind} rule=${rule} role=${role} user=${user}: ${sentence}` };
}

function extraAppliesTo(rule: ExtraDenyRule, role: Role | undefined): boolean {
  const key = role === undefined ? 'none' : role;
  if ((rule.roles as string[]).includes(key)) return true;
  // Manual and Emergency use the PowerUser policy: a rule for PowerUser covers them too.
  return (role === 'Manual' || role === 'Emergency') && rule.roles.includes('PowerUser');
}

/**
 * Decides one SubjectAccessReview (docs/authnz-webhook.md#authnz-role-model, #authnz-order). Pure; never throws for
 * well-typed input.
 * @param policy from {@link compilePolicy}
 */
export function authorize(input: SarInput, policy: Policy): Decision {
  const user = input.user;
  const mk = (kind: DecisionKind, rule: string, role: Decision['role'], sentence: string): Decision =>
    decisionOf(kind, rule, role, user, sentence);
  if (user.startsWith('system:'))
    return mk(
      'no-opinion',
      'system-identity',
      'system',
      'system identities are decided by the Node authorizer and RBAC',
    );
  const role = effectiveRole(input.groups);
  const roleLabel: Decision['role'] = role ?? 'none';
  if (input.nonResource || !input.resource) {
    if (role === 'Administrator') return mk('allow', 'administrator', roleLabel, 'Administrators may do anything');
    const path = input.nonResource?.path ?? '';
    return mk(
      'no-opinion',
      'no-matching-rule',
      roleLabel,
      `no platform rule covers ${input.nonResource?.verb ?? ''} ${path}; RBAC decides`,
    );
  }
  const a = input.resource;
  const r = new Req(a);
  // Row 16 and 17 hold for everyone, Administrators included.
  if (r.verbIn('impersonate') || a.verb.startsWith('impersonate')) {
    if (r.groupIn('') && r.resIn('groups') && (a.name === '' || a.name === 'system:masters'))
      return mk('deny', 'impersonate-masters', roleLabel, 'impersonating the group system:masters is never allowed');
  }
  if (r.write && r.groupIn('authnz.kubeaws.io') && r.resIn('accessrequests'))
    return mk(
      'deny',
      'access-request-write',
      roleLabel,
      `AccessRequests are written only by the webhook (${what(a)}); use the emergency-access API`,
    );
  const sys = policy.systemUsers.get(user);
  if (sys && sys.rules.some((rule) => allowRuleMatches(rule, a)))
    return mk('allow', `system-user:${user}`, roleLabel, `allowed by the systemUsers allow-list (${what(a)})`);
  if (role === 'Administrator') return mk('allow', 'administrator', roleLabel, 'Administrators may do anything');
  const hit = overlayAll(r, policy) ?? (role === 'ReadOnly' ? overlayReadOnly(r) : undefined);
  if (hit) return mk('deny', hit.rule, roleLabel, hit.sentence);
  for (const x of policy.extraDenyRules) {
    if (extraAppliesTo(x, role) && extraDenyMatches(x, a))
      return mk(
        'deny',
        `extra:${x.name}`,
        roleLabel,
        `denied by the platform rule ${x.name} (${what(a)}); ask an Administrator`,
      );
  }
  const pol = policyOf(role);
  if (pol === 'ReadOnly' && policy.readOnly.some((rule) => allowRuleMatches(rule, a)))
    return mk('allow', 'readonly-allow', roleLabel, `ReadOnly may ${what(a)}`);
  if (pol === 'PowerUser' && policy.powerUser.some((rule) => allowRuleMatches(rule, a)))
    return mk('allow', 'poweruser-allow', roleLabel, `${role} may ${what(a)}`);
  const sentence =
    role === undefined
      ? `the user holds no platform role (${what(a)}); RBAC decides`
      : `no ${role} rule covers ${what(a)}; RBAC decides${role === 'ReadOnly' && r.write ? ' (writes need PowerUser: request Manual access)' : ''}`;
  return mk('no-opinion', 'no-matching-rule', roleLabel, sentence);
}
