/**
 * The cluster verbs of the `kubeaws` CLI: `validate`, `render`, `diff`, `apply`, `delete`. Exit codes: 0 ok,
 * 1 runtime or AWS failure, 2 invalid input. Config errors name file, line:column, path, bad value and what is
 * allowed, all of them in one run.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { KubeConfig, type KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { applyObjects } from '../apply';
import {
  apiServicePreflight,
  clusterApiServiceReader,
  verdictOutput,
} from './apiservice-preflight';
import { discover, DiscoveryError } from '../infra/aws/discovery';
import {
  ApplyError,
  applyStacks,
  deleteStacks,
  deployStack,
  describeStack,
  diffStacks,
  type StackClients,
  stackClients,
  type StackOutcome,
} from '../infra/aws/stacks';
import {
  type Diagnostic,
  findRepoRoot,
  formatDiagnostic,
  loadCluster,
  missingForOffline,
  type ResolvedCluster,
  checkDiscovered,
} from '../infra/config/load';
import {
  clusterFileItems,
  FILE_ITEM_IDS,
  type FilesTarget,
  filesS3Client,
  formatPlan,
  planClusterFiles,
  syncClusterFiles,
} from '../infra/files';
import type { RenderedManifests } from '../infra/manifests';
import { missingManifests, type RenderFormat, renderCluster, renderFiles, writeRender } from '../infra/render';
import { stackName } from '../infra/stacks/common';

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
  /** Exit 2 when a manifest folder is missing. */
  strict?: boolean;
  /** Print the cluster files plan (object keys and create/reuse/update) instead of the render; no writes. */
  files?: boolean;
  /** Items `--files` would rotate. */
  rotate?: string[];
  /** Repository root holding `manifests/`; default the root above this package. */
  root?: string;
}

/** The `--rotate` entries that are no cluster file item, as an error line, or undefined. */
export function badRotate(rotate: string[] = []): string | undefined {
  const bad = rotate.filter((r) => !(FILE_ITEM_IDS as readonly string[]).includes(r));
  return bad.length > 0
    ? `--rotate: unknown ${bad.join(', ')}; expected items of ${FILE_ITEM_IDS.join(', ')}`
    : undefined;
}

/**
 * The files bucket and KMS key from the etcd stack's `FilesBucket` and `KmsKeyArn` outputs (the stack every node
 * depends on, deployed first), or undefined while the stack does not exist yet.
 */
export async function filesTarget(clients: StackClients, c: ResolvedCluster): Promise<FilesTarget | undefined> {
  const s = await describeStack(clients.cfn, stackName.etcd(c.name));
  const out = (k: string) => s?.Outputs?.find((o) => o.OutputKey === k)?.OutputValue;
  const bucket = out('FilesBucket');
  const kmsKeyArn = out('KmsKeyArn');
  return bucket && kmsKeyArn ? { bucket, kmsKeyArn } : undefined;
}

/**
 * `render --files`: the cluster files plan without writing. Reads the bucket (read-only) when the etcd
 * stack exists; `--offline` or no stack yet plans against an empty bucket. Prints keys and actions, never
 * contents. Exit 1 when the plan has errors.
 */
async function renderFilesPlan(c: ResolvedCluster, o: RenderCommandOptions, io: CommandIO): Promise<number> {
  const rotate = new Set(o.rotate ?? []);
  let plan;
  if (o.offline) {
    io.out(`# ${c.name} cluster files (bucket not read: --offline)\n`);
    plan = planClusterFiles({ items: clusterFileItems(c), existing: new Map(), rotate, now: new Date() });
  } else {
    const target = await filesTarget(stackClients(c.region), c);
    if (!target) {
      io.out(`# ${c.name} cluster files (stack ${stackName.etcd(c.name)} does not exist yet)\n`);
      plan = planClusterFiles({ items: clusterFileItems(c), existing: new Map(), rotate, now: new Date() });
    } else {
      io.out(`# ${c.name} cluster files in s3://${target.bucket}\n`);
      plan = (await syncClusterFiles(filesS3Client(c.region), c, target, { rotate, dryRun: true })).plan;
    }
  }
  for (const line of formatPlan(plan)) io.out(`${line}\n`);
  return plan.errors.length > 0 ? EXIT.failure : EXIT.ok;
}

