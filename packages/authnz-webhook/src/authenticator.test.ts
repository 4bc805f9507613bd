import { KeyObject, createHash, sign as cryptoSign, type webcrypto } from 'node:crypto';
import { FakeClock, silentLogger } from '@kubeaws/runtime';
import { SignJWT, base64url, generateSecret } from 'jose';
import { type TestKey, TestIssuer, TestTokeninfo, configYaml, makeKey } from '../test/helpers';
import { Authenticator, hygieneGroups } from './authenticator';
import { parseConfig } from './config';
import { Unavailable } from './errors';
import { type AccessRequest, StaticGrants } from './grants';
import { WebhookMetrics } from './metrics';

let issuer: TestIssuer;
let rsa: TestKey;
let ec: TestKey;
let ed: TestKey;
let other: TestKey;
let tokeninfo: TestTokeninfo;

beforeAll(async () => {
  [rsa, ec, ed, other] = await Promise.all([
    makeKey('rsa-1'),
    makeKey('ec-1', 'ES256'),
    makeKey('ed-1', 'EdDSA'),
    makeKey('rsa-1'),
  ]);
  issuer = await TestIssuer.start([rsa, ec, ed]);
  tokeninfo = await TestTokeninfo.start();
});
afterAll(async () => {
  await issuer.stop();
  await tokeninfo.stop();
});

interface Setup {
  auth: Authenticator;
  clock: FakeClock;
  grants: StaticGrants;
  metrics: WebhookMetrics;
}

async function setup(extra: Parameters<typeof configYaml>[0] = {}): Promise<Setup> {
  issuer.mode = 'ok';
  issuer.published = undefined;
  issuer.extraJwksMembers = [];
  const cfg = parseConfig(
    configYaml({ issuerUrl: issuer.url, jwksURL: issuer.jwksURL, tokeninfoUrl: tokeninfo.url, ...extra }),
  );
  const clock = new FakeClock(Date.now());
  const grants = new StaticGrants([]);
  const metrics = new WebhookMetrics();
  const auth = new Authenticator({
    config: cfg,
    clock,
    logger: silentLogger(),
    metrics,
    grants,
    startKeyStores: false,
  });
  await auth.keyStores()[0]!.refresh();
  return { auth, clock, grants, metrics };
}

async function expectRejected(s: Setup, token: string, error: string, audiences: string[] = []): Promise<void> {
  const r = await s.auth.review(token, audiences);
  expect({ authenticated: r.authenticated, error: r.error }).toEqual({ authenticated: false, error });
}

/** Signs without jose's header checks (jose refuses unknown crit values when signing). */
async function rawSign(header: object, payload: object): Promise<string> {
  const enc = (o: object) => base64url.encode(JSON.stringify(o));
  const input = `${enc(header)}.${enc(payload)}`;
  const sig = cryptoSign(
    'sha256',
    Buffer.from(input),
    KeyObject.from(rsa.privateKey as unknown as webcrypto.CryptoKey),
  );
  return `${input}.${sig.toString('base64url')}`;
}

async function goodClaims(s: Setup): Promise<object> {
  const now = Math.floor(s.clock.now() / 1000);
  return { iss: issuer.url, aud: 'kubernetes', sub: 'jdoe', iat: now, exp: now + 600 };
}

function unsigned(header: object, payload: object, sig = ''): string {
  const enc = (o: object) => base64url.encode(JSON.stringify(o));
  return `${enc(header)}.${enc(payload)}.${sig}`;
}

