/**
 * More helpers of the downscaler integration suites: waiting for evaluation ticks of an in-process controller, and
 * running the built downscaler entry point (`dist/packages/downscaler/lib/main.js`, built by `tsc -b` in
 * {@link buildCli}) as a separate process, as a user runs it outside the cluster: with `--kubeconfig`, any
 * arguments (`plan …`), an environment and optional Node.js options.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import { REPO_ROOT, type TestController, waitFor } from './support';

export const MAIN_JS = path.join(REPO_ROOT, 'dist/packages/downscaler/lib/main.js');
const PRELOAD = path.join(__dirname, 'fixtures/workspace-packages.cjs');

/** Builds the downscaler and its workspace libraries with tsc, so that {@link MAIN_JS} is current. */
export function buildCli(): void {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'packages/downscaler/tsconfig.json'], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
  });
}

/** Result of one run: exit code, stdout and stderr. */
export interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

/**
 * Runs `node [nodeArgs] main.js args…` with the parent's environment (minus NODE_OPTIONS) plus `env`; kills it after
 * `timeoutMs`.
 */
export function runCli(
  args: string[],
  o: { env?: Record<string, string>; nodeArgs?: string[]; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const { NODE_OPTIONS: _ignored, ...parent } = process.env;
    const child = spawn(process.execPath, [...(o.nodeArgs ?? []), '--require', PRELOAD, MAIN_JS, ...args], {
      env: { ...parent, ...o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (err += c));
    const t = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

/** Waits until the in-process controller finished `n` more evaluation ticks and its write queue is idle. */
export async function waitTicks(ctl: TestController, n: number): Promise<void> {
  const start = await ctl.metric('kubeaws_downscaler_cycles_total');
  await waitFor(async () => (await ctl.metric('kubeaws_downscaler_cycles_total')) >= start + n, {
    timeoutMs: 15_000,
    description: `${n} ticks`,
  });
  await ctl.downscaler.drained();
}
