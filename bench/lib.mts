// Helpers shared by the benchmarks in bench/ (run with Node 26 type stripping, `node bench/<name>.bench.mts`).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';

/** Repository root. */
export const root = path.resolve(import.meta.dirname, '..');

/** Progress line on stderr: `[bench] HH:MM:SS msg`. */
export const log = (msg: string): void =>
  void process.stderr.write(`[bench] ${new Date().toISOString().slice(11, 19)} ${msg}\n`);

/** A free TCP port on 127.0.0.1 (closed again before returning). */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight. */
export async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

/**
 * Calls `fn` every `intervalMs` until it returns a value other than undefined.
 * @throws Error naming `what` after `timeoutMs`.
 */
export async function pollUntil<T>(
  what: string,
  timeoutMs: number,
  intervalMs: number,
  fn: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * The machine a benchmark ran on, for its report: `<CPUs> × <CPU model>, <memory> GiB, Linux <kernel>, Node <version>`
 * (memory rounded to GiB).
 */
export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
}

/**
 * The commit a benchmark measured, for its report: `git rev-parse --short=12 HEAD`, followed by ` with uncommitted
 * changes to <paths>` when `git status --porcelain` lists any file under `paths` (relative to the repository root: the
 * component, the runtime, its manifests, the benchmark itself) as changed or new. `unknown` outside a git checkout.
 */
export function measuredCommit(paths: string[]): string {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  const head = git('rev-parse', '--short=12', 'HEAD');
  if (head.status !== 0) return 'unknown';
  const changed = git('status', '--porcelain', '--', ...paths).stdout.trim() !== '';
  return changed ? `${head.stdout.trim()} with uncommitted changes to ${paths.join(', ')}` : head.stdout.trim();
}

/**
 * A memory field of /proc/<pid>/status in MiB: `VmHWM` (peak RSS), `VmRSS`, or its anonymous and file-backed parts
 * `RssAnon` and `RssFile`. NaN when absent.
 */
export function vmStatus(pid: number, field: 'VmHWM' | 'VmRSS' | 'RssAnon' | 'RssFile'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** User + system CPU time of a process in seconds, from /proc/<pid>/stat (clock ticks, USER_HZ = 100). */
export function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/**
 * Replaces the section of docs/benchmarks.md between `<!-- <name>:begin -->` and `<!-- <name>:end -->` with
 * `body` (markdown without the markers), or appends it under a `## <name>` heading.
 */
export function writeBenchmarkSection(name: string, body: string): void {
  const file = path.join(root, 'docs/benchmarks.md');
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const section = `${begin}\n${body}\n${end}`;
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n';
  if (text.includes(begin))
    text = text.slice(0, text.indexOf(begin)) + section + text.slice(text.indexOf(end) + end.length);
  else text = `${text.trimEnd()}\n\n## ${name}\n\n${section}\n`;
  fs.writeFileSync(file, text);
  log(`results written to ${path.relative(root, file)}`);
}

/** The first container of a component's shipped Deployment or DaemonSet (`manifests/<component>/`). */
function deployedContainer(component: string): { env?: Array<{ name: string; value?: string }>; args?: string[] } | undefined {
  const dir = path.join(root, 'manifests', component);
  for (const f of fs.readdirSync(dir).filter((x) => /^(deployment|daemonset)\.yaml$/.test(x))) {
    for (const d of parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8'))) {
      const o = d.toJS() as {
        kind?: string;
        spec?: { template?: { spec?: { containers?: Array<{ env?: Array<{ name: string; value?: string }>; args?: string[] }> } } };
      };
      if (o?.kind !== 'Deployment' && o?.kind !== 'DaemonSet') continue;
      const c = o.spec?.template?.spec?.containers?.[0];
      if (c) return c;
    }
  }
  return undefined;
}

/**
 * `NODE_OPTIONS` of a component's container in its shipped Deployment or DaemonSet (`manifests/<component>/`), so that
 * a benchmark runs the process with the heap settings it is deployed with; '' when the manifest sets none.
 */
export function manifestNodeOptions(component: string): string {
  return deployedContainer(component)?.env?.find((x) => x.name === 'NODE_OPTIONS')?.value ?? '';
}

/**
 * node's own flags in a component's container args, before its bundle (`/app/main.mjs`): V8 flags that node does not
 * take in `NODE_OPTIONS`, such as `--no-maglev`; [] when there are none. A benchmark puts them before the bundle.
 */
export function manifestNodeFlags(component: string): string[] {
  const args = deployedContainer(component)?.args ?? [];
  const bundleAt = args.indexOf('/app/main.mjs');
  return bundleAt > 0 ? args.slice(0, bundleAt) : [];
}
