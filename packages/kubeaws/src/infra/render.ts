/**
 * Rendering a cluster: the final templates, parameters and tags of every stack (etcd, cluster, master pool,
 * worker pools), and the manifest overlay. Deterministic: the same inputs give byte-identical output.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import type { ResolvedCluster } from './config/load';
import { type KubeObject, type RenderedManifests, renderManifests, ROLE_ARN_ANNOTATION } from './manifests';
import { clusterStack } from './stacks/cluster';
import { partitionOf, type RenderedStack } from './stacks/common';
import { etcdStack } from './stacks/etcd';
import { DRAIN_HOOK, poolStack } from './stacks/pool';
import { USERDATA_LIMIT_BYTES } from './userdata';

/** Output formats of `render`. */
export type RenderFormat = 'yaml' | 'json';

/** Every stack of a cluster in creation order: etcd, cluster, the master pool, then worker pools by name. */
export function renderStacks(c: ResolvedCluster): RenderedStack[] {
  const pools = [...c.pools].sort((a, b) =>
    a.role === b.role ? (a.name < b.name ? -1 : 1) : a.role === 'master' ? -1 : 1,
  );
  const stacks = [etcdStack(c), clusterStack(c), ...pools.map((p) => poolStack(c, p))];
  for (const s of stacks) {
    for (const [id, res] of Object.entries(s.template.Resources)) {
      type UserData = { 'Fn::Base64': { 'Fn::Sub': [string, unknown] } };
      // launch templates of the pools, instances of the etcd members
      const ud =
        (res.Properties?.LaunchTemplateData as { UserData?: UserData } | undefined)?.UserData ??
        (res.Type === 'AWS::EC2::Instance' ? (res.Properties?.UserData as UserData | undefined) : undefined);
      const text = ud?.['Fn::Base64']?.['Fn::Sub']?.[0];
      if (text !== undefined && Buffer.byteLength(text) > USERDATA_LIMIT_BYTES - 512) {
        throw new Error(
          `${s.name}: ${id} user data is ${Buffer.byteLength(text)} bytes, over the ${USERDATA_LIMIT_BYTES}-byte limit`,
        );
      }
    }
  }
  return stacks;
}

/** Recursively sorts object keys (arrays keep their order), for stable output. */
export function sortKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(sortKeys) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value as Record<string, unknown>).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out as T;
  }
  return value;
}

/** Serialises data with sorted keys as YAML or JSON (trailing newline). */
export function serialize(data: unknown, format: RenderFormat): string {
  const sorted = sortKeys(data);
  return format === 'json'
    ? `${JSON.stringify(sorted, null, 2)}\n`
    : stringify(sorted, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** What `render` produces. */
export interface RenderResult {
  stacks: RenderedStack[];
  manifests?: RenderedManifests;
}

/** Options of {@link renderCluster}. */
export interface RenderOptions {
  only?: 'stacks' | 'manifests';
  /** Repository root (manifest bases). */
  root: string;
  /** Output directory of the cluster (`<out>/<name>`); default `out/<name>` under the root. */
  clusterOutDir?: string;
}

/** Renders the stacks and/or the manifests of a resolved (and discovered) cluster. */
export function renderCluster(c: ResolvedCluster, o: RenderOptions): RenderResult {
  const stacks = o.only === 'manifests' ? [] : renderStacks(c);
  const outDir = o.clusterOutDir ?? path.join(o.root, 'out', c.name);
  const manifests = o.only === 'stacks' ? undefined : renderManifests(c, o.root, path.join(outDir, 'manifests'));
  return { stacks, manifests };
}

/** The files of a render, relative to `<out>/<name>`: stacks/*, manifests/<component>/*, deletions, stream. */
export function renderFiles(r: RenderResult, format: RenderFormat): Record<string, string> {
  const ext = format === 'json' ? 'json' : 'yaml';
  const files: Record<string, string> = {};
  for (const s of r.stacks) {
    files[`stacks/${s.name}.template.${ext}`] = serialize(s.template, format);
    files[`stacks/${s.name}.parameters.${ext}`] = serialize(
      Object.entries(s.parameters).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue })),
      format,
    );
    files[`stacks/${s.name}.tags.${ext}`] = serialize(s.tags, format);
  }
  if (r.manifests) {
    const stream: unknown[] = [];
    for (const o of r.manifests.overlays) {
      files[`manifests/${o.component}/kustomization.yaml`] = o.kustomization;
      const config = `kubeaws-${o.component}-config`;
      if (o.objects.some((x) => x.kind === 'ConfigMap' && x.metadata.name === config)) files[`manifests/${o.component}/config.env`] = o.configEnv;
      for (const [f, content] of Object.entries(o.files)) files[`manifests/${o.component}/${f}`] = content;
      stream.push(...o.objects);
    }
    stream.push(r.manifests.priorityExpander);
    files['manifests/deletions.yaml'] = serialize(r.manifests.deletions, 'yaml');
    files['manifests/stream.yaml'] = stream.map((o) => serialize(o, 'yaml')).join('---\n');
  }
  return files;
}