describe('valid tokens (AUTHNZ-IDENTITY)', () => {
  it('maps claims to username, uid, groups and extra; the role group comes first', async () => {
    const s = await setup();
    const t = await issuer.sign({ sub: '8f2c41', groups: ['team-b', 'k8s-poweruser', 'team-a', 'team-a'] });
    const r = await s.auth.review(t, []);
    expect(r.authenticated).toBe(true);
    expect(r.user).toEqual({
      username: 'oidc:8f2c41',
      uid: 'corp/8f2c41',
      groups: ['PowerUser', 'oidc:k8s-poweruser', 'oidc:team-a', 'oidc:team-b'],
      extra: { 'kubeaws.io/authenticator': ['oidc/corp'] },
    });
    expect(r.audiences).toBeUndefined();
  });

  it.each([['ES256'], ['EdDSA']])('verifies %s tokens', async (alg) => {
    const s = await setup();
    const t = await issuer.sign({}, { key: alg === 'ES256' ? ec : ed });
    expect((await s.auth.review(t, [])).authenticated).toBe(true);
  });

  it('the highest mapped role wins, allOf needs every group', async () => {
    const s = await setup();
    const one = await s.auth.review(await issuer.sign({ groups: ['k8s-readonly', 'platform'] }), []);
    expect(one.user!.groups[0]).toBe('ReadOnly');
    const both = await s.auth.review(await issuer.sign({ groups: ['k8s-readonly', 'platform', 'oncall'] }), []);
    expect(both.user!.groups[0]).toBe('Administrator');
  });

  it('IdP groups can never be role names or system: groups (prefix + hygiene)', async () => {
    const s = await setup();
    const r = await s.auth.review(await issuer.sign({ groups: ['Administrator', 'system:masters'] }), []);
    expect(r.user!.groups).toEqual(['oidc:Administrator', 'oidc:system:masters']);
  });

  it('an active Manual grant replaces a standing ReadOnly and links the AccessRequest; expiry is a clock comparison', async () => {
    const s = await setup();
    const now = s.clock.now();
    const grant: AccessRequest = {
      apiVersion: 'authnz.kubeaws.io/v1alpha1',
      kind: 'AccessRequest',
      metadata: { name: 'manual-abc12' },
      spec: {
        type: 'Manual',
        user: 'oidc:jdoe',
        uid: 'corp/jdoe',
        reason: 'fix the thing',
        duration: '2h',
        requestedAt: new Date(now).toISOString(),
      },
      status: { phase: 'Active', expiresAt: new Date(now + 30_000).toISOString() },
    };
    s.grants.requests = [grant];
    const token = await issuer.sign({ groups: ['k8s-readonly'] });
    const r = await s.auth.review(token, []);
    expect(r.user!.groups[0]).toBe('Manual');
    expect(r.user!.extra['kubeaws.io/access-request']).toEqual(['manual-abc12']);
    expect(r.cache).toBe('miss');
    await s.clock.advance(30_000);
    const after = await s.auth.review(token, []);
    expect(after.cache).toBe('hit');
    expect(after.user!.groups[0]).toBe('ReadOnly');
    expect(after.user!.extra['kubeaws.io/access-request']).toBeUndefined();
  });

  it('grants are not issued before the informer has synced', async () => {
    const s = await setup();
    const grants = new StaticGrants(
      [
        {
          apiVersion: 'authnz.kubeaws.io/v1alpha1',
          kind: 'AccessRequest',
          metadata: { name: 'emergency-1' },
          spec: {
            type: 'Emergency',
            user: 'oidc:jdoe',
            uid: '',
            reason: 'incident response',
            duration: '4h',
            requestedAt: new Date().toISOString(),
            incident: 'INC-1',
          },
          status: { phase: 'Active', expiresAt: new Date(s.clock.now() + 3_600_000).toISOString() },
        },
      ],
      false,
    );
    const auth = new Authenticator({
      config: s.auth.snapshot.config,
      clock: s.clock,
      logger: silentLogger(),
      grants,
      startKeyStores: false,
    });
    await auth.keyStores()[0]!.refresh();
    const r = await auth.review(await issuer.sign(), []);
    expect(r.user!.groups).toEqual([]);
  });

  it('kubernetesAudiences: status.audiences is the intersection; empty intersection rejects (AUTHNZ-K8S-AUDIENCES)', async () => {
    const s = await setup({ kubernetesAudiences: ['https://kubernetes.default.svc', 'api'] });
    const t = await issuer.sign();
    const r = await s.auth.review(t, ['api', 'other']);
    expect(r.audiences).toEqual(['api']);
    await expectRejected(s, t, 'token not valid for the requested audiences', ['other']);
    const none = await s.auth.review(t, []);
    expect(none.authenticated).toBe(true);
    expect(none.audiences).toBeUndefined();
  });

  it('caches identities for min(ttl, exp - now) and rejections for negativeTtl (AUTHNZ-TOKEN-CACHE)', async () => {
    const s = await setup({ cache: '{ttl: 60s, negativeTtl: 10s, maxEntries: 2}' });
    const t = await issuer.sign({ exp: Math.floor(s.clock.now() / 1000) + 20 });
    expect((await s.auth.review(t, [])).cache).toBe('miss');
    expect((await s.auth.review(t, [])).cache).toBe('hit');
    await s.clock.advance(21_000);
    const late = await s.auth.review(t, []);
    expect({ cache: late.cache, authenticated: late.authenticated }).toEqual({ cache: 'miss', authenticated: true }); // within the clock tolerance
    await s.clock.advance(30_000);
    await expectRejected(s, t, 'token expired');
    expect((await s.auth.review(t, [])).cache).toBe('negative_hit');
    await s.clock.advance(10_001);
    expect((await s.auth.review(t, [])).cache).toBe('miss');
    // LRU bound
    for (let i = 0; i < 5; i++) await s.auth.review(await issuer.sign({ sub: `u${i}` }), []);
    expect(s.auth.cache.size).toBe(2);
  });

  it.each([
    ['cache on', '{ttl: 60s, negativeTtl: 10s, maxEntries: 10}', 2],
    ['cache off', '{ttl: 60s, negativeTtl: 10s, maxEntries: 0}', 0],
  ])(
    'gives the token fingerprint of accepted and rejected tokens with the %s (AUTHNZ-NO-TOKEN-LEAKS)',
    async (_n, cache, entries) => {
      const s = await setup({ cache });
      const good = await issuer.sign({});
      const expired = await issuer.sign({ exp: Math.floor(s.clock.now() / 1000) - 3600 });
      const fp = (t: string) => createHash('sha256').update(t).digest('hex').slice(0, 12);
      const ok = await s.auth.review(good, []);
      const bad = await s.auth.review(expired, []);
      expect([ok.authenticated, ok.cache, ok.tokenSha256]).toEqual([true, 'miss', fp(good)]);
      expect([bad.authenticated, bad.cache, bad.tokenSha256]).toEqual([false, 'miss', fp(expired)]);
      expect(s.auth.cache.size).toBe(entries);
    },
  );
});

