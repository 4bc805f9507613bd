import { type FlagName, SETTING_LIST, formatSettingError, parseSettings, parseSettingsFrom } from './config';

describe('parseSettings defaults (PDB-FLAGS)', () => {
  test('all defaults', () => {
    const r = parseSettings({});
    expect(r).toEqual({
      ok: true,
      settings: {
        maxUnavailable: 1,
        nonReadyTtlMs: 0,
        minReplicas: 2,
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
        pdbNameSuffix: 'pdb',
        enableRollouts: false,
        excludeNamespaces: [],
        resyncPeriodMs: 600_000,
        rolloutsDiscoveryPeriodMs: 300_000,
        dryRun: false,
        fieldManager: 'kubeaws-pdb-controller',
        qps: 200,
        burst: 400,
      },
    });
  });

  test('table rows carry flag, env, default and description', () => {
    expect(SETTING_LIST.map((s) => [s.flag, s.env, s.default])).toEqual([
      ['max-unavailable', 'MAX_UNAVAILABLE', '1'],
      ['non-ready-ttl', 'NON_READY_TTL', '0'],
      ['min-replicas', 'MIN_REPLICAS', '2'],
      ['unhealthy-pod-eviction-policy', 'UNHEALTHY_POD_EVICTION_POLICY', 'AlwaysAllow'],
      ['pdb-name-suffix', 'PDB_NAME_SUFFIX', 'pdb'],
      ['enable-rollouts', 'ENABLE_ROLLOUTS', 'false'],
      ['exclude-namespaces', 'EXCLUDE_NAMESPACES', ''],
      ['resync-period', undefined, '10m'],
      ['rollouts-discovery-period', undefined, '5m'],
      ['dry-run', undefined, 'false'],
      ['field-manager', undefined, 'kubeaws-pdb-controller'],
      ['qps', undefined, '200'],
      ['burst', undefined, '400'],
    ]);
    for (const s of SETTING_LIST) {
      expect(s.description.length).toBeGreaterThan(0);
      expect(s.expected.length).toBeGreaterThan(0);
      expect(s.parse(s.default).ok).toBe(true);
    }
  });
});

