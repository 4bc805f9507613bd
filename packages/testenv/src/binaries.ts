import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { cacheDir, repoRoot } from './paths';

/** Absolute paths of the control-plane executables used by {@link startCluster}. */
export interface BinaryPaths {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kwok: string;
}

/** Options for {@link ensureBinaries}. */
export interface EnsureBinariesOptions {
  /** Receives each progress line build.sh writes to stderr (without the trailing newline). */
  onProgress?: (line: string) => void;
  /** Environment for lookups and the build. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

const BINARY_NAMES: Record<keyof BinaryPaths, string> = {
  etcd: 'etcd',
  kubeApiserver: 'kube-apiserver',
  kubeControllerManager: 'kube-controller-manager',
  kubeScheduler: 'kube-scheduler',
  kwok: 'kwok',
};

/**
 * Per-binary override variables, following controller-runtime envtest (`TEST_ASSET_<NAME>`).
 * `KUBEBUILDER_ASSETS` (a directory) is consulted after these.
 */
const OVERRIDE_VARS: Record<keyof BinaryPaths, string> = {
  etcd: 'TEST_ASSET_ETCD',
  kubeApiserver: 'TEST_ASSET_KUBE_APISERVER',
  kubeControllerManager: 'TEST_ASSET_KUBE_CONTROLLER_MANAGER',
  kubeScheduler: 'TEST_ASSET_KUBE_SCHEDULER',
  kwok: 'TEST_ASSET_KWOK',
};

/** build.sh components that produce each binary. */
const COMPONENT_OF: Record<keyof BinaryPaths, string> = {
  etcd: 'etcd',
  kubeApiserver: 'kubernetes',
  kubeControllerManager: 'kubernetes',
  kubeScheduler: 'kubernetes',
  kwok: 'kwok',
};

function hasFlock(): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d && isExecutable(path.join(d, 'flock')));
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves the binaries given by override variables: `TEST_ASSET_<NAME>` (a file) wins, then
 * `KUBEBUILDER_ASSETS/<name>` when that file is executable. Pure apart from file-existence checks.
 * @returns the resolved paths and the keys still missing.
 */
export function resolveBinaryOverrides(env: NodeJS.ProcessEnv = process.env): {
  found: Partial<BinaryPaths>;
  missing: Array<keyof BinaryPaths>;
} {
  const found: Partial<BinaryPaths> = {};
  const missing: Array<keyof BinaryPaths> = [];
  for (const key of Object.keys(BINARY_NAMES) as Array<keyof BinaryPaths>) {
    const explicit = env[OVERRIDE_VARS[key]];
    if (explicit) {
      found[key] = path.resolve(explicit);
      continue;
    }
    const dir = env.KUBEBUILDER_ASSETS;
    if (dir && isExecutable(path.join(dir, BINARY_NAMES[key]))) {
      found[key] = path.resolve(dir, BINARY_NAMES[key]);
      continue;
    }
    missing.push(key);
  }
  return { found, missing };
}

/**
 * Runs `tools/kube-binaries/build.sh <components>` and returns the bin directory it prints on its last
 * stdout line. The script is idempotent and returns at once when its cache already holds the binaries.
 * @throws Error with the last stderr lines when the script exits non-zero.
 */
export async function runBuildScript(
  components: string[],
  opts: EnsureBinariesOptions = {},
): Promise<string> {
  const script = path.join(repoRoot(), 'tools', 'kube-binaries', 'build.sh');
  const env = opts.env ?? process.env;
  // Serialise builds started through this function (parallel jest runs, npm start): two concurrent builds
  // of the same component would race on the cache. flock(1) is part of util-linux.
  const lockDir = path.join(cacheDir(env), 'kube-binaries');
  mkdirSync(lockDir, { recursive: true });
  const lock = path.join(lockDir, '.build.lock');
  const [cmd, args] = hasFlock() ? ['flock', [lock, 'bash', script, ...components]] : ['bash', [script, ...components]];
  const child = spawn(cmd, args, {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  const tail: string[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      opts.onProgress?.(line);
    }
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (partial) {
    tail.push(partial);
    opts.onProgress?.(partial);
  }
  if (code !== 0) {
    throw new Error(`${script} ${components.join(' ')} exited with ${code}:\n${tail.join('\n')}`);
  }
  const bin = stdout.trim().split('\n').pop();
  if (!bin) throw new Error(`${script} printed no bin directory`);
  return bin;
}

/**
 * Returns the control-plane binaries, building the missing ones with tools/kube-binaries/build.sh
 * (which caches them under `${KUBEAWS_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/kubeaws}/kube-binaries`).
 * Overrides: `TEST_ASSET_ETCD`, `TEST_ASSET_KUBE_APISERVER`, `TEST_ASSET_KUBE_CONTROLLER_MANAGER`,
 * `TEST_ASSET_KUBE_SCHEDULER`, `TEST_ASSET_KWOK`, or a `KUBEBUILDER_ASSETS` directory.
 * A first build of Kubernetes takes tens of minutes on 2 cores; progress goes to `onProgress`.
 * @throws Error when the build fails or a binary is still missing afterwards.
 */
export async function ensureBinaries(opts: EnsureBinariesOptions = {}): Promise<BinaryPaths> {
  const env = opts.env ?? process.env;
  const { found, missing } = resolveBinaryOverrides(env);
  if (missing.length > 0) {
    const components = [...new Set(missing.map((k) => COMPONENT_OF[k]))];
    const bin = await runBuildScript(components, opts);
    for (const key of missing) found[key] = path.join(bin, BINARY_NAMES[key]);
  }
  const result = found as BinaryPaths;
  for (const [key, file] of Object.entries(result)) {
    if (!isExecutable(file)) throw new Error(`binary ${key} is not executable: ${file}`);
  }
  return result;
}
