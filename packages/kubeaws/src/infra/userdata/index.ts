/**
 * cloud-init user data of etcd, master and worker nodes (docs/infra.md#infra-bootstrap). User data stays small
 * (≤ 16 KB): it writes the node's identity (`/etc/kubeaws/node.env`) and one bootstrap script
 * (`/usr/local/bin/kubeaws-bootstrap`) that fetches the node's files from the cluster files bucket (SigV4
 * `curl`, instance-role credentials from IMDSv2), writes the kube-apiserver wiring of the authnz-webhook and the
 * kubelet configuration, and starts the node's components. The script's root directory, ports and supervisor
 * are environment variables, so the same script runs on a host without systemd.
 *
 * Values known only at deploy time (bucket names) are `${Name}` placeholders that the stack resolves with
 * `Fn::Sub`; every other `$` is escaped for `Fn::Sub` (`${!...}`).
 */
import { stringify } from 'yaml';
import {
  CLUSTER_DNS_IP,
  CLUSTER_DOMAIN,
  clusterFileItems,
  type FileItem,
  roleObjects,
  SERVICE_CIDR,
} from '../files/layout';

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


/** Where user data writes the bootstrap script. */
export const BOOTSTRAP_PATH = '/usr/local/bin/kubeaws-bootstrap';

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

/** `\u0000B\u0000` in the script marks the files bucket placeholder (`${FilesBucket}` after escaping). */
const BUCKET = '\u0000B\u0000';

/**
 * The common head of every bootstrap script: strict mode, the environment overrides, IMDSv2, credentials,
 * `fetch <key> <dest>` (retried until `KUBEAWS_FETCH_TIMEOUT` seconds, default 900), `wants <name>` (whether the
 * component is in `KUBEAWS_COMPONENTS`, default `components`) and `run <name> <args…>`
 * (a systemd unit by default; `KUBEAWS_SUPERVISOR=process` starts it in the background with its log in
 * `$R/var/log/kubeaws/<name>.log` and its pid in `$R/run/kubeaws/<name>.pid`).
 */
function scriptHead(id: NodeIdentity, components: string): string {
  return `#!/bin/bash
# kubeaws ${id.role} bootstrap of ${id.clusterName} (docs/infra.md#infra-bootstrap)
set -euo pipefail
R="\${KUBEAWS_ROOT:-}"
BIN="\${KUBEAWS_BIN:-/usr/local/bin}"
export AWS_REGION="\${AWS_REGION:-${id.region}}"
FILES_BUCKET="\${FILES_BUCKET:-${BUCKET}}"
umask 077
mkdir -p "$R/etc/kubernetes/pki"
imds() {
  local t
  t=$(curl -sSf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)
  curl -sSf -H "X-aws-ec2-metadata-token: $t" "http://169.254.169.254/latest/$1"
}
if [ -z "\${AWS_ACCESS_KEY_ID:-}" ]; then
  j=$(imds "meta-data/iam/security-credentials/$(imds meta-data/iam/security-credentials/)")
  v() { sed -n "s/.*\\"$1\\" *: *\\"\\([^\\"]*\\)\\".*/\\1/p" <<<"$j"; }
  AWS_ACCESS_KEY_ID=$(v AccessKeyId) AWS_SECRET_ACCESS_KEY=$(v SecretAccessKey) AWS_SESSION_TOKEN=$(v Token)
fi
fetch() {
  local url="\${AWS_ENDPOINT_URL:-https://s3.$AWS_REGION.amazonaws.com}/$FILES_BUCKET/$1"
  local dl=$(($(date +%s) + \${KUBEAWS_FETCH_TIMEOUT:-900})) h=()
  [ -z "\${AWS_SESSION_TOKEN:-}" ] || h=(-H "x-amz-security-token: $AWS_SESSION_TOKEN")
  mkdir -p "$(dirname "$2")"
  until curl -sSf --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "\${h[@]}" \\
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' -o "$2" "$url"; do
    [ "$(date +%s)" -lt "$dl" ] || { echo "kubeaws-bootstrap: cannot fetch s3://$FILES_BUCKET/$1" >&2; exit 1; }
    sleep 5
  done
}
wants() {
  case " \${KUBEAWS_COMPONENTS:-${components}} " in *" $1 "*) return 0 ;; esac
  return 1
}
run() {
  local n=$1
  shift
  wants "$n" || return 0
  if [ "\${KUBEAWS_SUPERVISOR:-systemd}" = process ]; then
    mkdir -p "$R/var/log/kubeaws" "$R/run/kubeaws"
    nohup "$BIN/$n" "$@" >"$R/var/log/kubeaws/$n.log" 2>&1 </dev/null &
    echo $! >"$R/run/kubeaws/$n.pid"
  else
    printf '[Unit]\\nAfter=network-online.target\\n[Service]\\nExecStart=%s\\nRestart=always\\nRestartSec=5\\n[Install]\\nWantedBy=multi-user.target\\n' \\
      "$BIN/$n $*" >"/etc/systemd/system/kubeaws-$n.service"
    systemctl daemon-reload
    systemctl enable --now "kubeaws-$n.service"
  fi
}
`;
}

