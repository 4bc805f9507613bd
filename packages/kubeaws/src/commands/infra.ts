/**
 * The cluster verbs of the `kubeaws` CLI: `validate`, `render`, `diff`, `apply`, `delete`. Exit codes: 0 ok,
 * 1 runtime or AWS failure, 2 invalid input. Config errors name file, line:column, path, bad value and what is
 * allowed, all of them in one run.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { KubeConfig, type KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { applyObjects } from '../apply';
import { discover, DiscoveryError } from '../infra/aws/discovery';
import { ApplyError, applyStacks, deleteStacks, diffStacks, stackClients } from '../infra/aws/stacks';
import {
  type Diagnostic,
  findRepoRoot,
  formatDiagnostic,
  loadCluster,
  missingForOffline,
  type ResolvedCluster,
  checkDiscovered,
} from '../infra/config/load';
import { type RenderFormat, renderCluster, renderFiles, writeRender } from '../infra/render';

/** Where a command writes. */
export interface CommandIO {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIO: CommandIO = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) };

/** Exit codes of the cluster verbs. */
export const EXIT = { ok: 0, failure: 1, invalid: 2 } as const;

function report(io: CommandIO, diagnostics: Diagnostic[]): boolean {
  for (const d of diagnostics) io.err(`${formatDiagnostic(d)}\n`);
  return diagnostics.some((d) => d.severity === 'error');
}

function load(file: string, io: CommandIO): ResolvedCluster | undefined {
  const r = loadCluster(file);
  const failed = report(io, r.diagnostics);
  return failed ? undefined : r.cluster;
}

/** `kubeaws validate <file>`: schema, cross-field checks and item types; warnings do not fail. */
export function validateCommand(file: string, io: CommandIO = defaultIO): number {
  const r = loadCluster(file);
  if (report(io, r.diagnostics)) return EXIT.invalid;
  const warnings = r.diagnostics.length;
  io.out(`${file}: valid (${r.cluster!.pools.length} node pools, ${warnings} warning${warnings === 1 ? '' : 's'})\n`);
  return EXIT.ok;
}

async function resolve(file: string, offline: boolean, io: CommandIO): Promise<ResolvedCluster | number> {
  const c = load(file, io);
  if (!c) return EXIT.invalid;
  if (offline) {
    const missing = missingForOffline(c);
    if (missing.length > 0) {
      io.err(`${file}: --offline makes no AWS calls, so these values must be explicit: ${missing.join(', ')}\n`);
      return EXIT.invalid;
    }
  } else {
    try {
      await discover(c);
    } catch (err) {
      if (err instanceof DiscoveryError) {
        io.err(`${err.message}\n`);
        return EXIT.invalid;
      }
      throw err;
    }
  }
  const problems = checkDiscovered(c);
  if (problems.length > 0) {
    io.err(`${problems.join('\n')}\n`);
    return EXIT.invalid;
  }
  return c;
}

/** Options of `kubeaws render`. */
export interface RenderCommandOptions {
  out?: string;
  format: RenderFormat;
  only?: 'stacks' | 'manifests';
  offline: boolean;
}

/**
 * `kubeaws render <file>`: each stack's final template, parameters and tags, then the manifest overlay and the
 * built stream; printed, or written to `<out>/<name>/`. Discovery is read-only; `--offline` makes no AWS call.
 */
export async function renderCommand(file: string, o: RenderCommandOptions, io: CommandIO = defaultIO): Promise<number> {
  const c = await resolve(file, o.offline, io);
  if (typeof c === 'number') return c;
  const root = findRepoRoot();
  const clusterOut = path.resolve(o.out ?? path.join(root, 'out'), c.name);
  const files = renderFiles(renderCluster(c, { root, only: o.only, clusterOutDir: clusterOut }), o.format);
  if (o.out) {
    writeRender(files, clusterOut);
    io.out(`wrote ${Object.keys(files).length} files to ${clusterOut}\n`);
  } else {
    for (const name of Object.keys(files)) io.out(`# ---- ${c.name}/${name}\n${files[name]}`);
  }
  return EXIT.ok;
}

/** `kubeaws diff <file>`: per stack, the template and parameter diff against the deployed stack. */
export async function diffCommand(file: string, io: CommandIO = defaultIO): Promise<number> {
  const c = await resolve(file, false, io);
  if (typeof c === 'number') return c;
  const { stacks } = renderCluster(c, { root: findRepoRoot(), only: 'stacks' });
  const diffs = await diffStacks(stackClients(c.region).cfn, stacks);
  for (const [name, diff] of Object.entries(diffs))
    io.out(`# ${name}: ${diff === '' ? 'no changes' : 'changes'}\n${diff ? `${diff}\n` : ''}`);
  return EXIT.ok;
}

/** Options of `kubeaws apply`. */
export interface ApplyCommandOptions {
  /** Apply the manifests to this cluster after the stacks (skipped without it). */
  kubeconfig?: string;
  pollMs?: number;
  timeoutMs?: number;
}

