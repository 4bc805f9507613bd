#!/usr/bin/env node
// Bundles one service for its image (docs/infra.md#infra-bundle): esbuild, platform node, target node20, ESM with
// a createRequire banner, every dependency inlined (workspace libraries from their TypeScript sources), linked
// external source maps, no minification. Writes dist/packages/<svc>/bundle/{main.mjs,main.mjs.map,
// THIRD_PARTY_LICENSES.txt} and keeps the metafile as dist/packages/<svc>/bundle.meta.json. Fails on any native
// addon (.node) input and when main.mjs exceeds the service's size budget.
//
// Code splitting is on: a module the service imports with `import()` (loaded only when first used, e.g. the
// authnz-webhook's EC2 client) becomes its own file `<name>-<hash>.mjs` (with its `.map`) beside main.mjs, and so does
// code shared by main.mjs and such a module (`chunk-<hash>.mjs`), so a process reads only the code it runs. Every
// output carries the banner.
//
// With --prune-aws-schemas, the schema module of each AWS SDK client the service imports commands from
// (@aws-sdk/client-*/dist-es/schemas/schemas_0.js: every operation's schema, evaluated whole at load) keeps only what
// the operations of those commands reach; the build fails if the bundle still references a schema left out.
//
// Usage: node tools/images/bundle.mjs <service> [--budget-kb N] [--prune-aws-schemas]
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
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
const pruneAwsSchemas = rest.includes('--prune-aws-schemas');

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

/** The TypeScript sources under `dir`, recursively, without the `*.test.ts` files (paths). */
function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const f = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(f);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [f] : [];
  });
}

/**
 * Node built-ins through `require` (the banner's createRequire) instead of ESM `import`: importing a built-in as an
 * ES module evaluates every one of its exports, lazy ones included, while `require` returns the object and nothing
 * more is loaded until a property is read. `import 'node:http'` alone loads Node's bundled WebSocket client and
 * costs 16 MiB of RSS against 0.5 MiB for `require('node:http')` (Node 26; docs/benchmarks.md, idle). CommonJS
 * dependencies already reach built-ins through `require`; this turns the ESM imports of the sources and of ESM
 * dependencies into a one-line CommonJS module each (`module.exports = require("node:<name>")`).
 */
const builtinsViaRequire = {
  name: 'builtins-via-require',
  setup(b) {
    const names = new Set(builtinModules.map((m) => m.replace(/^node:/, '')));
    b.onResolve({ filter: /^(node:)?[a-z_0-9]+(\/[a-z_0-9]+)?$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      if (!names.has(name)) return undefined;
      if (args.kind === 'require-call') return { path: args.path, external: true };
      return { path: name, namespace: 'node-builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(`node:${args.path}`)});`,
      loader: 'js',
    }));
  },
};

/**
 * Modules of dependencies that no service uses and that cost memory at start, each replaced by a stub that throws
 * when used: prom-client's `Pushgateway` (loads `zlib`: 4 MiB of RSS) and `AggregatorRegistry` (loads `cluster`), and
 * `@opentelemetry/api` (63 KB of source), which prom-client's `process_cpu_seconds_total` loads for exemplars only.
 * The build fails when a service's sources name what would reach one of them (`names`).
 */
