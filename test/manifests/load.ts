import * as fs from 'node:fs';
import * as path from 'node:path';
import type { KubeClient } from '@kubeaws/runtime';
import { parseAllDocuments } from 'yaml';

/** Repository root (two levels above this folder). */
export const ROOT = path.resolve(__dirname, '../..');

/** A manifest object with the file it came from. */
export interface ManifestObject {
  file: string;
  obj: any;
}

/** Component folders under manifests/ that hold a kustomization.yaml. */
export function componentDirs(): string[] {
  const dir = path.join(ROOT, 'manifests');
  return fs
    .readdirSync(dir)
    .filter((d) => fs.existsSync(path.join(dir, d, 'kustomization.yaml')))
    .map((d) => path.join(dir, d));
}

/** Every object listed (through `resources:`) by the kustomization.yaml of a component folder. */
export function loadComponent(dir: string): ManifestObject[] {
  const kustomization = parseAllDocuments(fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8'))[0].toJS();
  const out: ManifestObject[] = [];
  for (const res of kustomization.resources as string[]) {
    const file = path.join(dir, res);
    for (const doc of parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
      const obj = doc.toJS();
      if (obj) out.push({ file: path.relative(ROOT, file), obj });
    }
  }
  return out;
}

/** Objects of one YAML file (any file, listed in the kustomization or not). */
export function loadFile(file: string): any[] {
  return parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map((d) => d.toJS())
    .filter(Boolean);
}

/** REST path of an object from its apiVersion/kind (only the kinds our manifests ship). */
export function objectPath(obj: any): string {
  const plural: Record<string, string> = {
    ServiceAccount: 'serviceaccounts', ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings', Role: 'roles',
    RoleBinding: 'rolebindings', Deployment: 'deployments', DaemonSet: 'daemonsets', PodDisruptionBudget: 'poddisruptionbudgets',
    Service: 'services', ConfigMap: 'configmaps', APIService: 'apiservices', CustomResourceDefinition: 'customresourcedefinitions',
    Namespace: 'namespaces',
  };
  const resource = plural[obj.kind];
  if (!resource) throw new Error(`no REST mapping for kind ${obj.kind}: extend objectPath`);
  const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const ns = obj.metadata.namespace ? `/namespaces/${obj.metadata.namespace}` : '';
  return `${base}${ns}/${resource}/${obj.metadata.name}`;
}

/** Server-side apply of a manifest object (strict field validation), for real or as a dry-run. */
export async function apply(client: KubeClient, obj: any, dryRun = false): Promise<void> {
  await client.request({
    method: 'PATCH',
    path: objectPath(obj),
    query: { fieldManager: 'kubeaws', force: true, fieldValidation: 'Strict', dryRun: dryRun ? 'All' : undefined },
    contentType: 'application/apply-patch+yaml',
    body: obj,
  });
}
