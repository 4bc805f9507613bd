import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { waitFor } from './wait';

/** Environment variables set by the jest globalSetup of this package (see src/jest/global-setup.ts). */
export const TEST_ENV = {
  /** Admin kubeconfig path. */
  kubeconfig: 'KUBEAWS_TEST_KUBECONFIG',
  /** Cluster state file, for {@link attachCluster}. */
  state: 'KUBEAWS_TEST_STATE',
  /** kube-apiserver audit log (JSON lines). */
  auditLog: 'KUBEAWS_TEST_AUDIT_LOG',
  /** API server URL. */
  server: 'KUBEAWS_TEST_SERVER',
  /** Cluster CA PEM path. */
  caCert: 'KUBEAWS_TEST_CA_CERT',
  /** Cluster data directory (logs in `<dir>/logs`). */
  dataDir: 'KUBEAWS_TEST_DATA_DIR',
  /** etcd client URL. */
  etcdEndpoint: 'KUBEAWS_TEST_ETCD_ENDPOINT',
} as const;

/**
 * Admin KubeConfig of the test cluster, loaded from `$KUBEAWS_TEST_KUBECONFIG` (set by the testenv jest
 * globalSetup or by the CLI's `up`).
 * @throws Error when the variable is unset.
 */
export function testKubeConfig(): KubeConfig {
  const file = process.env[TEST_ENV.kubeconfig];
  if (!file) {
    throw new Error(
      `${TEST_ENV.kubeconfig} is not set: configure packages/testenv/src/jest/global-setup.ts as jest globalSetup`,
    );
  }
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

function statusCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } };
  for (const c of [e?.code, e?.statusCode, e?.response?.statusCode]) if (typeof c === 'number') return c;
  return undefined;
}

/**
 * Creates a namespace named `<prefix>-<8 random hex>` (prefix lower-cased, non-DNS characters replaced
 * by `-`, cut so the name fits 63 characters), labelled `kubeaws.io/test=true`.
 * @returns the namespace name.
 */
export async function createTestNamespace(kc: KubeConfig, prefix = 'test'): Promise<string> {
  const clean =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 54) || 'test';
  const name = `${clean}-${randomBytes(4).toString('hex')}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({
    body: { metadata: { name, labels: { 'kubeaws.io/test': 'true' } } },
  });
  return name;
}

/** Options for {@link deleteNamespace}. */
export interface DeleteNamespaceOptions {
  /** Wait until the namespace is gone (the namespace controller has finalized it). Default false. */
  wait?: boolean;
  /** Deadline when waiting, in milliseconds. Default 60 000. */
  timeoutMs?: number;
}

/**
 * Deletes a namespace (background propagation). A missing namespace is not an error.
 * @throws WaitTimeoutError when `wait` is set and the namespace still exists after `timeoutMs`.
 */
export async function deleteNamespace(kc: KubeConfig, name: string, opts: DeleteNamespaceOptions = {}): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  try {
    await core.deleteNamespace({ name, propagationPolicy: 'Background' });
  } catch (err) {
    if (statusCode(err) !== 404) throw err;
  }
  if (!opts.wait) return;
  await waitFor(
    async () => {
      try {
        await core.readNamespace({ name });
        return false;
      } catch (err) {
        if (statusCode(err) === 404) return true;
        throw err;
      }
    },
    { timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: 250, description: `namespace ${name} to be deleted` },
  );
}

/** Options for {@link serviceAccountKubeConfig}. */
export interface ServiceAccountKubeConfigOptions {
  /** Token lifetime in seconds (the API enforces a minimum of 600). Default 3600. */
  expirationSeconds?: number;
  /** Token audiences; default the API server's (the service-account issuer). */
  audiences?: string[];
  /**
   * API paths (e.g. `/apis/apps/v1/deployments`) the ServiceAccount must be able to LIST before this resolves.
   * kube-apiserver evaluates RBAC from informers, so freshly applied Roles take a moment to be in effect.
   */
  waitForList?: string[];
  /** Deadline for `waitForList`, in ms. Default 30 000. */
  waitTimeoutMs?: number;
}

/**
 * Issues a bound token for ServiceAccount `namespace/name` (TokenRequest API,
 * `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`) and returns a KubeConfig that
 * authenticates with only that token, against the same server and CA as `adminKc`'s current cluster.
 * The ServiceAccount must exist.
 */
export async function serviceAccountKubeConfig(
  adminKc: KubeConfig,
  namespace: string,
  name: string,
  opts: ServiceAccountKubeConfigOptions = {},
): Promise<KubeConfig> {
  const cluster = adminKc.getCurrentCluster();
  if (!cluster) throw new Error('serviceAccountKubeConfig: admin KubeConfig has no current cluster');
  const tr = await adminKc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name,
    namespace,
    body: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: opts.expirationSeconds ?? 3600, audiences: opts.audiences ?? [] },
    },
  });
  const token = tr.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  const user = `system:serviceaccount:${namespace}:${name}`;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster }],
    users: [{ name: user, token }],
    contexts: [{ name: user, cluster: cluster.name, user, namespace }],
    currentContext: user,
  });
  for (const p of opts.waitForList ?? []) {
    await waitFor(() => listStatus(kc, p).then((code) => (code === 200 ? true : undefined)), {
      timeoutMs: opts.waitTimeoutMs ?? 30_000,
      description: `ServiceAccount ${namespace}/${name} allowed to list ${p} (RBAC in effect)`,
    });
  }
  return kc;
}

/**
 * Collects the JSON log lines a component writes (usable as a pino destination: it has `write(string)`).
 * Each non-empty line is parsed as JSON; `find` filters them.
 * @throws SyntaxError from `write` when a line is not JSON (components log JSON lines only).
 */
export class LogCapture {
  readonly lines: Record<string, any>[] = [];
  write(s: string): void {
    for (const l of s.split('\n')) if (l.trim()) this.lines.push(JSON.parse(l));
  }
  find(pred: (l: Record<string, any>) => boolean): Record<string, any>[] {
    return this.lines.filter(pred);
  }
}

/** HTTP status of `GET <path>?limit=1` with the credentials of `kc` (0 on a transport error). */
async function listStatus(kc: KubeConfig, path: string): Promise<number> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) return 0;
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve) => {
    const req = https.get(`${server}${path}?limit=1`, opts, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
  });
}

/** A stand-in API endpoint that counts TCP connections, for proving that a process exits before any API call. */
export interface CountingApiServer {
  /** kubeconfig file pointing at the server (plain HTTP, a dummy token). */
  kubeconfigPath: string;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * Starts an HTTP server on 127.0.0.1 that answers 500 to everything and counts connections, and writes a
 * kubeconfig for it to `kubeconfigPath`. Used by the "invalid flag → exit code 2 before any API call" tests.
 */
export async function startCountingApiServer(kubeconfigPath: string): Promise<CountingApiServer> {
  let connections = 0;
  const server: Server = createServer((_req, res) => res.writeHead(500).end());
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  writeFileSync(
    kubeconfigPath,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: `http://127.0.0.1:${port}` } }],
      users: [{ name: 'u', user: { token: 'x' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
    }),
  );
  return {
    kubeconfigPath,
    connections: () => connections,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