describe('bad input and attacks (AUTHNZ-REJECTIONS)', () => {
  it('alg none, HS256 signed with the RSA public key, algorithms outside the allow-list', async () => {
    const s = await setup({ algorithms: ['RS256', 'ES256'] });
    const now = Math.floor(s.clock.now() / 1000);
    const claims = { iss: issuer.url, aud: 'kubernetes', sub: 'x', iat: now, exp: now + 60 };
    await expectRejected(s, unsigned({ alg: 'none' }, claims), 'signing algorithm not allowed');
    const secret = new TextEncoder().encode(JSON.stringify(rsa.publicJwk));
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).sign(secret);
    await expectRejected(s, hs, 'signing algorithm not allowed');
    await expectRejected(s, await issuer.sign({}, { key: ed }), 'signing algorithm not allowed');
    const hs512 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS512' })
      .sign(await generateSecret('HS512', { extractable: true }));
    await expectRejected(s, hs512, 'signing algorithm not allowed');
  });

  it('unknown kid: one refetch per cooldown however many tokens arrive; rejected during the cooldown', async () => {
    const s = await setup({ keys: { refetchCooldown: '30s' } });
    const stranger = await makeKey('unknown-kid');
    const before = issuer.jwksFetches;
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) => issuer.sign({ sub: `s${i}` }, { key: stranger })),
    );
    const results = await Promise.all(tokens.map((t) => s.auth.review(t, [])));
    expect(results.every((r) => r.error === 'unknown signing key')).toBe(true);
    expect(issuer.jwksFetches - before).toBe(1);
    await s.clock.advance(5_000);
    await expectRejected(s, await issuer.sign({ sub: 'late' }, { key: stranger }), 'unknown signing key');
    expect(issuer.jwksFetches - before).toBe(1);
  });

  it('a key added to the JWKS is found by the kid-miss refetch', async () => {
    const s = await setup();
    const rotated = await makeKey('rotated');
    issuer.keys.push(rotated);
    try {
      const r = await s.auth.review(await issuer.sign({}, { key: rotated }), []);
      expect(r.authenticated).toBe(true);
    } finally {
      issuer.keys.pop();
    }
  });

  it('unknown kid while the JWKS endpoint fails: 503', async () => {
    const s = await setup();
    issuer.mode = 'fail500';
    const stranger = await makeKey('unknown-2');
    await expect(s.auth.review(await issuer.sign({}, { key: stranger }), [])).rejects.toBeInstanceOf(Unavailable);
  });

  it('right kid with the wrong key, tampered payload or header, and jwk/jku/x5u headers', async () => {
    const s = await setup();
    await expectRejected(s, await issuer.sign({}, { key: other }), 'token signature invalid');
    const good = await issuer.sign({ groups: ['team-a'] });
    const [h, p, sig] = good.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    payload.groups = ['k8s-admin'];
    await expectRejected(s, `${h}.${base64url.encode(JSON.stringify(payload))}.${sig}`, 'token signature invalid');
    const header = JSON.parse(Buffer.from(h!, 'base64url').toString());
    await expectRejected(
      s,
      `${base64url.encode(JSON.stringify({ ...header, kid: 'ec-1', alg: 'ES256' }))}.${p}.${sig}`,
      'token signature invalid',
    );
    const attacker = await makeKey('attacker');
    for (const extra of [
      { jwk: attacker.publicJwk },
      { jku: 'http://127.0.0.1:1/keys' },
      { x5u: 'http://127.0.0.1:1/cert' },
    ]) {
      const t = await issuer.sign({}, { key: { ...attacker, kid: 'rsa-1' }, header: extra });
      await expectRejected(s, t, 'token signature invalid');
    }
  });

  it('time claims: expired, not yet valid, too old, issued in the future, missing, wrong types', async () => {
    const s = await setup();
    const now = Math.floor(s.clock.now() / 1000);
    await expectRejected(s, await issuer.sign({ exp: now - 31 }), 'token expired');
    expect((await s.auth.review(await issuer.sign({ exp: now - 5 }), [])).authenticated).toBe(true);
    await expectRejected(s, await issuer.sign({ exp: undefined }), 'required claim missing: exp');
    await expectRejected(s, await issuer.sign({ iat: undefined }), 'required claim missing: iat');
    await expectRejected(s, await issuer.sign({ exp: String(now + 60) }), 'invalid claim: exp');
    await expectRejected(s, await issuer.sign({ nbf: 'soon' }), 'invalid claim: nbf');
    await expectRejected(s, await issuer.sign({ iat: 'now' }), 'invalid claim: iat');
    await expectRejected(s, await issuer.sign({ iss: 42 }), 'invalid claim: iss');
    await expectRejected(s, await issuer.sign({ nbf: now + 120 }), 'token not yet valid');
    await expectRejected(s, await issuer.sign({ iat: now + 120 }), 'token too old or issued in the future');
    await expectRejected(s, await issuer.sign({ iat: now - 25 * 3600 }), 'token too old or issued in the future');
  });

  it('issuer, audience and azp', async () => {
    const s = await setup();
    await expectRejected(s, await issuer.sign({ iss: 'https://evil.example.com' }), 'issuer not trusted');
    await expectRejected(s, await issuer.sign({ iss: undefined }), 'issuer not trusted');
    await expectRejected(s, await issuer.sign({ aud: 'other' }), 'audience not accepted');
    await expectRejected(s, await issuer.sign({ aud: undefined }), 'audience not accepted');
    await expectRejected(s, await issuer.sign({ aud: ['kubernetes', 'other'], azp: 'other' }), 'audience not accepted');
    expect(
      (await s.auth.review(await issuer.sign({ aud: ['kubernetes', 'other'], azp: 'kubernetes' }), [])).authenticated,
    ).toBe(true);
  });

  it('groups claim: a string, a non-string member, or over the limits', async () => {
    const s = await setup();
    await expectRejected(s, await issuer.sign({ groups: 'system:masters' }), 'invalid claim: groups');
    await expectRejected(s, await issuer.sign({ groups: ['ok', 7] }), 'invalid claim: groups');
    await expectRejected(
      s,
      await issuer.sign({ groups: Array.from({ length: 257 }, (_, i) => `g${i}`) }),
      'invalid claim: groups',
    );
    await expectRejected(s, await issuer.sign({ groups: ['x'.repeat(257)] }), 'invalid claim: groups');
    await expectRejected(s, await issuer.sign({ groups: [''] }), 'invalid claim: groups');
    expect((await s.auth.review(await issuer.sign({ groups: undefined }), [])).authenticated).toBe(true);
  });

  it('username claim: missing, empty, not a string, control characters, email_verified not true, reserved', async () => {
    const s = await setup();
    await expectRejected(s, await issuer.sign({ sub: undefined }), 'invalid claim: username');
    await expectRejected(s, await issuer.sign({ sub: '' }), 'invalid claim: username');
    await expectRejected(s, await issuer.sign({ sub: 12 }), 'invalid claim: username');
    await expectRejected(s, await issuer.sign({ sub: 'a\nb' }), 'invalid claim: username');
    const e = await setup({ usernameClaim: 'email' });
    await expectRejected(e, await issuer.sign({ email: 'j@x.io', email_verified: 'true' }), 'invalid claim: username');
    expect((await e.auth.review(await issuer.sign({ email: 'j@x.io', email_verified: true }), [])).user!.username).toBe(
      'oidc:j@x.io',
    );
  });

  it('a username prefix cannot produce system: names', async () => {
    const cfg = configYaml({ issuerUrl: issuer.url, jwksURL: issuer.jwksURL }).replace(
      'prefix: "oidc:"}, groups',
      'prefix: ""}, groups',
    );
    const auth = new Authenticator({
      config: parseConfig(cfg),
      clock: new FakeClock(Date.now()),
      logger: silentLogger(),
      grants: new StaticGrants(),
      startKeyStores: false,
    });
    await auth.keyStores()[0]!.refresh();
    const r = await auth.review(await issuer.sign({ sub: 'system:admin' }), []);
    expect(r.error).toBe('reserved username');
  });

  it('unknown crit header or typ mismatch', async () => {
    const s = await setup();
    await expectRejected(
      s,
      await rawSign({ alg: 'RS256', kid: 'rsa-1', crit: ['x-custom'], 'x-custom': 1 }, await goodClaims(s)),
      'token header not accepted',
    );
    const t = await setup({ typ: 'at+jwt' });
    await expectRejected(t, await issuer.sign({}, { header: { typ: 'JWT' } }), 'token header not accepted');
    expect((await t.auth.review(await issuer.sign({}, { header: { typ: 'at+jwt' } }), [])).authenticated).toBe(true);
  });

  it('token too large: nothing parsed, no upstream call', async () => {
    const s = await setup();
    const before = tokeninfo.requests.length;
    await expectRejected(s, 'a'.repeat(16385), 'token too large');
    expect(tokeninfo.requests.length).toBe(before);
  });

  it('empty token, garbage, bad base64url, bad JSON; JWE', async () => {
    const s = await setup();
    await expectRejected(s, '', 'malformed token');
    await expectRejected(s, 'a.b!.c', 'malformed token');
    await expectRejected(s, `${base64url.encode('{not json')}.${base64url.encode('{}')}.sig`, 'malformed token');
    await expectRejected(s, `${base64url.encode('[1]')}.${base64url.encode('{}')}.sig`, 'malformed token');
    await expectRejected(s, 'a.b.c.d.e', 'encrypted tokens are not supported');
    const noOpaque = await setup({ tokeninfoUrl: undefined });
    await expectRejected(noOpaque, 'just-some-garbage', 'malformed token');
  });

  it('JWKS members that are private or symmetric are skipped', async () => {
    const s = await setup();
    issuer.extraJwksMembers = [
      { kty: 'oct', k: 'c2VjcmV0', kid: 'sym' },
      { ...rsa.publicJwk, kid: 'priv', d: 'AAAA' },
    ];
    await s.auth.keyStores()[0]!.refresh();
    expect(s.auth.keyStores()[0]!.keys).toBe(3);
    const hs = await new SignJWT({ iss: issuer.url, aud: 'kubernetes', sub: 'x' })
      .setProtectedHeader({ alg: 'HS256', kid: 'sym' })
      .sign(new TextEncoder().encode('secret'));
    await expectRejected(s, hs, 'signing algorithm not allowed');
  });
});

