import { type ClusterPki, generatePki } from '@kubeaws/testenv';
import { applyAuthOverrides, authConfigFromConfigMap } from './auth';

let a: ClusterPki;
let b: ClusterPki;
beforeAll(async () => {
  [a, b] = await Promise.all([generatePki(), generatePki()]);
});

describe('applyAuthOverrides (docs/metrics-adapter.md#ma-authn)', () => {
  const base = () => authConfigFromConfigMap({
    'requestheader-client-ca-file': a.frontProxyCa.cert, 'requestheader-allowed-names': '["front-proxy-client"]',
    'requestheader-username-headers': '["X-Remote-User"]', 'client-ca-file': a.ca.cert,
  });

  it('no overrides: the ConfigMap as it is', () => {
    const c = base();
    expect(applyAuthOverrides(c, { allowedNames: [] })).toEqual(c);
  });

  it('--requestheader-client-ca-file, --requestheader-allowed-names and --client-ca-file replace the ConfigMap values', () => {
    const c = applyAuthOverrides(base(), { requestheaderCAPem: b.frontProxyCa.cert, allowedNames: ['aggregator'], clientCAPem: b.ca.cert });
    expect(c.requestheaderCAPem).toBe(b.frontProxyCa.cert);
    expect(c.requestheaderCA[0]!.fingerprint256).not.toBe(base().requestheaderCA[0]!.fingerprint256);
    expect(c.allowedNames).toEqual(['aggregator']);
    expect(c.clientCAPem).toBe(b.ca.cert);
    expect(c.usernameHeaders).toEqual(['X-Remote-User']); // header names still come from the ConfigMap
  });

  it('a file without a certificate is an error naming the flag', () => {
    expect(() => applyAuthOverrides(base(), { requestheaderCAPem: 'not a pem' })).toThrow('--requestheader-client-ca-file holds no PEM certificate');
    expect(() => applyAuthOverrides(base(), { clientCAPem: '' })).toThrow('--client-ca-file');
  });
});
