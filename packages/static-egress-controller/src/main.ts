/**
 * Entry point of the static-egress-controller container: `node dist/packages/static-egress-controller/lib/main.js
 * [flags]` (or the bundle's `main.mjs`). Invalid flags or environment exit with code 2 before any AWS or
 * Kubernetes call (docs/static-egress-controller.md#seg-flags). Only an entry point: importing it starts
 * the controller.
 */
import { runComponent } from '@kubeaws/runtime';
import { staticEgressController } from './component';

void runComponent(staticEgressController);
