/**
 * Generating the content of the cluster files a {@link FilesPlan} creates, updates or rotates
 * (docs/infra.md#infra-cluster-files). Reused items keep their stored content; derived objects (CA copies,
 * kubeconfigs) are built from the current CA.
 */
import { stringify } from 'yaml';
import { CA_DAYS, type FileItem, type KubeconfigItem, LEAF_DAYS } from './layout';
import type { FilesPlan } from './plan';
import { createCa, issueCert, type PemPair, secretboxKey, serviceAccountKeyPair } from './pki';

/**
 * The EncryptionConfiguration of kube-apiserver: Secrets encrypted with secretbox (XSalsa20-Poly1305), reads
 * of not yet encrypted data through `identity`
 * (https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/).
 * @param key 32 random bytes, base64
 */
export function encryptionConfiguration(key: string): string {
  return stringify({
    apiVersion: 'apiserver.config.k8s.io/v1',
    kind: 'EncryptionConfiguration',
    resources: [{ resources: ['secrets'], providers: [{ secretbox: { keys: [{ name: 'key1', secret: key }] } }, { identity: {} }] }],
  });
}

/** A kubeconfig with the embedded CA certificate and client certificate of `item`. */
export function clientKubeconfig(item: Pick<KubeconfigItem, 'server' | 'user'>, caCert: string, pair: PemPair): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kubeaws', cluster: { server: item.server, 'certificate-authority-data': b64(caCert) } }],
    users: [{ name: item.user, user: { 'client-certificate-data': b64(pair.cert), 'client-key-data': b64(pair.key) } }],
    contexts: [{ name: 'default', context: { cluster: 'kubeaws', user: item.user } }],
    'current-context': 'default',
  });
}

/**
 * The objects to write for `plan`: object key → content, only for items that are created, updated or
 * rotated (and only their objects whose content changes).
 * @throws when the plan has errors
 */
export async function generateClusterFiles(
  items: FileItem[],
  plan: FilesPlan,
  existing: ReadonlyMap<string, string>,
): Promise<Map<string, string>> {
  if (plan.errors.length > 0) throw new Error(plan.errors.join('\n'));
  const writes = new Map<string, string>();
  const cas = new Map<string, PemPair>();
  const put = (key: string, content: string) => {
    if (existing.get(key) !== content) writes.set(key, content);
  };
  for (const item of items) {
    const action = plan.items.find((p) => p.id === item.id)!.action;
    const fresh = action === 'create' || action === 'rotate';
    switch (item.kind) {
      case 'ca': {
        const pair = fresh
          ? await createCa(item.cn, CA_DAYS)
          : { cert: existing.get(item.cert)!, key: existing.get(item.key)! };
        cas.set(item.id, pair);
        put(item.cert, pair.cert);
        put(item.key, pair.key);
        for (const c of item.copies) put(c.key, c.of === 'cert' ? pair.cert : pair.key);
        break;
      }
      case 'cert':
        if (fresh) {
          const pair = await issueCert(cas.get(item.ca)!, item.profile, LEAF_DAYS);
          put(item.cert, pair.cert);
          put(item.key, pair.key);
        }
        break;
      case 'kubeconfig':
        if (fresh) {
          const ca = cas.get(item.ca)!;
          put(item.object, clientKubeconfig(item, ca.cert, await issueCert(ca, item.profile, LEAF_DAYS)));
        }
        break;
      case 'service-account':
        if (fresh) {
          const kp = serviceAccountKeyPair();
          put(item.key, kp.key);
          put(item.pub, kp.pub);
        }
        break;
      case 'encryption':
        if (fresh) put(item.object, encryptionConfiguration(secretboxKey()));
        break;
      case 'static':
        put(item.object, item.content);
        break;
    }
  }
  return writes;
}
