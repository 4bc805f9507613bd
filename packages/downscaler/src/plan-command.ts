/**
 * `downscaler plan --at <RFC 3339> [--kubeconfig <file>] [downscaler flags]` (docs/downscaler.md#ds-plan): reads
 * the objects of the included kinds, HPAs and Namespaces once from the live cluster (GET and LIST only), evaluates
 * each at the chosen instant with {@link planAt} and prints the actions and the next transition per object. Writes
 * nothing: no PATCH, no Event, no Lease. Takes the downscaler's own flags and environment, so it plans with the
 * settings of a deployment that runs with the same ones.
 */
import {
  ConfigError,
  ExitError,
  type FlagSource,
  KubeClient,
  type KubeObject,
  componentFlagSpecs,
  flag,
  isNotFound,
  loadClusterKubeConfig,
  parseFlagsWithSources,
  parsers,
} from '@kubeaws/runtime';
import { parseInstant } from './grammar';
import { formatPlan, planAt } from './plan';
import { type RawFlags, type Settings, configureDownscaler, downscalerFlags } from './settings';
import { type Kind, type Workload, collectionPath, kindOfResource, projectNamespace, toWorkload } from './workload';

/** What `--at` accepts. */
export const AT_EXPECTED = 'an RFC 3339 instant with an offset, e.g. 2030-01-11T20:30:00+01:00 or 2030-01-11T19:30:00Z';

/** The flags of `downscaler plan`: the component's (shared and own) plus `--at`. */
export function planFlags() {
  return componentFlagSpecs('downscaler', {
    ...downscalerFlags(),
    at: flag<string>({
      flag: 'at',
      description: 'The instant to plan for (required)',
      expected: AT_EXPECTED,
      default: '',
      parse: parsers.string,
    }),
  });
}

/** Parsed arguments of `downscaler plan`. */
export interface PlanArgs {
  at: number;
  kubeconfig: string;
  settings: Settings;
}

/**
 * Parses the arguments after `plan`. Throws {@link ConfigError} (exit 2, before any API call) for a missing or invalid
 * `--at` and for every invalid downscaler flag or environment value, as the controller does.
 */
export function parsePlanArgs(argv: string[], env: NodeJS.ProcessEnv): PlanArgs {
  const { values, sources } = parseFlagsWithSources(planFlags(), {
    argv,
    env,
    name: 'downscaler plan',
    description:
      'Prints what the downscaler does to every object at a chosen instant, and when it acts next; writes nothing',
  });
  const raw = values.at;
  if (!raw) throw new ConfigError('at', '', AT_EXPECTED, undefined, 'flag', `missing --at: expected ${AT_EXPECTED}`);
  const at = parseInstant(raw);
  if (!at.ok) {
    throw new ConfigError(
      'at',
      raw,
      AT_EXPECTED,
      undefined,
      'flag',
      `invalid value ${JSON.stringify(raw)} for --at: ${at.errors[0]!.detail}`,
    );
  }
  const settings = configureDownscaler(values as typeof values & RawFlags, env, {
    sources: sources as Partial<Record<keyof RawFlags, FlagSource>>,
  });
  return { at: at.value, kubeconfig: values.kubeconfig, settings };
}

async function listKind(client: KubeClient, kind: Kind, settings: Settings): Promise<Workload[]> {
  const scopes = settings.namespaces.length ? settings.namespaces : [undefined];
  const out: Workload[] = [];
  for (const ns of scopes) {
    try {
      const items = await client.listAll<KubeObject>(collectionPath(kind, ns));
      out.push(...items.map((o) => toWorkload(kind, o, settings.deploymentTimeAnnotation)));
    } catch (err) {
      // KEDA not installed: no ScaledObjects (the controller's informer treats it alike).
      if (kind === 'ScaledObject' && isNotFound(err)) continue;
      throw err;
    }
  }
  return out;
}

async function readNamespaces(client: KubeClient, settings: Settings): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  if (settings.namespaces.length) {
    for (const ns of settings.namespaces) {
      try {
        const view = projectNamespace(await client.get(`/api/v1/namespaces/${encodeURIComponent(ns)}`));
        out.set(ns, view.metadata.annotations);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return out;
  }
  for (const o of await client.listAll<KubeObject>('/api/v1/namespaces')) {
    const view = projectNamespace(o);
    out.set(view.metadata.name, view.metadata.annotations);
  }
  return out;
}

/**
 * Runs `downscaler plan` with the arguments after `plan`: parses them (exit 2 before any API call), reads the
 * cluster, writes the plan to `out`. Resolves 0. A failed read throws an {@link ExitError} (exit 1) naming the path.
 */
export async function runPlanCommand(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (s: string) => void = (s) => void process.stdout.write(s),
): Promise<number> {
  const args = parsePlanArgs(argv, env);
  const kubeConfig = loadClusterKubeConfig(args.kubeconfig, env);
  const client = new KubeClient({ kubeConfig, component: 'downscaler', fieldManager: args.settings.fieldManager });
  const kinds = new Set<Kind>(['HorizontalPodAutoscaler']);
  for (const r of args.settings.includeResources) kinds.add(kindOfResource(r));
  const objects: Workload[] = [];
  let namespaces: Map<string, Record<string, string>>;
  try {
    for (const kind of kinds) objects.push(...(await listKind(client, kind, args.settings)));
    namespaces = await readNamespaces(client, args.settings);
  } catch (err) {
    throw new ExitError(`reading the cluster failed: ${(err as Error)?.message ?? String(err)}`, 1);
  }
  out(formatPlan(planAt({ settings: args.settings, at: args.at, objects, namespaces }), args.at));
  return 0;
}
