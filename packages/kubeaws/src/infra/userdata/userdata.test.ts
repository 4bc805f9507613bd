import { execFileSync } from 'node:child_process';
import { parse } from 'yaml';
import { BOOTSTRAP_PATH, etcdUserdata, kubeNodeUserdata, USERDATA_LIMIT_BYTES } from './index';

const id = {
  clusterName: 'kube-1',
  clusterId: 'aws:123456789012:eu-central-1:kube-1',
  region: 'eu-central-1',
  apiHostname: 'kube-1.example.org',
};
const master = kubeNodeUserdata({
  ...id,
  role: 'master',
  pool: 'master',
  labels: { 'kubeaws.io/capacity-type': 'on-demand' },
  taints: [],
  authnz: { failurePolicy: 'Deny', tokenCacheTtl: '10s' },
  etcdServers: 'https://etcd-0.etcd.kube-1.example.org:2379,https://etcd-1.etcd.kube-1.example.org:2379',
});
const worker = kubeNodeUserdata({
  ...id,
  role: 'worker',
  pool: 'spot',
  labels: { 'kubeaws.io/capacity-type': 'spot' },
  taints: [{ key: 'workload', value: 'batch', effect: 'NoSchedule' }],
});
const initialCluster = 'etcd-0=https://etcd-0.etcd.kube-1.example.org:2380,etcd-1=https://etcd-1.etcd.kube-1.example.org:2380';
const etcd = etcdUserdata({
  ...id,
  role: 'etcd',
  etcdDomain: 'etcd.kube-1.example.org',
  member: 'etcd-1',
  initialCluster,
  filesBucketPlaceholder: '${FilesBucket}',
});

/** The bootstrap script as CloudFormation's Fn::Sub leaves it. */
function script(userdata: string): string {
  const doc = parse(userdata.replace(/^#cloud-config\n/, '')) as { write_files: { path: string; content: string }[] };
  return doc.write_files
    .find((f) => f.path === BOOTSTRAP_PATH)!
    .content.replaceAll('${FilesBucket}', 'files-bucket')
    .replaceAll('${!', '${');
}

describe('node user data', () => {
  it.each([
    ['master', master],
    ['worker', worker],
    ['etcd', etcd],
  ])('%s: cloud-config that runs a bash script bash accepts, below the 16 KB limit, only the bucket placeholder', (_r, ud) => {
    expect(ud.startsWith('#cloud-config\n')).toBe(true);
    expect(Buffer.byteLength(ud)).toBeLessThan(USERDATA_LIMIT_BYTES - 512);
    expect(ud).not.toMatch(/\$\{(?!FilesBucket\}|BackupBucket\}|!)/);
    execFileSync('bash', ['-n'], { input: script(ud) });
  });

  it('master: etcd over TLS, encryption at rest, issuer, authnz webhook, no client CA for people beyond the cluster CA', () => {
    const s = script(master);
    for (const flag of [
      '--etcd-servers="${ETCD_SERVERS:-https://etcd-0.etcd.kube-1.example.org:2379,https://etcd-1.etcd.kube-1.example.org:2379}"',
      '--etcd-cafile=$R/etc/kubernetes/pki/etcd-ca.crt',
      '--encryption-provider-config=$R/etc/kubernetes/encryption-config.yaml',
      '--service-account-issuer=https://kube-1.example.org',
      '--service-account-signing-key-file=$R/etc/kubernetes/pki/sa.key',
      '--authentication-token-webhook-config-file=$R/etc/kubernetes/authnz/authn-webhook.kubeconfig',
      '--authorization-config=$R/etc/kubernetes/authnz/authorization-config.yaml',
      '--authentication-token-webhook-cache-ttl=10s',
    ])
      expect(s).toContain(flag);
    expect(s).toContain('server: https://127.0.0.1:$WP/authenticate');
    expect(s).toContain('FILES_BUCKET="${FILES_BUCKET:-files-bucket}"');
    expect(s).toContain('--node-labels=node.kubernetes.io/role=master,');
    expect(s).not.toContain('node-role.kubernetes.io/control-plane=');
  });

  it('master: kube-controller-manager and kube-scheduler start only after kube-apiserver answers /readyz', () => {
    const s = script(master);
    const at = (text: string) => {
      expect(s).toContain(text);
      return s.indexOf(text);
    };
    const ready = at('"https://127.0.0.1:$AP/readyz"');
    expect(at('run kube-apiserver ')).toBeLessThan(ready);
    expect(ready).toBeLessThan(at('run kube-controller-manager '));
    expect(ready).toBeLessThan(at('run kube-scheduler '));
    expect(s).toContain('--cacert $R/etc/kubernetes/pki/ca.crt');
  });

  it('worker: its files, a kubelet labelled node.kubernetes.io/role=worker, nothing of the control plane', () => {
    const s = script(worker);
    expect(s).toContain('for k in kubelet.kubeconfig pki/ca.crt; do fetch "worker/$k"');
    expect(s).toContain('--node-labels=node.kubernetes.io/role=worker,kubeaws.io/capacity-type=spot,kubeaws.io/node-pool=spot');
    expect(s).toContain('--register-with-taints=workload=batch:NoSchedule');
    expect(s).not.toMatch(/authnz|kube-apiserver|ca\.key/);
  });

  it('etcd: client and peer TLS with client certificate authentication, its fixed name and the static member list', () => {
    const s = script(etcd);
    for (const flag of [
      '--client-cert-auth',
      '--peer-client-cert-auth',
      '--listen-client-urls="https://',
      'NAME="${KUBEAWS_ETCD_NAME:-etcd-1}"',
      'HOST="${KUBEAWS_ETCD_ADVERTISE_HOST:-$NAME.etcd.kube-1.example.org}"',
      `--initial-cluster="\${KUBEAWS_ETCD_INITIAL_CLUSTER:-${initialCluster}}"`,
    ])
      expect(s).toContain(flag);
    expect(s).not.toContain('--discovery-srv');
    expect(s).toContain('FILES_BUCKET="${FILES_BUCKET:-files-bucket}"');
  });

  it('master: refuses to render without etcd servers', () => {
    expect(() =>
      kubeNodeUserdata({ ...id, role: 'master', pool: 'master', labels: {}, taints: [] }),
    ).toThrow('master user data of kube-1: no etcd servers');
  });
});
