import { GLOBAL_KEY, type GlobalTestCluster } from './global-setup';

/**
 * jest `globalTeardown`: stops the cluster started by the testenv globalSetup (a reused cluster is left
 * running). Set `KUBEAWS_TESTENV_KEEP=1` to keep the data dir (logs, audit log) for inspection.
 */
export default async function globalTeardown(): Promise<void> {
  const handle = (globalThis as Record<string, unknown>)[GLOBAL_KEY] as GlobalTestCluster | undefined;
  if (!handle?.owned) return;
  await handle.cluster.stop();
  delete (globalThis as Record<string, unknown>)[GLOBAL_KEY];
}
