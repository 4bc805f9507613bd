/**
 * Entry point of the downscaler container (`node dist/packages/downscaler/lib/main.js [flags]`, or the
 * image's bundled `main.mjs`): runs the {@link downscaler} component until SIGTERM, or with `--once`
 * until its one evaluation's writes drained (exit 0, 1 if a write failed). Invalid flags or env: exit 2
 * before any API call (docs/downscaler.md#ds-flags). Only ever run, never imported: no `require.main`
 * guard, which the ESM bundle could not evaluate (esbuild wraps this file as CommonJS there).
 */
import { runComponent } from '@kubeaws/runtime';
import { downscaler } from './component';

void runComponent(downscaler);
