/**
 * Process entry point of the authnz-webhook: flags (exit 2 when invalid), configuration (exit 1 with one
 * `<path>: <problem> (got …; expected …)` line per error), SIGHUP forces a configuration reload, SIGTERM
 * starts the graceful shutdown (docs/authnz-webhook.md#authnz-config, #authnz-flags, #authnz-shutdown).
 * Without cluster access (no --kubeconfig, KUBECONFIG, ~/.kube/config or pod service account) it runs
 * standalone when the configuration disables emergency access, and exits 2 before serving when it enables it
 * (docs/authnz-webhook.md#authnz-standalone).
 */
import pino from 'pino';
import { ConfigError, createLogger, runMain } from '@kubeaws/runtime';
import { AuthnzWebhook } from './app.js';
import { ClusterAccessRequired, clusterAccessSource, noClusterAccessMessage } from './cluster-access.js';
import { ConfigFileError } from './config.js';
import { parseAuthnzFlags } from './flags.js';

void runMain(async ({ signal, argv, env }) => {
  const flags = parseAuthnzFlags(argv, env);
  const logger = createLogger({
    component: 'authnz-webhook',
    level: flags.logLevel,
    destination: pino.destination({ dest: 1, sync: false, minLength: 4096 }),
  });
  const standalone = clusterAccessSource(flags.kubeconfig, env) === undefined;
  let app: AuthnzWebhook;
  try {
    app = await AuthnzWebhook.start({
      configPath: flags.config,
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
      metricsBindAddress: flags.metricsBindAddress,
      healthProbeBindAddress: flags.healthProbeBindAddress,
      maxRequestBytes: flags.maxRequestBytes,
      shutdownDelayMs: flags.shutdownDelay,
      kube: standalone ? undefined : { kubeconfigPath: flags.kubeconfig || undefined, leaderElect: flags.leaderElect },
      logger,
    });
  } catch (err) {
    logger.flush();
    if (err instanceof ConfigFileError) {
      process.stderr.write(`error: invalid configuration ${err.file}\n${err.problems.join('\n')}\n`);
      return 1;
    }
    if (err instanceof ClusterAccessRequired)
      throw new ConfigError(
        'kubeconfig',
        flags.kubeconfig,
        'a kubeconfig for the cluster',
        'KUBEAWS_AUTHNZ_KUBECONFIG',
        'other',
        noClusterAccessMessage(err),
      );
    throw err;
  }
  if (flags.insecureLoopbackWebhook)
    logger.warn('the webhook listener serves plain HTTP on loopback (--insecure-loopback-webhook)');
  const onHup = () => void app.reload(true);
  process.on('SIGHUP', onHup);
  if (!signal.aborted) await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
  process.off('SIGHUP', onHup);
  await app.stop();
  logger.flush();
  return 0;
});
