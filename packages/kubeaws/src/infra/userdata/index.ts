/**
 * cloud-init user data of etcd, master and worker nodes. User data stays small (≤ 16 KB): it writes the node's
 * identity, the kube-apiserver wiring of the authnz-webhook (masters) and fetches everything larger (PKI,
 * kubeconfigs, component configs) from the cluster's files bucket, encrypted with the cluster KMS key.
 *
 * Values known only at deploy time (bucket names) are `${Name}` placeholders that the stack resolves with
 * `Fn::Sub`; every other `$` is escaped for `Fn::Sub` (`${!...}`).
 */
import { stringify } from 'yaml';

/** AWS limit on user data (after base64 decoding). */
export const USERDATA_LIMIT_BYTES = 16 * 1024;

/** Where master userdata writes the authnz-webhook wiring of kube-apiserver. */
export const AUTHNZ_DIR = '/etc/kubernetes/authnz';

/** Inputs of {@link authnzApiserverFiles}. */
export interface AuthnzFilesOptions {
  /** Webhook base URL; default `https://127.0.0.1:9443` (the DaemonSet on every control-plane node). */
  webhookUrl?: string;
  /** Directory of the files and certificates; default {@link AUTHNZ_DIR}. */
  dir?: string;
  /** `failurePolicy` of the authorization webhook (config item `authnz_authorization_failure_policy`). */
  failurePolicy: 'Deny' | 'NoOpinion';
  /** `--authentication-token-webhook-cache-ttl` (config item `authnz_token_cache_ttl`), e.g. `10s`. */
  tokenCacheTtl: string;
}

/** The files master userdata writes for kube-apiserver, and the flags that reference them. */
export interface AuthnzApiserverFiles {
  /** Absolute path → content. */
  files: Record<string, string>;
  /** kube-apiserver flags (`--authorization-config` replaces `--authorization-mode`). */
  flags: string[];
}

function webhookKubeconfig(server: string, dir: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kubeaws-authnz', cluster: { server, 'certificate-authority': `${dir}/webhook-ca.crt` } }],
    users: [
      {
        name: 'kube-apiserver',
        user: { 'client-certificate': `${dir}/apiserver-client.crt`, 'client-key': `${dir}/apiserver-client.key` },
      },
    ],
    contexts: [{ name: 'default', context: { cluster: 'kubeaws-authnz', user: 'kube-apiserver' } }],
    'current-context': 'default',
  });
}

/**
 * The kube-apiserver side of the authnz-webhook: authn and authz webhook kubeconfigs (mutual TLS to the local
 * webhook on loopback) and the structured `AuthorizationConfiguration` Node → Webhook → RBAC. The webhook's
 * match conditions skip every `system:` identity (nodes, service accounts, the scheduler and controller
 * manager, the apiserver itself, anonymous issuer discovery), so the control plane never depends on it and
 * people fail closed while it is down. Pure: the integration harness renders the same files for loopback with
 * test certificates.
 */
export function authnzApiserverFiles(o: AuthnzFilesOptions): AuthnzApiserverFiles {
  const dir = o.dir ?? AUTHNZ_DIR;
  const base = (o.webhookUrl ?? 'https://127.0.0.1:9443').replace(/\/+$/, '');
  const authorizationConfig = stringify({
    apiVersion: 'apiserver.config.k8s.io/v1',
    kind: 'AuthorizationConfiguration',
    authorizers: [
      { type: 'Node', name: 'node' },
      {
        type: 'Webhook',
        name: 'authnz',
        webhook: {
          timeout: '3s',
          failurePolicy: o.failurePolicy,
          subjectAccessReviewVersion: 'v1',
          matchConditionSubjectAccessReviewVersion: 'v1',
          authorizedTTL: '1m',
          unauthorizedTTL: '30s',
          connectionInfo: { type: 'KubeConfigFile', kubeConfigFile: `${dir}/authz-webhook.kubeconfig` },
          matchConditions: [
            { expression: "!request.user.startsWith('system:node:')" },
            { expression: "!('system:nodes' in request.groups)" },
            { expression: "!request.user.startsWith('system:serviceaccount:kube-system:')" },
            { expression: "request.user != 'system:anonymous'" },
            { expression: "request.user != 'system:kube-scheduler'" },
            { expression: "request.user != 'system:kube-controller-manager'" },
            { expression: "request.user != 'system:apiserver'" },
          ],
        },
      },
      { type: 'RBAC', name: 'rbac' },
    ],
  });
  return {
    files: {
      [`${dir}/authn-webhook.kubeconfig`]: webhookKubeconfig(`${base}/authenticate`, dir),
      [`${dir}/authz-webhook.kubeconfig`]: webhookKubeconfig(`${base}/authorize`, dir),
      [`${dir}/authorization-config.yaml`]: authorizationConfig,
    },
    flags: [
      `--authentication-token-webhook-config-file=${dir}/authn-webhook.kubeconfig`,
      '--authentication-token-webhook-version=v1',
      `--authentication-token-webhook-cache-ttl=${o.tokenCacheTtl}`,
      `--authorization-config=${dir}/authorization-config.yaml`,
    ],
  };
}

