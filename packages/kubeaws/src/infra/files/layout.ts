/**
 * What the cluster files bucket holds (docs/infra.md#infra-cluster-files): every CA, certificate, key, the
 * service-account key pair, the EncryptionConfiguration and the kubeconfigs, under one prefix per reader:
 * `ca/` (CA keys, read by `kubeaws apply` only), `etcd/`, `master/`, `worker/` (read by the node role of that
 * name, see the cluster stack's `ReadNodeFiles` statements) and `admin/` (read by people with bucket access).
 * Certificate profiles follow kubeadm (https://kubernetes.io/docs/setup/best-practices/certificates/).
 */
import type { ResolvedCluster } from '../config/load';
import type { CertProfile } from './pki';

/** Service CIDR of every cluster (`--service-cluster-ip-range`). */
export const SERVICE_CIDR = '10.96.0.0/12';
/** ClusterIP of the `kubernetes` Service: the first address of {@link SERVICE_CIDR}. */
export const KUBERNETES_SERVICE_IP = '10.96.0.1';
/** ClusterIP of the cluster DNS Service (kubelet `clusterDNS`). */
export const CLUSTER_DNS_IP = '10.96.0.10';
/** Cluster domain (kubelet `clusterDomain`). */
export const CLUSTER_DOMAIN = 'cluster.local';
/** kube-apiserver's secure port on masters (the NLB target group forwards 443 to it). */
export const APISERVER_PORT = 443;
/** Lifetime of CAs in days. */
export const CA_DAYS = 3650;
/** Lifetime of leaf certificates in days. */
export const LEAF_DAYS = 365;
/** A certificate that expires within this many days is reported by every `apply` and `render --files`. */
export const EXPIRY_WARNING_DAYS = 30;

/** A CA: certificate and key under `ca/`, copies of either for the nodes that need them. */
export interface CaItem {
  id: string;
  kind: 'ca';
  cn: string;
  cert: string;
  key: string;
  /** Object keys that hold a copy of the certificate (or, for `key`, of the key). */
  copies: { key: string; of: 'cert' | 'key' }[];
}

/** A leaf certificate and its key, signed by the CA item `ca`. */
export interface CertItem {
  id: string;
  kind: 'cert';
  ca: string;
  profile: CertProfile;
  cert: string;
  key: string;
}

/** A kubeconfig with an embedded client certificate signed by `ca` and that CA's certificate. */
export interface KubeconfigItem {
  id: string;
  kind: 'kubeconfig';
  ca: string;
  profile: CertProfile;
  object: string;
  /** API server URL. */
  server: string;
  user: string;
}

/** The service-account token signing key (`key`, PKCS#8) and its public key (`pub`, SPKI). */
export interface ServiceAccountItem {
  id: string;
  kind: 'service-account';
  key: string;
  pub: string;
}

/** The kube-apiserver EncryptionConfiguration (secretbox key for Secrets). */
export interface EncryptionItem {
  id: string;
  kind: 'encryption';
  object: string;
}

/** A file derived from the cluster config alone, without secrets (written again whenever it differs). */
export interface StaticItem {
  id: string;
  kind: 'static';
  object: string;
  content: string;
}

/** One generated unit of the cluster files. */
export type FileItem = CaItem | CertItem | KubeconfigItem | ServiceAccountItem | EncryptionItem | StaticItem;

/** The object keys of an item. */
export function itemObjects(i: FileItem): string[] {
  switch (i.kind) {
    case 'ca':
      return [i.cert, i.key, ...i.copies.map((c) => c.key)];
    case 'cert':
      return [i.cert, i.key];
    case 'service-account':
      return [i.key, i.pub];
    case 'kubeconfig':
    case 'encryption':
    case 'static':
      return [i.object];
  }
}

/** `etcd.<name>.<zone>`: the members' DNS domain (the etcd stack's `etcd-endpoint` export). */
export function etcdDomain(c: Pick<ResolvedCluster, 'name' | 'hostedZone'>): string {
  return `etcd.${c.name}.${c.hostedZone}`;
}

/** etcd's client and peer ports (etcd docs, "Configuration options": `--listen-client-urls`, `--listen-peer-urls`). */
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

/** An etcd member of the etcd stack: its name (`etcd-<i>`) and DNS name (`etcd-<i>.etcd.<name>.<zone>`). */
export interface EtcdMember {
  name: string;
  host: string;
}

/**
 * The etcd members of a cluster, one per `etcd_instance_count` (docs/infra.md#infra-etcd-members): fixed names
 * whose A records the etcd stack creates, so members and masters know every peer before any of them boots.
 */
