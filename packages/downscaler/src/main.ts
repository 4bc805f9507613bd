/**
 * Entry point of the downscaler container: `node dist/packages/downscaler/lib/main.js [flags]`. Flags and
 * environment are parsed before any API call; an invalid value exits with code 2 and a message naming
 * the flag or env variable, the item and the offending token (stderr and the termination message).
 * `--once`: one evaluation, drain the writes, exit 0 (1 if a write failed).
 */
import { type MainContext, runMain } from '@kubeaws/runtime';
import { parseDownscalerConfig } from './settings';
import { startDownscaler } from './start';

/** Parses flags and environment, runs the downscaler until `ctx.signal` aborts (or once), then shuts down. */
export async function main(ctx: MainContext): Promise<number> {
  const { shared, settings } = parseDownscalerConfig(ctx.argv, ctx.env);
  const handle = await startDownscaler({ shared, settings, identity: ctx.env.POD_NAME || undefined });
  let code = 0;
  if (settings.once) {
    await handle.synced();
    while (!handle.isLeader() && !ctx.signal.aborted) await new Promise((r) => setTimeout(r, 200));
    if (!ctx.signal.aborted) {
      handle.downscaler.evaluateAll();
      await handle.downscaler.drained(ctx.signal);
      code = handle.downscaler.writeFailures > 0 ? 1 : 0;
    }
  } else if (!ctx.signal.aborted) {
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  }
  await handle.stop();
  return code;
}

if (typeof module === 'undefined' || require.main === module) void runMain(main);