/** Fetch lines for the role's objects: `<role>/<rest>` → `$R/etc/kubernetes/<rest>`. */
function fetchLines(items: FileItem[], role: 'etcd' | 'master' | 'worker'): string {
  const keys = roleObjects(items, role).map((k) => k.slice(role.length + 1));
  return `for k in ${keys.join(' ')}; do fetch "${role}/$k" "$R/etc/kubernetes/$k"; done\n`;
}

/** A heredoc writing `content` (which may use `$R`, `$WP`, `$AP`) to `path`; refuses other shell syntax. */
function heredoc(path: string, content: string): string {
  const stripped = content.replace(/\$(R|WP|AP|NODE_NAME)\b/g, '');
  if (/[$`\\]/.test(stripped)) throw new Error(`${path}: content has shell syntax`);
  return `cat >"${path}" <<EOF\n${content.endsWith('\n') ? content : `${content}\n`}EOF\n`;
}

/** The kubelet part of a master or worker script: KubeletConfiguration, credentials, `run kubelet`. */
function kubeletPart(o: KubeNodeUserdataOptions, labels: string[], taints: string[]): string {
  const config = [
    'apiVersion: kubelet.config.k8s.io/v1beta1',
    'kind: KubeletConfiguration',
    'authentication:',
    '  anonymous: {enabled: false}',
    '  webhook: {enabled: true}',
    '  x509: {clientCAFile: $R/etc/kubernetes/pki/ca.crt}',
    'authorization: {mode: Webhook}',
    `clusterDNS: [${CLUSTER_DNS_IP}]`,
    `clusterDomain: ${CLUSTER_DOMAIN}`,
    'cgroupDriver: systemd',
    'containerRuntimeEndpoint: unix:///run/containerd/containerd.sock',
    'readOnlyPort: 0',
    'protectKernelDefaults: true',
    'serverTLSBootstrap: false',
  ].join('\n');
  const masterCredential =
    o.role === 'master'
      ? `  P="$R/etc/kubernetes/pki"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/kubelet-client.key" \\
    -subj "/O=system:nodes/CN=system:node:$NODE_NAME" -out "$P/kubelet-client.csr" 2>/dev/null
  openssl x509 -req -in "$P/kubelet-client.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 365 \\
    -extfile <(echo extendedKeyUsage=clientAuth) -out "$P/kubelet-client.crt" 2>/dev/null
${heredoc(
  '$R/etc/kubernetes/kubelet.kubeconfig',
  stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server: 'https://127.0.0.1:$AP', 'certificate-authority': '$R/etc/kubernetes/pki/ca.crt' } }],
    users: [{ name: 'kubelet', user: { 'client-certificate': '$R/etc/kubernetes/pki/kubelet-client.crt', 'client-key': '$R/etc/kubernetes/pki/kubelet-client.key' } }],
    contexts: [{ name: 'default', context: { cluster: 'local', user: 'kubelet' } }],
    'current-context': 'default',
  }),
)}`
      : '';
  return `case " \${KUBEAWS_COMPONENTS:-kubelet} " in *" kubelet "*)
  NODE_NAME="\${NODE_NAME:-$(imds meta-data/local-hostname)}"
