/**
 * The platform role model (docs/authnz-webhook.md#authnz-roles): five roles, carried as plain group names,
 * compared case-sensitively and ranked Administrator > Emergency > Manual > PowerUser > ReadOnly.
 */

/** Every role group, lowest rank first. */
export const ROLES = ['ReadOnly', 'PowerUser', 'Manual', 'Emergency', 'Administrator'] as const;
/** One of {@link ROLES}. */
export type Role = (typeof ROLES)[number];
/**
 * Roles that `roles.mapping` may assign; Manual and Emergency come only from grants
 * (docs/authnz-webhook.md#authnz-config-checks).
 */
export const MAPPABLE_ROLES = ['ReadOnly', 'PowerUser', 'Administrator'] as const;
/** Roles obtained through the emergency-access API (docs/authnz-webhook.md#authnz-access). */
export type GrantRole = 'Manual' | 'Emergency';

/**
 * Rank of a group name: 1 = ReadOnly … 5 = Administrator, 0 for any other name. A `switch` of string comparisons: the
 * lookup in an object keyed by the name it replaces was a generic (megamorphic) property lookup on every review.
 */
function rankOf(g: string): number {
  switch (g) {
    case 'ReadOnly':
      return 1;
    case 'PowerUser':
      return 2;
    case 'Manual':
      return 3;
    case 'Emergency':
      return 4;
    case 'Administrator':
      return 5;
    default:
      return 0;
  }
}

/** True when `g` is exactly one of the role group names. */
export function isRole(g: string): g is Role {
  return rankOf(g) > 0;
}

/** Rank of a role (1 = ReadOnly … 5 = Administrator); 0 for no role. */
export function roleRank(r: Role | undefined): number {
  return r ? rankOf(r) : 0;
}

/** The higher of two roles (undefined = no role). */
export function higherRole(a: Role | undefined, b: Role | undefined): Role | undefined {
  return roleRank(a) >= roleRank(b) ? a : b;
}

/**
 * The effective role of a SAR: the highest role among its groups (docs/authnz-webhook.md#authnz-roles), or undefined.
 */
export function effectiveRole(groups: readonly string[]): Role | undefined {
  let best: Role | undefined;
  let bestRank = 0;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    const rank = rankOf(g);
    if (rank > bestRank) {
      best = g as Role;
      bestRank = rank;
    }
  }
  return best;
}

/**
 * Manual and Emergency use the PowerUser policy (docs/authnz-webhook.md#authnz-roles); this maps a role to the policy
 * it uses.
 */
export function policyOf(r: Role | undefined): 'ReadOnly' | 'PowerUser' | 'Administrator' | undefined {
  if (r === 'Manual' || r === 'Emergency') return 'PowerUser';
  return r;
}

/** One `roles.mapping` entry (docs/authnz-webhook.md#authnz-config): exactly one of `group`, `allOf` or `user`. */
export interface RoleMapping {
  group?: string;
  allOf?: string[];
  user?: string;
  role: (typeof MAPPABLE_ROLES)[number];
}

/**
 * Applies `roles.mapping` to an authenticated identity: every matching entry applies and the highest
 * role wins (docs/authnz-webhook.md#authnz-config). `groups` are the prefixed IdP groups. Returns undefined when
 * nothing matches.
 */
export function mapRole(
  mapping: readonly RoleMapping[],
  username: string,
  groups: readonly string[],
): Role | undefined {
  let best: Role | undefined;
  const set = groups.length > 8 ? new Set(groups) : undefined;
  for (const m of mapping) {
    let match = false;
    if (m.group !== undefined) match = set ? set.has(m.group) : groups.includes(m.group);
    else if (m.allOf !== undefined) {
      match = m.allOf.length > 0;
      for (const g of m.allOf)
        if (!(set ? set.has(g) : groups.includes(g))) {
          match = false;
          break;
        }
    } else if (m.user !== undefined) match = m.user === username;
    if (match && roleRank(m.role) > roleRank(best)) best = m.role;
  }
  return best;
}
