/**
 * jest globalSetup of the integration suites: one local control plane for the whole run (testenv),
 * started with the webhook wired into kube-apiserver (test/wiring.ts) so that the end-to-end suite can
 * run the webhook on the port kube-apiserver calls. Suites that do not need the wiring use the same
 * cluster: the match conditions keep every `system:` identity (the admin's system:masters group, the
 * webhook's ServiceAccount, the control plane) off the webhook.
 *
 * With `$KUBEAWS_TEST_STATE` naming a running cluster (`testenv up`), that cluster is reused without the
 * wiring and the end-to-end suite starts a cluster of its own.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { TEST_ENV } from '@kubeaws/testenv/src/helpers';
import { createGlobalSetup } from '@kubeaws/testenv/src/jest/global-setup';
import { WIRING_ENV, prepareWebhookWiring } from './wiring';

/** Key on `globalThis` under which the wiring directory is handed to the teardown (same process). */
export const WIRING_DIR_KEY = '__KUBEAWS_AUTHNZ_WIRING_DIR__';

export default async function globalSetup(): Promise<void> {
  const existing = process.env[TEST_ENV.state];
  if (existing && existsSync(existing)) {
    await createGlobalSetup()();
    return;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'authnz-wiring-'));
  (globalThis as Record<string, unknown>)[WIRING_DIR_KEY] = dir;
  const wiring = await prepareWebhookWiring(dir);
  await createGlobalSetup({ nodes: 1, apiserverExtraArgs: wiring.apiserverArgs, timeoutMs: 240_000 })();
  process.env[WIRING_ENV] = JSON.stringify(wiring);
}
