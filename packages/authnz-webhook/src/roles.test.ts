import { ROLES, effectiveRole, higherRole, isRole, roleRank } from './roles';

describe('role names (docs/authnz-webhook.md#authnz-roles)', () => {
  it.each([
    ['ReadOnly', true, 1],
    ['PowerUser', true, 2],
    ['Manual', true, 3],
    ['Emergency', true, 4],
    ['Administrator', true, 5],
    ['readonly', false, 0],
    ['Administrator ', false, 0],
    ['', false, 0],
    ['constructor', false, 0],
    ['toString', false, 0],
    ['__proto__', false, 0],
    ['hasOwnProperty', false, 0],
  ])('%j: a role %s, rank %d', (g, role, rank) => {
    expect(isRole(g)).toBe(role);
    expect(roleRank(role ? (g as (typeof ROLES)[number]) : undefined)).toBe(rank);
  });

  it('ranks ROLES lowest first', () => {
    expect(ROLES.map((r) => roleRank(r))).toEqual([1, 2, 3, 4, 5]);
  });

  it.each([
    [[], undefined],
    [['oidc:team-a', 'system:authenticated'], undefined],
    [['ReadOnly'], 'ReadOnly'],
    [['oidc:x', 'ReadOnly', 'PowerUser'], 'PowerUser'],
    [['Administrator', 'ReadOnly'], 'Administrator'],
    [['Manual', 'Emergency', 'PowerUser'], 'Emergency'],
    [['readonly', 'constructor', 'toString'], undefined],
  ])('effectiveRole(%j) is %s', (groups, want) => {
    expect(effectiveRole(groups)).toBe(want);
  });

  it.each([
    [undefined, undefined, undefined],
    ['ReadOnly', undefined, 'ReadOnly'],
    [undefined, 'Manual', 'Manual'],
    ['PowerUser', 'Emergency', 'Emergency'],
    ['Administrator', 'Manual', 'Administrator'],
  ] as const)('higherRole(%s, %s) is %s', (a, b, want) => {
    expect(higherRole(a, b)).toBe(want);
  });
});
