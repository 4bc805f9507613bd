/**
 * Entry point of the authnz-webhook container (`node dist/packages/authnz-webhook/lib/main.js [flags]`, or the
 * image's bundled `main.mjs`): runs the {@link authnzWebhook} component until SIGTERM, logging through a buffered
 * stdout stream (flushed on exit). Exit 2 for invalid flags and for no cluster access with emergency access
 * enabled, 1 for an invalid configuration file (docs/authnz-webhook.md#authnz-flags, #authnz-config,
 * #authnz-standalone, #authnz-shutdown). Only ever run, never imported: no `require.main` guard.
 */
import pino from 'pino';
import { runComponent } from '@kubeaws/runtime';
import { authnzWebhook } from './component.js';

void runComponent(authnzWebhook, { logDestination: pino.destination({ dest: 1, sync: false, minLength: 4096 }) });
