/**
 * Flags of the webhook process (docs/authnz-webhook.md#authnz-flags). Every flag can also be set through
 * `KUBEAWS_AUTHNZ_<FLAG_IN_UPPER_SNAKE>`; precedence flag > environment > default (shared runtime).
 * The component's own flags are {@link flagSpecs}; the shared ones (`--kubeconfig`, `--leader-elect`,
 * `--lease-name`, `--lease-namespace`, `--metrics-bind-address`, `--health-probe-bind-address`,
 * `--log-level`) come from the runtime with this component's env names, defaults and texts
 * ({@link sharedFlagOverrides}). Invalid values are {@link ConfigError}s: exit code 2 before anything starts.
 */
import {
  type ComponentValues,
  ConfigError,
  type FlagSpec,
  type SharedFlagOverrides,
  componentFlagSpecs,
  flag,
  parseBindAddress,
  parseFlags,
  parsers,
} from '@kubeaws/runtime';

/** Component name: metric prefix `kubeaws_authnz_webhook_`, log `component`, Lease `kubeaws-authnz-webhook`. */
export const COMPONENT = 'authnz-webhook';
/** One line for `--help`. */
export const DESCRIPTION = 'kube-apiserver authentication and authorization webhook';

/** The environment variable of a flag: `KUBEAWS_AUTHNZ_<FLAG_IN_UPPER_SNAKE>`. */
export function flagEnv(flagName: string): string {
  return `KUBEAWS_AUTHNZ_${flagName.replace(/-/g, '_').toUpperCase()}`;
}

function f<T>(spec: Omit<FlagSpec<T>, 'env'>): FlagSpec<T> {
  return flag<T>({ ...spec, env: flagEnv(spec.flag) });
}

const optionalBind = (raw: string): string => {
  if (raw !== '') parseBindAddress(raw);
  return raw;
};

/** The component's own flag specs (the shared ones are added by the runtime). */
export const flagSpecs = {
  config: f<string>({
    flag: 'config',
    description: 'Configuration file (YAML)',
    expected: 'a file path',
    default: '/etc/kubeaws/authnz/config.yaml',
    parse: parsers.nonEmpty,
  }),
  tlsCertFile: f<string>({
    flag: 'tls-cert-file',
    description: 'Serving certificate (PEM) of the webhook and access listeners',
    expected: 'a file path',
    default: '',
    parse: parsers.string,
  }),
  tlsPrivateKeyFile: f<string>({
    flag: 'tls-private-key-file',
    description: 'Serving private key (PEM)',
    expected: 'a file path',
    default: '',
    parse: parsers.string,
  }),
  clientCaFile: f<string>({
    flag: 'client-ca-file',
    description: "CA (PEM) of kube-apiserver's client certificate on the webhook listener",
    expected: 'a file path',
    default: '',
    parse: parsers.string,
  }),
  allowedClientNames: f<string[]>({
    flag: 'allowed-client-names',
    description: 'Allowed client-certificate CNs (default: any the CA signed)',
    expected: 'a comma-separated list of names',
    default: [],
    parse: parsers.list(),
  }),
  accessApiTlsCertFile: f<string>({
    flag: 'access-api-tls-cert-file',
    description: 'Serving certificate of the access API (default: --tls-cert-file)',
    expected: 'a file path',
    default: '',
    parse: parsers.string,
  }),
  accessApiTlsPrivateKeyFile: f<string>({
    flag: 'access-api-tls-private-key-file',
    description: 'Serving key of the access API (default: --tls-private-key-file)',
    expected: 'a file path',
    default: '',
    parse: parsers.string,
  }),
  insecureLoopbackWebhook: f<boolean>({
    flag: 'insecure-loopback-webhook',
    description: 'Plain HTTP on the webhook listener (loopback only)',
    expected: 'true or false',
    default: false,
    parse: parsers.bool,
    boolean: true,
  }),
  maxRequestBytes: f<number>({
    flag: 'max-request-bytes',
    description: 'Largest accepted request body',
    expected: 'an integer from 1024 to 67108864',
    default: 1_048_576,
    parse: parsers.int({ min: 1024, max: 67_108_864 }),
  }),
  shutdownDelay: f<number>({
    flag: 'shutdown-delay',
    description: "Serving time after SIGTERM (longer than kube-apiserver's --shutdown-delay-duration)",
    expected: 'a duration like 65s',
    default: 65_000,
    parse: parsers.duration({ maxMs: 3_600_000 }),
  }),
  webhookBindAddress: f<string>({
    flag: 'webhook-bind-address',
    description: 'Webhook listener (TokenReview, SubjectAccessReview)',
    expected: '[host]:port such as 127.0.0.1:8481',
    default: '127.0.0.1:8481',
    parse: parsers.bindAddress,
  }),
  accessApiBindAddress: f<string>({
    flag: 'access-api-bind-address',
    description: 'Access API listener ("" = off)',
    expected: '[host]:port such as :8482, or "" to disable',
    default: ':8482',
    parse: optionalBind,
  }),
};

