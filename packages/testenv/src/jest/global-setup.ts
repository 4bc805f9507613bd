import { existsSync } from 'node:fs';
import { type Cluster, type StartClusterOptions, attachCluster, startCluster } from '../cluster';
import { TEST_ENV } from '../helpers';

/** Key on `globalThis` under which globalSetup hands the cluster to globalTeardown (same process). */
export const GLOBAL_KEY = '__KUBEAWS_TESTENV_CLUSTER__';

/** What globalSetup leaves for globalTeardown. */
export interface GlobalTestCluster {
  cluster: Cluster;
  /** False when an already running cluster was reused (then teardown leaves it running). */
  owned: boolean;
}

function exportEnv(cluster: Cluster): void {
  process.env[TEST_ENV.kubeconfig] = cluster.kubeconfigPath;
  process.env[TEST_ENV.state] = cluster.statePath;
  process.env[TEST_ENV.auditLog] = cluster.auditLogPath;
  process.env[TEST_ENV.server] = cluster.server;
  process.env[TEST_ENV.caCert] = cluster.caCertPath;
  process.env[TEST_ENV.dataDir] = cluster.dataDir;
  process.env[TEST_ENV.etcdEndpoint] = cluster.etcdEndpoint;
}

/**
 * Options from the environment: `KUBEAWS_TEST_NODES` (node count), `KUBEAWS_TEST_APISERVER_ARGS`
 * (JSON array of extra kube-apiserver flags). Pure.
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): StartClusterOptions {
  const opts: StartClusterOptions = {};
  if (env.KUBEAWS_TEST_NODES) opts.nodes = Number(env.KUBEAWS_TEST_NODES);
  if (env.KUBEAWS_TEST_APISERVER_ARGS) {
    const args: unknown = JSON.parse(env.KUBEAWS_TEST_APISERVER_ARGS);
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
      throw new Error('KUBEAWS_TEST_APISERVER_ARGS must be a JSON array of strings');
    }
    opts.apiserverExtraArgs = args;
  }
  return opts;
}

/**
 * Returns a jest `globalSetup` function that starts one local cluster for the whole jest run (or reuses
 * the running one named by `$KUBEAWS_TEST_STATE`, e.g. from `testenv up`) and exports its facts to the
 * test workers through `process.env`: KUBEAWS_TEST_KUBECONFIG, KUBEAWS_TEST_STATE, KUBEAWS_TEST_AUDIT_LOG,
 * KUBEAWS_TEST_SERVER, KUBEAWS_TEST_CA_CERT, KUBEAWS_TEST_DATA_DIR, KUBEAWS_TEST_ETCD_ENDPOINT.
 * `opts` are merged over {@link optionsFromEnv}.
 */
export function createGlobalSetup(opts: StartClusterOptions = {}): () => Promise<void> {
  return async () => {
    const existing = process.env[TEST_ENV.state];
    let handle: GlobalTestCluster;
    if (existing && existsSync(existing)) {
      handle = { cluster: attachCluster(existing), owned: false };
    } else {
      const cluster = await startCluster({
        onProgress: (line) => process.stderr.write(`${line}\n`),
        ...optionsFromEnv(),
        ...opts,
      });
      handle = { cluster, owned: true };
    }
    exportEnv(handle.cluster);
    (globalThis as Record<string, unknown>)[GLOBAL_KEY] = handle;
  };
}

/** Default jest `globalSetup`: {@link createGlobalSetup} with options from the environment only. */
export default createGlobalSetup();
