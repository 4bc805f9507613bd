import { ConfigError } from '@kubeaws/runtime';
import { parseAuthnzFlags } from './flags';

const tls = ['--tls-cert-file=/c', '--tls-private-key-file=/k', '--client-ca-file=/ca'];

describe('flags (AUTHNZ-FLAGS)', () => {
  it('has the documented defaults', () => {
    const f = parseAuthnzFlags(tls, {});
    expect(f).toMatchObject({
      config: '/etc/kubeaws/authnz/config.yaml',
      webhookBindAddress: '127.0.0.1:8481',
      accessApiBindAddress: ':8482',
      metricsBindAddress: ':8483',
      healthProbeBindAddress: ':8484',
      maxRequestBytes: 1048576,
      shutdownDelay: 65_000,
      leaderElect: true,
      insecureLoopbackWebhook: false,
      logLevel: 'info',
    });
  });

  it('reads every flag from KUBEAWS_AUTHNZ_<FLAG>', () => {
    const f = parseAuthnzFlags([], {
      KUBEAWS_AUTHNZ_TLS_CERT_FILE: '/c',
      KUBEAWS_AUTHNZ_TLS_PRIVATE_KEY_FILE: '/k',
      KUBEAWS_AUTHNZ_CLIENT_CA_FILE: '/ca',
      KUBEAWS_AUTHNZ_MAX_REQUEST_BYTES: '2048',
      KUBEAWS_AUTHNZ_ALLOWED_CLIENT_NAMES: 'a, b',
    });
    expect(f.maxRequestBytes).toBe(2048);
    expect(f.allowedClientNames).toEqual(['a', 'b']);
  });

  it('requires the TLS files unless the webhook is plain HTTP on loopback', () => {
    expect(() => parseAuthnzFlags([], {})).toThrow(ConfigError);
    expect(() => parseAuthnzFlags(['--insecure-loopback-webhook', '--access-api-bind-address='], {})).not.toThrow();
  });

  it('refuses --insecure-loopback-webhook on a non-loopback address', () => {
    expect(() =>
      parseAuthnzFlags(
        ['--insecure-loopback-webhook', '--webhook-bind-address=0.0.0.0:8481', '--access-api-bind-address='],
        {},
      ),
    ).toThrow(/not a loopback address/);
  });

  it('names the flag and the expected form for bad values', () => {
    expect(() => parseAuthnzFlags([...tls, '--max-request-bytes=lots'], {})).toThrow(/max-request-bytes/);
    expect(() => parseAuthnzFlags([...tls, '--shutdown-delay=soon'], {})).toThrow(/shutdown-delay/);
  });
});
