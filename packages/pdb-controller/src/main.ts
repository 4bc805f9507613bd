/**
 * Entry point of the pdb-controller container: `node dist/packages/pdb-controller/lib/main.js [flags]`
 * (or the bundle's `main.mjs`). Invalid flags or environment exit with code 2 before any API call
 * (docs/pdb-controller.md#pdb-flags); SIGTERM drains, releases the Lease and flushes Events. Only
 * an entry point: importing it starts the controller.
 */
import { runComponent } from '@kubeaws/runtime';
import { pdbController } from './component';

void runComponent(pdbController);
