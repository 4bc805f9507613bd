/**
 * The registry and the components agree (docs/infra.md#infra-config-consumers): every item consumed by a component
 * names an env var that the component's exported flag schema accepts, or that its container args reference as `$(ENV)`;
 * every env var the schema requires is supplied by some item. Components without code yet are checked once they export
 * their flags. The rendered overlay is checked for the contract of docs/infra.md#infra-overlay.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries -- the registry is checked against the config schema the downscaler exports (docs/infra.md#infra-config-consumers)
import { downscaler } from '@kubeaws/downscaler';
// eslint-disable-next-line @nx/enforce-module-boundaries -- infra is rendered and applied by the kubeaws CLI; its tests drive that code
import {
  buildOverlay,
  componentConfig,
  type ConfigItem,
  defaultRegistry,
  legacySort,
  priorityExpanderConfigMap,
  renderManifests,
  ROLE_ARN_ANNOTATION,
} from '@kubeaws/kubeaws';
// eslint-disable-next-line @nx/enforce-module-boundaries -- the registry is checked against the config schema the node-lifecycle-controller exports (docs/infra.md#infra-config-consumers)
import { nodeLifecycleController } from '@kubeaws/node-lifecycle-controller';
// eslint-disable-next-line @nx/enforce-module-boundaries -- the registry is checked against the config schema the pdb-controller exports (docs/infra.md#infra-config-consumers)
import { pdbController } from '@kubeaws/pdb-controller';
// eslint-disable-next-line @nx/enforce-module-boundaries -- the registry is checked against the config schema the static-egress-controller exports (docs/infra.md#infra-config-consumers)
import { staticEgressController } from '@kubeaws/static-egress-controller';
import { parse } from 'yaml';
import { FIXTURES, fixture, ROOT } from './helpers';

type FlagSpecs = Record<string, { env?: string; default?: unknown }>;

/** Per component: its exported flag schema and its parser of flags + environment (throws on a bad value). */
const COMPONENTS: Record<string, { flags: () => FlagSpecs; parse: (env: NodeJS.ProcessEnv) => unknown }> = {
  'pdb-controller': {
    flags: () => pdbController.flagSpecs as unknown as FlagSpecs,
    parse: (env) => pdbController.parse([], env),
  },
  downscaler: {
    flags: () => downscaler.flagSpecs as unknown as FlagSpecs,
    parse: (env) => downscaler.parse([], env),
  },
  // The cluster facts (ID, AZs) are not config items: the rendered config adds them (componentConfig); given here.
  'static-egress-controller': {
    flags: () => staticEgressController.flagSpecs as unknown as FlagSpecs,
    parse: (env) =>
      staticEgressController.parse([], { STATIC_EGRESS_CLUSTER_ID: 'c1', STATIC_EGRESS_AVAILABILITY_ZONES: 'eu-central-1a', ...env }),
  },
  // CLUSTER_NAME and AWS_REGION are cluster facts the rendered config adds (componentConfig); given here.
  'node-lifecycle-controller': {
    flags: () => nodeLifecycleController.flagSpecs as unknown as FlagSpecs,
    parse: (env) => nodeLifecycleController.parse([], { CLUSTER_NAME: 'c1', AWS_REGION: 'eu-central-1', ...env }, { exists: () => false }),
  },
};

/** Valid values of items whose pattern the generic samples below do not match. */
const ITEM_SAMPLES: Record<string, string[]> = {
  static_egress_eip_allocation_ids: ['eu-central-1a=eipalloc-0123456789abcdef0'],
};

/** Valid values of an item's type that differ from most defaults: an env var is read when one changes the parse. */
function samples(item: ConfigItem): string[] {
  if (ITEM_SAMPLES[item.name]) return ITEM_SAMPLES[item.name];
  switch (item.type) {
    case 'duration':
      return ['45s', '17m'];
    case 'schedule':
      return ['Mon-Fri 07:30-20:30 Europe/Berlin', 'never'];
    case 'bool':
      return ['true', 'false'];
    case 'intOrPercent':
    case 'int':
      return ['3', '7'];
    case 'enum':
      return [...(item.values ?? [])];
    case 'list':
      return item.values ? [`${item.values[0]},${item.values[2]}`] : ['kube-system,monitoring'];
    default:
      return [];
  }
}

/**
 * Items whose env var the component does not read yet, with what is missing. The test fails when this list is
 * out of date in either direction.
 */
const KNOWN_GAPS: Record<string, string> = {};

/** JSON of parsed settings, with Sets, Maps and RegExps made visible. */
function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x instanceof Set || x instanceof Map ? [...x] : x instanceof RegExp ? x.source : x,
  );
}

function containerArgs(component: string): string[] {
  const file = path.join(ROOT, 'manifests', component, 'deployment.yaml');
  const d = parse(fs.readFileSync(file, 'utf8')) as {
    spec: { template: { spec: { containers: { args?: string[] }[] } } };
  };
  return d.spec.template.spec.containers.flatMap((c) => c.args ?? []);
}

