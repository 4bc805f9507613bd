/**
 * The component's configuration: the parsed flags (docs/authnz-webhook.md#authnz-flags), the configuration file
 * as loaded at start (#authnz-config) and what follows from both: the listeners, the Lease namespace, and
 * whether the process may run without a cluster (#authnz-standalone). Everything here is decided before any
 * listener opens and before any API call.
 */
import type { ComponentValues, ConfigureContext } from '@kubeaws/runtime';
import { ClusterAccessRequired, emergencyAccessSettings } from './cluster-access.js';
import { type AuthnzConfig, loadConfigFile } from './config.js';
import { type AuthnzFlags, checkAuthnzFlags, type flagSpecs } from './flags.js';
import type { TlsFiles } from './server.js';

/** The configuration of the authnz-webhook component. */
export interface AuthnzSettings extends AuthnzFlags {
  /** Webhook listener: bind address and TLS (undefined TLS = `--insecure-loopback-webhook`). */
  webhook: { bindAddress: string; tls?: TlsFiles };
  /**
   * Access API listener; undefined = off (`--access-api-bind-address=""`, or no cluster access: the access
   * API serves AccessRequests, which live in the cluster only).
   */
  access?: { bindAddress: string; tls: TlsFiles };
  /** The configuration file as read at start; reloads replace the webhook's copy (#authnz-reload). */
  initialConfig: AuthnzConfig;
  /** Config and TLS poll interval in ms (#authnz-reload): 10 000. */
  reloadIntervalMs: number;
  /** AccessRequest housekeeping pass interval in ms (#authnz-access-expiry): 5 000. */
  housekeepingIntervalMs: number;
}

/**
 * The component's `configure`: cross-checks the flags (exit 2), reads the configuration file (invalid: exit 1
 * with one line per problem, docs/authnz-webhook.md#authnz-config), refuses a configuration that enables
 * emergency access when there is no cluster access (exit 2, #authnz-standalone), and resolves the listeners and
 * the Lease namespace (default: `emergencyAccess.namespace`, where the shipped Role grants Leases,
 * #authnz-own-rbac).
 * @throws ConfigError for invalid flag combinations; ClusterAccessRequired (a ConfigError) without cluster
 *   access when emergency access is enabled.
 * @throws ConfigFileError (an ExitError with code 1) for an unreadable or invalid configuration file.
 */
export function configureAuthnz(
  values: ComponentValues<typeof flagSpecs>,
  _env: NodeJS.ProcessEnv,
  ctx: ConfigureContext<typeof flagSpecs>,
): AuthnzSettings {
  const flags = checkAuthnzFlags(values);
  const initialConfig = loadConfigFile(flags.config);
  const standalone = ctx.clusterAccess === undefined;
  if (standalone) {
    const needsCluster = emergencyAccessSettings(initialConfig);
    if (needsCluster.length) throw new ClusterAccessRequired(flags.config, needsCluster, flags.kubeconfig);
  }
  return {
    ...flags,
    leaseNamespace:
      ctx.sources.leaseNamespace === 'default' ? initialConfig.emergencyAccess.namespace : flags.leaseNamespace,
    webhook: {
      bindAddress: flags.webhookBindAddress,
      tls: flags.insecureLoopbackWebhook
        ? undefined
        : {
            certFile: flags.tlsCertFile,
            keyFile: flags.tlsPrivateKeyFile,
            clientCaFile: flags.clientCaFile,
            allowedClientNames: flags.allowedClientNames,
          },
    },
    access:
      standalone || flags.accessApiBindAddress === ''
        ? undefined
        : {
            bindAddress: flags.accessApiBindAddress,
            tls: {
              certFile: flags.accessApiTlsCertFile || flags.tlsCertFile,
              keyFile: flags.accessApiTlsPrivateKeyFile || flags.tlsPrivateKeyFile,
            },
          },
    initialConfig,
    reloadIntervalMs: 10_000,
    housekeepingIntervalMs: 5_000,
  };
}

/** The start line's view of the settings: the flags and the configuration's hash and issuers, not its content. */
export function describeAuthnz(s: AuthnzSettings): Record<string, unknown> {
  const { initialConfig, ...rest } = s;
  return {
    ...rest,
    configHash: initialConfig.contentHash.slice(0, 12),
    issuers: initialConfig.authentication.issuers.map((i) => i.name),
  };
}
