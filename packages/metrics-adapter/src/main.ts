/**
 * Entry point of the metrics-adapter container: `node dist/packages/metrics-adapter/lib/main.js [flags]` (or the
 * bundle's `main.mjs`) runs the adapter; `… main.js preflight [--kubeconfig F] [--service NS/NAME]
 * [--allow-takeover]` runs the APIService ownership check (docs/metrics-adapter.md#ma-preflight). Invalid flags
 * or environment exit with code 2 before any API call (docs/metrics-adapter.md#ma-flags). Only an entry point:
 * importing it starts the adapter.
 */
import { runComponent, runMain } from '@kubeaws/runtime';
import { metricsAdapter } from './component';
import { preflight } from './preflight';

void (process.argv[2] === 'preflight'
  ? runMain((ctx) => preflight({ argv: ctx.argv.slice(1), env: ctx.env, out: (line) => void process.stdout.write(`${line}\n`) }))
  : runComponent(metricsAdapter));