/**
 * `kubeaws render <file>`: each stack's final template, parameters and tags, then the manifest overlay and the
 * built stream; printed, or written to `<out>/<name>/`. Discovery is read-only; `--offline` makes no AWS call.
 * Every component without a manifest folder, and (with stacks and manifests) every stack resource whose consumer
 * the manifests do not deploy, is named on stderr; with `--strict` that exits 2.
 * `--files` prints the cluster files plan instead.
 */
export async function renderCommand(file: string, o: RenderCommandOptions, io: CommandIO = defaultIO): Promise<number> {
  const rotateError = badRotate(o.rotate);
  if (rotateError) {
    io.err(`${rotateError}\n`);
    return EXIT.invalid;
  }
  const c = await resolve(file, o.offline, io);
  if (typeof c === 'number') return c;
  if (o.files) return renderFilesPlan(c, o, io);
  const root = o.root ?? findRepoRoot();
  const clusterOut = path.resolve(o.out ?? path.join(root, 'out'), c.name);
  const rendered = renderCluster(c, { root, only: o.only, clusterOutDir: clusterOut });
  const files = renderFiles(rendered, o.format);
  if (o.out) {
    writeRender(files, clusterOut);
    io.out(`wrote ${Object.keys(files).length} files to ${clusterOut}\n`);
  } else {
    for (const name of Object.keys(files)) io.out(`# ---- ${c.name}/${name}\n${files[name]}`);
  }
  // Folders without a base; with stacks and manifests rendered, also every stack resource whose consumer the
  // manifests do not deploy (docs/infra.md#infra-consumers).
  const level = o.strict ? 'error' : 'warning';
  const folders = rendered.manifests?.missing ?? [];
  for (const m of folders) io.err(`${level}: missing manifest ${m}: no manifests/${m}/kustomization.yaml\n`);
  const consumers =
    rendered.manifests && rendered.stacks.length > 0
      ? missingManifests(c, rendered).filter((m) => !m.resource.startsWith('manifests/') || !folders.includes(m.resource.slice('manifests/'.length)))
      : [];
  for (const m of consumers) io.err(`${level}: missing manifest for ${m.resource}: ${m.consumer} is not deployed\n`);
  return o.strict && folders.length + consumers.length > 0 ? EXIT.invalid : EXIT.ok;
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
  /** Cluster file items to regenerate although they exist (`--rotate`). */
  rotate?: string[];
  /** Apply the manifests to this cluster after the stacks (skipped without it). */
  kubeconfig?: string;
  /**
   * With `kubeconfig`: apply although another adapter (or the kube-apiserver) owns one of the metrics-adapter's
   * APIServices (`--allow-apiservice-takeover`, docs/metrics-adapter.md#ma-preflight); the problems become warnings.
   */
  allowApiServiceTakeover?: boolean;

  pollMs?: number;
  timeoutMs?: number;
}

