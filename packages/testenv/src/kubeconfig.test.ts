import { buildKubeconfig } from './kubeconfig';

describe('buildKubeconfig', () => {
  it('embeds CA and client certificate data', () => {
    const kc = buildKubeconfig({
      server: 'https://127.0.0.1:1234',
      caCert: 'CA',
      credentials: { clientCert: 'CERT', clientKey: 'KEY' },
    }) as {
      clusters: Array<{ cluster: Record<string, string> }>;
      users: Array<{ user: Record<string, string> }>;
      'current-context': string;
    };
    expect(kc.clusters[0].cluster.server).toBe('https://127.0.0.1:1234');
    expect(Buffer.from(kc.clusters[0].cluster['certificate-authority-data'], 'base64').toString()).toBe('CA');
    expect(Buffer.from(kc.users[0].user['client-key-data'], 'base64').toString()).toBe('KEY');
    expect(kc['current-context']).toBe('kubeaws-testenv');
  });

  it('supports token users and a default namespace', () => {
    const kc = buildKubeconfig({
      server: 's',
      caCert: 'CA',
      credentials: { token: 'T' },
      name: 'n',
      namespace: 'ns',
    }) as { users: Array<{ user: Record<string, string> }>; contexts: Array<{ context: Record<string, string> }> };
    expect(kc.users[0].user).toEqual({ token: 'T' });
    expect(kc.contexts[0].context).toEqual({ cluster: 'n', user: 'n', namespace: 'ns' });
  });
});