/**
 * The shared runtime flags as this component has them (docs/authnz-webhook.md#authnz-flags): env
 * `KUBEAWS_AUTHNZ_<FLAG>`, metrics on `:8483`, probes on `:8484`, the Lease namespace defaulting to the
 * emergency-access namespace (resolved by `configureAuthnz` once the configuration file is read).
 */
export const sharedFlagOverrides: SharedFlagOverrides = {
  kubeconfig: {
    env: flagEnv('kubeconfig'),
    description: 'kubeconfig for AccessRequests, Leases and Events (default: in-cluster)',
  },
  leaderElect: { env: flagEnv('leader-elect'), description: 'Leader-only housekeeping of AccessRequests' },
  leaseName: { env: flagEnv('lease-name') },
  leaseNamespace: {
    env: flagEnv('lease-namespace'),
    description: 'Namespace of the leader-election Lease (default: emergencyAccess.namespace of --config)',
  },
  metricsBindAddress: {
    env: flagEnv('metrics-bind-address'),
    description: '/metrics listener ("0" disables)',
    expected: '[host]:port such as :8483',
    default: ':8483',
  },
  healthProbeBindAddress: {
    env: flagEnv('health-probe-bind-address'),
    description: '/healthz and /readyz listener ("0" disables)',
    expected: '[host]:port such as :8484',
    default: ':8484',
  },
  logLevel: { env: flagEnv('log-level') },
};

/** Every flag spec of the component: the shared ones ({@link sharedFlagOverrides} applied) and {@link flagSpecs}. */
export const allFlagSpecs = componentFlagSpecs(COMPONENT, flagSpecs, sharedFlagOverrides);

/** Parsed flag values (shared and own). */
export type AuthnzFlags = ComponentValues<typeof flagSpecs>;

function isLoopback(addr: string): boolean {
  const b = parseBindAddress(addr);
  const h = b?.host ?? '';
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * Cross-checks parsed flag values (docs/authnz-webhook.md#authnz-flags) and returns them unchanged.
 * @throws ConfigError (exit 2) for a missing required file flag, or `--insecure-loopback-webhook` on a
 *   non-loopback address.
 */
export function checkAuthnzFlags<V extends AuthnzFlags>(v: V): V {
  const need = (name: string, value: string, why: string) => {
    if (!value)
      throw new ConfigError(
        name,
        '',
        'a file path',
        flagEnv(name),
        'flag',
        `flag --${name} is required ${why} (env ${flagEnv(name)})`,
      );
  };
  if (v.insecureLoopbackWebhook) {
    if (!isLoopback(v.webhookBindAddress))
      throw new ConfigError(
        'insecure-loopback-webhook',
        'true',
        'a loopback --webhook-bind-address',
        flagEnv('insecure-loopback-webhook'),
        'flag',
        `--insecure-loopback-webhook is refused: --webhook-bind-address ${v.webhookBindAddress} is not a loopback address (expected 127.0.0.1:<port> or [::1]:<port>)`,
      );
  } else {
    need('tls-cert-file', v.tlsCertFile, 'for the mTLS webhook listener');
    need('tls-private-key-file', v.tlsPrivateKeyFile, 'for the mTLS webhook listener');
    need('client-ca-file', v.clientCaFile, 'for the mTLS webhook listener');
  }
  if (v.accessApiBindAddress !== '') {
    need(
      'access-api-tls-cert-file',
      v.accessApiTlsCertFile || v.tlsCertFile,
      'for the access API (or --tls-cert-file)',
    );
    need(
      'access-api-tls-private-key-file',
      v.accessApiTlsPrivateKeyFile || v.tlsPrivateKeyFile,
      'for the access API (or --tls-private-key-file)',
    );
  }
  return v;
}

/**
 * Parses and cross-checks the flags alone (no configuration file): what the component's `configure` starts
 * with. The Lease namespace is still the runtime's default here (`POD_NAMESPACE`, else `kube-system`).
 * @throws ConfigError (exit 2) for invalid values and the cases of {@link checkAuthnzFlags}.
 */
export function parseAuthnzFlags(argv: string[], environment: NodeJS.ProcessEnv): AuthnzFlags {
  return checkAuthnzFlags(
    parseFlags(allFlagSpecs, { argv, env: environment, name: COMPONENT, description: DESCRIPTION }),
  );
}
