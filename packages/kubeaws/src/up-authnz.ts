/**
 * The authnz webhook's part of `kubeaws up` on a local cluster (docs/authnz-webhook.md#authnz-apiserver): the local
 * kube-apiserver starts with the files shipped in `manifests/authnz-webhook/apiserver` (authentication webhook
 * kubeconfig, structured AuthorizationConfiguration with `failurePolicy: Deny` and the `system:` match condition),
 * their paths and the webhook address rewritten to a work folder and a loopback port. The webhook runs with the
 * policy of `manifests/authnz-webhook/configmap.yaml` whose issuer is replaced by a local OIDC issuer (discovery and
 * JWKS over loopback HTTP, RS256 tokens signed here). Two demo people send kubectl-style requests through
 * kube-apiserver; the status view shows who was let in and who was refused, with the rule that decided.
 */
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { ApiError, KubeClient } from '@kubeaws/runtime';
import { freePorts, generatePki } from '@kubeaws/testenv';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { applyObjects, readObjects } from './apply';

/** Where the shipped files refer to the webhook and its certificates (manifests/authnz-webhook/apiserver). */
const SHIPPED = { url: 'https://127.0.0.1:9443', dir: '/etc/kubernetes/authnz/', issuer: 'https://idp.example.com' } as const;
/** Namespace of the demo objects (examples/authnz-webhook). */
export const AUTHNZ_DEMO_NAMESPACE = 'demo-authnz';

/** One demo person: OIDC subject and groups, and the request the demo sends as them. */
export interface DemoPerson {
  sub: string;
  groups: string[];
  /** What the request does, as a kubectl command line. */
  kubectl: string;
  method: 'GET';
  path: string;
  /** SubjectAccessReview attributes of the same request (for the deciding rule of an allowed request). */
  attributes: { namespace: string; verb: string; resource: string; name?: string };
}

/** The demo people: one let in, one refused. */
export const DEMO_PEOPLE: DemoPerson[] = [
  {
    sub: 'pat', groups: ['k8s-poweruser'], kubectl: `kubectl -n ${AUTHNZ_DEMO_NAMESPACE} get secret payment-db`, method: 'GET',
    path: `/api/v1/namespaces/${AUTHNZ_DEMO_NAMESPACE}/secrets/payment-db`,
    attributes: { namespace: AUTHNZ_DEMO_NAMESPACE, verb: 'get', resource: 'secrets', name: 'payment-db' },
  },
  {
    sub: 'rita', groups: ['k8s-readonly'], kubectl: `kubectl -n ${AUTHNZ_DEMO_NAMESPACE} get secret payment-db`, method: 'GET',
    path: `/api/v1/namespaces/${AUTHNZ_DEMO_NAMESPACE}/secrets/payment-db`,
    attributes: { namespace: AUTHNZ_DEMO_NAMESPACE, verb: 'get', resource: 'secrets', name: 'payment-db' },
  },
];

/** What `kubeaws up` gets from {@link prepareAuthnzWiring}. */
export interface AuthnzDemo {
  /** kube-apiserver flags of the shipped `kube-apiserver-flags.txt`; `null` drops testenv's `--authorization-mode`. */
  apiserverArgs: Record<string, string | null>;
  /** Flags of the webhook process. */
  args: string[];
  env: Record<string, string>;
  /** Applies the access namespace and CRD the webhook's RBAC refers to (before its ServiceAccount and RBAC). */
  install(kc: KubeConfig): Promise<void>;
  /** Sends the demo people's requests through kube-apiserver (after the webhook is ready); resolves the status lines. */
  status(server: string, caFile: string): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * The `<decision> rule=<id> role=<role> user=<user>` head of the webhook's reason
 * (`<decision> rule=<id> role=<role> user=<user>: <sentence>`, docs/authnz-webhook.md), or the text's first 100
 * characters when it has none.
 */
export function decidingRule(text: string): string {
  return /((?:allow|deny) rule=\S+ role=\S+ user=\S+?):\s/.exec(text)?.[1] ?? text.slice(0, 100);
}

const b64url = (v: Buffer | string) => Buffer.from(v).toString('base64url');

/** A loopback OIDC issuer: discovery and JWKS over HTTP (allowed for loopback, docs/authnz-webhook.md#authnz-idp-fetch). */
class LocalIssuer {
  private constructor(readonly url: string, private readonly server: http.Server, private readonly key: KeyObject) {}

  static async start(): Promise<LocalIssuer> {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'local-1', alg: 'RS256', use: 'sig' };
    let url = '';
    const server = http.createServer((req, res) => {
      const body =
        req.url === '/.well-known/openid-configuration' ? { issuer: url, jwks_uri: `${url}/keys`, id_token_signing_alg_values_supported: ['RS256'] }
        : req.url === '/keys' ? { keys: [jwk] }
        : undefined;
      res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body ?? { error: 'not found' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return new LocalIssuer(url, server, createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })));
  }