describe('registry ↔ components', () => {
  const registry = defaultRegistry(path.join(ROOT, 'infra/config-defaults.yaml'));

  it('every component item reaches an env var the component reads (or a $(ENV) flag in its args)', () => {
    const gaps: Record<string, string> = {};
    for (const [component, { parse: parseEnv }] of Object.entries(COMPONENTS)) {
      const args = containerArgs(component);
      const baseline = show(parseEnv({}));
      for (const item of registry.values()) {
        if (!(item.consumers as string[]).includes(component)) continue;
        const viaArgs = item.flag !== undefined && args.includes(`--${item.flag}=$(${item.env})`);
        const read = samples(item).some((v) => show(parseEnv({ [item.env!]: v })) !== baseline);
        if (!read && !viaArgs) gaps[item.name] = KNOWN_GAPS[item.name] ?? `${component} reads no env ${item.env}`;
      }
    }
    expect(gaps).toEqual(KNOWN_GAPS);
  });

  it.each(['prod-3az', 'test-1az', 'egress-off'])(
    'the rendered component config of %s parses in every component',
    (name) => {
      const c = fixture(name);
      for (const [component, { parse: parseEnv }] of Object.entries(COMPONENTS)) {
        expect(() => parseEnv(componentConfig(c, component))).not.toThrow();
      }
    },
  );

  it('every env var a component requires is supplied by an item', () => {
    for (const [component, { flags }] of Object.entries(COMPONENTS)) {
      const required = Object.values(flags())
        .filter((f) => f.env && f.default === undefined)
        .map((f) => f.env);
      const supplied = new Set(
        [...registry.values()].filter((i) => (i.consumers as string[]).includes(component)).map((i) => i.env),
      );
      expect({ component, missing: required.filter((e) => !supplied.has(e)) }).toEqual({ component, missing: [] });
    }
  });

  it('the component config carries the items in the form the components parse', () => {
    const c = fixture('egress-off');
    expect(componentConfig(c, 'pdb-controller')).toEqual({ MAX_UNAVAILABLE: '25%', NON_READY_TTL: '' });
    expect(componentConfig(c, 'downscaler')).toMatchObject({
      GRACE_PERIOD: '15m',
      INCLUDE_RESOURCES: 'deployments,statefulsets',
      DEFAULT_UPTIME: 'always',
    });
    const nlc = componentConfig(fixture('spot-fallback'), 'node-lifecycle-controller');
    expect(nlc).toMatchObject({
      CLUSTER_NAME: 'spot-1',
      SLA_PROFILE: 'test',
      DRAIN_GRACE_PERIOD: '2h',
      SQS_QUEUE_URL: 'https://sqs.eu-central-1.amazonaws.com/123456789012/spot-1-interruption',
      AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/spot-1-node-lifecycle-controller',
    });
    expect(componentConfig(fixture('spot-fallback'), 'metrics-adapter').METRICS_ADAPTER_AWS_REGIONS).toBe(
      'eu-central-1,eu-west-1',
    );
  });
});

