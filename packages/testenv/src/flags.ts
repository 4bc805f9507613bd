import * as path from 'node:path';
import type { PkiPaths } from './pki';

/**
 * Where every file of one local control plane lives and which loopback ports it uses.
 * Built by {@link clusterLayout}; everything is under `dataDir`.
 */
export interface ClusterLayout {
  /** Root of the cluster's files (temp dir). */
  dataDir: string;
  /** PEM files, see {@link PkiPaths}. */
  pki: PkiPaths;
  /** etcd data directory. */
  etcdDataDir: string;
  /** Directory of the per-process log files (`<component>.log`). */
  logDir: string;
  /** kube-apiserver audit log (JSON lines, one `audit.k8s.io/v1` Event per line). */
  auditLogPath: string;
  /** Audit policy file given to `--audit-policy-file`. */
  auditPolicyPath: string;
  /** kubeconfig files: `admin` (system:masters) and one per component. */
  kubeconfigs: { admin: string; controllerManager: string; scheduler: string; kwok: string };
  /** kwok configuration (its default Stage objects). */
  kwokConfigPath: string;
  /** Working directory for kwok's own files (`KWOK_WORKDIR`). */
  kwokWorkDir: string;
  /** Loopback TCP ports. */
  ports: { etcdClient: number; etcdPeer: number; apiserver: number };
  /** Service CIDR (`--service-cluster-ip-range`). */
  serviceClusterIpRange: string;
  /** Pod CIDR handed out by kwok (`--cidr`). */
  podCidr: string;
  /** `--service-account-issuer` value (also the default API audience). */
  serviceAccountIssuer: string;
}

/** Default service CIDR; the `kubernetes` service gets its first address, 10.96.0.1. */
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
/** Default pod CIDR for kwok-assigned pod IPs. */
export const DEFAULT_POD_CIDR = '10.244.0.0/16';
/** Default service-account issuer, as kubeadm sets it. */
export const DEFAULT_SA_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** Computes the file layout of a cluster rooted at `dataDir`. Pure. */
export function clusterLayout(
  dataDir: string,
  pki: PkiPaths,
  ports: ClusterLayout['ports'],
  overrides: Partial<Pick<ClusterLayout, 'serviceClusterIpRange' | 'podCidr' | 'serviceAccountIssuer'>> = {},
): ClusterLayout {
  return {
    dataDir,
    pki,
    etcdDataDir: path.join(dataDir, 'etcd'),
    logDir: path.join(dataDir, 'logs'),
    auditLogPath: path.join(dataDir, 'audit', 'audit.log'),
    auditPolicyPath: path.join(dataDir, 'audit', 'policy.yaml'),
    kubeconfigs: {
      admin: path.join(dataDir, 'kubeconfig'),
      controllerManager: path.join(dataDir, 'controller-manager.kubeconfig'),
      scheduler: path.join(dataDir, 'scheduler.kubeconfig'),
      kwok: path.join(dataDir, 'kwok.kubeconfig'),
    },
    kwokConfigPath: path.join(dataDir, 'kwok', 'kwok.yaml'),
    kwokWorkDir: path.join(dataDir, 'kwok'),
    ports,
    serviceClusterIpRange: overrides.serviceClusterIpRange ?? DEFAULT_SERVICE_CIDR,
    podCidr: overrides.podCidr ?? DEFAULT_POD_CIDR,
    serviceAccountIssuer: overrides.serviceAccountIssuer ?? DEFAULT_SA_ISSUER,
  };
}

/**
 * Audit policy: `Metadata` for every write verb (create, update, patch, delete, deletecollection,
 * including subresources such as pods/eviction), `None` for everything else (reads, watches).
 * Format: https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/#audit-policy
 */
