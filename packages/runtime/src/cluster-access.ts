/**
 * Whether a process has cluster access at all, decided before anything is built: the order in which
 * client-node's `KubeConfig.loadFromDefault` (what {@link loadKubeConfig} uses when `--kubeconfig` is
 * empty) looks for credentials. Components declared with `clusterAccess: 'optional'` run without a
 * Kubernetes client when there is none (see `packages/runtime/README.md`, "Running without a cluster").
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

/** Service-account token of a pod (client-node's in-cluster loading reads it). */
export const SERVICE_ACCOUNT_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Where the kubeconfig comes from: `--kubeconfig`, `$KUBECONFIG`, `~/.kube/config` or the pod's service account. */
export type ClusterAccessSource = 'flag' | 'KUBECONFIG' | 'home' | 'in-cluster';

/**
 * The source of cluster access, in the order of client-node's `KubeConfig.loadFromDefault`: the flag
 * (`kubeconfigFlag`, the `--kubeconfig` value), `$KUBECONFIG`, `$HOME/.kube/config`, then a pod
 * (`$KUBERNETES_SERVICE_HOST` set and the service-account token present). Undefined when none applies:
 * client-node would then fall back to `http://localhost:8080`, which is never a real cluster. Pure
 * apart from `exists` (default `fs.existsSync`).
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
