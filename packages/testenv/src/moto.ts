import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { cacheDir, repoRoot } from './paths';
import { isAlive, killNow, startProcess, stopProcess, tailFile } from './proc';
import { freePort } from './wait';

/** Options for {@link ensurePythonEnv}. */
export interface PythonEnvOptions {
  /** Requirements file; default `<repo>/tools/python/requirements.txt`. */
  requirementsPath?: string;
  /** Python used to create the venv; default `$KUBEAWS_PYTHON` or `python3`. */
  python?: string;
  /** Receives pip's output lines. */
  onProgress?: (line: string) => void;
}

// Same key and completion marker as tools/python/ensure-venv.sh, so both share one venv.
const COMPLETE_MARKER = '.ready';

function run(cmd: string, args: string[], onLine?: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const onData = (d: Buffer): void => {
      for (const line of d.toString('utf8').split('\n')) {
        if (!line) continue;
        tail.push(line);
        if (tail.length > 30) tail.shift();
        onLine?.(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${tail.join('\n')}`)),
    );
  });
}

/**
 * Returns a Python virtualenv with the pinned requirements installed, creating it when missing:
 * `<cache>/python/<first 12 hex of sha256(requirements)>` where `<cache>` is `$KUBEAWS_CACHE_DIR`,
 * `$XDG_CACHE_HOME/kubeaws` or `~/.cache/kubeaws`. Idempotent and safe across concurrent callers
 * (lock directory; a venv counts only once its completion marker is written).
 * @returns the venv directory (executables in `<dir>/bin`).
 * @throws Error with pip's last output lines when creation fails.
 */
export async function ensurePythonEnv(opts: PythonEnvOptions = {}): Promise<string> {
  const req = opts.requirementsPath ?? path.join(repoRoot(), 'tools', 'python', 'requirements.txt');
  const content = await readFile(req);
  const hash = createHash('sha256').update(content).digest('hex').slice(0, 12);
  const root = path.join(cacheDir(), 'python');
  const venv = path.join(root, hash);
  if (existsSync(path.join(venv, COMPLETE_MARKER))) return venv;
  await mkdir(root, { recursive: true });
  const lock = `${venv}.lock`;
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 15 * 60_000) await rmdir(lock).catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    if (existsSync(path.join(venv, COMPLETE_MARKER))) return venv;
    await rm(venv, { recursive: true, force: true });
    const python = opts.python ?? process.env.KUBEAWS_PYTHON ?? 'python3';
    opts.onProgress?.(`[testenv] creating Python venv ${venv}`);
    await run(python, ['-m', 'venv', venv], opts.onProgress);
    const pip = path.join(venv, 'bin', 'pip');
    await run(pip, ['install', '--disable-pip-version-check', '--no-input', '-r', req], opts.onProgress);
    await writeFile(path.join(venv, COMPLETE_MARKER), '#!/bin/sh\n', { mode: 0o755 });
    return venv;
  } finally {
    await rmdir(lock).catch(() => undefined);
  }
}

/** A running moto server. */
export interface MotoServer {
  /** Base URL, `http://127.0.0.1:<port>`; use as the AWS SDK `endpoint` (any region, any credentials). */
  readonly endpoint: string;
  /** Port on 127.0.0.1. */
  readonly port: number;
  /** moto's stdout/stderr. */
  readonly logPath: string;
  /** Resets all mocked state (`POST /moto-api/reset`). */
  reset(): Promise<void>;
  /** Stops the server (SIGTERM, SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
}

/** Options for {@link startMoto}. */
export interface StartMotoOptions extends PythonEnvOptions {
  /** Port; default a free loopback port. */
  port?: number;
  /** Deadline for the server to answer, in milliseconds (venv creation not included). Default 30 000. */
  timeoutMs?: number;
}

/**
 * Starts moto's standalone server (`moto_server`, all services on one port) from the pinned venv
 * (see {@link ensurePythonEnv}) on 127.0.0.1, and waits until `GET /moto-api/data.json` answers.
 * The server is killed when the calling process exits.
 * @throws Error with moto's log tail when it exits or does not answer in time.
 */
export async function startMoto(opts: StartMotoOptions = {}): Promise<MotoServer> {
  const venv = await ensurePythonEnv(opts);
  const port = opts.port ?? (await freePort());
  const logDir = await mkdtemp(path.join(tmpdir(), 'kubeaws-moto-'));
  const logPath = path.join(logDir, 'moto.log');
  const pid = startProcess({
    name: 'moto',
    command: path.join(venv, 'bin', 'moto_server'),
    args: ['-H', '127.0.0.1', '-p', String(port)],
    logFile: logPath,
  });
  const exitHook = (): void => killNow([pid]);
  process.on('exit', exitHook);
  const endpoint = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('exit', exitHook);
    await stopProcess(pid, 5_000);
    await rm(logDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    if (!isAlive(pid)) {
      const tail = await tailFile(logPath, 30);
      await stop();
      throw new Error(`moto_server exited during startup:\n${tail}`);
    }
    try {
      const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      const tail = await tailFile(logPath, 30);
      await stop();
      throw new Error(`moto_server did not answer on ${endpoint} within ${opts.timeoutMs ?? 30_000} ms:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    port,
    logPath,
    reset: async () => {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`moto reset: HTTP ${res.status}`);
    },
    stop,
  };
}