  /** An RS256 ID token for `sub` and `groups`, audience `kubernetes`, valid for one hour. */
  token(sub: string, groups: string[]): string {
    const now = Math.floor(Date.now() / 1000);
    const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'local-1' }));
    const claims = b64url(JSON.stringify({ iss: this.url, aud: 'kubernetes', sub, groups, iat: now, exp: now + 3600 }));
    return `${head}.${claims}.${b64url(sign('sha256', Buffer.from(`${head}.${claims}`), this.key))}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** Rewrites one shipped file's paths and webhook address to the local ones. */
function localise(text: string, dir: string, port: number): string {
  return text.replaceAll(SHIPPED.url, `https://127.0.0.1:${port}`).replaceAll(SHIPPED.dir, `${dir}/`);
}

/**
 * Writes the webhook's PKI, the shipped kube-apiserver files (localised) and the webhook's policy into
 * `workDir/authnz`, and starts the local OIDC issuer. Call before the cluster starts: kube-apiserver reads the files
 * at start.
 * @throws when a shipped file is missing or the policy ConfigMap has no `config.yaml`
 */
export async function prepareAuthnzWiring(root: string, workDir: string, say: (line: string) => void): Promise<AuthnzDemo> {
  const dir = path.join(workDir, 'authnz');
  fs.mkdirSync(dir, { recursive: true });
  const shipped = path.join(root, 'manifests/authnz-webhook');
  const [port] = await freePorts(1);
  // One CA for the webhook's serving certificate (SAN 127.0.0.1) and kube-apiserver's client certificate (CN kubeaws-admin).
  const pki = await generatePki();
  const files: Record<string, string> = {
    'webhook-ca.crt': pki.ca.cert, 'webhook.crt': pki.apiserver.cert, 'webhook.key': pki.apiserver.key,
    'apiserver-client.crt': pki.admin.cert, 'apiserver-client.key': pki.admin.key,
  };
  for (const [name, pem] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), pem, { mode: 0o600 });
  for (const name of ['authn-webhook.kubeconfig', 'authz-webhook.kubeconfig', 'authorization-config.yaml'])
    fs.writeFileSync(path.join(dir, name), localise(fs.readFileSync(path.join(shipped, 'apiserver', name), 'utf8'), dir, port!));
  const apiserverArgs: Record<string, string | null> = { 'authorization-mode': null };
  for (const line of fs.readFileSync(path.join(shipped, 'apiserver/kube-apiserver-flags.txt'), 'utf8').split('\n')) {
    const m = /^--([a-z0-9-]+)=(.*)$/.exec(line.trim());
    if (m) apiserverArgs[m[1]!] = localise(m[2]!, dir, port!);
  }
  const issuer = await LocalIssuer.start();
  say(`local OIDC issuer for the demo people at ${issuer.url}`);
  const cm = parseAllDocuments(fs.readFileSync(path.join(shipped, 'configmap.yaml'), 'utf8')).map((d) => d.toJS()).find((o) => o?.kind === 'ConfigMap');
  const policy = cm?.data?.['config.yaml'] as string | undefined;
  if (!policy) throw new Error(`${path.join(shipped, 'configmap.yaml')}: no ConfigMap with data.config.yaml`);
  const config = path.join(dir, 'config.yaml');
  fs.writeFileSync(config, policy.replaceAll(SHIPPED.issuer, issuer.url));
  return {
    apiserverArgs,
    env: {},
    args: [
      `--config=${config}`,
      `--webhook-bind-address=127.0.0.1:${port}`,
      `--tls-cert-file=${path.join(dir, 'webhook.crt')}`,
      `--tls-private-key-file=${path.join(dir, 'webhook.key')}`,
      `--client-ca-file=${path.join(dir, 'webhook-ca.crt')}`,
      '--allowed-client-names=kubeaws-admin',
      '--access-api-bind-address=127.0.0.1:0',
      '--shutdown-delay=0s',
      // The shipped Role allows the webhook's Lease only in the emergency-access namespace.
      '--lease-namespace=kubeaws-access',
    ],
    async install(kc) {
      await applyObjects(kc, readObjects(shipped, (f) => f === 'namespace.yaml' || f === 'crds.yaml'));
    },
    async status(server, caFile) {
      const lines = ['  people through kube-apiserver and the webhook (local OIDC issuer):'];
      for (const p of DEMO_PEOPLE) {
        const kc = new KubeConfig();
        kc.loadFromOptions({
          clusters: [{ name: 'local', server, caData: fs.readFileSync(caFile).toString('base64') }],
          users: [{ name: p.sub, token: issuer.token(p.sub, p.groups) }],
          contexts: [{ name: p.sub, cluster: 'local', user: p.sub }],
          currentContext: p.sub,
        });
        const client = new KubeClient({ kubeConfig: kc, component: 'kubectl-demo' });
        let verdict: string;
        try {
          await client.request({ method: p.method, path: p.path });
          // The same question as a SelfSubjectAccessReview: the webhook's reason names the rule that allowed it.
          const review = await client.request<any>({
            method: 'POST', path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
            body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: p.attributes } },
          });
          verdict = `LET IN   ${decidingRule(String(review.status?.reason ?? ''))}`;
        } catch (e) {
          if (!(e instanceof ApiError)) throw e;
          verdict = `REFUSED  ${e.statusCode} ${decidingRule(e.message)}`;
        }
        lines.push(`    ${`oidc:${p.sub} (${p.groups.join(',')})`.padEnd(28)} ${p.kubectl.padEnd(46)} ${verdict}`);
      }
      return lines;
    },
    async stop() {
      await issuer.stop();
    },
  };
}
