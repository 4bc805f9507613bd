#!/usr/bin/env node
// Removes, from package-lock.json, optional-dependency edges whose package has no entry in the lock file.
//
// Why: the package registry our build machines reach serves only the Linux builds of platform-specific
// packages (e.g. `@swc/core-darwin-arm64` answers 404). npm then leaves those packages out of the lock file but
// keeps the edges in their parents' `optionalDependencies`, and `npm ci` refuses the lock file
// ("Missing: @swc/core-darwin-arm64@ from lock file"). Dropping the dangling optional edges makes the lock file
// consistent again; installs on Linux are unchanged.
//
// Run after every dependency change: `node tools/lockfile/prune-unavailable-optional.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const file = join(dirname(fileURLToPath(import.meta.url)), '../../package-lock.json');
const lock = JSON.parse(readFileSync(file, 'utf8'));
const packages = lock.packages;
let removed = 0;
for (const [key, entry] of Object.entries(packages)) {
  const optional = entry.optionalDependencies;
  if (!optional) continue;
  for (const name of Object.keys(optional)) {
    // Node's resolution: the package's own node_modules, then each ancestor's, then the root.
    const candidates = [];
    let at = key;
    for (;;) {
      candidates.push(at ? `${at}/node_modules/${name}` : `node_modules/${name}`);
      if (!at) break;
      const i = at.lastIndexOf('/node_modules/');
      at = i >= 0 ? at.slice(0, i) : at.startsWith('node_modules/') || !at.includes('/') ? '' : '';
    }
    if (!candidates.some((c) => c in packages)) {
      delete optional[name];
      removed += 1;
    }
  }
  if (Object.keys(optional).length === 0) delete entry.optionalDependencies;
}
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
process.stdout.write(`pruned ${removed} unavailable optional dependencies from package-lock.json\n`);
