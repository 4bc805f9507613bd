import { X509Certificate } from 'node:crypto';
import { parse } from 'yaml';
import type { ResolvedCluster } from '../config/load';
import { generateClusterFiles } from './generate';
import { FILE_ITEM_IDS, type FileItem, clusterFileItems, itemObjects, roleObjects } from './layout';
import { formatPlan } from './store';
import { kubeconfigClientCert, planClusterFiles } from './plan';
import { certFacts, createCa, issueCert, signedBy } from './pki';

const cluster = {
  name: 'kube-1',
  hostedZone: 'example.org',
  apiHostname: 'kube-1.example.org',
  clusterId: 'aws:123456789012:eu-central-1:kube-1',
  region: 'eu-central-1',
} as ResolvedCluster;
const NOW = new Date();
const items = clusterFileItems(cluster);

/** A complete, freshly generated bucket. */
async function fresh(list: FileItem[] = items): Promise<Map<string, string>> {
  const existing = new Map<string, string>();
  const plan = planClusterFiles({ items: list, existing, now: NOW });
  return generateClusterFiles(list, plan, existing);
}

describe('cluster files', () => {
  let full: Map<string, string>;
  beforeAll(async () => {
    full = await fresh();
  });

  it('creates every object of an empty bucket, signed by the right CA with the profile SANs', () => {
    expect([...full.keys()].sort()).toEqual(items.flatMap(itemObjects).sort());
    const api = certFacts(full.get('master/pki/apiserver.crt')!);
    expect(api.dns).toEqual(expect.arrayContaining(['kube-1.example.org', 'kubernetes.default.svc.cluster.local']));
    expect(api.ips).toEqual(['10.96.0.1', '127.0.0.1']);
    expect(signedBy(full.get('master/pki/apiserver.crt')!, full.get('ca/ca.crt')!)).toBe(true);
    expect(signedBy(full.get('etcd/pki/server.crt')!, full.get('ca/etcd-ca.crt')!)).toBe(true);
    expect(signedBy(full.get('etcd/pki/server.crt')!, full.get('ca/ca.crt')!)).toBe(false);
    expect(certFacts(full.get('etcd/pki/peer.crt')!).dns).toContain('*.etcd.kube-1.example.org');
    expect(full.get('etcd/pki/ca.crt')).toBe(full.get('ca/etcd-ca.crt'));
    const cm = kubeconfigClientCert(full.get('master/kubeconfigs/controller-manager.kubeconfig')!)!;
    expect(certFacts(cm.cert).cn).toBe('system:kube-controller-manager');
    const admin = kubeconfigClientCert(full.get('admin/admin.kubeconfig')!)!;
    expect(certFacts(admin.cert).o).toEqual(['system:masters']);
    const enc = parse(full.get('master/encryption-config.yaml')!);
    expect(Buffer.from(enc.resources[0].providers[0].secretbox.keys[0].secret, 'base64')).toHaveLength(32);
    expect(new X509Certificate(full.get('master/authnz/apiserver-client.crt')!).subject).toBe(
      'CN=kube-apiserver-authnz-client',
    );
  });

  it('reuses a complete bucket and writes nothing on the second run', async () => {
    const plan = planClusterFiles({ items, existing: full, now: NOW });
    expect(plan.errors).toEqual([]);
    expect(plan.items.filter((i) => i.action !== 'reuse')).toEqual([]);
    expect(plan.items.flatMap((i) => i.warnings)).toEqual([]);
    expect((await generateClusterFiles(items, plan, full)).size).toBe(0);
  });

  it.each([
    ['a changed API hostname', { apiHostname: 'api.kube-1.example.org' }, 'apiserver: DNS SANs are'],
    ['a changed hosted zone', { hostedZone: 'example.com' }, 'etcd-server: DNS SANs are'],
  ])('reports %s without regenerating', async (_what, change, warning) => {
    const changed = clusterFileItems({ ...cluster, ...change } as ResolvedCluster);
    const plan = planClusterFiles({ items: changed, existing: full, now: NOW });
    expect(plan.items.flatMap((i) => i.warnings).join('\n')).toContain(warning);
    const writes = await generateClusterFiles(changed, plan, full);
    expect([...writes.keys()].filter((k) => k.endsWith('.crt') || k.endsWith('.key'))).toEqual([]);
  });

  it('reports certificates that expire within 30 days, and rotates only with rotate', async () => {
    const later = new Date(NOW.getTime() + 340 * 86_400_000);
    const plan = planClusterFiles({ items, existing: full, now: later });
    const warnings = plan.items.flatMap((i) => i.warnings);
    const notAfter = certFacts(full.get('master/pki/apiserver.crt')!).notAfter;
    const days = Math.floor((notAfter.getTime() - later.getTime()) / 86_400_000);
    expect(days).toBeGreaterThanOrEqual(24);
    expect(warnings).toContain(
      `apiserver: expires ${notAfter.toISOString()} (${days} days); rotate it with --rotate apiserver`,
    );
    expect(warnings.some((w) => w.startsWith('ca:'))).toBe(false);
    const rotated = planClusterFiles({ items, existing: full, now: later, rotate: new Set(['apiserver']) });
    expect(rotated.items.filter((i) => i.action !== 'reuse').map((i) => [i.id, i.action])).toEqual([['apiserver', 'rotate']]);
    const writes = await generateClusterFiles(items, rotated, full);
    expect([...writes.keys()].sort()).toEqual(['master/pki/apiserver.crt', 'master/pki/apiserver.key']);
    expect(signedBy(writes.get('master/pki/apiserver.crt')!, full.get('ca/ca.crt')!)).toBe(true);
  });

  it('refuses a half-present item and a missing CA with kept leaves, naming the rotate flag', () => {
    const partial = new Map(full);
    partial.delete('master/pki/sa.pub');
    partial.delete('ca/front-proxy-ca.crt');
    partial.delete('ca/front-proxy-ca.key');
    const plan = planClusterFiles({ items, existing: partial, now: NOW, rotate: new Set(['nope']) });
    expect(plan.errors).toEqual([
      '--rotate nope: no such item; expected one of ' + items.map((i) => i.id).join(', '),
      'service-account: master/pki/sa.key exists but master/pki/sa.pub does not; regenerate it with --rotate service-account',
      'front-proxy-client: its CA front-proxy-ca is missing; rotate it too with --rotate front-proxy-client',
    ]);
    return expect(generateClusterFiles(items, plan, partial)).rejects.toThrow('service-account');
  });

  it('reports a leaf not signed by the current CA and a key that does not match', async () => {
    const other = await createCa('other', 100);
    const foreign = await issueCert(other, { cn: 'kube-apiserver-etcd-client', usages: ['client'] }, 100);
    const mixed = new Map(full);
    mixed.set('master/pki/apiserver-etcd-client.crt', foreign.cert);
    const warnings = planClusterFiles({ items, existing: mixed, now: NOW }).items.flatMap((i) => i.warnings);
    expect(warnings).toEqual([
      'apiserver-etcd-client: not signed by the current CA; rotate it with --rotate apiserver-etcd-client',
      'apiserver-etcd-client: the key does not match the certificate; rotate it with --rotate apiserver-etcd-client',
    ]);
  });

  it('updates derived objects (CA copies, the worker kubeconfig) that differ, and lists no contents', async () => {
    const drifted = new Map(full);
    drifted.set('worker/pki/ca.crt', 'stale');
    drifted.delete('worker/kubelet.kubeconfig');
    const plan = planClusterFiles({ items, existing: drifted, now: NOW });
    expect(plan.items.filter((i) => i.action !== 'reuse').map((i) => [i.id, i.action])).toEqual([
      ['ca', 'update'],
      ['worker-kubelet', 'create'],
    ]);
    const writes = await generateClusterFiles(items, plan, drifted);
    expect([...writes.keys()].sort()).toEqual(['worker/kubelet.kubeconfig', 'worker/pki/ca.crt']);
    const text = formatPlan(plan).join('\n');
    expect(text).toContain('create worker-kubelet: worker/kubelet.kubeconfig');
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain(full.get('master/pki/sa.key')!.split('\n')[1]);
  });

  it('declares every item id for --rotate', () => {
    expect(items.map((i) => i.id)).toEqual([...FILE_ITEM_IDS]);
  });

  it('gives each node role only its prefix', () => {
    expect(roleObjects(items, 'etcd')).toEqual([
      'etcd/pki/ca.crt',
      'etcd/pki/peer.crt',
      'etcd/pki/peer.key',
      'etcd/pki/server.crt',
      'etcd/pki/server.key',
    ]);
    expect(roleObjects(items, 'worker')).toEqual(['worker/kubelet.kubeconfig', 'worker/pki/ca.crt']);
    expect(roleObjects(items, 'master')).not.toContain('ca/ca.key');
    expect(items.flatMap(itemObjects).filter((k) => /\.key$/.test(k) && k.startsWith('worker/'))).toEqual([]);
  });
});