/** Identity of a node, written to `/etc/kubeaws/node.env`. */
export interface NodeIdentity {
  clusterName: string;
  clusterId: string;
  region: string;
  apiHostname: string;
  role: 'master' | 'worker' | 'etcd';
  pool?: string;
}

/** Escapes `${` for `Fn::Sub` so that only the intended placeholders are substituted. */
export function escapeForSub(text: string): string {
  return text.replace(/\$\{/g, '${!');
}

function cloudConfig(files: Record<string, { content: string; permissions: string }>, runcmd: string[][]): string {
  const doc = {
    write_files: Object.keys(files)
      .sort()
      .map((p) => ({ path: p, permissions: files[p].permissions, owner: 'root:root', content: files[p].content })),
    runcmd,
  };
  return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}

function nodeEnv(id: NodeIdentity, extra: Record<string, string>): string {
  const vars: Record<string, string> = {
    CLUSTER_NAME: id.clusterName,
    CLUSTER_ID: id.clusterId,
    AWS_REGION: id.region,
    API_HOSTNAME: id.apiHostname,
    NODE_ROLE: id.role,
    ...(id.pool ? { NODE_POOL: id.pool } : {}),
    ...extra,
  };
  return Object.keys(vars)
    .map((k) => `${k}=${vars[k]}`)
    .join('\n')
    .concat('\n');
}

/** Options of the master and worker user data. */
export interface KubeNodeUserdataOptions extends NodeIdentity {
  role: 'master' | 'worker';
  pool: string;
  /** Labels and taints the kubelet registers with. */
  labels: Record<string, string>;
  taints: { key: string; value?: string; effect: string }[];
  /** Master only: the authnz wiring. */
  authnz?: AuthnzFilesOptions;
}

/**
 * User data of a master or worker node. The files bucket name is the `${FilesBucket}` placeholder. Masters also
 * get the authnz files and the kube-apiserver flags (issuer `https://<apiHostname>` serving its own discovery).
 */
export function kubeNodeUserdata(o: KubeNodeUserdataOptions): string {
  const labels = Object.keys(o.labels)
    .sort()
    .map((k) => `${k}=${o.labels[k]}`);
  const taints = o.taints.map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).sort();
  if (o.role === 'master') {
    labels.unshift('node-role.kubernetes.io/control-plane=');
    taints.unshift('node-role.kubernetes.io/control-plane:NoSchedule');
  }
  labels.push(`kubeaws.io/node-pool=${o.pool}`);
  const files: Record<string, { content: string; permissions: string }> = {
    '/etc/kubeaws/node.env': {
      permissions: '0644',
      content: escapeForSub(
        nodeEnv(o, {
          FILES_PREFIX: `s3://\u0000FILES\u0000/${o.role}/`,
          KUBELET_NODE_LABELS: labels.join(','),
          KUBELET_REGISTER_WITH_TAINTS: taints.join(','),
        }),
      ).replace('\u0000FILES\u0000', '${FilesBucket}'),
    },
  };
  if (o.role === 'master' && o.authnz) {
    const a = authnzApiserverFiles(o.authnz);
    for (const [p, content] of Object.entries(a.files))
      files[p] = { content: escapeForSub(content), permissions: '0600' };
    files['/etc/kubernetes/kube-apiserver.flags'] = {
      permissions: '0644',
      content: escapeForSub(
        [
          `--service-account-issuer=https://${o.apiHostname}`,
          `--service-account-jwks-uri=https://${o.apiHostname}/openid/v1/jwks`,
          '--api-audiences=https://kubernetes.default.svc,sts.amazonaws.com',
          ...a.flags,
        ].join('\n') + '\n',
      ),
    };
  }
  return cloudConfig(files, [
    ['/usr/local/bin/kubeaws-fetch-files', '/etc/kubeaws/node.env'],
    ['systemctl', 'enable', '--now', o.role === 'master' ? 'kubeaws-control-plane.target' : 'kubelet.service'],
  ]);
}

/** Options of the etcd user data. */
export interface EtcdUserdataOptions extends NodeIdentity {
  role: 'etcd';
  /** `etcd.<name>.<zone>`: the members register `<instance>.etcd.<name>.<zone>` and the SRV records there. */
  etcdDomain: string;
}

/** User data of an etcd member. The backup bucket name is the `${BackupBucket}` placeholder. */
export function etcdUserdata(o: EtcdUserdataOptions): string {
  const files = {
    '/etc/kubeaws/node.env': {
      permissions: '0644',
      content: escapeForSub(
        nodeEnv(o, { ETCD_DOMAIN: o.etcdDomain, ETCD_BACKUP_PREFIX: 's3://\u0000B\u0000/backups/' }),
      ).replace('\u0000B\u0000', '${BackupBucket}'),
    },
  };
  return cloudConfig(files, [['systemctl', 'enable', '--now', 'kubeaws-etcd.service', 'kubeaws-etcd-backup.timer']]);
}
