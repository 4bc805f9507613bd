/**
 * The APIService ownership check (docs/metrics-adapter.md#ma-preflight): a group/version has exactly one APIService
 * per cluster, so installing over another adapter silently breaks it. `metrics-adapter preflight` prints the owner
 * of each of our APIServices and exits 2 when another adapter (or the kube-apiserver itself) owns one; the
 * running adapter repeats the check read-only and exports `kubeaws_metrics_adapter_apiservice_owned`. Nothing
 * here ever writes an APIService.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import {
  ApiError,
  KubeClient,
  flag,
  loadClusterKubeConfig,
  parseFlags,
  parsers,
} from '@kubeaws/runtime';

/** The label every APIService of manifests/metrics-adapter carries. */
export const COMPONENT_LABEL = 'kubeaws.io/component';
/** Its value. */
export const COMPONENT_LABEL_VALUE = 'metrics-adapter';

/** Our APIServices, their API group and the file of manifests/metrics-adapter that ships each. */
export const OUR_APISERVICES = [
  { name: 'v1beta2.custom.metrics.k8s.io', group: 'custom.metrics.k8s.io', file: 'apiservice-custom.yaml' },
  { name: 'v1beta1.custom.metrics.k8s.io', group: 'custom.metrics.k8s.io', file: 'apiservice-custom.yaml' },
  { name: 'v1beta1.external.metrics.k8s.io', group: 'external.metrics.k8s.io', file: 'apiservice-external.yaml' },
] as const;

/** The fields of an `apiregistration.k8s.io/v1` APIService the check reads. */
export interface ApiServiceObject {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: { service?: { namespace?: string; name?: string } | null };
}

/**
 * Who owns an APIService: `absent` (none), `ours` (it points at our Service, or carries our label
 * `kubeaws.io/component: metrics-adapter`), `local` (`spec.service` null: served by the kube-apiserver itself) or
 * `foreign` with the owning Service `<namespace>/<name>`.
 */
export type Ownership = { state: 'absent' } | { state: 'ours' } | { state: 'local' } | { state: 'foreign'; owner: string };

/**
 * The ownership of one APIService (undefined = it does not exist) relative to our Service
 * (`--service`, `namespace/name`). Rule: docs/metrics-adapter.md#ma-preflight.
 */
export function apiServiceOwnership(obj: ApiServiceObject | undefined, service: string): Ownership {
  if (!obj) return { state: 'absent' };
  const svc = obj.spec?.service;
  const target = svc ? `${svc.namespace ?? ''}/${svc.name ?? ''}` : undefined;
  if (obj.metadata?.labels?.[COMPONENT_LABEL] === COMPONENT_LABEL_VALUE || target === service) return { state: 'ours' };
  if (!svc) return { state: 'local' };
  return { state: 'foreign', owner: target! };
}

/** The text of an ownership: `absent`, `ours`, `local` or `foreign:<ns>/<name>`. */
export function ownershipText(o: Ownership): string {
  return o.state === 'foreign' ? `foreign:${o.owner}` : o.state;
}

/** The outcome of a preflight: one line per APIService, the problems, and the exit code (0 or 2). */
export interface PreflightVerdict {
  lines: string[];
  problems: string[];
  code: 0 | 2;
}

/**
 * The verdict over our APIServices (docs/metrics-adapter.md#ma-preflight): `<name> <state>` per APIService; every
 * `foreign` or `local` one is a problem naming its owner and the manifest file to leave out; exit 2 when there is a
 * problem, unless `allowTakeover`.
 */
export function preflightVerdict(
  found: ReadonlyArray<{ name: string; file: string; ownership: Ownership }>,
  allowTakeover: boolean,
): PreflightVerdict {
  const lines = found.map((f) => `${f.name} ${ownershipText(f.ownership)}`);
  const problems: string[] = [];
  for (const f of found) {
    const o = f.ownership;
    if (o.state === 'foreign')
      problems.push(`APIService ${f.name} belongs to Service ${o.owner}: leave manifests/metrics-adapter/${f.file} out, or remove that adapter's APIService first`);
    else if (o.state === 'local')
      problems.push(`APIService ${f.name} is served by the kube-apiserver itself (spec.service is null): leave manifests/metrics-adapter/${f.file} out`);
  }
  return { lines, problems, code: problems.length && !allowTakeover ? 2 : 0 };
}

/** The flags of `metrics-adapter preflight`. */
export function preflightFlags() {
  return {
    kubeconfig: flag<string>({
      flag: 'kubeconfig', description: 'Path to a kubeconfig. Empty: the default loading rules', expected: 'a file path', default: '', parse: parsers.string,
    }),
    service: flag<string>({
      flag: 'service', env: 'METRICS_ADAPTER_SERVICE', description: 'Our own Service, namespace/name', expected: 'namespace/name',
      default: 'kube-system/kubeaws-metrics-adapter',
      parse: (raw) => {
        if (!/^[a-z0-9-]+\/[a-z0-9-]+$/.test(raw)) throw new Error('expected namespace/name');
        return raw;
      },
    }),
    allowTakeover: flag<boolean>({
      flag: 'allow-takeover', description: 'Exit 0 even when another adapter owns one of our APIServices', expected: 'true or false',
      default: false, parse: parsers.bool, boolean: true,
    }),
  };
}

/** Options of {@link preflight}. */
export interface PreflightOptions {
  /** Arguments after `preflight`. */
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** Cluster access; default from `--kubeconfig` or the default loading rules. */
  kubeConfig?: KubeConfig;
  out(line: string): void;
}

/**
 * `metrics-adapter preflight [--kubeconfig F] [--service NS/NAME] [--allow-takeover]`: reads our three APIServices
 * (GET only) and prints one line per APIService, then the problems. Resolves the exit code: 0, or 2 when one is
 * foreign or local (docs/metrics-adapter.md#ma-preflight).
 * @throws ConfigError for an invalid flag (exit 2 before any API call); ApiError when the API cannot be read.
 */
export async function preflight(o: PreflightOptions): Promise<number> {
  const cfg = parseFlags(preflightFlags(), { argv: o.argv, env: o.env, name: 'metrics-adapter preflight' });
  const kubeConfig = o.kubeConfig ?? loadClusterKubeConfig(cfg.kubeconfig, o.env);
  const client = new KubeClient({ kubeConfig, component: 'metrics-adapter' });
  const found = [];
  for (const a of OUR_APISERVICES) {
    let obj: ApiServiceObject | undefined;
    try {
      obj = await client.get<ApiServiceObject>(`/apis/apiregistration.k8s.io/v1/apiservices/${a.name}`);
    } catch (e) {
      if (!(e instanceof ApiError && e.statusCode === 404)) throw e;
    }
    found.push({ name: a.name, file: a.file, ownership: apiServiceOwnership(obj, cfg.service) });
  }
  const v = preflightVerdict(found, cfg.allowTakeover);
  for (const l of v.lines) o.out(l);
  for (const p of v.problems) o.out(`${v.code === 2 ? 'error' : 'warning (--allow-takeover)'}: ${p}`);
  return v.code;
}