/** Writes the files of a render under `dir` (created), replacing its previous content. */
export function writeRender(files: Record<string, string>, dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
}

/** A resource of the rendered stacks that a workload in the cluster consumes. */
export interface Consumable {
  /** `<stack>/<logical ID>`, or `manifests/<name>` for an object of the overlay. */
  resource: string;
  /** What must consume it, e.g. `Deployment kube-system/kubeaws-node-lifecycle-controller`. */
  consumer: string;
  /** Whether the rendered manifests deploy that consumer. */
  deployed: boolean;
}

/** A manifest `render` should deploy but does not: a consumer of a stack resource, or a component folder. */
export interface MissingManifest {
  /** The stack resource (`<stack>/<logical ID>`), or `manifests/<folder>` for a component without a base. */
  resource: string;
  /** The missing consumer. */
  consumer: string;
}

const WORKLOAD_KINDS = new Set(['Deployment', 'DaemonSet', 'StatefulSet']);

interface PodView {
  obj: KubeObject;
  serviceAccount: string;
  args: string[];
}

function pods(objects: KubeObject[]): PodView[] {
  return objects
    .filter((o) => WORKLOAD_KINDS.has(o.kind))
    .map((o) => {
      const pod = (o.spec as { template?: { spec?: Record<string, any> } } | undefined)?.template?.spec ?? {};
      const containers = [...((pod.containers as any[]) ?? []), ...((pod.initContainers as any[]) ?? [])];
      return {
        obj: o,
        serviceAccount: (pod.serviceAccountName as string | undefined) ?? 'default',
        args: containers.flatMap((ctr) => [...((ctr.command as string[]) ?? []), ...((ctr.args as string[]) ?? [])]),
      };
    });
}