async function applyManifests(kubeconfig: string, c: ResolvedCluster, io: CommandIO): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const rendered = renderCluster(c, { root: findRepoRoot(), only: 'manifests' }).manifests!;
  const objects: KubernetesObject[] = [
    ...rendered.overlays.flatMap((o) => o.objects as KubernetesObject[]),
    rendered.priorityExpander as KubernetesObject,
  ];
  const applied = await applyObjects(kc, objects);
  io.out(`applied ${applied.length} objects\n`);
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const d of rendered.deletions) {
    try {
      await api.delete({ apiVersion: d.apiVersion, kind: d.kind, metadata: { name: d.name, namespace: d.namespace } });
      io.out(`deleted ${d.kind} ${d.namespace ? `${d.namespace}/` : ''}${d.name}\n`);
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }
}

/**
 * `kubeaws apply <file>`: validate → discover → render → tag shared resources → etcd → cluster → master pool →
 * worker pools → delete pools that left the config → (with `--kubeconfig`) manifests and deletions.
 */
export async function applyCommand(
  file: string,
  o: ApplyCommandOptions = {},
  io: CommandIO = defaultIO,
): Promise<number> {
  const c = await resolve(file, false, io);
  if (typeof c === 'number') return c;
  const { stacks } = renderCluster(c, { root: findRepoRoot(), only: 'stacks' });
  try {
    const outcome = await applyStacks(stackClients(c.region), c, stacks, {
      log: (l) => io.out(`${l}\n`),
      pollMs: o.pollMs,
      timeoutMs: o.timeoutMs,
    });
    for (const [name, what] of Object.entries(outcome)) io.out(`${name}: ${what}\n`);
    if (o.kubeconfig) await applyManifests(o.kubeconfig, c, io);
    else io.out('manifests not applied (no --kubeconfig)\n');
  } catch (err) {
    if (err instanceof ApplyError) {
      io.err(`${err.message}\n`);
      return EXIT.failure;
    }
    throw err;
  }
  return EXIT.ok;
}

/** `kubeaws delete <file> --confirm <name>`: pools → cluster → etcd, then the `shared` tags; manifests untouched. */
export async function deleteCommand(
  file: string,
  o: { confirm?: string; pollMs?: number; timeoutMs?: number },
  io: CommandIO = defaultIO,
): Promise<number> {
  const c = load(file, io);
  if (!c) return EXIT.invalid;
  if (o.confirm !== c.name) {
    io.err(`--confirm: expected the cluster name ${c.name}, got ${JSON.stringify(o.confirm ?? '')}\n`);
    return EXIT.invalid;
  }
  try {
    await discover(c);
  } catch (err) {
    if (!(err instanceof DiscoveryError)) throw err;
  }
  try {
    const outcome = await deleteStacks(stackClients(c.region), c, {
      log: (l) => io.out(`${l}\n`),
      pollMs: o.pollMs,
      timeoutMs: o.timeoutMs,
    });
    io.out(`deleted ${Object.keys(outcome).length} stacks\n`);
  } catch (err) {
    if (err instanceof ApplyError) {
      io.err(`${err.message}\n`);
      return EXIT.failure;
    }
    throw err;
  }
  return EXIT.ok;
}

/** Registers the cluster verbs on the `kubeaws` program. */
export function registerInfraCommands(program: Command): void {
  const exit = (code: number): never => process.exit(code);
  program
    .command('validate')
    .description('check a cluster file: schema, cross-field rules, config items; warnings do not fail')
    .argument('<file>', 'cluster file (clusters/<name>.yaml)')
    .action((file: string) => exit(validateCommand(file)));
  program
    .command('render')
    .description('print (or write) each stack template, its parameters and tags, the manifest overlay and stream')
    .argument('<file>', 'cluster file')
    .option('--out <dir>', 'write to <dir>/<name>/ instead of printing')
    .option('--format <format>', 'yaml or json', 'yaml')
    .option('--only <what>', 'stacks or manifests')
    .option('--offline', 'make no AWS calls (every discoverable value must be explicit)', false)
    .action(async (file: string, o: { out?: string; format: string; only?: string; offline: boolean }) => {
      if (o.format !== 'yaml' && o.format !== 'json') {
        process.stderr.write(`--format: expected yaml or json, got ${JSON.stringify(o.format)}\n`);
        return exit(EXIT.invalid);
      }
      if (o.only !== undefined && o.only !== 'stacks' && o.only !== 'manifests') {
        process.stderr.write(`--only: expected stacks or manifests, got ${JSON.stringify(o.only)}\n`);
        return exit(EXIT.invalid);
      }
      exit(
        await renderCommand(file, {
          out: o.out,
          format: o.format,
          only: o.only as RenderCommandOptions['only'],
          offline: o.offline,
        }),
      );
    });
  program
    .command('diff')
    .description('per stack: template and parameter diff against the deployed stack (read-only)')
    .argument('<file>', 'cluster file')
    .action(async (file: string) => exit(await diffCommand(file)));
  program
    .command('apply')
    .description('create or update the stacks in order, remove pools that left the config, apply the manifests')
    .argument('<file>', 'cluster file')
    .option('--kubeconfig <file>', 'also apply the manifests to this cluster')
    .action(async (file: string, o: { kubeconfig?: string }) => exit(await applyCommand(file, o)));
  program
    .command('delete')
    .description("delete the cluster's stacks (pools, cluster, etcd) and remove the shared tags")
    .argument('<file>', 'cluster file')
    .requiredOption('--confirm <name>', 'the cluster name, to confirm')
    .action(async (file: string, o: { confirm: string }) => exit(await deleteCommand(file, o)));
}