describe('key store availability (AUTHNZ-JWKS-REFRESH, AUTHNZ-JWKS-RESPONSE)', () => {
  it('keeps the last-known-good keys after a failed fetch until staleIfError, then answers 503', async () => {
    const s = await setup({ keys: { staleIfError: '1h' } });
    const t = await issuer.sign({ exp: Math.floor(s.clock.now() / 1000) + 7200 });
    issuer.mode = 'fail500';
    await expect(s.auth.keyStores()[0]!.refresh()).rejects.toThrow(/HTTP 500/);
    await s.clock.advance(30 * 60_000);
    expect((await s.auth.review(t, [])).authenticated).toBe(true);
    await s.clock.advance(31 * 60_000);
    await expect(s.auth.review(await issuer.sign({ sub: 'fresh' }), [])).rejects.toBeInstanceOf(Unavailable);
    expect(s.auth.readinessProblems()).toHaveLength(1);
  });

  it.each([['notjson'], ['nokeys'], ['hang']] as const)(
    'a JWKS answer that is %s counts as a failed fetch',
    async (mode) => {
      const s = await setup({ keys: { fetchTimeout: '200ms' } });
      issuer.mode = mode;
      await expect(s.auth.keyStores()[0]!.refresh()).rejects.toThrow();
    },
  );

  it('is unusable before the first fetch (503, no waiting)', async () => {
    const cfg = parseConfig(configYaml({ issuerUrl: issuer.url, jwksURL: issuer.jwksURL }));
    const auth = new Authenticator({
      config: cfg,
      clock: new FakeClock(Date.now()),
      logger: silentLogger(),
      grants: new StaticGrants(),
      startKeyStores: false,
    });
    await expect(auth.review(await issuer.sign(), [])).rejects.toBeInstanceOf(Unavailable);
  });

  it('uses OIDC discovery when jwksURL is not set and checks its issuer', async () => {
    issuer.mode = 'ok';
    const cfg = parseConfig(configYaml({ issuerUrl: issuer.url }));
    const auth = new Authenticator({
      config: cfg,
      clock: new FakeClock(Date.now()),
      logger: silentLogger(),
      grants: new StaticGrants(),
      startKeyStores: false,
    });
    const before = issuer.discoveryFetches;
    await auth.keyStores()[0]!.refresh();
    expect(issuer.discoveryFetches).toBe(before + 1);
    expect((await auth.review(await issuer.sign(), [])).authenticated).toBe(true);
  });

  it('keeps key stores and cache entries of unchanged issuers across reloads', async () => {
    const s = await setup();
    const store = s.auth.keyStores()[0];
    const t = await issuer.sign();
    await s.auth.review(t, []);
    s.auth.reload(
      parseConfig(
        configYaml({
          issuerUrl: issuer.url,
          jwksURL: issuer.jwksURL,
          tokeninfoUrl: tokeninfo.url,
          extra: 'logging: {decisions: all}',
        }),
      ),
    );
    expect(s.auth.keyStores()[0]).toBe(store);
    expect((await s.auth.review(t, [])).cache).toBe('hit');
    s.auth.reload(
      parseConfig(
        configYaml({
          issuerUrl: issuer.url,
          jwksURL: issuer.jwksURL,
          tokeninfoUrl: tokeninfo.url,
          keys: { refetchCooldown: '10s' },
        }),
      ),
    );
    expect(s.auth.keyStores()[0]).not.toBe(store);
  });
});

