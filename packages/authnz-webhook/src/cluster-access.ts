/**
 * Whether the process has cluster access, and whether the configuration needs it
 * (docs/authnz-webhook.md#authnz-standalone). AccessRequests exist only as the `AccessRequest` custom
 * resource in the cluster, so emergency access needs cluster access; TokenReview and SubjectAccessReview
 * do not.
 */
import { ConfigError } from '@kubeaws/runtime';
import type { AuthnzConfig } from './config.js';

/**
 * Where cluster access comes from, in the order of client-node's `KubeConfig.loadFromDefault`: the runtime's
 * `clusterAccessSource` (`--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`, a pod's service account), which also
 * decides whether the component's Manager runs standalone.
 */
export { type ClusterAccessSource, SERVICE_ACCOUNT_TOKEN_PATH, clusterAccessSource } from '@kubeaws/runtime';

/**
 * The `emergencyAccess` settings that make the configuration need the AccessRequest CRD: a non-empty
 * `manual.requesterGroups` or `emergency.requesterGroups` (with both empty nobody can request a grant).
 * Empty = emergency access is disabled and the webhook can run without a cluster.
 */
export function emergencyAccessSettings(cfg: AuthnzConfig): string[] {
  const ea = cfg.emergencyAccess;
  return [
    ...(ea.manual.requesterGroups.length ? ['emergencyAccess.manual.requesterGroups'] : []),
    ...(ea.emergency.requesterGroups.length ? ['emergencyAccess.emergency.requesterGroups'] : []),
  ];
}

/** True when the configuration enables Manual or Emergency access (see {@link emergencyAccessSettings}). */
export function emergencyAccessEnabled(cfg: AuthnzConfig): boolean {
  return emergencyAccessSettings(cfg).length > 0;
}

/** Why there is no cluster access (for messages), matching {@link clusterAccessSource}. */
export const NO_CLUSTER_ACCESS =
  'no cluster access: --kubeconfig not given, KUBECONFIG unset, no ~/.kube/config and not running in a pod';

/**
 * Thrown while configuring the component without cluster access when the configuration enables emergency
 * access; nothing is listening yet. A {@link ConfigError} whose message is {@link noClusterAccessMessage}: the
 * process exits 2 (docs/authnz-webhook.md#authnz-standalone).
 */
export class ClusterAccessRequired extends ConfigError {
  override readonly name: string = 'ClusterAccessRequired';
  /**
   * @param file the configuration file
   * @param settings the settings that enable emergency access ({@link emergencyAccessSettings})
   * @param kubeconfig the `--kubeconfig` value (empty)
   */
  constructor(
    readonly file: string,
    readonly settings: string[],
    kubeconfig = '',
  ) {
    super(
      'kubeconfig',
      kubeconfig,
      'a kubeconfig for the cluster',
      'KUBEAWS_AUTHNZ_KUBECONFIG',
      'other',
      noClusterAccessMessage({ file, settings }),
    );
  }
}

/**
 * The exit-2 message (without the `error: ` prefix runMain adds): why there is no cluster, why the
 * configuration needs one, and both ways out (docs/authnz-webhook.md#authnz-standalone).
 */
export function noClusterAccessMessage(err: { file: string; settings: string[] }): string {
  return (
    `${NO_CLUSTER_ACCESS}; the access API and four-eyes grants need the AccessRequest CRD ` +
    `(${err.settings.join(' and ')} set in ${err.file}). Pass --kubeconfig (or set KUBECONFIG), or run ` +
    'standalone (TokenReview and SubjectAccessReview only) with emergency access disabled: ' +
    'empty emergencyAccess.manual.requesterGroups and emergencyAccess.emergency.requesterGroups'
  );
}
