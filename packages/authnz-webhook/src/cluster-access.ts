/**
 * Whether the process has cluster access, and whether the configuration needs it
 * (docs/authnz-webhook.md#authnz-standalone). AccessRequests exist only as the `AccessRequest` custom
 * resource in the cluster, so emergency access needs cluster access; TokenReview and SubjectAccessReview
 * do not.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { AuthnzConfig } from './config.js';

/** Service-account token of a pod (client-node's in-cluster loading reads it). */
export const SERVICE_ACCOUNT_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Where the kubeconfig comes from: `--kubeconfig`, `$KUBECONFIG`, `~/.kube/config` or the pod's service account. */
export type ClusterAccessSource = 'flag' | 'KUBECONFIG' | 'home' | 'in-cluster';

/**
 * The source of cluster access, in the order of client-node's `KubeConfig.loadFromDefault` (which the
 * runtime's `loadKubeConfig` uses when `--kubeconfig` is empty): the flag, `$KUBECONFIG`,
 * `$HOME/.kube/config`, then a pod (`$KUBERNETES_SERVICE_HOST` set and the service-account token
 * present). Undefined when none applies: client-node would then fall back to `http://localhost:8080`,
 * which is never a real cluster. Pure apart from `exists`.
 */
export function clusterAccessSource(
  kubeconfigFlag: string,
  env: NodeJS.ProcessEnv,
  exists: (file: string) => boolean = existsSync,
): ClusterAccessSource | undefined {
  if (kubeconfigFlag) return 'flag';
  if (env.KUBECONFIG) return 'KUBECONFIG';
  if (env.HOME && exists(path.join(env.HOME, '.kube', 'config'))) return 'home';
  if (env.KUBERNETES_SERVICE_HOST && exists(SERVICE_ACCOUNT_TOKEN_PATH)) return 'in-cluster';
  return undefined;
}

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
 * Thrown by `AuthnzWebhook.start` without cluster access when the configuration enables emergency
 * access; nothing is listening yet. The process exits 2 with {@link noClusterAccessMessage}.
 */
export class ClusterAccessRequired extends Error {
  override readonly name = 'ClusterAccessRequired';
  /**
   * @param file the configuration file
   * @param settings the settings that enable emergency access ({@link emergencyAccessSettings})
   */
  constructor(
    readonly file: string,
    readonly settings: string[],
  ) {
    super(`${settings.join(' and ')} in ${file} enable emergency access, which needs cluster access`);
  }
}

/**
 * The exit-2 message (without the `error: ` prefix runMain adds): why there is no cluster, why the
 * configuration needs one, and both ways out.
 */
export function noClusterAccessMessage(err: ClusterAccessRequired): string {
  return (
    `${NO_CLUSTER_ACCESS}; the access API and four-eyes grants need the AccessRequest CRD ` +
    `(${err.settings.join(' and ')} set in ${err.file}). Pass --kubeconfig (or set KUBECONFIG), or run ` +
    'standalone (TokenReview and SubjectAccessReview only) with emergency access disabled: ' +
    'empty emergencyAccess.manual.requesterGroups and emergencyAccess.emergency.requesterGroups'
  );
}
