/**
 * One local cluster for every end-to-end suite of a jest run (testenv), started with what each component needs
 * on top of testenv's defaults, all opt-in through StartClusterOptions:
 * - the metrics-adapter's options (docs/metrics-adapter.md#ma-local): no aggregator endpoint routing, a 5 s HPA
 *   sync and kwok pod IPs in 127.100.0.0/16; Debian's Prometheus is installed when missing;
 * - the authnz webhook wired into kube-apiserver (docs/authnz-webhook.md#authnz-apiserver): the authentication
 *   webhook kubeconfig and the structured AuthorizationConfiguration with `failurePolicy: Deny`, for a webhook on a
 *   loopback port chosen here. The match conditions keep every `system:` identity (the admin's system:masters group,
 *   the components' ServiceAccounts, the control plane) off the webhook, so only people's requests reach it.
 * The wiring is handed to the suites in `$KUBEAWS_AUTHNZ_TEST_WIRING` (packages/authnz-webhook/test/wiring.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createGlobalSetup } from '@kubeaws/testenv/src/jest/global-setup';
import { ADAPTER_CLUSTER } from '../../packages/metrics-adapter/test/global-setup';
import { WIRING_ENV, prepareWebhookWiring } from '../../packages/authnz-webhook/test/wiring';

/** Key on `globalThis` under which the wiring directory is handed to the teardown (same process). */
export const E2E_WIRING_DIR_KEY = '__KUBEAWS_E2E_WIRING_DIR__';

export default async function globalSetup(): Promise<void> {
  execFileSync('bash', [path.resolve(__dirname, '../../tools/prometheus/ensure-prometheus.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const dir = mkdtempSync(path.join(tmpdir(), 'kubeaws-e2e-wiring-'));
  (globalThis as Record<string, unknown>)[E2E_WIRING_DIR_KEY] = dir;
  const wiring = await prepareWebhookWiring(dir);
  await createGlobalSetup({
    ...ADAPTER_CLUSTER,
    nodes: 3,
    apiserverExtraArgs: { ...ADAPTER_CLUSTER.apiserverExtraArgs, ...wiring.apiserverArgs },
    timeoutMs: 240_000,
  })();
  process.env[WIRING_ENV] = JSON.stringify(wiring);
}
