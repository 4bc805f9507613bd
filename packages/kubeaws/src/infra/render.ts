/**
 * Rendering a cluster: the final templates, parameters and tags of every stack (etcd, cluster, master pool,
 * worker pools), and the manifest overlay. Deterministic: the same inputs give byte-identical output.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import type { ResolvedCluster } from './config/load';
import { type RenderedManifests, renderManifests } from './manifests';
import { clusterStack } from './stacks/cluster';
import type { RenderedStack } from './stacks/common';
import { etcdStack } from './stacks/etcd';
import { poolStack } from './stacks/pool';
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
      const ud = (
        res.Properties?.LaunchTemplateData as
          { UserData?: { 'Fn::Base64': { 'Fn::Sub': [string, unknown] } } } | undefined
      )?.UserData;
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
      files[`manifests/${o.component}/config.env`] = o.configEnv;
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
