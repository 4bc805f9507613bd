/**
 * The serving certificate (docs/metrics-adapter.md#ma-tls): from files, reloaded when they change, or a
 * self-signed in-memory certificate with SANs `<service>.<namespace>.svc`, `localhost` and `127.0.0.1`.
 */
import { webcrypto } from 'node:crypto';

/** @peculiar/x509, loaded on first use: a replica serving a certificate from files never needs it (about 10 MiB). */
async function loadX509(): Promise<typeof import('@peculiar/x509')> {
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  return x509;
}

/** A PEM certificate and PKCS#8 key. */
export interface ServingPair {
  cert: string;
  key: string;
}

/** Generates a self-signed ECDSA P-256 serving certificate valid for one year. */
export async function selfSignedServing(service: { namespace: string; name: string }): Promise<ServingPair> {
  const x509 = await loadX509();
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as unknown as { publicKey: CryptoKey; privateKey: CryptoKey };
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(15))).toString('hex').replace(/^./, '1'),
    name: `CN=${service.name}.${service.namespace}.svc`,
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 365 * 86_400_000),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: `${service.name}.${service.namespace}.svc` },
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
    ],
  });
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as unknown as webcrypto.CryptoKey);
  return { cert: cert.toString('pem'), key: x509.PemConverter.encode(der, 'PRIVATE KEY') };
}
