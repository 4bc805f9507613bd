/**
 * Entry point of the metrics-adapter container: `node dist/packages/metrics-adapter/lib/main.js [flags]` (or the
 * bundle's `main.mjs`). Invalid flags or environment exit with code 2 before any API call
 * (docs/metrics-adapter.md#ma-flags). Only an entry point: importing it starts the adapter.
 */
import { runComponent } from '@kubeaws/runtime';
import { metricsAdapter } from './component';

void runComponent(metricsAdapter);
