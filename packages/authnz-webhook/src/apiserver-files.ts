/**
 * The kube-apiserver files that wire the webhook in (docs/authnz-webhook.md#authnz-apiserver;
 * docs/infra.md#infra-userdata): the authentication-webhook kubeconfig, the authorization-webhook kubeconfig, the
 * structured `AuthorizationConfiguration` (Node → Webhook with `failurePolicy: Deny` and match conditions that
 * keep every `system:` identity off the webhook → RBAC), and the kube-apiserver flags. The same
 * builders render the documented example files and the files of the end-to-end test.
 *
 * References: https://kubernetes.io/docs/reference/access-authn-authz/authorization/#using-configuration-file-for-authorization
 * and https://kubernetes.io/docs/reference/access-authn-authz/authentication/#webhook-token-authentication.
 */
import { stringify } from 'yaml';

/** Inputs of {@link renderApiserverFiles}. */
export interface ApiserverFilesOptions {
  /** Webhook base URL, e.g. `https://127.0.0.1:8481`. kube-apiserver appends no path. */
  webhookUrl: string;
  /** CA that signed the webhook's serving certificate. */
  caFile: string;
  /** kube-apiserver's client certificate and key for the webhook listener. */
  clientCertFile: string;
  clientKeyFile: string;
  /** Where the two kubeconfigs will live (they are referenced from the authorization config and flags). */
  authnKubeconfigPath: string;
  authzKubeconfigPath: string;
  authorizationConfigPath: string;
  /** `apiserver.config.k8s.io/v1` (1.32+) or `v1beta1` (1.30–1.31). Default v1. */
  apiVersion?: 'apiserver.config.k8s.io/v1' | 'apiserver.config.k8s.io/v1beta1';
  /** Webhook timeout; default `2s`. */
  timeout?: string;
  /** `Deny` (documented) or `NoOpinion`. */
  failurePolicy?: 'Deny' | 'NoOpinion';
  authorizedTTL?: string;
  unauthorizedTTL?: string;
  /** `--authentication-token-webhook-cache-ttl`; default `10s` (bounds revocation and expiry latency). */
  tokenCacheTtl?: string;
  /** Paths of the two webhook endpoints; default `/authenticate` and `/authorize`. */
  authnPath?: string;
  authzPath?: string;
}

/** The rendered files and flags. */
export interface ApiserverFiles {
  authnKubeconfig: string;
  authzKubeconfig: string;
  authorizationConfig: string;
  /** kube-apiserver flags; `--authorization-config` replaces `--authorization-mode`. */
  flags: Record<string, string>;
}

function kubeconfig(server: string, o: ApiserverFilesOptions): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kubeaws-authnz', cluster: { server, 'certificate-authority': o.caFile } }],
    users: [
      { name: 'kube-apiserver', user: { 'client-certificate': o.clientCertFile, 'client-key': o.clientKeyFile } },
    ],
    contexts: [{ name: 'default', context: { cluster: 'kubeaws-authnz', user: 'kube-apiserver' } }],
    'current-context': 'default',
  });
}

/** Renders the files of docs/authnz-webhook.md#authnz-apiserver. Pure. */
export function renderApiserverFiles(o: ApiserverFilesOptions): ApiserverFiles {
  const base = o.webhookUrl.replace(/\/+$/, '');
  const authorizationConfig = stringify({
    apiVersion: o.apiVersion ?? 'apiserver.config.k8s.io/v1',
    kind: 'AuthorizationConfiguration',
    authorizers: [
      { type: 'Node', name: 'node' },
      {
        type: 'Webhook',
        name: 'kubeaws-authnz',
        webhook: {
          timeout: o.timeout ?? '2s',
          failurePolicy: o.failurePolicy ?? 'Deny',
          subjectAccessReviewVersion: 'v1',
          matchConditionSubjectAccessReviewVersion: 'v1',
          authorizedTTL: o.authorizedTTL ?? '1m',
          unauthorizedTTL: o.unauthorizedTTL ?? '30s',
          connectionInfo: { type: 'KubeConfigFile', kubeConfigFile: o.authzKubeconfigPath },
          // Nodes, service accounts, the control plane and the webhook's own identity: RBAC only.
          matchConditions: [{ expression: "!request.user.startsWith('system:')" }],
        },
      },
      { type: 'RBAC', name: 'rbac' },
    ],
  });
  return {
    authnKubeconfig: kubeconfig(`${base}${o.authnPath ?? '/authenticate'}`, o),
    authzKubeconfig: kubeconfig(`${base}${o.authzPath ?? '/authorize'}`, o),
    authorizationConfig,
    flags: {
      'authentication-token-webhook-config-file': o.authnKubeconfigPath,
      'authentication-token-webhook-version': 'v1',
      'authentication-token-webhook-cache-ttl': o.tokenCacheTtl ?? '10s',
      'authorization-config': o.authorizationConfigPath,
    },
  };
}
