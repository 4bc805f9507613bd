import { writeFile } from 'node:fs/promises';

/** Credentials of one kubeconfig user: a client certificate pair (PEM) or a bearer token. */
export type KubeconfigCredentials = { clientCert: string; clientKey: string } | { token: string };

/** Input of {@link buildKubeconfig}. */
export interface KubeconfigInput {
  /** API server URL, e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** PEM of the CA that signed the serving certificate. */
  caCert: string;
  /** User credentials. */
  credentials: KubeconfigCredentials;
  /** Name used for the cluster, user and context entries. Default `kubeaws-testenv`. */
  name?: string;
  /** Default namespace of the context. */
  namespace?: string;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/**
 * Builds a kubeconfig (`apiVersion: v1, kind: Config`) with one cluster, user and context, all data
 * embedded (`*-data` fields, base64). Returned as a plain object; JSON is valid kubeconfig YAML. Pure.
 * Format: https://kubernetes.io/docs/reference/config-api/kubeconfig.v1/
 */
export function buildKubeconfig(input: KubeconfigInput): Record<string, unknown> {
  const name = input.name ?? 'kubeaws-testenv';
  const user =
    'token' in input.credentials
      ? { token: input.credentials.token }
      : {
          'client-certificate-data': b64(input.credentials.clientCert),
          'client-key-data': b64(input.credentials.clientKey),
        };
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: input.server, 'certificate-authority-data': b64(input.caCert) } }],
    users: [{ name, user }],
    contexts: [{ name, context: { cluster: name, user: name, ...(input.namespace ? { namespace: input.namespace } : {}) } }],
    'current-context': name,
    preferences: {},
  };
}

/** Writes {@link buildKubeconfig}'s result to `file` as JSON with mode 0600. */
export async function writeKubeconfig(file: string, input: KubeconfigInput): Promise<void> {
  await writeFile(file, JSON.stringify(buildKubeconfig(input), null, 2) + '\n', { mode: 0o600 });
}