export function etcdMembers(c: Pick<ResolvedCluster, 'name' | 'hostedZone' | 'items'>): EtcdMember[] {
  const n = (c.items.get('etcd_instance_count') as number | null | undefined) ?? 1;
  return Array.from({ length: n }, (_, i) => ({ name: `etcd-${i}`, host: `etcd-${i}.${etcdDomain(c)}` }));
}

/** etcd's `--initial-cluster`: `etcd-0=https://etcd-0.<domain>:2380,…`. */
export function etcdInitialCluster(members: readonly EtcdMember[]): string {
  return members.map((m) => `${m.name}=https://${m.host}:${ETCD_PEER_PORT}`).join(',');
}

/** kube-apiserver's `--etcd-servers`: `https://etcd-0.<domain>:2379,…`. */
export function etcdClientUrls(members: readonly EtcdMember[]): string {
  return members.map((m) => `https://${m.host}:${ETCD_CLIENT_PORT}`).join(',');
}

/**
 * The worker kubelet kubeconfig: the API through the NLB (its ACM certificate, so the system roots verify it)
 * and a `k8s-aws-v1.` token from `aws eks get-token`, the aws-iam-authenticator format the authnz webhook
 * accepts for the worker role (docs/authnz-webhook.md#authnz-node-tokens), signed for the cluster id.
 */
export function workerKubeletKubeconfig(c: Pick<ResolvedCluster, 'apiHostname' | 'clusterId' | 'region'>): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: kubeaws',
    '    cluster:',
    `      server: https://${c.apiHostname}`,
    'users:',
    '  - name: kubelet',
    '    user:',
    '      exec:',
    '        apiVersion: client.authentication.k8s.io/v1beta1',
    '        command: aws',
    `        args: [eks, get-token, --output, json, --region, ${c.region}, --cluster-name, "${c.clusterId}"]`,
    '        interactiveMode: Never',
    '        provideClusterInfo: false',
    'contexts:',
    '  - name: default',
    '    context: {cluster: kubeaws, user: kubelet}',
    'current-context: default',
    '',
  ].join('\n');
}

/** The ids of {@link clusterFileItems}, the values `--rotate` accepts. */
export const FILE_ITEM_IDS = [
  'ca',
  'etcd-ca',
  'front-proxy-ca',
  'authnz-ca',
  'etcd-server',
  'etcd-peer',
  'apiserver',
  'apiserver-etcd-client',
  'apiserver-kubelet-client',
  'front-proxy-client',
  'authnz-webhook',
  'authnz-apiserver-client',
  'service-account',
  'encryption',
  'controller-manager',
  'scheduler',
  'admin',
  'worker-kubelet',
] as const;

