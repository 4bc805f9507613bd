/**
 * Entry point of the downscaler container (`node dist/packages/downscaler/lib/main.js [flags]`, or the
 * image's bundled `main.mjs`): runs the {@link downscaler} component until SIGTERM, or with `--once`
 * until its one evaluation's writes drained (exit 0, 1 if a write failed). Invalid flags or env: exit 2
 * before any API call (docs/downscaler.md#ds-flags). `main.mjs plan --at <RFC 3339> …` instead prints what
 * the downscaler does at that instant and writes nothing (docs/downscaler.md#ds-plan). Without the Temporal
 * API (Node.js < 26) it exits 1 before loading anything else (docs/downscaler.md#ds-cli). Only ever run,
 * never imported: no `require.main` guard, which the ESM bundle could not evaluate (esbuild wraps this
 * file as CommonJS there). The manifests keep V8's young generation small (`--max-semi-space-size=1` in NODE_OPTIONS).
 */
import './node-check';
import { runComponent, runMain } from '@kubeaws/runtime';
import { downscaler } from './component';
import { runPlanCommand } from './plan-command';

if (process.argv[2] === 'plan') void runMain((ctx) => runPlanCommand(ctx.argv.slice(1), ctx.env));
else void runComponent(downscaler);
