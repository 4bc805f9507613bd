import { decidingRule } from './up-authnz';

describe('decidingRule', () => {
  it.each([
    ['allow rule=poweruser-allow role=PowerUser user=oidc:pat: PowerUser may read in demo-authnz', 'allow rule=poweruser-allow role=PowerUser user=oidc:pat'],
    [
      'secrets "payment-db" is forbidden: User "oidc:rita" cannot get resource "secrets": deny rule=readonly-secrets role=ReadOnly user=oidc:rita: ReadOnly cannot read Secrets',
      'deny rule=readonly-secrets role=ReadOnly user=oidc:rita',
    ],
    ['Unauthorized', 'Unauthorized'],
  ])('%s', (text, want) => {
    expect(decidingRule(text)).toBe(want);
  });
});
