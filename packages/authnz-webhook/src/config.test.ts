import { configYaml } from '../test/helpers';
import { ConfigFileError, defaultConfig, parseConfig } from './config';

function problems(text: string): string[] {
  try {
    parseConfig(text);
  } catch (e) {
    if (e instanceof ConfigFileError) return e.problems;
    throw e;
  }
  throw new Error('expected the configuration to be rejected');
}

const head = 'apiVersion: authnz.kubeaws.io/v1alpha1\nkind: AuthnzConfiguration\n';
const issuer = (extra: string) =>
  `${head}authentication:\n  issuers:\n  - {name: corp, issuer: "https://idp.example.com", audiences: [kubernetes]}\n  - {name: other, issuer: "https://idp2.example.com", audiences: [kubernetes]${extra}}\n`;

describe('configuration file (AUTHNZ-CONFIG)', () => {
  it('fills in the documented defaults', () => {
    const c = defaultConfig();
    expect(c.protectedNamespaces).toEqual(['kube-system', 'kube-public', 'kube-node-lease', 'kubeaws-access']);
    expect(c.authentication).toMatchObject({
      tokenMaxBytes: 16384,
      clockToleranceSeconds: 30,
      cache: { ttlMs: 60_000, negativeTtlMs: 10_000, maxEntries: 10000 },
    });
    expect(c.emergencyAccess.manual).toMatchObject({
      defaultDurationMs: 7_200_000,
      maxDurationMs: 28_800_000,
      approvalTimeoutMs: 3_600_000,
    });
    expect(c.authorization.roles.ReadOnly.allow[0]!.verbs).toEqual(['get', 'list', 'watch']);
    expect(c.logging.decisions).toBe('privileged');
  });

  it('accepts the full example and adds protectedNamespaces to the built-in ones', () => {
    const c = parseConfig(
      configYaml({ issuerUrl: 'https://idp.example.com', tokeninfoUrl: 'http://127.0.0.1:9021/oauth2/tokeninfo' }),
    );
    expect(c.protectedNamespaces).toContain('team-platform');
    expect(c.authentication.issuers[0]).toMatchObject({
      name: 'corp',
      algorithms: ['RS256', 'ES256', 'EdDSA'],
      maxTokenAgeMs: 86_400_000,
    });
    expect(c.authentication.tokeninfo[0]!.realms['/services']).toEqual({ usernamePrefix: 'service:', groups: [] });
  });

  it('names the path, the bad value and what is valid', () => {
    expect(problems(issuer(', algorithms: [RS256, HS256]'))).toEqual([
      'authentication.issuers[1].algorithms[1]: "HS256" is not allowed (expected one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)',
    ]);
    expect(problems(issuer(', algorithms: [none]'))[0]).toMatch(
      /^authentication\.issuers\[1\]\.algorithms\[0\]: "none" is not allowed/,
    );
    expect(problems(`${head}authentication: {clockToleranceSeconds: 90}\n`)).toEqual([
      'authentication.clockToleranceSeconds: out of range (got 90; expected 0 to 60)',
    ]);
    expect(problems(`${head}authentication: {tokenMaxBytes: 70000}\n`)).toEqual([
      'authentication.tokenMaxBytes: out of range (got 70000; expected 1 to 65536)',
    ]);
    expect(problems(`${head}authentication: {cache: {ttl: 5x}}\n`)).toEqual([
      'authentication.cache.ttl: invalid value (got "5x"; expected a duration <n>(ms|s|m|h), e.g. 30s)',
    ]);
    expect(problems(`${head}logging: {decisions: some}\n`)).toEqual([
      'logging.decisions: "some" is not allowed (expected one of privileged, all)',
    ]);
  });

  it('reads the nodes section with its defaults and names bad values', () => {
    const nodes = (body: string) => `${head}authentication:\n  nodes: ${body}\n`;
    const cfg = parseConfig(
      nodes('{clusterID: kube-1, workerRoleARN: "arn:aws:iam::123456789012:role/kubeaws/w", regions: [eu-central-1]}'),
    );
    expect(cfg.authentication.nodes).toMatchObject({
      clusterID: 'kube-1',
      workerRoleARN: 'arn:aws:iam::123456789012:role/kubeaws/w',
      regions: ['eu-central-1'],
      tokenMaxBytes: 4096,
      timeoutMs: 5000,
    });
    expect(defaultConfig().authentication.nodes).toBeUndefined();
    const bad = problems(nodes('{clusterID: kube-1, workerRoleARN: "arn:aws:iam::1:user/w", regions: []}'));
    expect(bad).toHaveLength(2);
    expect(bad[0]).toMatch(/^authentication\.nodes\.workerRoleARN: .*arn:aws:iam::1:user\/w/);
    expect(bad[1]).toMatch(/^authentication\.nodes\.regions: /);
  });

  it('rejects unknown keys, listing the valid ones', () => {
    expect(problems(`${head}authentication: {tokenMaxByte: 5}\n`)).toEqual([
      'authentication.tokenMaxByte: unknown key (got "tokenMaxByte"; expected one of tokenMaxBytes, clockToleranceSeconds, cache, issuers, tokeninfo, nodes)',
    ]);
  });

  it('reports every problem in one run, and YAML syntax errors with a line', () => {
    expect(problems(`${head}authentication: {tokenMaxBytes: 0, clockToleranceSeconds: -1}\n`)).toHaveLength(2);
    expect(problems(`${head}roles: [\n`)[0]).toMatch(/^line \d+:\d+: /);
    expect(problems(`${head}kind: Again\n`)[0]).toMatch(/^line \d+:\d+: .*[Dd]uplicate|^line/);
    expect(problems('apiVersion: v1\nkind: AuthnzConfiguration\n')).toEqual([
      'apiVersion: "v1" is not allowed (expected "authnz.kubeaws.io/v1alpha1")',
    ]);
  });

  it.each([
    [
      'username prefix starting with system:',
      issuer(', claims: {username: {prefix: "system:x"}}'),
      'authentication.issuers[1].claims.username.prefix: must not start with "system:"',
    ],
    [
      'group prefix that is a prefix of a role name',
      issuer(', claims: {groups: {prefix: "Power"}}'),
      'authentication.issuers[1].claims.groups.prefix: must not be a prefix of the role name PowerUser',
    ],
    [
      'empty group prefix',
      issuer(', claims: {groups: {prefix: ""}}'),
      'authentication.issuers[1].claims.groups.prefix: must not be empty',
    ],
    [
      'duplicate issuer names',
      `${head}authentication:\n  issuers:\n  - {name: a, issuer: "https://x", audiences: [k]}\n  - {name: a, issuer: "https://y", audiences: [k]}\n`,
      'authentication.issuers[1].name: duplicate issuer name',
    ],
    [
      'http JWKS to a non-loopback host',
      issuer(', jwksURL: "http://idp.example.com/keys"'),
      'authentication.issuers[1].jwksURL: must use https (http only to a loopback host)',
    ],
    [
      'mapping to Manual',
      `${head}roles: {mapping: [{group: "oidc:x", role: Manual}]}\n`,
      'roles.mapping[0].role: Manual comes only from emergency-access grants',
    ],
    [
      'mapping with two matchers',
      `${head}roles: {mapping: [{group: "oidc:x", user: "y", role: ReadOnly}]}\n`,
      'roles.mapping[0]: needs exactly one of group, allOf, user',
    ],
    [
      'system: systemUser',
      `${head}authorization: {systemUsers: [{user: "system:x", rules: []}]}\n`,
      'authorization.systemUsers[0].user: system: users are never decided by the webhook',
    ],
    [
      'systemUser with impersonate',
      `${head}authorization: {systemUsers: [{user: "svc", rules: [{apiGroups: [""], resources: [users], verbs: [impersonate]}]}]}\n`,
      'authorization.systemUsers[0].rules[0].verbs: verb "impersonate" is not allowed here',
    ],
    [
      'systemUser covering accessrequests',
      `${head}authorization: {systemUsers: [{user: "svc", rules: [{apiGroups: ["authnz.kubeaws.io"], resources: [accessrequests], verbs: [get]}]}]}\n`,
      'authorization.systemUsers[0].rules[0].resources: resource "accessrequests" is not allowed here',
    ],
    [
      'two opaque tokeninfo endpoints',
      `${head}authentication:\n  tokeninfo:\n  - {name: a, url: "https://a", opaque: true}\n  - {name: b, url: "https://b", opaque: true}\n`,
      'authentication.tokeninfo: more than one endpoint is opaque',
    ],
    [
      'bad incident pattern',
      `${head}emergencyAccess: {emergency: {incidentPattern: "("}}\n`,
      'emergencyAccess.emergency.incidentPattern: not a regular expression',
    ],
  ])('rejects %s', (_name, text, start) => {
    const p = problems(text);
    expect(p.some((l) => l.startsWith(start))).toBe(true);
    for (const l of p) expect(l).toMatch(/^\S.*: .* \(got .*; expected .*\)$/);
  });
});