/** Every item of a cluster, CAs first (the order of generation). */
export function clusterFileItems(c: ResolvedCluster): FileItem[] {
  const etcd = etcdDomain(c);
  const local = `https://127.0.0.1:${APISERVER_PORT}`;
  const etcdSans = { dns: [etcd, `*.${etcd}`, 'localhost'], ips: ['127.0.0.1'] };
  return [
    {
      id: 'ca',
      kind: 'ca',
      cn: 'kubernetes',
      cert: 'ca/ca.crt',
      key: 'ca/ca.key',
      copies: [
        { key: 'master/pki/ca.crt', of: 'cert' },
        { key: 'master/pki/ca.key', of: 'key' },
        { key: 'worker/pki/ca.crt', of: 'cert' },
      ],
    },
    {
      id: 'etcd-ca',
      kind: 'ca',
      cn: 'etcd-ca',
      cert: 'ca/etcd-ca.crt',
      key: 'ca/etcd-ca.key',
      copies: [
        { key: 'etcd/pki/ca.crt', of: 'cert' },
        { key: 'master/pki/etcd-ca.crt', of: 'cert' },
      ],
    },
    {
      id: 'front-proxy-ca',
      kind: 'ca',
      cn: 'front-proxy-ca',
      cert: 'ca/front-proxy-ca.crt',
      key: 'ca/front-proxy-ca.key',
      copies: [{ key: 'master/pki/front-proxy-ca.crt', of: 'cert' }],
    },
    {
      id: 'authnz-ca',
      kind: 'ca',
      cn: 'kubeaws-authnz-ca',
      cert: 'ca/authnz-ca.crt',
      key: 'ca/authnz-ca.key',
      copies: [
        { key: 'master/authnz/webhook-ca.crt', of: 'cert' },
        { key: 'master/authnz/apiserver-client-ca.crt', of: 'cert' },
      ],
    },
    {
      id: 'etcd-server',
      kind: 'cert',
      ca: 'etcd-ca',
      profile: { cn: 'etcd-server', usages: ['server', 'client'], ...etcdSans },
      cert: 'etcd/pki/server.crt',
      key: 'etcd/pki/server.key',
    },
    {
      id: 'etcd-peer',
      kind: 'cert',
      ca: 'etcd-ca',
      profile: { cn: 'etcd-peer', usages: ['server', 'client'], ...etcdSans },
      cert: 'etcd/pki/peer.crt',
      key: 'etcd/pki/peer.key',
    },
    {
      id: 'apiserver',
      kind: 'cert',
      ca: 'ca',
      profile: {
        cn: 'kube-apiserver',
        usages: ['server'],
        dns: [
          c.apiHostname,
          'kubernetes',
          'kubernetes.default',
          'kubernetes.default.svc',
          `kubernetes.default.svc.${CLUSTER_DOMAIN}`,
          'localhost',
        ],
        ips: [KUBERNETES_SERVICE_IP, '127.0.0.1'],
      },
      cert: 'master/pki/apiserver.crt',
      key: 'master/pki/apiserver.key',
    },
    {
      id: 'apiserver-etcd-client',
      kind: 'cert',
      ca: 'etcd-ca',
      profile: { cn: 'kube-apiserver-etcd-client', usages: ['client'] },
      cert: 'master/pki/apiserver-etcd-client.crt',
      key: 'master/pki/apiserver-etcd-client.key',
    },
    {
      id: 'apiserver-kubelet-client',
      kind: 'cert',
      ca: 'ca',
      profile: { cn: 'kube-apiserver-kubelet-client', o: ['system:masters'], usages: ['client'] },
      cert: 'master/pki/apiserver-kubelet-client.crt',
      key: 'master/pki/apiserver-kubelet-client.key',
    },
    {
      id: 'front-proxy-client',
      kind: 'cert',
      ca: 'front-proxy-ca',
      profile: { cn: 'front-proxy-client', usages: ['client'] },
      cert: 'master/pki/front-proxy-client.crt',
      key: 'master/pki/front-proxy-client.key',
    },
    {
      id: 'authnz-webhook',
      kind: 'cert',
      ca: 'authnz-ca',
      profile: { cn: 'kubeaws-authnz-webhook', usages: ['server'], dns: ['localhost'], ips: ['127.0.0.1'] },
      cert: 'master/authnz/webhook.crt',
      key: 'master/authnz/webhook.key',
    },
    {
      id: 'authnz-apiserver-client',
      kind: 'cert',
      ca: 'authnz-ca',
      // The name the webhook DaemonSet allows (`--allowed-client-names`, manifests/authnz-webhook/daemonset.yaml).
      profile: { cn: 'kube-apiserver-authnz-client', usages: ['client'] },
      cert: 'master/authnz/apiserver-client.crt',
      key: 'master/authnz/apiserver-client.key',
    },
    { id: 'service-account', kind: 'service-account', key: 'master/pki/sa.key', pub: 'master/pki/sa.pub' },
    { id: 'encryption', kind: 'encryption', object: 'master/encryption-config.yaml' },
    {
      id: 'controller-manager',
      kind: 'kubeconfig',
      ca: 'ca',
      profile: { cn: 'system:kube-controller-manager', usages: ['client'] },
      object: 'master/kubeconfigs/controller-manager.kubeconfig',
      server: local,
      user: 'system:kube-controller-manager',
    },
    {
      id: 'scheduler',
      kind: 'kubeconfig',
      ca: 'ca',
      profile: { cn: 'system:kube-scheduler', usages: ['client'] },
      object: 'master/kubeconfigs/scheduler.kubeconfig',
      server: local,
      user: 'system:kube-scheduler',
    },
    {
      // Break-glass access from a master's loopback: client certificates do not pass the NLB (docs/infra.md).
      id: 'admin',
      kind: 'kubeconfig',
      ca: 'ca',
      profile: { cn: 'kubeaws-admin', o: ['system:masters'], usages: ['client'] },
      object: 'admin/admin.kubeconfig',
      server: local,
      user: 'kubeaws-admin',
    },
    { id: 'worker-kubelet', kind: 'static', object: 'worker/kubelet.kubeconfig', content: workerKubeletKubeconfig(c) },
  ];
}

/** The objects a node role fetches at boot, `<role>/…` keys in the bucket. */
export function roleObjects(items: FileItem[], role: 'etcd' | 'master' | 'worker'): string[] {
  return items
    .flatMap(itemObjects)
    .filter((k) => k.startsWith(`${role}/`))
    .sort();
}
