import { ConfigError } from '@kubeaws/runtime';
import { staticEgressController } from './component';

const base = ['--cluster-id=c1', '--availability-zones=eu-central-1a,eu-central-1b'];

describe('flags', () => {
  it('parses defaults', () => {
    const cfg = staticEgressController.parse(base, {});
    expect(cfg).toMatchObject({
      clusterId: 'c1', ownerTagKey: 'kubernetes.io/cluster/c1', routeTableSelector: { Type: 'dmz' }, routeQuota: 50,
      natIdleGraceMs: 3_600_000, debounceMs: 3_000, statusConfigMap: 'kube-system/static-egress-status', leaseName: 'kubeaws-static-egress-controller',
    });
  });
  it('reads STATIC_EGRESS_* env, the flag wins', () => {
    const cfg = staticEgressController.parse([...base, '--route-quota=100'], { STATIC_EGRESS_ROUTE_QUOTA: '60', STATIC_EGRESS_MIN_PREFIX_LENGTH: '16' });
    expect(cfg).toMatchObject({ routeQuota: 100, minPrefixLength: 16 });
  });
  it('--mode=prefix-list and --prefix-list-max-entries', () => {
    expect(staticEgressController.parse([...base, '--mode=prefix-list', '--prefix-list-max-entries=100'], {})).toMatchObject({ mode: 'prefix-list', prefixListMaxEntries: 100 });
    expect(staticEgressController.parse(base, {})).toMatchObject({ mode: 'routes', prefixListMaxEntries: 20 });
  });
  it('--annotate-configmaps', () => {
    expect(staticEgressController.parse([...base, '--annotate-configmaps'], {}).annotateConfigMaps).toBe(true);
    expect(staticEgressController.parse(base, { STATIC_EGRESS_ANNOTATE_CONFIGMAPS: 'true' }).annotateConfigMaps).toBe(true);
    expect(staticEgressController.parse(base, {}).annotateConfigMaps).toBe(false);
  });
  it('--namespace: a list of namespace names, default all', () => {
    expect(staticEgressController.parse([...base, '--namespace=team-a, team-b'], {}).namespaces).toEqual(['team-a', 'team-b']);
    expect(staticEgressController.parse(base, {}).namespaces).toEqual([]);
  });
  it('--configmap-selector: any selector the API server accepts', () => {
    expect(staticEgressController.parse(base, {}).configmapSelector).toBe('egress=static');
    expect(staticEgressController.parse([...base, '--configmap-selector=egress in (static, partner),!legacy'], {}).configmapSelector)
      .toBe('egress in (static, partner),!legacy');
    expect(staticEgressController.parse(base, { STATIC_EGRESS_CONFIGMAP_SELECTOR: 'kubeaws.io/egress=static' }).configmapSelector)
      .toBe('kubeaws.io/egress=static');
  });
  it.each<[string[], Record<string, string>, string]>([
    [['--configmap-selector=egress in static'], {}, 'invalid value "egress in static" for --configmap-selector'],
    [['--configmap-selector=egress=static,'], {}, 'invalid value "egress=static," for --configmap-selector'],
    [['--configmap-selector=egress=-x'], {}, 'invalid value "egress=-x" for --configmap-selector'],
    [['--configmap-selector= '], {}, 'for --configmap-selector'],
    [[], { STATIC_EGRESS_CONFIGMAP_SELECTOR: 'Egress/x=y' }, 'invalid value "Egress/x=y" for env STATIC_EGRESS_CONFIGMAP_SELECTOR (flag --configmap-selector)'],
  ])('--configmap-selector %j %j is rejected at start naming the flag, the value and the valid form', (argv, envs, message) => {
    let err: unknown;
    try {
      staticEgressController.parse([...base, ...argv], envs);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(message);
    expect((err as ConfigError).message).toContain('expected a non-empty label selector like egress=static (comma-joined requirements: k=v');
  });
  it('dry run turns leader election off', () => {
    expect(staticEgressController.parse([...base, '--dry-run'], {}).leaderElect).toBe(false);
  });
  it.each([
    [[], 'cluster-id'],
    [['--cluster-id=c1'], 'availability-zones'],
    [[...base, '--eip-allocation-ids=eu-central-1c=eipalloc-1'], 'eip-allocation-ids'],
    [[...base, '--eip-allocation-ids=eu-central-1a'], 'eip-allocation-ids'],
    [[...base, '--mode=tunnel'], 'mode'],
    [[...base, '--prefix-list-max-entries=1001'], 'prefix-list-max-entries'],
    [[...base, '--nat-idle-grace=5x'], 'nat-idle-grace'],
    [['--cluster-id=bad id', '--availability-zones=eu-central-1a'], 'cluster-id'],
    [[...base, '--namespace=team-a,Team_B'], 'namespace'],
  ])('%j is a ConfigError naming --%s', (argv, name) => {
    let err: unknown;
    try {
      staticEgressController.parse(argv, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(name);
  });
});
