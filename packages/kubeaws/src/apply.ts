import * as fs from 'node:fs';
import * as path from 'node:path';
import { KubeConfig, KubernetesObject, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

/** Field manager of every object `kubeaws` applies (docs/infra.md#infra-manifest-layout). */
export const FIELD_MANAGER = 'kubeaws';

/**
 * Reads every Kubernetes object from the YAML files of a folder (`*.yaml`, `*.yml`, sorted by name;
 * `kustomization.yaml` is skipped) or from one file. Namespaces come first so that the rest can land.
 * @throws Error naming the file and line:column of a YAML syntax error.
 */
export function readObjects(location: string, filter: (file: string) => boolean = () => true): KubernetesObject[] {
  const files = fs.statSync(location).isDirectory()
    ? fs
        .readdirSync(location)
        .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml' && filter(f))
        .sort()
        .map((f) => path.join(location, f))
    : [location];
  const objects: KubernetesObject[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(fs.readFileSync(file, 'utf8'), { prettyErrors: true })) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0].message}`);
      const obj = doc.toJS() as KubernetesObject | null;
      if (obj && typeof obj === 'object') objects.push(obj);
    }
  }
  return objects.sort((a, b) => Number(b.kind === 'Namespace') - Number(a.kind === 'Namespace'));
}

/**
 * Server-side applies objects with field manager `kubeaws` and `force: true`, in order.
 * @returns `<kind>/<namespace>/<name>` of each applied object.
 * @throws the API error of the first object the API server rejects, prefixed with that object's key.
 */
export async function applyObjects(kc: KubeConfig, objects: KubernetesObject[]): Promise<string[]> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const applied: string[] = [];
  for (const obj of objects) {
    const key = `${obj.kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`;
    try {
      await api.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (err) {
      throw new Error(`apply ${key}: ${(err as Error).message}`);
    }
    applied.push(key);
  }
  return applied;
}
