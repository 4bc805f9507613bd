import { webcrypto } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs a Reflect metadata polyfill.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const SIGNING_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;

interface KeyPair {
  publicKey: CryptoKey;
  privateKey: CryptoKey;
}

/** A PEM-encoded certificate and its PEM-encoded PKCS#8 private key. */
export interface PemPair {
  /** `-----BEGIN CERTIFICATE-----` block. */
  cert: string;
  /** `-----BEGIN PRIVATE KEY-----` block (PKCS#8, ECDSA P-256). */
  key: string;
}

/**
 * The whole PKI of a local control plane, in memory (PEM strings).
 * Layout and subjects follow kubeadm's conventions (https://kubernetes.io/docs/setup/best-practices/certificates/).
 */
export interface ClusterPki {
  /** Cluster CA: signs the serving certificate and every client certificate; given to `--client-ca-file`. */
  ca: PemPair;
  /** kube-apiserver serving certificate; SANs cover 127.0.0.1, ::1, localhost and the `kubernetes` service names/IP. */
  apiserver: PemPair;
  /** Client certificate CN=kubeaws-admin, O=system:masters. */
  admin: PemPair;
  /** Client certificate CN=system:kube-controller-manager (bound by RBAC bootstrap policy). */
  controllerManager: PemPair;
  /** Client certificate CN=system:kube-scheduler (bound by RBAC bootstrap policy). */
  scheduler: PemPair;
  /** Client certificate CN=kwok-controller, O=system:masters (kwok patches node and pod status). */
  kwok: PemPair;
  /** Front-proxy CA for the aggregation layer (`--requestheader-client-ca-file`). */
  frontProxyCa: PemPair;
  /** Front-proxy client certificate CN=front-proxy-client (`--proxy-client-cert-file`). */
  frontProxyClient: PemPair;
  /** Service-account token signing key: PKCS#8 private key and SPKI public key, both PEM. */
  serviceAccount: { key: string; pub: string };
}

/** Options for {@link generatePki}. */
export interface PkiOptions {
  /** Extra DNS names for the apiserver serving certificate. */
  extraDnsNames?: string[];
  /** Extra IP addresses for the apiserver serving certificate. */
  extraIps?: string[];
  /** Cluster IP of the `kubernetes` service (first IP of the service CIDR). Default `10.96.0.1`. */
  kubernetesServiceIp?: string;
  /** Certificate lifetime in days. Default 365. */
  validityDays?: number;
}

async function generateKey(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify'])) as unknown as KeyPair;
}

async function keyToPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key as unknown as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function publicKeyToPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('spki', key as unknown as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PUBLIC KEY');
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x7f) | 0x01; // positive, non-zero leading byte
  return Buffer.from(bytes).toString('hex');
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - 60 * 60 * 1000), notAfter: new Date(now + days * 24 * 60 * 60 * 1000) };
}

interface Issuer {
  cert: x509.X509Certificate;
  keys: KeyPair;
}

