import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';

/**
 * Machine-level cache directory shared by the tooling:
 * `$KUBEAWS_CACHE_DIR`, else `$XDG_CACHE_HOME/kubeaws`, else `~/.cache/kubeaws`
 * (the same rule as tools/kube-binaries/build.sh).
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KUBEAWS_CACHE_DIR) return env.KUBEAWS_CACHE_DIR;
  const xdg = env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(xdg, 'kubeaws');
}

/**
 * Absolute path of the monorepo root: the nearest ancestor of this module (source or compiled output)
 * that contains `tools/kube-binaries/build.sh`. `KUBEAWS_REPO_ROOT` overrides the search.
 * @throws Error when no such directory exists.
 */
export function repoRoot(): string {
  if (process.env.KUBEAWS_REPO_ROOT) return process.env.KUBEAWS_REPO_ROOT;
  for (const start of [__dirname, process.cwd()]) {
    let dir = start;
    for (;;) {
      if (existsSync(path.join(dir, 'tools', 'kube-binaries', 'build.sh'))) return dir;
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  throw new Error(`cannot find the kubeaws repository root (tools/kube-binaries/build.sh) above ${__dirname}`);
}

/** Absolute path of the testenv package directory (`<repo>/packages/testenv`). */
export function packageDir(): string {
  return path.join(repoRoot(), 'packages', 'testenv');
}