describe('tokeninfo (AUTHNZ-TOKENINFO)', () => {
  const ok = (o: Record<string, unknown> = {}) => ({
    status: 200,
    body: { uid: 'jdoe', realm: '/employees', expires_in: 3600, scope: ['uid', 'email'], ...o },
  });

  it('maps an opaque token through the realm; sends the token as a Bearer header only', async () => {
    const s = await setup();
    tokeninfo.tokens.set('opaque-1', ok());
    const r = await s.auth.review('opaque-1', []);
    expect(r.user).toEqual({
      username: 'jdoe',
      uid: 'employees/jdoe',
      groups: ['employees'],
      extra: { 'kubeaws.io/authenticator': ['tokeninfo/employees'] },
    });
    const req = tokeninfo.requests.at(-1)!;
    expect(req).toEqual({ method: 'GET', url: '/oauth2/tokeninfo', authorization: 'Bearer opaque-1' });
    tokeninfo.tokens.set('svc-1', ok({ uid: 'cluster-lifecycle', realm: '/services', expires_in: '120' }));
    const svc = await s.auth.review('svc-1', []);
    expect(svc.user!.username).toBe('service:cluster-lifecycle');
    expect(svc.user!.groups).toEqual(['Administrator']);
  });

  it('400/401/403 reject; unknown realm; missing scope', async () => {
    const s = await setup();
    for (const status of [400, 401, 403]) {
      tokeninfo.tokens.set(`rej-${status}`, { status, body: { error: 'x' } });
      await expectRejected(s, `rej-${status}`, 'token rejected by tokeninfo');
    }
    tokeninfo.tokens.set('realm', ok({ realm: '/customers' }));
    await expectRejected(s, 'realm', 'realm not allowed');
    tokeninfo.tokens.set('scope', ok({ scope: ['email'] }));
    await expectRejected(s, 'scope', 'required scope missing');
  });

  it.each([
    ['404', { status: 404 }],
    ['429', { status: 429 }],
    ['500', { status: 500 }],
    ['503', { status: 503 }],
    ['timeout', { status: 200, hang: true }],
    ['uid wrong type', { status: 200, body: { uid: 5, realm: '/employees', expires_in: 1, scope: [] } }],
    ['expires_in wrong type', { status: 200, body: { uid: 'a', realm: '/employees', expires_in: 'soon', scope: [] } }],
    ['scope wrong type', { status: 200, body: { uid: 'a', realm: '/employees', expires_in: 5, scope: 'uid' } }],
    ['not json', { status: 200, body: undefined }],
  ] as Array<[string, { status: number; body?: unknown; hang?: boolean }]>)(
    '%s is an outage (503) and is not cached',
    async (name, reply) => {
      const s = await setup();
      tokeninfo.tokens.set(`out-${name}`, reply);
      await expect(s.auth.review(`out-${name}`, [])).rejects.toBeInstanceOf(Unavailable);
      tokeninfo.tokens.set(`out-${name}`, ok());
      expect((await s.auth.review(`out-${name}`, [])).authenticated).toBe(true);
    },
  );
});