const stub = (what) => `throw new Error('${what}: left out of this bundle (tools/images/bundle.mjs)');`;
const LEFT_OUT = [
  {
    file: /[\\/]prom-client[\\/]lib[\\/]pushgateway\.js$/,
    names: ['Pushgateway'],
    contents: `module.exports = function Pushgateway() { ${stub('Pushgateway')} };`,
  },
  {
    file: /[\\/]prom-client[\\/]lib[\\/]cluster\.js$/,
    names: ['AggregatorRegistry'],
    contents: `module.exports = function AggregatorRegistry() { ${stub('AggregatorRegistry')} };`,
  },
  {
    // read by processCpuTotal.js only when exemplars are enabled
    file: /[\\/]@opentelemetry[\\/]api[\\/]/,
    names: ['enableExemplars', '@opentelemetry/api'],
    contents:
      `module.exports = { get trace() { ${stub('@opentelemetry/api (prom-client exemplars)')} }, ` +
      `get context() { ${stub('@opentelemetry/api (prom-client exemplars)')} } };`,
  },
];
const escapeRegExp = (t) => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const leftOutModules = {
  name: 'left-out-modules',
  setup(b) {
    const used = new Set();
    for (const pkg of [service, 'runtime'])
      for (const f of sourceFiles(join(root, 'packages', pkg, 'src'))) {
        const text = readFileSync(f, 'utf8');
        for (const { names } of LEFT_OUT)
          for (const name of names)
            if (new RegExp(`(?<![\\w@/])${escapeRegExp(name)}(?![\\w/])`).test(text)) used.add(`${name} (${relative(root, f)})`);
      }
    if (used.size) throw new Error(`left out of every bundle by tools/images/bundle.mjs but used: ${[...used].join(', ')}`);
    for (const { file, contents } of LEFT_OUT) b.onLoad({ filter: file }, () => ({ contents, loader: 'js' }));
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

/** `<Operation>` names per `@aws-sdk/client-*` package from the `*Command` imports of the service's own sources. */
function awsOperations() {
  const ops = new Map();
  for (const f of sourceFiles(join(root, 'packages', service, 'src'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'@aws-sdk\/(client-[a-z0-9-]+)'/g)) {
      const set = ops.get(m[2]) ?? new Set();
      for (const name of m[1].matchAll(/\b(\w+)Command\b/g)) set.add(name[1]);
      ops.set(m[2], set);
    }
  }
  return ops;
}

/**
 * Keeps of a generated schema module (top-level statements, each starting at column 0) what `operations` reach:
 * their `<Operation>$` schemas, every statement that declares nothing (imports, error registrations), every export
 * not ending in `$` (e.g. errorTypeRegistries), and whatever those reference. Left-out exports become a pure stub
 * that throws when used (esbuild drops it unless referenced); left-out lines become empty lines, so line numbers and
 * the source map stay exact.
 */
function pruneSchemaModule(source, operations) {
  const stmts = [];
  for (const line of source.split('\n')) {
    if (!stmts.length || /^(export |const |var |let |import |[\w$]+\.[\w$]+\()/.test(line)) stmts.push({ lines: [line] });
    else stmts[stmts.length - 1].lines.push(line);
  }
  const declared = new Map();
  for (const st of stmts) {
    const m = /^(export )?(?:const|var|let) ([\w$]+) =/.exec(st.lines[0]);
    if (m) Object.assign(st, { name: m[2], exported: !!m[1] }), declared.set(m[2], st);
  }
  const missing = [...operations].filter((op) => !declared.has(`${op}$`));
  if (missing.length) throw new Error(`no schema for operation(s) ${missing.join(', ')}`);
  const keep = new Set();
  const queue = [];
  const mark = (st) => !keep.has(st) && (keep.add(st), queue.push(st));
  for (const st of stmts) if (!st.name || (st.exported && !st.name.endsWith('$')) || operations.has(st.name.slice(0, -1))) mark(st);
  while (queue.length) {
    const st = queue.pop();
    const text = st.lines.join('\n');
    for (const id of (st.name ? text.slice(text.indexOf('=') + 1) : text).match(/[A-Za-z_$][\w$]*/g) ?? []) {
      if (declared.has(id)) mark(declared.get(id));
    }
  }
  const out = [];
  for (const st of stmts) {
    if (keep.has(st)) out.push(...st.lines);
    else {
      out.push(st.exported ? `export var ${st.name} = /* @__PURE__ */ __kubeawsPrunedSchema(${JSON.stringify(st.name)});` : '');
      for (let i = 1; i < st.lines.length; i++) out.push('');
    }
  }
  out.push(
    'function __kubeawsPrunedSchema(name) {',
    '  return new Proxy([], { get() { throw new Error(`${name}: left out of this bundle (tools/images/bundle.mjs --prune-aws-schemas)`); } });',
    '}',
  );
  return { code: out.join('\n'), kept: keep.size, total: stmts.length };
}

/** --prune-aws-schemas: the schema module of each client keeps only the service's operations (see pruneSchemaModule). */
const awsSchemaPruning = {
  name: 'aws-schema-pruning',
  setup(b) {
    const ops = awsOperations();
    b.onLoad({ filter: /[\\/]@aws-sdk[\\/]client-[a-z0-9-]+[\\/]dist-es[\\/]schemas[\\/]schemas_0\.js$/ }, (args) => {
      const client = /@aws-sdk[\\/](client-[a-z0-9-]+)[\\/]/.exec(args.path)[1];
      if (!ops.has(client)) return undefined;
      const { code, kept, total } = pruneSchemaModule(readFileSync(args.path, 'utf8'), ops.get(client));
      console.log(`${service}: @aws-sdk/${client} schemas: ${kept} of ${total} statements kept for ${[...ops.get(client)].sort().join(', ')}`);
      return { contents: code, loader: 'js' };
    });
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
  entryPoints: { main: join(root, 'packages', service, 'src', 'main.ts') },
  outdir: outDir,
  outExtension: { '.js': '.mjs' },
  splitting: true,
  chunkNames: '[name]-[hash]',
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
  plugins: [workspaceSources, builtinsViaRequire, leftOutModules, noNativeAddons, ...(pruneAwsSchemas ? [awsSchemaPruning] : [])],
});
if (pruneAwsSchemas) {
  const used = readdirSync(outDir)
    .filter((f) => f.endsWith('.mjs'))
    .flatMap((f) => [...readFileSync(join(outDir, f), 'utf8').matchAll(/__kubeawsPrunedSchema\("([\w$]+)"\)/g)].map((m) => m[1]));
  if (used.length) {
    console.error(`${service}: the bundle uses schemas left out by --prune-aws-schemas: ${used.join(', ')} (import their commands by name in packages/${service}/src)`);
    process.exit(1);
  }
}
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
const chunks = Object.entries(result.metafile.outputs).filter(([f]) => f.endsWith('.mjs') && !f.endsWith('/main.mjs'));
console.log(
  `${service}: main.mjs ${Math.round(bytes / 1024)} KiB (budget ${budgetKb} KiB)` +
    chunks.map(([f, o]) => `, ${f.split('/').pop()} ${Math.round(o.bytes / 1024)} KiB`).join('') +
    `, ${entries.length} third-party packages`,
);
