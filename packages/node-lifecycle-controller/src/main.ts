/**
 * Entry point of the node-lifecycle-controller container (`main.mjs` of the bundle). Invalid flags or
 * environment exit with code 2 before any API or AWS call (docs/node-lifecycle-controller.md#nlc-flags);
 * SIGTERM drains, releases the Lease and flushes Events. Only an entry point: importing it starts the controller.
 */
import { runComponent } from '@kubeaws/runtime';
import { nodeLifecycleController } from './component';

void runComponent(nodeLifecycleController);
