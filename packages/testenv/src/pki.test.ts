import { X509Certificate, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { generatePki, writePki } from './pki';

describe('generatePki', () => {
  let pki: Awaited<ReturnType<typeof generatePki>>;
  beforeAll(async () => {
    pki = await generatePki();
  });

  it('issues an apiserver serving certificate signed by the CA with loopback and service SANs', () => {
    const ca = new X509Certificate(pki.ca.cert);
    const server = new X509Certificate(pki.apiserver.cert);
    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkHost('kubernetes.default.svc')).toBe('kubernetes.default.svc');
    expect(server.subjectAltName).toContain('IP Address:10.96.0.1');
    expect(server.keyUsage).toContain('1.3.6.1.5.5.7.3.1'); // serverAuth
  });

  it('issues client certificates with the expected subjects', () => {
    const ca = new X509Certificate(pki.ca.cert);
    const admin = new X509Certificate(pki.admin.cert);
    expect(admin.subject).toContain('CN=kubeaws-admin');
    expect(admin.subject).toContain('O=system:masters');
    expect(admin.checkIssued(ca)).toBe(true);
    expect(admin.keyUsage).toContain('1.3.6.1.5.5.7.3.2'); // clientAuth
    expect(new X509Certificate(pki.controllerManager.cert).subject).toContain('CN=system:kube-controller-manager');
    expect(new X509Certificate(pki.scheduler.cert).subject).toContain('CN=system:kube-scheduler');
  });

  it('signs the front-proxy client with the separate front-proxy CA', () => {
    const fp = new X509Certificate(pki.frontProxyCa.cert);
    const client = new X509Certificate(pki.frontProxyClient.cert);
    expect(client.subject).toContain('CN=front-proxy-client');
    expect(client.checkIssued(fp)).toBe(true);
    expect(client.checkIssued(new X509Certificate(pki.ca.cert))).toBe(false);
  });

  it('produces matching private keys and a usable service-account key pair', () => {
    const admin = new X509Certificate(pki.admin.cert);
    expect(admin.checkPrivateKey(createPrivateKey(pki.admin.key))).toBe(true);
    const data = Buffer.from('token');
    const sig = sign('sha256', data, createPrivateKey(pki.serviceAccount.key));
    expect(verify('sha256', data, createPublicKey(pki.serviceAccount.pub), sig)).toBe(true);
  });

  it('writes the files with private modes', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pki-test-'));
    try {
      const paths = await writePki(pki, path.join(dir, 'pki'));
      expect(await readFile(paths.caCert, 'utf8')).toBe(pki.ca.cert);
      expect((await stat(paths.adminKey)).mode & 0o777).toBe(0o600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
