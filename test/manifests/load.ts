import * as fs from 'node:fs';
import * as path from 'node:path';
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