async function createCa(cn: string, days: number): Promise<Issuer> {
  const keys = await generateKey();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${cn}`,
    ...validity(days),
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
  return { cert, keys };
}

async function issue(
  issuer: Issuer,
  subject: string,
  usage: 'server' | 'client',
  days: number,
  san?: { dns: string[]; ip: string[] },
): Promise<PemPair> {
  const keys = await generateKey();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(
      [usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
      false,
    ),
    await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
  ];
  if (san) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension([
        ...san.dns.map((value) => ({ type: 'dns' as const, value })),
        ...san.ip.map((value) => ({ type: 'ip' as const, value })),
      ]),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: issuer.cert.subjectName,
    ...validity(days),
    signingAlgorithm: SIGNING_ALG,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    extensions,
  });
  return { cert: cert.toString('pem') + '\n', key: await keyToPem(keys.privateKey) };
}

/**
 * Generates a fresh PKI for one local control plane: ECDSA P-256 keys, SHA-256 signatures.
 * Takes well under a second. Nothing is written to disk (see {@link writePki}).
 */
export async function generatePki(opts: PkiOptions = {}): Promise<ClusterPki> {
  const days = opts.validityDays ?? 365;
  const ca = await createCa('kubeaws-testenv-ca', days);
  const frontProxyCa = await createCa('kubeaws-testenv-front-proxy-ca', days);
  const dns = [
    'localhost',
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster.local',
    ...(opts.extraDnsNames ?? []),
  ];
  const ip = ['127.0.0.1', '::1', opts.kubernetesServiceIp ?? '10.96.0.1', ...(opts.extraIps ?? [])];
  const saKeys = await generateKey();
  const caPair = async (i: Issuer): Promise<PemPair> => ({
    cert: i.cert.toString('pem') + '\n',
    key: await keyToPem(i.keys.privateKey),
  });
  return {
    ca: await caPair(ca),
    apiserver: await issue(ca, 'CN=kube-apiserver', 'server', days, { dns, ip }),
    admin: await issue(ca, 'CN=kubeaws-admin, O=system:masters', 'client', days),
    controllerManager: await issue(ca, 'CN=system:kube-controller-manager', 'client', days),
    scheduler: await issue(ca, 'CN=system:kube-scheduler', 'client', days),
    kwok: await issue(ca, 'CN=kwok-controller, O=system:masters', 'client', days),
    frontProxyCa: await caPair(frontProxyCa),
    frontProxyClient: await issue(frontProxyCa, 'CN=front-proxy-client', 'client', days),
    serviceAccount: { key: await keyToPem(saKeys.privateKey), pub: await publicKeyToPem(saKeys.publicKey) },
  };
}

/** File paths of a PKI written by {@link writePki}. All are PEM files in one directory. */
export interface PkiPaths {
  dir: string;
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  adminCert: string;
  adminKey: string;
  controllerManagerCert: string;
  controllerManagerKey: string;
  schedulerCert: string;
  schedulerKey: string;
  kwokCert: string;
  kwokKey: string;
  frontProxyCaCert: string;
  frontProxyCaKey: string;
  frontProxyClientCert: string;
  frontProxyClientKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

/** Returns the file layout {@link writePki} uses under `dir` (kubeadm-like names). Pure. */
export function pkiPaths(dir: string): PkiPaths {
  const p = (name: string): string => path.join(dir, name);
  return {
    dir,
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    apiserverCert: p('apiserver.crt'),
    apiserverKey: p('apiserver.key'),
    adminCert: p('admin.crt'),
    adminKey: p('admin.key'),
    controllerManagerCert: p('controller-manager.crt'),
    controllerManagerKey: p('controller-manager.key'),
    schedulerCert: p('scheduler.crt'),
    schedulerKey: p('scheduler.key'),
    kwokCert: p('kwok.crt'),
    kwokKey: p('kwok.key'),
    frontProxyCaCert: p('front-proxy-ca.crt'),
    frontProxyCaKey: p('front-proxy-ca.key'),
    frontProxyClientCert: p('front-proxy-client.crt'),
    frontProxyClientKey: p('front-proxy-client.key'),
    serviceAccountKey: p('sa.key'),
    serviceAccountPub: p('sa.pub'),
  };
}

/** Writes `pki` into `dir` (created, mode 0700; keys 0600) and returns the paths. */
export async function writePki(pki: ClusterPki, dir: string): Promise<PkiPaths> {
  const paths = pkiPaths(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files: Array<[string, string]> = [
    [paths.caCert, pki.ca.cert],
    [paths.caKey, pki.ca.key],
    [paths.apiserverCert, pki.apiserver.cert],
    [paths.apiserverKey, pki.apiserver.key],
    [paths.adminCert, pki.admin.cert],
    [paths.adminKey, pki.admin.key],
    [paths.controllerManagerCert, pki.controllerManager.cert],
    [paths.controllerManagerKey, pki.controllerManager.key],
    [paths.schedulerCert, pki.scheduler.cert],
    [paths.schedulerKey, pki.scheduler.key],
    [paths.kwokCert, pki.kwok.cert],
    [paths.kwokKey, pki.kwok.key],
    [paths.frontProxyCaCert, pki.frontProxyCa.cert],
    [paths.frontProxyCaKey, pki.frontProxyCa.key],
    [paths.frontProxyClientCert, pki.frontProxyClient.cert],
    [paths.frontProxyClientKey, pki.frontProxyClient.key],
    [paths.serviceAccountKey, pki.serviceAccount.key],
    [paths.serviceAccountPub, pki.serviceAccount.pub],
  ];
  await Promise.all(files.map(([file, data]) => writeFile(file, data, { mode: 0o600 })));
  return paths;
}