describe('node tokens (AUTHNZ-NODE-TOKENS)', () => {
  it('never sends a k8s-aws-v1. token to the opaque tokeninfo endpoint', async () => {
    const s = await setup();
    const before = tokeninfo.requests.length;
    const token = `k8s-aws-v1.${Buffer.from('https://sts.amazonaws.com/?Action=GetCallerIdentity').toString('base64url')}`;
    tokeninfo.tokens.set(token, {
      status: 200,
      body: { uid: 'x', realm: '/employees', expires_in: 60, scope: ['uid'] },
    });
    const r = await s.auth.review(token, []);
    expect(r).toMatchObject({ authenticated: false, error: 'node tokens are not accepted', source: 'node' });
    expect(tokeninfo.requests.length).toBe(before);
  });

  it('rejects a malformed node token before any call when nodes are configured', async () => {
    const s = await setup();
    const cfg = parseConfig(
      [
        'apiVersion: authnz.kubeaws.io/v1alpha1',
        'kind: AuthnzConfiguration',
        'authentication:',
        '  nodes: {clusterID: kube-1, workerRoleARN: "arn:aws:iam::123456789012:role/w", regions: [eu-west-1]}',
        '',
      ].join('\n'),
    );
    s.auth.reload(cfg);
    const r = await s.auth.review('k8s-aws-v1.!!', []);
    expect(r).toMatchObject({ authenticated: false, error: 'malformed node token: not base64url', source: 'node' });
  });
});

