/**
 * Starting the component in-process for the HTTP-contract, access-API and end-to-end suites: the runtime's
 * `startComponent` with the given flags, an environment without cluster access unless `env` or `kubeConfig`
 * says otherwise (so a run without `kubeConfig` is standalone, docs/authnz-webhook.md#authnz-standalone), and
 * resolving once the webhook and access listeners are bound. Stop with `rc.stop()` (the runtime's shutdown,
 * docs/authnz-webhook.md#authnz-shutdown).
 */
import { type RunningComponent, type StartComponentOptions, startComponent } from '@kubeaws/runtime';
import type { AuthnzWebhook } from '../src/app';
import { authnzWebhook } from '../src/component';
import type { AuthnzSettings } from '../src/settings';

/** The running component: `rc.handle` is the {@link AuthnzWebhook} with its listening addresses. */
export type RunningWebhook = RunningComponent<AuthnzSettings, AuthnzWebhook>;

/**
 * Starts the component with `argv` and waits until its listeners are bound.
 * @param o startComponent options; `env` defaults to `{}` (no KUBECONFIG, no HOME: no cluster access)
 * @throws what startComponent throws (ConfigError, ConfigFileError, ClusterAccessRequired, …) or the error that
 *   kept a listener from binding (the component is stopped first)
 */
export async function startWebhook(
  argv: string[],
  o: Omit<StartComponentOptions<AuthnzSettings>, 'argv'> = {},
): Promise<RunningWebhook> {
  const rc = await startComponent(authnzWebhook, { env: {}, ...o, argv });
  try {
    await rc.handle.listening;
  } catch (err) {
    await rc.stop();
    throw err;
  }
  return rc;
}
