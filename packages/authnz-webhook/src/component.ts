/**
 * The authnz-webhook component (docs/authnz-webhook.md): its own flags (#authnz-flags; the shared ones with
 * `KUBEAWS_AUTHNZ_*` env names, Lease `kubeaws-authnz-webhook` in the emergency-access namespace), its
 * configuration (#authnz-config: an invalid file exits 1), and its setup ({@link AuthnzWebhook}). The runtime runs
 * it: probes, metrics, leader election for the housekeeping, and the shutdown (#authnz-shutdown). It may run
 * without cluster access: then standalone when emergency access is disabled, else exit 2 (#authnz-standalone).
 * Run by `main.ts`; in-process: `startComponent(authnzWebhook, { argv, … })`.
 */
import { defineComponent } from '@kubeaws/runtime';
import { AuthnzWebhook, IN_FLIGHT_GRACE_MS } from './app.js';
import { COMPONENT, DESCRIPTION, flagSpecs, sharedFlagOverrides } from './flags.js';
import { configureAuthnz, describeAuthnz } from './settings.js';

/**
 * The authnz-webhook: configuration {@link AuthnzSettings}, handle the {@link AuthnzWebhook}. The Manager waits
 * for the runnables at shutdown for `--shutdown-delay` plus the in-flight grace and 5 s of slack.
 */
export const authnzWebhook = defineComponent({
  name: COMPONENT,
  description: DESCRIPTION,
  flags: flagSpecs,
  sharedFlagOverrides,
  clusterAccess: 'optional',
  configure: configureAuthnz,
  manager: (s) => ({ drainTimeoutMs: s.shutdownDelay + IN_FLIGHT_GRACE_MS + 5_000 }),
  describe: describeAuthnz,
  setup: (mgr, s) => new AuthnzWebhook(mgr, s),
});
