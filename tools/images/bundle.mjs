#!/usr/bin/env node
// Bundles one service for its image (docs/infra.md#infra-bundle): esbuild, platform node, target node20, ESM with
// a createRequire banner, every dependency inlined (workspace libraries from their TypeScript sources), linked
// external source map, no minification. Writes dist/packages/<svc>/bundle/{main.mjs,main.mjs.map,
// THIRD_PARTY_LICENSES.txt} and keeps the metafile as dist/packages/<svc>/bundle.meta.json. Fails on any native
// addon (.node) input and when main.mjs exceeds the service's size budget.
//
// Usage: node tools/images/bundle.mjs <service> [--budget-kb N]
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const [service, ...rest] = process.argv.slice(2);
if (!service || !existsSync(join(root, 'packages', service, 'src', 'main.ts'))) {
  console.error(
    `usage: bundle.mjs <service> [--budget-kb N]: packages/${service ?? '<service>'}/src/main.ts not found`,
  );
  process.exit(2);
}
const budgetFlag = rest.indexOf('--budget-kb');
const budgetKb = budgetFlag >= 0 ? Number(rest[budgetFlag + 1]) : 8192;
const outDir = join(root, 'dist', 'packages', service, 'bundle');

/** Resolves `@kubeaws/<lib>` to the library's TypeScript entry, so the bundle never needs a prior tsc build. */
const workspaceSources = {
  name: 'kubeaws-workspace-sources',
  setup(b) {
    b.onResolve({ filter: /^@kubeaws\/[a-z-]+$/ }, (args) => {
      const entry = join(root, 'packages', args.path.slice('@kubeaws/'.length), 'src', 'index.ts');
      return existsSync(entry) ? { path: entry } : undefined;
    });
  },
};

/** Native addons cannot run from a single-file bundle in a slim image: fail naming the importer. */
const noNativeAddons = {
  name: 'no-native-addons',
  setup(b) {
    b.onResolve({ filter: /\.node$/ }, (args) => ({
      errors: [
        {
          text: `native addon ${args.path} imported by ${relative(root, args.importer)}: bundles must be pure JavaScript`,
        },
      ],
    }));
  },
};

const banner = [
  "import { createRequire as __kubeawsCreateRequire } from 'node:module';",
  "import { fileURLToPath as __kubeawsFileURLToPath } from 'node:url';",
  "import { dirname as __kubeawsDirname } from 'node:path';",
  'const require = __kubeawsCreateRequire(import.meta.url);',
  'const __filename = __kubeawsFileURLToPath(import.meta.url);',
  'const __dirname = __kubeawsDirname(__filename);',
].join('\n');

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: [join(root, 'packages', service, 'src', 'main.ts')],
  outfile: join(outDir, 'main.mjs'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  mainFields: ['module', 'main'],
  conditions: ['node', 'import', 'default'],
  banner: { js: banner },
  sourcemap: 'linked',
  minify: false,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [workspaceSources, noNativeAddons],
});
writeFileSync(join(root, 'dist', 'packages', service, 'bundle.meta.json'), JSON.stringify(result.metafile));

// Third-party licenses of every package that contributed input.
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const parts = input.split(/[\\/]/);
  const i = parts.lastIndexOf('node_modules');
  if (i < 0) continue;
  const name = parts[i + 1].startsWith('@') ? `${parts[i + 1]}/${parts[i + 2]}` : parts[i + 1];
  const dir = join(root, ...parts.slice(0, i + 1 + name.split('/').length));
  if (packages.has(dir)) continue;
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const licenseFile = readdirSync(dir).find((f) => /^(licen[sc]e|copying)(\.|$)/i.test(f));
  packages.set(dir, {
    name: pkg.name ?? name,
    version: pkg.version ?? '',
    license: typeof pkg.license === 'string' ? pkg.license : (pkg.license?.type ?? 'UNKNOWN'),
    text: licenseFile ? readFileSync(join(dir, licenseFile), 'utf8').trim() : '(no license file in the package)',
  });
}
const entries = [...packages.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
writeFileSync(
  join(outDir, 'THIRD_PARTY_LICENSES.txt'),
  `Third-party software in the ${service} bundle (${entries.length} packages)\n\n` +
    entries
      .map((e) => `${'='.repeat(79)}\n${e.name}@${e.version} (${e.license})\n${'='.repeat(79)}\n${e.text}\n`)
      .join('\n'),
);

const bytes = result.metafile.outputs[relative(root, join(outDir, 'main.mjs')).split(sep).join('/')]?.bytes ?? 0;
if (bytes === 0) {
  console.error(`${service}: main.mjs missing from the metafile outputs`);
  process.exit(1);
}
if (bytes > budgetKb * 1024) {
  console.error(`${service}: main.mjs is ${Math.round(bytes / 1024)} KiB, over its budget of ${budgetKb} KiB`);
  process.exit(1);
}
console.log(
  `${service}: main.mjs ${Math.round(bytes / 1024)} KiB (budget ${budgetKb} KiB), ${entries.length} third-party packages`,
);