const workloadKey = (o: KubeObject): string => `${o.kind} ${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;

/**
 * Every consumable resource of the rendered stacks with its consumer in the rendered manifests
 * (docs/infra.md#infra-consumers): the interruption queue and each pool's `kubeaws-drain` termination hook → the
 * node-lifecycle-controller; each IRSA role → a ServiceAccount annotated with the role's ARN that a workload runs
 * as; the cluster-autoscaler priority-expander ConfigMap → a cluster-autoscaler started with `--expander=priority`
 * in its namespace. Pure.
 */
export function stackConsumables(c: ResolvedCluster, stacks: RenderedStack[], m: RenderedManifests): Consumable[] {
  const objects = [...m.overlays.flatMap((o) => o.objects), m.priorityExpander];
  const running = pods(objects);
  const nlc = running.find((p) => p.obj.metadata.name === 'kubeaws-node-lifecycle-controller');
  const nlcName = 'Deployment kube-system/kubeaws-node-lifecycle-controller';
  const out: Consumable[] = [];
  for (const s of stacks) {
    for (const [id, res] of Object.entries(s.template.Resources)) {
      const p = (res.Properties ?? {}) as Record<string, any>;
      if (res.Type === 'AWS::SQS::Queue' && id === 'InterruptionQueue')
        out.push({ resource: `${s.name}/${id}`, consumer: nlcName, deployed: nlc !== undefined });
      if (res.Type === 'AWS::AutoScaling::AutoScalingGroup') {
        for (const hook of (p.LifecycleHookSpecificationList as { LifecycleHookName: string }[]) ?? []) {
          if (hook.LifecycleHookName === DRAIN_HOOK)
            out.push({ resource: `${s.name}/${id}:${DRAIN_HOOK}`, consumer: nlcName, deployed: nlc !== undefined });
        }
      }
      if (res.Type === 'AWS::IAM::Role') {
        const trust = (p.AssumeRolePolicyDocument?.Statement ?? []) as { Action: string; Condition?: any }[];
        const web = trust.find((t) => t.Action === 'sts:AssumeRoleWithWebIdentity');
        if (!web) continue;
        const subject = Object.entries((web.Condition?.StringEquals ?? {}) as Record<string, string>).find(([k]) =>
          k.endsWith(':sub'),
        )?.[1];
        const match = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(subject ?? '');
        if (!match) continue;
        const [, ns, sa] = match;
        const roleName = String(p.RoleName?.['Fn::Sub'] ?? p.RoleName).replace('${ClusterName}', c.name);
        const arn = `arn:${partitionOf(c.region)}:iam::${c.account}:role/${roleName}`;
        const account = objects.find(
          (o) =>
            o.kind === 'ServiceAccount' &&
            o.metadata.name === sa &&
            (o.metadata.namespace ?? 'default') === ns &&
            o.metadata.annotations?.[ROLE_ARN_ANNOTATION] === arn,
        );
        const user = running.find((w) => w.serviceAccount === sa && (w.obj.metadata.namespace ?? 'default') === ns);
        out.push({
          resource: `${s.name}/${id}`,
          consumer: `ServiceAccount ${ns}/${sa} annotated ${ROLE_ARN_ANNOTATION}=${arn}, run by a workload`,
          deployed: account !== undefined && user !== undefined,
        });
      }
    }
  }
  const pe = m.priorityExpander;
  const ca = running.find(
    (w) =>
      w.args.includes('--expander=priority') &&
      (w.obj.metadata.namespace ?? 'default') === (pe.metadata.namespace ?? 'default'),
  );
  out.push({
    resource: `manifests/${pe.kind} ${pe.metadata.namespace}/${pe.metadata.name}`,
    consumer: ca ? workloadKey(ca.obj) : `a cluster-autoscaler with --expander=priority in ${pe.metadata.namespace}`,
    deployed: ca !== undefined,
  });
  return out;
}

/**
 * What a full render (stacks and manifests) leaves undeployed: every {@link stackConsumables} entry whose consumer
 * is not in the rendered manifests, and every folder of `MANIFEST_COMPONENTS` without a base in `manifests/`.
 * Empty when the manifests deploy a consumer for everything the stacks create. Pure.
 * @throws Error when the render lacks its stacks or its manifests (`--only`).
 */
export function missingManifests(c: ResolvedCluster, r: RenderResult): MissingManifest[] {
  if (!r.manifests || r.stacks.length === 0) throw new Error('missingManifests needs a render of stacks and manifests');
  return [
    ...r.manifests.missing.map((folder) => ({ resource: `manifests/${folder}`, consumer: `manifests/${folder}/kustomization.yaml` })),
    ...stackConsumables(c, r.stacks, r.manifests)
      .filter((x) => !x.deployed)
      .map(({ resource, consumer }) => ({ resource, consumer })),
  ];
}