export const AUDIT_POLICY_YAML = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
- RequestReceived
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
`;

/** The name part of a `--name=value` or `--name` flag (`--name`). */
function flagName(flag: string): string {
  const eq = flag.indexOf('=');
  return eq === -1 ? flag : flag.slice(0, eq);
}

/** Extra flags of a component: `['--name=value', '!--name']` or `{ name: value | values | null }`. */
export type ExtraArgs = string[] | Record<string, string | string[] | null>;

/** Prefix of an `extra` entry that removes a default flag instead of setting it: `!--authorization-mode`. */
export const REMOVE_FLAG = '!';

/**
 * Merges flag lists: every `--name=value` in `extra` replaces the defaults with the same `--name`;
 * a flag given several times in `extra` is kept several times (repeatable flags); an entry `!--name`
 * removes the default `--name` and adds nothing (e.g. kube-apiserver refuses `--authorization-mode` next to
 * `--authorization-config`). Order: surviving defaults first, then `extra`. Pure.
 */
export function mergeFlags(defaults: string[], extra: string[] = []): string[] {
  const overridden = new Set(extra.map((f) => flagName(f.startsWith(REMOVE_FLAG) ? f.slice(REMOVE_FLAG.length) : f)));
  return [...defaults.filter((f) => !overridden.has(flagName(f))), ...extra.filter((f) => !f.startsWith(REMOVE_FLAG))];
}

/**
 * Normalises extra-args input: an array of `--name=value` strings is returned as is; a record
 * `{ name: value }` (name with or without leading dashes; array values repeat the flag; `null` removes the
 * default flag of that name, see {@link mergeFlags}) becomes flags.
 */
export function toFlags(extra: ExtraArgs | undefined): string[] {
  if (!extra) return [];
  if (Array.isArray(extra)) return extra;
  const out: string[] = [];
  for (const [name, value] of Object.entries(extra)) {
    const flag = name.startsWith('--') ? name : `--${name}`;
    if (value === null) {
      out.push(`${REMOVE_FLAG}${flag}`);
      continue;
    }
    for (const v of Array.isArray(value) ? value : [value]) out.push(`${flag}=${v}`);
  }
  return out;
}

/**
 * etcd flags: single member, plain HTTP on loopback, `--unsafe-no-fsync` (test data only),
 * no automatic compaction (compaction is driven explicitly, see compactEtcd).
 */
export function etcdFlags(l: ClusterLayout): string[] {
  const client = `http://127.0.0.1:${l.ports.etcdClient}`;
  const peer = `http://127.0.0.1:${l.ports.etcdPeer}`;
  return [
    '--name=default',
    `--data-dir=${l.etcdDataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    '--initial-cluster-state=new',
    '--unsafe-no-fsync=true',
    '--snapshot-count=100000',
    '--log-level=warn',
  ];
}

/**
 * kube-apiserver flags (https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/):
 * loopback serving with the generated certs, RBAC, service-account issuer/keys, JSON audit log,
 * requestheader (front-proxy) config for the aggregation layer with `--enable-aggregator-routing`.
 * `extra` entries replace defaults of the same name (see {@link mergeFlags}).
 */
export function apiserverFlags(l: ClusterLayout, extra: string[] = []): string[] {
  const p = l.pki;
  return mergeFlags(
    [
      '--advertise-address=127.0.0.1',
      '--bind-address=127.0.0.1',
      `--secure-port=${l.ports.apiserver}`,
      `--etcd-servers=http://127.0.0.1:${l.ports.etcdClient}`,
      `--tls-cert-file=${p.apiserverCert}`,
      `--tls-private-key-file=${p.apiserverKey}`,
      `--client-ca-file=${p.caCert}`,
      '--authorization-mode=Node,RBAC',
      '--allow-privileged=true',
      `--service-cluster-ip-range=${l.serviceClusterIpRange}`,
      `--service-account-issuer=${l.serviceAccountIssuer}`,
      `--service-account-key-file=${p.serviceAccountPub}`,
      `--service-account-signing-key-file=${p.serviceAccountKey}`,
      `--audit-policy-file=${l.auditPolicyPath}`,
      `--audit-log-path=${l.auditLogPath}`,
      '--audit-log-format=json',
      '--audit-log-mode=blocking',
      '--audit-log-maxsize=0',
      `--requestheader-client-ca-file=${p.frontProxyCaCert}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-uid-headers=X-Remote-Uid',
      `--proxy-client-cert-file=${p.frontProxyClientCert}`,
      `--proxy-client-key-file=${p.frontProxyClientKey}`,
      '--enable-aggregator-routing=true',
      '--profiling=false',
      '--v=1',
    ],
    extra,
  );
}

/**
 * kube-controller-manager flags: all default controllers (`*`: deployment, replicaset, statefulset,
 * disruption, garbage collector, service-account token, horizontal pod autoscaling, ...), per-controller
 * service-account credentials (the kubeadm setup, so RBAC bootstrap roles apply), no leader election,
 * no serving port. Extra entries replace defaults of the same name.
 */
export function controllerManagerFlags(l: ClusterLayout, extra: string[] = []): string[] {
  const p = l.pki;
  return mergeFlags(
    [
      `--kubeconfig=${l.kubeconfigs.controllerManager}`,
      '--leader-elect=false',
      '--controllers=*',
      '--use-service-account-credentials=true',
      `--root-ca-file=${p.caCert}`,
      `--service-account-private-key-file=${p.serviceAccountKey}`,
      `--cluster-signing-cert-file=${p.caCert}`,
      `--cluster-signing-key-file=${p.caKey}`,
      `--service-cluster-ip-range=${l.serviceClusterIpRange}`,
      '--bind-address=127.0.0.1',
      '--secure-port=0',
      '--profiling=false',
      '--v=1',
    ],
    extra,
  );
}

/** kube-scheduler flags: its own client cert, no leader election, no serving port. */
export function schedulerFlags(l: ClusterLayout, extra: string[] = []): string[] {
  return mergeFlags(
    [
      `--kubeconfig=${l.kubeconfigs.scheduler}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--secure-port=0',
      '--profiling=false',
      '--v=1',
    ],
    extra,
  );
}

/** Annotation that marks the Nodes kwok manages (kwok's documented convention). */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

/**
 * kwok controller flags: manages Nodes annotated `kwok.x-k8s.io/node=fake`, keeps their Leases
 * (40 s duration, like kwokctl), assigns pod IPs from the pod CIDR, reads stages from `--config`.
 */
export function kwokFlags(l: ClusterLayout, extra: string[] = []): string[] {
  return mergeFlags(
    [
      `--config=${l.kwokConfigPath}`,
      `--kubeconfig=${l.kubeconfigs.kwok}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
      '--node-lease-duration-seconds=40',
      `--cidr=${l.podCidr}`,
      '--node-ip=127.0.0.1',
      '--server-address=',
    ],
    extra,
  );
}
