/**
 * Dockerfile checks of one service (KUBEAWS_SERVICE) and of Dockerfile.base (docs/infra.md#infra-images), parsed
 * with dockerfile-ast, plus the bundle the service Dockerfile copies. No Docker engine is involved.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Dockerfile, DockerfileParser, type Instruction } from 'dockerfile-ast';
import { parseAllDocuments } from 'yaml';

const ROOT = path.resolve(__dirname, '../..');
const SERVICE = process.env.KUBEAWS_SERVICE!;
const BUNDLE = `dist/packages/${SERVICE}/bundle`;

const parse = (file: string): Dockerfile => DockerfileParser.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));
const keyword = (i: Instruction): string => i.getKeyword().toUpperCase();
const args = (i: Instruction): string[] => i.getArguments().map((a) => a.getValue());
const json = (i: Instruction): unknown => JSON.parse(i.getArgumentsContent() ?? 'null');

/** Container ports, runAsUser and image of the service's workload in manifests/<service>. */
function workload(): { ports: number[]; runAsUser: number | undefined; image: string } {
  const dir = path.join(ROOT, 'manifests', SERVICE);
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
      const o = doc.toJS() as { kind?: string; spec?: any } | null;
      if (!o || !['Deployment', 'DaemonSet', 'StatefulSet'].includes(o.kind ?? '')) continue;
      const pod = o.spec.template.spec;
      const ctr = pod.containers[0];
      return {
        ports: (ctr.ports ?? [])
          .map((p: { containerPort: number }) => p.containerPort)
          .sort((a: number, b: number) => a - b),
        runAsUser: ctr.securityContext?.runAsUser ?? pod.securityContext?.runAsUser,
        image: ctr.image,
      };
    }
  }
  throw new Error(`no workload in manifests/${SERVICE}`);
}

describe(`Dockerfile.base`, () => {
  const d = parse('Dockerfile.base');
  const ins = d.getInstructions();
  const find = (k: string) => ins.filter((i) => keyword(i) === k);

  it('builds FROM ${BASE_IMAGE}, by default the official Node image, Active LTS major, Debian slim, never latest', () => {
    // BASE_IMAGE is overridden only where the registry cannot be reached: tools/images/build.sh (docs/adr/0004-image-base.md)
    const initial = (name: string) =>
      d
        .getInitialARGs()
        .find((a) => a.getProperty()?.getName() === name)
        ?.getProperty();
    const pinned = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).devDependencies.node as string;
    expect(initial('NODE_VERSION')?.getValue()).toBe(pinned.split('.')[0]);
    expect(initial('BASE_IMAGE')?.getValue()).toMatch(/^node:\$\{NODE_VERSION\}-(bookworm|trixie)-slim$/);
    const froms = d.getFROMs();
    expect(froms).toHaveLength(1);
    expect(args(froms[0])).toEqual(['${BASE_IMAGE}']);
  });

  it('installs tini, ca-certificates and libatomic1 and removes npm, npx, corepack and yarn', () => {
    const run = find('RUN')
      .map((i) => i.getArgumentsContent() ?? '')
      .join('\n');
    // libatomic1: the node binary links it (the image run fails without it on a base that lacks it)
    expect(run).toMatch(/apt-get install -y --no-install-recommends tini ca-certificates libatomic1/);
    for (const p of [
      '/usr/local/lib/node_modules/npm',
      '/usr/local/bin/npm',
      '/usr/local/bin/npx',
      '/usr/local/bin/corepack',
      '/usr/local/bin/yarn',
    ])
      expect(run).toContain(p);
    expect(run).toContain('rm -rf /var/lib/apt/lists/*');
  });

  it('sets NODE_ENV, WORKDIR /app, USER 1000:1000 and the tini entrypoint', () => {
    expect(find('ENV').map(args)).toEqual([['NODE_ENV=production']]);
    expect(find('WORKDIR').map(args)).toEqual([['/app']]);
    expect(find('USER').map(args)).toEqual([['1000:1000']]);
    // No --enable-source-maps: decoding the map costs every process 10-80 MiB (docs/images.md#stack-traces).
    expect(find('ENTRYPOINT').map(json)).toEqual([['/usr/bin/tini', '--', 'node']]);
  });

  it('labels source, version, revision and licenses from build args', () => {
    const labels = find('LABEL').flatMap((i) => (i.getArgumentsContent() ?? '').split(/\s*\\?\n\s*|\s+(?=org\.)/));
    const declared = new Set(find('ARG').map((i) => args(i)[0].split('=')[0]));
    for (const [key, arg] of [
      ['source', 'SOURCE'],
      ['version', 'VERSION'],
      ['revision', 'REVISION'],
      ['licenses', 'LICENSES'],
    ]) {
      expect(labels).toContain(`org.opencontainers.image.${key}="\${${arg}}"`);
      expect(declared.has(arg)).toBe(true);
    }
  });
});