${masterCredential}${heredoc('$R/etc/kubernetes/kubelet-config.yaml', `${config}\nport: \${KUBELET_PORT:-10250}`.replace('${KUBELET_PORT:-10250}', '10250'))}  run kubelet --config="$R/etc/kubernetes/kubelet-config.yaml" --kubeconfig="$R/etc/kubernetes/kubelet.kubeconfig" \\
    --hostname-override="$NODE_NAME" --node-labels=${labels.join(',')} ${taints.length ? `--register-with-taints=${taints.join(',')}` : ''}
  ;;
esac
`;
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
  /**
   * Master only: kube-apiserver's `--etcd-servers`, the client URLs of the etcd stack's members
   * (`https://etcd-<i>.etcd.<name>.<zone>:2379,…`, {@link etcdClientUrls}).
   */
  etcdServers?: string;
}

/** The bootstrap script of a master or worker (before `Fn::Sub` escaping); the bucket is {@link BUCKET}. */
export function kubeNodeBootstrap(o: KubeNodeUserdataOptions): string {
  const labels = Object.keys(o.labels)
    .sort()
    .map((k) => `${k}=${o.labels[k]}`);
  const taints = o.taints.map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).sort();
  // kubelets may not set node-role.kubernetes.io/* labels themselves (NodeRestriction); this one they may.
  labels.unshift(`node.kubernetes.io/role=${o.role}`);
  if (o.role === 'master') taints.unshift('node-role.kubernetes.io/control-plane:NoSchedule');
  labels.push(`kubeaws.io/node-pool=${o.pool}`);
  const items = clusterFileItems({
    name: o.clusterName,
    hostedZone: '',
    apiHostname: o.apiHostname,
    clusterId: o.clusterId,
    region: o.region,
  } as Parameters<typeof clusterFileItems>[0]);
  if (o.role === 'worker')
    return scriptHead(o, 'kubelet') + fetchLines(items, 'worker') + kubeletPart(o, labels, taints);
  const a = authnzApiserverFiles({
    ...(o.authnz ?? { failurePolicy: 'Deny', tokenCacheTtl: '10s' }),
    dir: '$R/etc/kubernetes/authnz',
    webhookUrl: 'https://127.0.0.1:$WP',
  });
  const K = '$R/etc/kubernetes';
  const P = `${K}/pki`;
  const kc = (n: string) => `${K}/kubeconfigs/${n}.kubeconfig`;
  if (!o.etcdServers) throw new Error(`master user data of ${o.clusterName}: no etcd servers`);
  const etcd = o.etcdServers;
  return `${scriptHead(o, 'kube-apiserver kube-controller-manager kube-scheduler kubelet')}AP="\${APISERVER_PORT:-443}"
WP="\${AUTHNZ_WEBHOOK_PORT:-9443}"
NODE_IP="\${NODE_IP:-$(imds meta-data/local-ipv4)}"
${fetchLines(items, 'master')}sed -i "s#https://127.0.0.1:443\\$#https://127.0.0.1:$AP#" ${K}/kubeconfigs/*.kubeconfig
${Object.entries(a.files)
  .map(([p, content]) => heredoc(p, content))
  .join('')}run kube-apiserver --advertise-address="$NODE_IP" --bind-address="\${APISERVER_BIND_ADDRESS:-0.0.0.0}" --secure-port="$AP" \\
  --etcd-servers="\${ETCD_SERVERS:-${etcd}}" --etcd-cafile=${P}/etcd-ca.crt \\
  --etcd-certfile=${P}/apiserver-etcd-client.crt --etcd-keyfile=${P}/apiserver-etcd-client.key \\
  --tls-cert-file=${P}/apiserver.crt --tls-private-key-file=${P}/apiserver.key --client-ca-file=${P}/ca.crt \\
  --kubelet-client-certificate=${P}/apiserver-kubelet-client.crt --kubelet-client-key=${P}/apiserver-kubelet-client.key \\
  --kubelet-preferred-address-types=InternalIP,Hostname --encryption-provider-config=${K}/encryption-config.yaml \\
  --service-account-issuer=https://${o.apiHostname} --service-account-jwks-uri=https://${o.apiHostname}/openid/v1/jwks \\
  --service-account-key-file=${P}/sa.pub --service-account-signing-key-file=${P}/sa.key \\
  --api-audiences=https://kubernetes.default.svc,sts.amazonaws.com --service-cluster-ip-range=${SERVICE_CIDR} \\
  --requestheader-client-ca-file=${P}/front-proxy-ca.crt --requestheader-allowed-names=front-proxy-client \\
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \\
  --requestheader-extra-headers-prefix=X-Remote-Extra- --proxy-client-cert-file=${P}/front-proxy-client.crt \\
  --proxy-client-key-file=${P}/front-proxy-client.key --enable-admission-plugins=NodeRestriction \\
  --allow-privileged=true --profiling=false ${a.flags.join(' ')}
# kube-controller-manager and kube-scheduler exit at start when kube-apiserver cannot yet authorize them: start them once it is ready.
if wants kube-controller-manager || wants kube-scheduler; then
  dl=$(($(date +%s) + \${KUBEAWS_READY_TIMEOUT:-900}))
  until curl -sf --max-time 5 --cacert ${P}/ca.crt "https://127.0.0.1:$AP/readyz" >/dev/null; do
    [ "$(date +%s)" -lt "$dl" ] || { echo "kubeaws-bootstrap: kube-apiserver not ready on 127.0.0.1:$AP" >&2; exit 1; }
    sleep 2
  done
fi
run kube-controller-manager --kubeconfig=${kc('controller-manager')} --authentication-kubeconfig=${kc('controller-manager')} \\
  --authorization-kubeconfig=${kc('controller-manager')} --bind-address=127.0.0.1 \\
  --secure-port="\${CONTROLLER_MANAGER_PORT:-10257}" --leader-elect=true --use-service-account-credentials=true \\
  --root-ca-file=${P}/ca.crt --service-account-private-key-file=${P}/sa.key --cluster-signing-cert-file=${P}/ca.crt \\
  --cluster-signing-key-file=${P}/ca.key --service-cluster-ip-range=${SERVICE_CIDR} --profiling=false
run kube-scheduler --kubeconfig=${kc('scheduler')} --authentication-kubeconfig=${kc('scheduler')} \\
  --authorization-kubeconfig=${kc('scheduler')} --bind-address=127.0.0.1 --secure-port="\${SCHEDULER_PORT:-10259}" \\
  --leader-elect=true --profiling=false
${kubeletPart(o, labels, taints)}`;
}

