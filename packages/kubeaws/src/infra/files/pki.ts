/**
 * Certificates and keys of a cluster's PKI (docs/infra.md#infra-cluster-files): ECDSA P-256 CAs and leaf
 * certificates signed with SHA-256, built with @peculiar/x509 on node's WebCrypto; inspection with
 * node:crypto's X509Certificate. Certificate profiles follow kubeadm's
 * (https://kubernetes.io/docs/setup/best-practices/certificates/).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs a Reflect metadata polyfill.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

/** A PEM certificate (`-----BEGIN CERTIFICATE-----`) and its PEM PKCS#8 private key. */
export interface PemPair {
  cert: string;
  key: string;
}

/** What a leaf certificate must say. */
export interface CertProfile {
  /** Subject common name. */
  cn: string;
  /** Subject organisations (Kubernetes groups of a client certificate). */
  o?: string[];
  /** Extended key usages. */
  usages: ('server' | 'client')[];
  /** DNS subject alternative names (wildcards allowed). */
  dns?: string[];
  /** IP subject alternative names. */
  ips?: string[];
}

/** The parts of a certificate that {@link planClusterFiles} compares. */
export interface CertFacts {
  /** Subject as `CN=…` plus `O=…` entries, in this order. */
  cn: string;
  o: string[];
  dns: string[];
  ips: string[];
  notAfter: Date;
  /** Issuer subject string (node's multi-line form). */
  issuer: string;
  isCa: boolean;
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, non-zero leading byte
  return bytes.toString('hex');
}

function escapeRdn(v: string): string {
  return v.replace(/([,+"\\<>;=])/g, '\\$1');
}

function subject(p: { cn: string; o?: string[] }): string {
  return [...(p.o ?? []).map((o) => `O=${escapeRdn(o)}`), `CN=${escapeRdn(p.cn)}`].join(', ');
}

interface KeyPair {
  publicKey: CryptoKey;
  privateKey: CryptoKey;
}

async function keyPair(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify'])) as unknown as KeyPair;
}

async function privatePem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key as unknown as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
}

/**
 * A self-signed CA valid from one hour ago for `days` days.
 * @param cn subject common name, e.g. `kubernetes`
 */
export async function createCa(cn: string, days: number): Promise<PemPair> {
  const keys = await keyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subject({ cn }),
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + days * DAY_MS),
    signingAlgorithm: SIGNING_ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: await privatePem(keys.privateKey) };
}

/**
 * A leaf certificate for `profile`, signed by `ca` (PEM, as stored), valid from one hour ago for `days` days.
 * @throws when the CA key is not a PKCS#8 ECDSA P-256 key
 */
export async function issueCert(ca: PemPair, profile: CertProfile, days: number): Promise<PemPair> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(ca.key),
    EC_ALG,
    false,
    ['sign'],
  );
  const keys = await keyPair();
  const now = Date.now();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(
      profile.usages.map((u) => (u === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth)),
      false,
    ),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ];
  const san = [
    ...(profile.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(profile.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (san.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(san));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: subject(profile),
    issuer: caCert.subject,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + days * DAY_MS),
    signingAlgorithm: SIGNING_ALG,
    publicKey: keys.publicKey,
    signingKey: caKey as unknown as CryptoKey,
    extensions,
  });
  return { cert: cert.toString('pem') + '\n', key: await privatePem(keys.privateKey) };
}

/**
 * The subject, SANs, expiry, issuer and CA flag of a PEM certificate.
 * @throws when `pem` is not a certificate
 */
export function certFacts(pem: string): CertFacts {
  const c = new X509Certificate(pem);
  const lines = c.subject.split('\n');
  const san = (c.subjectAltName ?? '').split(', ').filter(Boolean);
  return {
    cn: lines.find((l) => l.startsWith('CN='))?.slice(3) ?? '',
    o: lines.filter((l) => l.startsWith('O=')).map((l) => l.slice(2)),
    dns: san.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)),
    ips: san.filter((s) => s.startsWith('IP Address:')).map((s) => s.slice(11)),
    notAfter: new Date(c.validTo),
    issuer: c.issuer,
    isCa: c.ca,
  };
}

/** Whether the certificate `pem` was signed by the CA certificate `caPem`. */
export function signedBy(pem: string, caPem: string): boolean {
  const c = new X509Certificate(pem);
  const ca = new X509Certificate(caPem);
  return c.checkIssued(ca) && c.verify(ca.publicKey);
}

/** Whether the private key `keyPem` belongs to the certificate `certPem`. */
export function keyMatches(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/**
 * The service-account token signing key pair: ECDSA P-256 (ES256), PKCS#8 private and SPKI public PEM
 * (`--service-account-signing-key-file`, `--service-account-key-file`,
 * https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/).
 */
export function serviceAccountKeyPair(): { key: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    pub: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/** The SPKI PEM public key of a PKCS#8 private key PEM. */
export function publicKeyOf(keyPem: string): string {
  return createPublicKey(keyPem).export({ format: 'pem', type: 'spki' }).toString();
}

/** 32 random bytes, base64: a `secretbox` key of an EncryptionConfiguration. */
export function secretboxKey(): string {
  return randomBytes(32).toString('base64');
}
