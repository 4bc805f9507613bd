/**
 * The manifest stream `render` builds itself equals `kustomize build` of the overlay it writes (kustomize v5, built
 * from Go modules by tools/kube-binaries), for every component of every fixture cluster.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries -- infra is rendered and applied by the kubeaws CLI; its tests drive that code
import { loadCluster, renderCluster, renderFiles, sortKeys, writeRender } from '@kubeaws/kubeaws';
import { runBuildScript } from '@kubeaws/testenv';
import { parseAllDocuments } from 'yaml';

const ROOT = path.resolve(__dirname, '../../..');
const FIXTURES_DIR = path.join(ROOT, 'infra/test/fixtures/clusters');
const FIXTURES = fs
  .readdirSync(FIXTURES_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.replace(/\.yaml$/, ''))
  .sort();

function kustomizeBuild(bin: string, dir: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(bin, ['build', dir], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

const objects = (text: string): unknown[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as unknown)
    .filter((o) => o !== null)
    .map(sortKeys);

describe('render builds the overlay stream like kustomize build', () => {
  let kustomize: string;
  let out: string;

  beforeAll(async () => {
    const binDir = await runBuildScript(['kustomize'], { onProgress: (l: string) => process.stderr.write(`${l}\n`) });
    kustomize = path.join(binDir, 'kustomize');
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-kustomize-'));
  }, 1_800_000);

  afterAll(() => {
    if (out) fs.rmSync(out, { recursive: true, force: true });
  });

  it.each(FIXTURES)('%s', async (name) => {
    const r = loadCluster(path.join(FIXTURES_DIR, `${name}.yaml`), { version: '0.0.0-test' });
    const c = r.cluster!;
    const dir = path.join(out, c.name);
    const rendered = renderCluster(c, { root: ROOT, only: 'manifests', clusterOutDir: dir });
    writeRender(renderFiles(rendered, 'yaml'), dir);
    expect(rendered.manifests!.overlays.length).toBeGreaterThanOrEqual(2);
    for (const overlay of rendered.manifests!.overlays) {
      const built = objects(await kustomizeBuild(kustomize, path.join(dir, 'manifests', overlay.component)));
      expect({ component: overlay.component, objects: overlay.objects.map(sortKeys) }).toEqual({
        component: overlay.component,
        objects: built,
      });
    }
  });
});