describe('hygieneGroups', () => {
  it.each<[string, string[], { groups: string[]; systemPrefix: number; roleName: number }, boolean]>([
    // name, groups, result, same array returned
    ['none', [], { groups: [], systemPrefix: 0, roleName: 0 }, true],
    ['sorted and clean', ['oidc:a', 'oidc:b'], { groups: ['oidc:a', 'oidc:b'], systemPrefix: 0, roleName: 0 }, true],
    ['unsorted', ['oidc:b', 'oidc:a'], { groups: ['oidc:a', 'oidc:b'], systemPrefix: 0, roleName: 0 }, false],
    ['duplicates', ['oidc:a', 'oidc:a'], { groups: ['oidc:a'], systemPrefix: 0, roleName: 0 }, false],
    [
      'system: prefix and role names dropped',
      ['Administrator', 'oidc:a', 'system:masters', 'system:x', 'ReadOnly'],
      { groups: ['oidc:a'], systemPrefix: 2, roleName: 2 },
      false,
    ],
    ['a role name only', ['PowerUser'], { groups: [], systemPrefix: 0, roleName: 1 }, false],
    ['case matters for role names', ['poweruser'], { groups: ['poweruser'], systemPrefix: 0, roleName: 0 }, true],
    ['code-unit order', ['Z', 'a', 'É'], { groups: ['Z', 'a', 'É'], systemPrefix: 0, roleName: 0 }, true],
  ])('%s', (_name, groups, expected, same) => {
    const r = hygieneGroups(groups);
    expect(r).toEqual(expected);
    expect(r.groups === groups).toBe(same);
  });
});
