import { createServer } from 'node:net';

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** Overall deadline in milliseconds. Default 30 000. */
  timeoutMs?: number;
  /** Pause between attempts in milliseconds. Default 200. */
  intervalMs?: number;
  /** What is awaited, for the timeout message, e.g. `"3 ready pods in ns-1"`. */
  description?: string;
}

/** Thrown by {@link waitFor} when the deadline passes; carries the last value or error seen. */
export class WaitTimeoutError extends Error {
  /** The last value returned by the polled function (when it returned one). */
  readonly lastValue: unknown;
  /** The last error thrown by the polled function (when it threw). */
  readonly lastError: unknown;
  constructor(message: string, lastValue: unknown, lastError: unknown) {
    super(message);
    this.name = 'WaitTimeoutError';
    this.lastValue = lastValue;
    this.lastError = lastError;
  }
}

function describeValue(v: unknown): string {
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  try {
    const s = JSON.stringify(v);
    if (s === undefined) return String(v);
    return s.length > 2000 ? `${s.slice(0, 2000)}...` : s;
  } catch {
    return String(v);
  }
}

/**
 * Polls `fn` until it returns a value that is neither `undefined`, `null` nor `false`, and returns that
 * value. A thrown error counts as "not yet". The first attempt is immediate; later ones are `intervalMs`
 * apart; an attempt still running at the deadline is not awaited past it.
 * @throws WaitTimeoutError after `timeoutMs`, naming `description` and the last value or error.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  opts: WaitForOptions = {},
): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 200;
  const description = opts.description ?? 'condition';
  const deadline = Date.now() + timeoutMs;
  let lastValue: unknown;
  let lastError: unknown;
  let attempts = 0;
  for (;;) {
    attempts++;
    let timer: NodeJS.Timeout | undefined;
    try {
      const remaining = Math.max(1, deadline - Date.now());
      const result = await Promise.race([
        Promise.resolve().then(fn),
        new Promise<typeof TIMEOUT>((resolve) => {
          timer = setTimeout(() => resolve(TIMEOUT), remaining);
        }),
      ]);
      if (result !== TIMEOUT) {
        if (result !== undefined && result !== null && result !== false) {
          return result as Exclude<T, undefined | null | false>;
        }
        lastValue = result;
        lastError = undefined;
      }
    } catch (err) {
      lastError = err;
    } finally {
      if (timer) clearTimeout(timer);
    }
    if (Date.now() + intervalMs > deadline) {
      const last =
        lastError !== undefined ? `last error: ${describeValue(lastError)}` : `last value: ${describeValue(lastValue)}`;
      throw new WaitTimeoutError(
        `timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${description}; ${last}`,
        lastValue,
        lastError,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const TIMEOUT = Symbol('timeout');

/** Resolves to a TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves to `n` distinct free loopback ports (all held open until all are chosen). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const srv = createServer();
          srv.unref();
          srv.on('error', reject);
          srv.listen(0, '127.0.0.1', () => resolve(srv));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    return typeof a === 'object' && a ? a.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