describe('manifest overlay', () => {
  it('sets the image from the one version, the version label, the config hash and the generated ConfigMap', () => {
    const o = buildOverlay({
      component: 'pdb-controller',
      baseDir: path.join(ROOT, 'manifests/pdb-controller'),
      baseRelative: '../../../../manifests/pdb-controller',
      registry: 'registry.example.org/kubeaws',
      version: '1.2.3',
      env: { MAX_UNAVAILABLE: '1', NON_READY_TTL: '' },
    });
    expect(parse(o.kustomization)).toEqual({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: ['../../../../manifests/pdb-controller'],
      images: [
        { name: 'kubeaws/pdb-controller', newName: 'registry.example.org/kubeaws/pdb-controller', newTag: '1.2.3' },
      ],
      labels: [{ pairs: { 'app.kubernetes.io/version': '1.2.3' }, includeSelectors: false }],
      commonAnnotations: { 'kubeaws.io/config-hash': o.configHash },
      configMapGenerator: [
        {
          name: 'kubeaws-pdb-controller-config',
          namespace: 'kube-system',
          envs: ['config.env'],
          options: { disableNameSuffixHash: true },
        },
      ],
    });
    expect(o.configEnv).toBe('MAX_UNAVAILABLE=1\nNON_READY_TTL=\n');
    const deployment = o.objects.find((x) => x.kind === 'Deployment') as any;
    expect(deployment.spec.template.spec.containers[0].image).toBe('registry.example.org/kubeaws/pdb-controller:1.2.3');
    expect(deployment.spec.template.metadata.annotations['kubeaws.io/config-hash']).toBe(o.configHash);
    expect(deployment.metadata.labels['app.kubernetes.io/version']).toBe('1.2.3');
    expect(deployment.spec.selector.matchLabels).not.toHaveProperty('app.kubernetes.io/version');
    const cm = o.objects.find(
      (x) => x.kind === 'ConfigMap' && x.metadata.name === 'kubeaws-pdb-controller-config',
    ) as any;
    expect(cm.data).toEqual({ MAX_UNAVAILABLE: '1', NON_READY_TTL: '' });
    expect(o.objects.map((x) => x.kind)).toEqual(legacySort(o.objects).map((x) => x.kind));
    expect(o.objects[0].kind).toBe('ServiceAccount');
  });

  it('leaves disabled components out and lists their objects for deletion', () => {
    const prod = fixture('prod-3az');
    const m = renderManifests(prod, ROOT, path.join(ROOT, 'out/prod-1/manifests'));
    expect(m.overlays.map((o) => o.component)).not.toContain('downscaler');
    expect(m.deletions).toContainEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: 'kube-system',
      name: 'kubeaws-downscaler',
    });
    const test = renderManifests(fixture('test-1az'), ROOT, path.join(ROOT, 'out/test-1/manifests'));
    expect(test.overlays.map((o) => o.component)).toContain('downscaler');
    expect(test.deletions.every((d) => d.name !== 'kubeaws-downscaler')).toBe(true);
  });

  it('maps priorities to worker ASG name regexes for the cluster-autoscaler priority expander', () => {
    const cm = priorityExpanderConfigMap(fixture('spot-fallback'));
    expect(cm.metadata).toMatchObject({ name: 'cluster-autoscaler-priority-expander', namespace: 'kube-system' });
    expect(parse((cm as any).data.priorities)).toEqual({
      '1000': ['^spot-1-pool-spot$'],
      '500': ['^spot-1-pool-batch-spot$'],
      '0': ['^spot-1-pool-batch$', '^spot-1-pool-fallback$'],
    });
  });

  // docs/infra.md#infra-workload-rules (AWS): a self-managed cluster has no pod-identity webhook, so the rendered pod
  // itself carries what the AWS SDK's default chain (fromTokenFile) needs to assume the ServiceAccount's role.
  it.each(FIXTURES)('%s: every workload of an IRSA ServiceAccount gets AWS_ROLE_ARN = its role and the projected token', (name) => {
    const c = fixture(name);
    const m = renderManifests(c, ROOT, path.join(ROOT, `out/${c.name}/manifests`));
    const objects = m.overlays.flatMap((o) => o.objects) as any[];
    const roles = new Map<string, string>(
      objects
        .filter((o) => o.kind === 'ServiceAccount' && o.metadata.annotations?.[ROLE_ARN_ANNOTATION])
        .map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o.metadata.annotations[ROLE_ARN_ANNOTATION]]),
    );
    const seen: Record<string, { AWS_ROLE_ARN?: string; AWS_WEB_IDENTITY_TOKEN_FILE?: string; mounted: boolean }> = {};
    for (const w of objects.filter((o) => ['Deployment', 'DaemonSet'].includes(o.kind))) {
      const pod = w.spec.template.spec;
      const role = roles.get(`${w.metadata.namespace}/${pod.serviceAccountName}`);
      if (!role) continue;
      for (const ctr of pod.containers) {
        const env: Record<string, string> = {};
        for (const from of ctr.envFrom ?? []) {
          const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === from.configMapRef?.name);
          Object.assign(env, cm?.data ?? {});
        }
        for (const e of ctr.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
        const tokenVolumes = new Map<string, string>(
          (pod.volumes ?? []).flatMap((v: any) =>
            (v.projected?.sources ?? [])
              .filter((s: any) => s.serviceAccountToken?.audience === 'sts.amazonaws.com')
              .map((s: any) => [v.name, s.serviceAccountToken.path]),
          ),
        );
        const mounted = (ctr.volumeMounts ?? []).some(
          (vm: any) => vm.readOnly === true && tokenVolumes.has(vm.name) && `${vm.mountPath}/${tokenVolumes.get(vm.name)}` === env.AWS_WEB_IDENTITY_TOKEN_FILE,
        );
        seen[`${w.kind} ${w.metadata.name}/${ctr.name}`] = {
          AWS_ROLE_ARN: env.AWS_ROLE_ARN,
          AWS_WEB_IDENTITY_TOKEN_FILE: env.AWS_WEB_IDENTITY_TOKEN_FILE,
          mounted,
        };
        expect({ workload: w.metadata.name, AWS_ROLE_ARN: env.AWS_ROLE_ARN, mounted }).toEqual({ workload: w.metadata.name, AWS_ROLE_ARN: role, mounted: true });
      }
    }
    // the node-lifecycle-controller, the metrics-adapter and the cluster-autoscaler have a role in every fixture
    expect(Object.keys(seen).join(' ')).toMatch(/kubeaws-node-lifecycle-controller\/.*kubeaws-metrics-adapter\/|kubeaws-metrics-adapter\/.*kubeaws-node-lifecycle-controller\//);
    expect(Object.keys(seen).some((k) => k.startsWith('Deployment cluster-autoscaler/'))).toBe(true);
  });
});