describe(`packages/${SERVICE}/Dockerfile`, () => {
  const file = `packages/${SERVICE}/Dockerfile`;
  const d = parse(file);
  const ins = d.getInstructions();
  const find = (k: string) => ins.filter((i) => keyword(i) === k);

  it('takes ARG BASE_IMAGE (a tagged default, not latest) then FROM ${BASE_IMAGE}', () => {
    expect(ins.slice(0, 2).map(keyword)).toEqual(['ARG', 'FROM']);
    const base = d.getInitialARGs()[0].getProperty()!;
    expect(base.getName()).toBe('BASE_IMAGE');
    expect(base.getValue()).toMatch(/^[a-z0-9./-]+:(?!latest$)[A-Za-z0-9_.-]+$/);
    expect(args(ins[1])).toEqual(['${BASE_IMAGE}']);
  });

  it('copies exactly its bundle into /app and runs /app/main.mjs', () => {
    expect(find('COPY').map(args)).toEqual([[`${BUNDLE}/`, '/app/']]);
    expect(find('CMD').map(json)).toEqual([['/app/main.mjs']]);
    expect(find('ADD')).toEqual([]);
  });

  it('runs no package manager, keeps uid 1000 (the manifests runAsUser) and puts no secret in ENV', () => {
    for (const r of find('RUN'))
      expect(r.getArgumentsContent()).not.toMatch(/\b(apt|apt-get|apk|npm|npx|yarn|pnpm|pip|corepack)\b/);
    expect(
      find('USER')
        .map(args)
        .filter((u) => !/^1000(:1000)?$/.test(u[0])),
    ).toEqual([]);
    const effectiveUser = Number((find('USER').map(args).pop() ?? ['1000'])[0].split(':')[0]);
    expect(workload().runAsUser).toBe(effectiveUser);
    expect(
      find('ENV')
        .flatMap(args)
        .filter((e) => /(SECRET|TOKEN|PASSWORD|PRIVATE|CREDENTIAL|_KEY)\b/i.test(e.split('=')[0])),
    ).toEqual([]);
  });

  it('declares no secret-looking build ARG (build args are recorded in the image history)', () => {
    const secret = /(SECRET|TOKEN|PASSWORD|PASSWD|PRIVATE|CREDENTIAL|_KEY)\b/i;
    for (const f of [d, parse('Dockerfile.base')])
      expect(
        f
          .getInstructions()
          .filter((i) => keyword(i) === 'ARG')
          .map((i) => args(i)[0].split('=')[0])
          .filter((n) => secret.test(n)),
      ).toEqual([]);
  });

  it('is referenced by its manifests as kubeaws/<service>:<package version>, the tag tools/images/build.sh builds', () => {
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'packages', SERVICE, 'package.json'), 'utf8')).version;
    expect(workload().image).toBe(`kubeaws/${SERVICE}:${version}`);
  });

  it('exposes exactly the container ports of its manifests', () => {
    const exposed = find('EXPOSE')
      .flatMap(args)
      .map((p) => Number(p.split('/')[0]))
      .sort((a, b) => a - b);
    expect(exposed).toEqual(workload().ports);
  });

  it('has a bundle target, and the bundle holds main.mjs (the CMD), its map and the licenses, no native addon', () => {
    const project = JSON.parse(fs.readFileSync(path.join(ROOT, 'packages', SERVICE, 'project.json'), 'utf8'));
    expect(Object.keys(project.targets)).toEqual(expect.arrayContaining(['bundle', 'bundle-smoke', 'image-check']));
    const files = fs.readdirSync(path.join(ROOT, BUNDLE)).sort();
    // main.mjs, and each chunk split off by code splitting (tools/images/bundle.mjs), with their maps
    const chunks = files.filter((f) => /^[\w.-]+-[A-Z0-9]{8}\.mjs$/.test(f));
    expect(files).toEqual(
      ['THIRD_PARTY_LICENSES.txt', 'main.mjs', 'main.mjs.map', ...chunks.flatMap((c) => [c, `${c}.map`])].sort(),
    );
    for (const c of chunks) {
      const code = fs.readFileSync(path.join(ROOT, BUNDLE, c), 'utf8');
      expect(code.split('\n')[0]).toMatch(/^import \{ createRequire as \w+ \} from 'node:module';$/);
      expect(code.trimEnd().split('\n').pop()).toBe(`//# sourceMappingURL=${c}.map`);
    }
    const main = fs.readFileSync(path.join(ROOT, BUNDLE, 'main.mjs'), 'utf8');
    // Node built-ins are reached through require, never an ESM import (which evaluates every export: docs/infra.md#infra-bundle);
    // only the banner imports node:module, node:url and node:path
    for (const f of files.filter((x) => x.endsWith('.mjs'))) {
      const code = fs.readFileSync(path.join(ROOT, BUNDLE, f), 'utf8');
      expect([f, [...code.matchAll(/^import\b[^;]*?from\s*["'](?!\.\/)([^"']+)["'];?$/gm)].map((m) => m[1]).filter((x) => !/^node:(module|url|path)$/.test(x!))]).toEqual([f, []]);
    }
    // every file main.mjs imports or loads is in the bundle
    for (const m of main.matchAll(/(?:from |import\()"\.\/([\w.-]+\.mjs)"/g)) expect(files).toContain(m[1]);
    expect(main.split('\n')[0]).toMatch(/^import \{ createRequire as \w+ \} from 'node:module';$/);
    expect(main.trimEnd().split('\n').pop()).toBe('//# sourceMappingURL=main.mjs.map');
    const meta = JSON.parse(fs.readFileSync(path.join(ROOT, 'dist/packages', SERVICE, 'bundle.meta.json'), 'utf8')) as {
      inputs: Record<string, unknown>;
    };
    expect(Object.keys(meta.inputs).filter((f) => f.endsWith('.node'))).toEqual([]);
    // The runtime's logger is in every bundle, with its license.
    expect(fs.readFileSync(path.join(ROOT, BUNDLE, 'THIRD_PARTY_LICENSES.txt'), 'utf8')).toMatch(/^pino@[0-9.]+ \(MIT\)$/m);
    // No component process loads @kubernetes/client-node (docs/adr/0005-own-kubeconfig-loader.md).
    expect(Object.keys(meta.inputs).filter((f) => f.includes('node_modules/@kubernetes/client-node/'))).toEqual([]);
    // Left out (docs/infra.md#infra-bundle): prom-client's exemplar support reaches @opentelemetry/api through its stub only
    expect(Object.keys(meta.inputs).filter((f) => f.includes('node_modules/@opentelemetry/'))).toEqual([
      'node_modules/@opentelemetry/api/dist/index.cjs',
    ]);
    expect(
      Object.entries(meta.inputs as Record<string, { bytes: number }>)
        .filter(([f]) => /node_modules\/prom-client\/lib\/(pushgateway|cluster)\.js$|node_modules\/@opentelemetry\//.test(f))
        .every(([, v]) => v.bytes < 400),
    ).toBe(true);
  });

  it('loads at start only the files main.mjs imports statically; what a service needs later is in chunks', () => {
    // Dependencies a service loads only when first used (`import()`): the authnz-webhook's AWS SDK serves node tokens
    // only (docs/authnz-webhook.md#authnz-budgets).
    const LAZY: Record<string, RegExp[]> = { 'authnz-webhook': [/node_modules\/@aws-sdk\//, /node_modules\/@smithy\//] };
    const meta = JSON.parse(fs.readFileSync(path.join(ROOT, 'dist/packages', SERVICE, 'bundle.meta.json'), 'utf8')) as {
      outputs: Record<string, { inputs: Record<string, unknown>; imports: { path: string; kind: string }[] }>;
    };
    const eager = new Set<string>();
    const visit = (out: string) => {
      if (eager.has(out) || !meta.outputs[out]) return;
      eager.add(out);
      for (const i of meta.outputs[out]!.imports) if (i.kind === 'import-statement') visit(i.path);
    };
    visit(`${BUNDLE}/main.mjs`);
    const inputs = [...eager].flatMap((o) => Object.keys(meta.outputs[o]!.inputs));
    expect(inputs.length).toBeGreaterThan(0);
    expect(inputs.filter((f) => (LAZY[SERVICE] ?? []).some((re) => re.test(f)))).toEqual([]);
    // and every lazily loaded dependency is still in the bundle
    const all = Object.values(meta.outputs).flatMap((o) => Object.keys(o.inputs));
    for (const re of LAZY[SERVICE] ?? []) expect(all.some((f) => re.test(f))).toBe(true);
  });

  it('maps a position in the bundle back to its TypeScript source with tools/images/symbolize.mjs', () => {
    // The message of an unusable --kubeconfig is written in packages/runtime/src/manager.ts; it is in main.mjs or in a
    // chunk main.mjs imports (code splitting), whose map lies beside it.
    const file = fs
      .readdirSync(path.join(ROOT, BUNDLE))
      .filter((f) => f.endsWith('.mjs'))
      .find((f) => fs.readFileSync(path.join(ROOT, BUNDLE, f), 'utf8').includes('does not exist (ENOENT)'))!;
    const lines = fs.readFileSync(path.join(ROOT, BUNDLE, file), 'utf8').split('\n');
    const line = lines.findIndex((l) => l.includes('does not exist (ENOENT)'));
    const column = lines[line]!.indexOf('does not exist (ENOENT)');
    const trace = `Error: x\n    at kubeconfigProblem (file:///app/${file}:${line + 1}:${column + 1})\n    at other (node:internal/x:1:1)\n`;
    const out = execFileSync(process.execPath, [path.join(ROOT, 'tools/images/symbolize.mjs'), path.join(ROOT, BUNDLE, 'main.mjs.map')], {
      input: trace,
      encoding: 'utf8',
    });
    const m = /at kubeconfigProblem \((\S+):(\d+):\d+\)/.exec(out);
    expect(m?.[1]).toMatch(/packages\/runtime\/src\/manager\.ts$/);
    const source = fs.readFileSync(path.join(ROOT, 'packages/runtime/src/manager.ts'), 'utf8').split('\n');
    expect(source[Number(m![2]) - 1]).toContain('does not exist (ENOENT)');
    expect(out).toContain('at other (node:internal/x:1:1)');
  });

  it('is built from the repository root, whose .dockerignore admits only the bundles', () => {
    expect(fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').trim().split('\n')).toEqual([
      '*',
      '!dist/packages/*/bundle',
    ]);
  });
});