function loadKubeConfig(file: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

async function applyManifests(kc: KubeConfig, rendered: RenderedManifests, io: CommandIO): Promise<void> {
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
 * `kubeaws apply <file>`: validate → discover → render → (with `--kubeconfig`) the metrics-adapter APIService
 * preflight → etcd stack → cluster files (generated or reused in the etcd stack's files bucket,
 * docs/infra.md#infra-cluster-files) → tag shared resources → cluster stack → master pool → worker pools → delete pools that left
 * the config → (with `--kubeconfig`) manifests and deletions. Each stack is deployed once. The preflight refuses
 * (exit 2, before any change) when the render installs an APIService another adapter or the kube-apiserver owns,
 * unless `allowApiServiceTakeover` (docs/metrics-adapter.md#ma-preflight). A cluster files plan with errors stops
 * before the cluster stack and any pool (exit 1).
 */
export async function applyCommand(
  file: string,
  o: ApplyCommandOptions = {},
  io: CommandIO = defaultIO,
): Promise<number> {
  const rotateError = badRotate(o.rotate);
  if (rotateError) {
    io.err(`${rotateError}\n`);
    return EXIT.invalid;
  }
  let kc: KubeConfig | undefined;
  if (o.kubeconfig !== undefined) {
    try {
      kc = loadKubeConfig(o.kubeconfig);
    } catch (err) {
      io.err(`--kubeconfig: cannot load ${o.kubeconfig}: ${(err as Error).message}\n`);
      return EXIT.invalid;
    }
  }
  const c = await resolve(file, false, io);
  if (typeof c === 'number') return c;
  const rendered = renderCluster(c, { root: findRepoRoot(), only: kc ? undefined : 'stacks' });
  const { stacks } = rendered;
  if (kc && rendered.manifests) {
    const objects = rendered.manifests.overlays.flatMap((x) => x.objects);
    let verdict;
    try {
      verdict = await apiServicePreflight(
        objects,
        clusterApiServiceReader(kc),
        o.allowApiServiceTakeover === true,
      );
    } catch (err) {
      io.err(`metrics-adapter preflight: cannot read the APIServices: ${(err as Error).message}\n`);
      return EXIT.failure;
    }
    if (verdict) {
      const text = verdictOutput(verdict);
      for (const l of text.out) io.out(`${l}\n`);
      for (const l of text.err) io.err(`${l}\n`);
      if (verdict.code !== 0) {
        io.err('apply refused before any change: pass --allow-apiservice-takeover to install over the owner\n');
        return EXIT.invalid;
      }
    }
  }
  const clients = stackClients(c.region);
  const deployOptions = { log: (l: string) => io.out(`${l}\n`), pollMs: o.pollMs, timeoutMs: o.timeoutMs };
  try {
    // Nodes fetch their files at boot: the files bucket (etcd stack) gets them right after that stack, before the
    // cluster stack and any pool (etcd members retry their fetch until then). Each stack is deployed once: etcd
    // here, the cluster stack and the pools by applyStacks.
    const early = stacks.filter((x) => x.kind === 'etcd');
    const earlyOutcome: Record<string, StackOutcome> = {};
    for (const s of early) earlyOutcome[s.name] = await deployStack(clients, c.name, s, deployOptions);
    const target = await filesTarget(clients, c);
    if (!target) throw new ApplyError(`${stackName.etcd(c.name)}: no FilesBucket/KmsKeyArn outputs`);
    const sync = await syncClusterFiles(filesS3Client(c.region), c, target, { rotate: new Set(o.rotate ?? []) });
    for (const line of formatPlan(sync.plan)) io.out(`files: ${line}\n`);
    if (sync.plan.errors.length > 0) {
      io.err(`cluster files not written: ${sync.plan.errors.length} error(s); no cluster or pool stack was changed\n`);
      return EXIT.failure;
    }
    io.out(`files: wrote ${sync.written.length} objects to s3://${target.bucket}\n`);
    const outcome = {
      ...earlyOutcome,
      ...(await applyStacks(
        clients,
        c,
        stacks.filter((x) => !early.includes(x)),
        deployOptions,
      )),
    };
    for (const [name, what] of Object.entries(outcome)) io.out(`${name}: ${what}\n`);
    if (kc && rendered.manifests) await applyManifests(kc, rendered.manifests, io);
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

/** `a,b , c` → `['a', 'b', 'c']`; empty entries dropped. */
export function splitList(v: string): string[] {
  return v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
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
    .option('--strict', 'exit 2 when a component has no manifest folder or a stack resource no deployed consumer', false)
    .option('--files', 'print the cluster files plan (object keys; created, reused, updated) instead; writes nothing', false)
    .option('--rotate <items>', 'with --files: comma-separated cluster file items to show as rotated', '')
    .action(async (file: string, o: { out?: string; format: string; only?: string; offline: boolean; strict: boolean; files: boolean; rotate: string }) => {
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
          strict: o.strict,
          files: o.files,
          rotate: splitList(o.rotate),
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
    .option('--rotate <items>', 'comma-separated cluster file items to regenerate (e.g. apiserver,etcd-server)', '')
    .option(
      '--allow-apiservice-takeover',
      'with --kubeconfig: apply although another adapter owns a metrics-adapter APIService (default: exit 2)',
      false,
    )
    .action(async (file: string, o: { kubeconfig?: string; rotate: string; allowApiserviceTakeover: boolean }) =>
      exit(
        await applyCommand(file, {
          kubeconfig: o.kubeconfig,
          rotate: splitList(o.rotate),
          allowApiServiceTakeover: o.allowApiserviceTakeover,
        }),
      ),
    );
  program
    .command('delete')
    .description("delete the cluster's stacks (pools, cluster, etcd) and remove the shared tags")
    .argument('<file>', 'cluster file')
    .requiredOption('--confirm <name>', 'the cluster name, to confirm')
    .action(async (file: string, o: { confirm: string }) => exit(await deleteCommand(file, o)));
}

export {
  apiServicePreflight,
  clusterApiServiceReader,
  type ReadApiService,
  type RenderedApiService,
  renderedApiServices,
  verdictOutput,
} from './apiservice-preflight';