describe('parseSettings valid values', () => {
  test.each<[FlagName, string, string, unknown]>([
    ['max-unavailable', '25%', 'maxUnavailable', '25%'],
    ['max-unavailable', '3', 'maxUnavailable', 3],
    ['non-ready-ttl', '1h', 'nonReadyTtlMs', 3_600_000],
    ['min-replicas', '3', 'minReplicas', 3],
    ['unhealthy-pod-eviction-policy', 'IfHealthyBudget', 'unhealthyPodEvictionPolicy', 'IfHealthyBudget'],
    ['unhealthy-pod-eviction-policy', '', 'unhealthyPodEvictionPolicy', ''],
    ['pdb-name-suffix', '', 'pdbNameSuffix', ''],
    ['pdb-name-suffix', 'budget-1', 'pdbNameSuffix', 'budget-1'],
    ['enable-rollouts', 'true', 'enableRollouts', true],
    ['resync-period', '1m', 'resyncPeriodMs', 60_000],
    ['rollouts-discovery-period', '1s', 'rolloutsDiscoveryPeriodMs', 1_000],
    ['dry-run', 'true', 'dryRun', true],
    ['field-manager', 'x', 'fieldManager', 'x'],
    ['qps', '2.5', 'qps', 2.5],
    ['burst', '1', 'burst', 1],
  ])('%s=%j', (flag, raw, key, value) => {
    const r = parseSettings({ [flag]: raw });
    expect(r.ok).toBe(true);
    if (r.ok) expect((r.settings as unknown as Record<string, unknown>)[key]).toEqual(value);
  });

  test('exclude-namespaces: comma-separated, trimmed, full match', () => {
    const r = parseSettings({ 'exclude-namespaces': 'kube-.*, istio-system ,,' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const match = (ns: string) => r.settings.excludeNamespaces.some((re) => re.test(ns));
    expect(match('kube-system')).toBe(true);
    expect(match('istio-system')).toBe(true);
    expect(match('my-kube-system')).toBe(false);
    expect(match('istio-system-2')).toBe(false);
    expect(match('default')).toBe(false);
  });
});

describe('parseSettings invalid values (PDB-BAD-INPUT, last row)', () => {
  test.each<[FlagName, string]>([
    ['max-unavailable', '0'],
    ['max-unavailable', '0%'],
    ['max-unavailable', ''],
    ['non-ready-ttl', '1w'],
    ['non-ready-ttl', '400d'],
    ['min-replicas', '1'],
    ['min-replicas', '0'],
    ['min-replicas', 'two'],
    ['min-replicas', '2.5'],
    ['unhealthy-pod-eviction-policy', 'alwaysallow'],
    ['pdb-name-suffix', 'PDB'],
    ['pdb-name-suffix', '-pdb'],
    ['pdb-name-suffix', 'a.b'],
    ['pdb-name-suffix', 'x'.repeat(64)],
    ['enable-rollouts', 'True'],
    ['exclude-namespaces', 'kube-(system'],
    ['resync-period', '59s'],
    ['resync-period', '0'],
    ['rollouts-discovery-period', '999ms'],
    ['rollouts-discovery-period', '0'],
    ['dry-run', 'yes'],
    ['field-manager', ''],
    ['field-manager', 'x'.repeat(129)],
    ['qps', '0'],
    ['qps', '-1'],
    ['burst', '0'],
    ['burst', '1.5'],
  ])('%s=%j', (flag, raw) => {
    const r = parseSettings({ [flag]: raw });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ flag, value: raw, expected: expect.any(String) });
  });

  test('reports every problem at once, naming flag, env, value and expected form', () => {
    const r = parseSettings({ 'max-unavailable': '0', 'min-replicas': '1', 'resync-period': '10s' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => [e.flag, e.env, e.value])).toEqual([
      ['max-unavailable', 'MAX_UNAVAILABLE', '0'],
      ['min-replicas', 'MIN_REPLICAS', '1'],
      ['resync-period', undefined, '10s'],
    ]);
    expect(formatSettingError(r.errors[0])).toBe(
      'invalid value for --max-unavailable / MAX_UNAVAILABLE: "0"; expected an integer 1..2147483647 or a percentage 1%..100%',
    );
    expect(formatSettingError(r.errors[2])).toMatch(
      /^invalid value for --resync-period: "10s"; expected .*at least 1m$/,
    );
  });
});

describe('parseSettingsFrom precedence (PDB-FLAGS)', () => {
  test.each<[string, Partial<Record<FlagName, string>>, Record<string, string>, unknown]>([
    ['default', {}, {}, 1],
    ['env over default', {}, { MAX_UNAVAILABLE: '2' }, 2],
    ['flag over env', { 'max-unavailable': '3' }, { MAX_UNAVAILABLE: '2' }, 3],
    ['empty env counts as unset', {}, { MAX_UNAVAILABLE: '' }, 1],
  ])('%s', (_n, flags, env, value) => {
    const r = parseSettingsFrom(flags, env);
    expect(r.ok && r.settings.maxUnavailable).toBe(value);
  });

  test('an explicit empty flag empties the suffix; an empty env var does not', () => {
    const a = parseSettingsFrom({ 'pdb-name-suffix': '' }, { PDB_NAME_SUFFIX: 'x' });
    expect(a.ok && a.settings.pdbNameSuffix).toBe('');
    const b = parseSettingsFrom({}, { PDB_NAME_SUFFIX: '' });
    expect(b.ok && b.settings.pdbNameSuffix).toBe('pdb');
  });

  test('flags without env ignore same-named variables', () => {
    const r = parseSettingsFrom({}, { RESYNC_PERIOD: 'bogus', DRY_RUN: 'true' });
    expect(r.ok && [r.settings.resyncPeriodMs, r.settings.dryRun]).toEqual([600_000, false]);
  });

  test('invalid env value is reported with the env name', () => {
    const r = parseSettingsFrom({}, { NON_READY_TTL: '5 minutes' });
    expect(!r.ok && r.errors).toEqual([
      { flag: 'non-ready-ttl', env: 'NON_READY_TTL', value: '5 minutes', expected: expect.stringMatching(/duration/) },
    ]);
  });
});