/** Escapes the script for `Fn::Sub` and puts the `${FilesBucket}` placeholder in. */
function forSub(script: string, bucketPlaceholder: string): string {
  return escapeForSub(script).replaceAll(BUCKET, bucketPlaceholder);
}

/**
 * User data of a master or worker node: `node.env` and the bootstrap script, run by `runcmd`. The files
 * bucket name is the `${FilesBucket}` placeholder. Masters run etcd clients, kube-apiserver (authnz webhook
 * authn/authz, encryption at rest, issuer `https://<apiHostname>` serving its own discovery),
 * kube-controller-manager, kube-scheduler and a kubelet; workers a kubelet with `k8s-aws-v1.` tokens.
 */
export function kubeNodeUserdata(o: KubeNodeUserdataOptions): string {
  const labels = Object.keys(o.labels)
    .sort()
    .map((k) => `${k}=${o.labels[k]}`);
  const taints = o.taints.map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).sort();
  labels.unshift(`node.kubernetes.io/role=${o.role}`);
  if (o.role === 'master') taints.unshift('node-role.kubernetes.io/control-plane:NoSchedule');
  labels.push(`kubeaws.io/node-pool=${o.pool}`);
  const files = {
    '/etc/kubeaws/node.env': {
      permissions: '0644',
      content: forSub(
        nodeEnv(o, {
          FILES_PREFIX: `s3://${BUCKET}/${o.role}/`,
          KUBELET_NODE_LABELS: labels.join(','),
          KUBELET_REGISTER_WITH_TAINTS: taints.join(','),
        }),
        '${FilesBucket}',
      ),
    },
    [BOOTSTRAP_PATH]: { permissions: '0755', content: forSub(kubeNodeBootstrap(o), '${FilesBucket}') },
  };
  return cloudConfig(files, [[BOOTSTRAP_PATH]]);
}

