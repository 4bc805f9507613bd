import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import * as path from 'node:path';

/** How to (re)start one control-plane process; stored in the cluster state file. */
export interface ProcessSpec {
  /** Component name, also the log file's base name. */
  name: string;
  /** Absolute path of the executable. */
  command: string;
  /** Command-line arguments. */
  args: string[];
  /** Extra environment variables on top of the starting process's environment. */
  env?: Record<string, string>;
  /** Log file receiving stdout and stderr (appended to across restarts). */
  logFile: string;
}

/**
 * Starts `spec` as a detached process (its own process group, so signals sent to a test runner's
 * group do not reach it and it may outlive the process that started it), stdout+stderr appended to
 * `spec.logFile`. The child is unref'd: it does not keep the caller's event loop alive.
 * @returns the pid.
 * @throws Error when the executable cannot be spawned.
 */
export function startProcess(spec: ProcessSpec): number {
  mkdirSync(path.dirname(spec.logFile), { recursive: true });
  const fd = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.command, spec.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...spec.env },
    });
    if (child.pid === undefined) {
      throw new Error(`failed to start ${spec.name} (${spec.command})`);
    }
    child.on('error', () => undefined);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/**
 * True when `pid` names a live, non-zombie process. Works for processes started by other processes
 * (reads `/proc/<pid>/stat` on Linux, else falls back to signal 0).
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig); // the whole process group started by startProcess
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Stops a process started by {@link startProcess}: SIGTERM to its process group, then SIGKILL when it
 * is still alive after `graceMs` (default 10 000 ms). Resolves once it is gone (polls every 50 ms).
 */
export async function stopProcess(pid: number, graceMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (!isAlive(pid)) return;
  signal(pid, 'SIGKILL');
  const killDeadline = Date.now() + 5_000;
  while (isAlive(pid) && Date.now() < killDeadline) await sleep(20);
}

/** Sends SIGKILL to each pid's process group at once, synchronously (for `process.on('exit')`). */
export function killNow(pids: number[]): void {
  for (const pid of pids) signal(pid, 'SIGKILL');
}

/**
 * Returns the last `lines` lines (default 30) of a text file, reading at most its last 64 KiB.
 * Returns `''` when the file does not exist.
 */
export async function tailFile(file: string, lines = 30): Promise<string> {
  try {
    const size = (await stat(file)).size;
    const len = Math.min(size, 64 * 1024);
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      return buf.toString('utf8').split('\n').filter(Boolean).slice(-lines).join('\n');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}
