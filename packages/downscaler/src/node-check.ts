/**
 * The runtime check of the downscaler's entry point (docs/downscaler.md#ds-cli): schedules are evaluated with the
 * JavaScript `Temporal` API, unflagged since Node.js 26. Imported first by `main.ts`, before any other module loads,
 * so that an older Node.js (or one started with `--no-harmony-temporal`) ends at once with exit code 1 and one line
 * naming the requirement and the running version, instead of failing later in an unrelated module.
 */

/** The message printed when the runtime has no `Temporal`. */
export function missingTemporalMessage(version: string): string {
  return `error: the downscaler needs Node.js >= 26: it evaluates schedules with the Temporal API, which this runtime (Node.js ${version}) does not provide\n`;
}

if (typeof (globalThis as { Temporal?: unknown }).Temporal === 'undefined') {
  process.stderr.write(missingTemporalMessage(process.version));
  process.exit(1);
}