/** Options of the etcd user data. */
export interface EtcdUserdataOptions extends NodeIdentity {
  role: 'etcd';
  /** `etcd.<name>.<zone>`: the domain of the members' A records (`etcd-<i>.etcd.<name>.<zone>`, the etcd stack). */
  etcdDomain: string;
  /** This member's name, `etcd-<i>`; its advertised host is `<member>.<etcdDomain>`. */
  member: string;
  /** `--initial-cluster` of every member ({@link etcdInitialCluster}). */
  initialCluster: string;
  /**
   * `Fn::Sub` placeholder of the files bucket (e.g. `${FilesBucket}`) when the stack provides one; without it
   * the bootstrap needs `FILES_BUCKET` in its environment.
   */
  filesBucketPlaceholder?: string;
}

/** The bootstrap script of an etcd member (before `Fn::Sub` escaping); the bucket is {@link BUCKET}. */
export function etcdBootstrap(o: EtcdUserdataOptions): string {
  const P = '$R/etc/kubernetes/pki/etcd';
  const items = clusterFileItems({ name: o.clusterName, hostedZone: '', apiHostname: o.apiHostname, clusterId: o.clusterId, region: o.region } as Parameters<typeof clusterFileItems>[0]);
  return `${scriptHead(o, 'etcd')}[ -n "$FILES_BUCKET" ] || { echo 'kubeaws-bootstrap: FILES_BUCKET is not set' >&2; exit 2; }
${fetchLines(items, 'etcd').replace('"$R/etc/kubernetes/$k"', '"$R/etc/kubernetes/pki/etcd/\${k#pki/}"')}NAME="\${KUBEAWS_ETCD_NAME:-${o.member}}"
HOST="\${KUBEAWS_ETCD_ADVERTISE_HOST:-$NAME.${o.etcdDomain}}"
CP="\${KUBEAWS_ETCD_CLIENT_PORT:-2379}" PP="\${KUBEAWS_ETCD_PEER_PORT:-2380}" L="\${KUBEAWS_ETCD_LISTEN_HOST:-0.0.0.0}"
run etcd --name="$NAME" --data-dir="$R/var/lib/etcd" --listen-client-urls="https://$L:$CP" \\
  --advertise-client-urls="https://$HOST:$CP" --listen-peer-urls="https://$L:$PP" \\
  --initial-advertise-peer-urls="https://$HOST:$PP" --initial-cluster="\${KUBEAWS_ETCD_INITIAL_CLUSTER:-${o.initialCluster}}" --initial-cluster-state=new \\
  --initial-cluster-token=${o.clusterName} --client-cert-auth --trusted-ca-file=${P}/ca.crt \\
  --cert-file=${P}/server.crt --key-file=${P}/server.key --peer-client-cert-auth \\
  --peer-trusted-ca-file=${P}/ca.crt --peer-cert-file=${P}/peer.crt --peer-key-file=${P}/peer.key
`;
}

/**
 * User data of an etcd member: `node.env` and the bootstrap script. The files bucket is the
 * `filesBucketPlaceholder`, the backup bucket `${BackupBucket}`.
 */
export function etcdUserdata(o: EtcdUserdataOptions): string {
  const env = nodeEnv(o, {
    ETCD_DOMAIN: o.etcdDomain,
    ETCD_NAME: o.member,
    ETCD_BACKUP_PREFIX: 's3://\u0000E\u0000/backups/',
  });
  const files = {
    '/etc/kubeaws/node.env': { permissions: '0644', content: escapeForSub(env).replace('\u0000E\u0000', '${BackupBucket}') },
    [BOOTSTRAP_PATH]: {
      permissions: '0755',
      content: escapeForSub(etcdBootstrap(o)).replaceAll(BUCKET, o.filesBucketPlaceholder ?? ''),
    },
  };
  return cloudConfig(files, [[BOOTSTRAP_PATH]]);
}
