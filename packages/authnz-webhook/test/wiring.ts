/**
 * The kube-apiserver side of the webhook for the integration suites
 * (docs/authnz-webhook.md#authnz-apiserver): a PKI for the webhook's serving certificate and
 * kube-apiserver's client certificate (CN kubeaws-admin), and the authentication kubeconfig, authorization
 * kubeconfig and AuthorizationConfiguration rendered by `renderApiserverFiles`, for a webhook on a loopback
 * port chosen up front. The jest globalSetup (test/global-setup.ts) starts the shared cluster with these flags and
 * hands the wiring to the suites in `$KUBEAWS_AUTHNZ_TEST_WIRING`.
 *
 * testenv is imported by source path (`@kubeaws/testenv/src/...`): the globalSetup is loaded without the
 * jest module map, where `@kubeaws/testenv` would be the build output.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { renderApiserverFiles } from '../src/apiserver-files';
import { generatePki } from '@kubeaws/testenv/src/pki';
import { freePorts } from '@kubeaws/testenv/src/wait';

/** Environment variable holding the JSON {@link WebhookWiring} of the shared cluster. */
export const WIRING_ENV = 'KUBEAWS_AUTHNZ_TEST_WIRING';

/** Files and flags that wire a webhook on `127.0.0.1:<webhookPort>` into kube-apiserver. */
export interface WebhookWiring {
  dir: string;
  webhookPort: number;
  /** PEM files: the webhook CA, the webhook's serving pair, kube-apiserver's client pair. */
  files: { ca: string; cert: string; key: string; clientCert: string; clientKey: string };
  /**
   * kube-apiserver flags; `null` drops testenv's `--authorization-mode`, which kube-apiserver refuses next to
   * `--authorization-config`.
   */
  apiserverArgs: Record<string, string | null>;
}

/**
 * Writes the PKI and the kube-apiserver files into `dir` for a webhook on a free loopback port.
 * kube-apiserver's token-webhook cache TTL is 2 s so that grant expiry shows within seconds.
 */
export async function prepareWebhookWiring(dir: string): Promise<WebhookWiring> {
  const [webhookPort] = await freePorts(1);
  const pki = await generatePki();
  const f = (n: string) => path.join(dir, n);
  const files = {
    ca: f('ca.crt'),
    cert: f('webhook.crt'),
    key: f('webhook.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
  };
  writeFileSync(files.ca, pki.ca.cert);
  writeFileSync(files.cert, pki.apiserver.cert);
  writeFileSync(files.key, pki.apiserver.key);
  writeFileSync(files.clientCert, pki.admin.cert);
  writeFileSync(files.clientKey, pki.admin.key);
  const rendered = renderApiserverFiles({
    webhookUrl: `https://127.0.0.1:${webhookPort}`,
    caFile: files.ca,
    clientCertFile: files.clientCert,
    clientKeyFile: files.clientKey,
    authnKubeconfigPath: f('authn.kubeconfig'),
    authzKubeconfigPath: f('authz.kubeconfig'),
    authorizationConfigPath: f('authorization-config.yaml'),
    tokenCacheTtl: '2s',
  });
  writeFileSync(f('authn.kubeconfig'), rendered.authnKubeconfig);
  writeFileSync(f('authz.kubeconfig'), rendered.authzKubeconfig);
  writeFileSync(f('authorization-config.yaml'), rendered.authorizationConfig);
  return {
    dir,
    webhookPort: webhookPort!,
    files,
    apiserverArgs: { ...rendered.flags, 'authorization-mode': null },
  };
}

/** The wiring of the shared cluster, or undefined when the cluster was not started with it (a reused one). */
export function wiringFromEnv(): WebhookWiring | undefined {
  const raw = process.env[WIRING_ENV];
  return raw ? (JSON.parse(raw) as WebhookWiring) : undefined;
}
