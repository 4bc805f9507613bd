/**
 * Entry point of the pdb-controller container: `node dist/packages/pdb-controller/lib/main.js [flags]`.
 * Flags and environment are parsed before any API call; an invalid value exits with code 2 and a
 * message naming the flag, the value and the expected form (stderr and the termination message).
 */
import { type MainContext, parseFlags, runMain } from '@kubeaws/runtime';
import type { Settings } from './config';
import type { OwnPod } from './controller';
import { pdbControllerFlags } from './flags';
import { startPdbController } from './start';

export { startPdbController } from './start';

/** The controller's own Pod from the downward-API environment (`POD_NAME`, `POD_NAMESPACE`, `POD_UID`). */
export function ownPodFromEnv(env: NodeJS.ProcessEnv): OwnPod | undefined {
  if (!env.POD_NAME || !env.POD_NAMESPACE) return undefined;
  return { name: env.POD_NAME, namespace: env.POD_NAMESPACE, uid: env.POD_UID || undefined };
}

/** Parses flags and environment, runs the controller until `ctx.signal` aborts, then shuts down. */
export async function main(ctx: MainContext): Promise<number> {
  const values = parseFlags(pdbControllerFlags(), {
    argv: ctx.argv,
    env: ctx.env,
    name: 'pdb-controller',
    description:
      'Gives every multi-replica Deployment and StatefulSet (and, opt-in, Argo Rollout) a default PodDisruptionBudget',
  });
  const {
    kubeconfig,
    leaderElect,
    leaseName,
    leaseNamespace,
    metricsBindAddress,
    healthProbeBindAddress,
    logLevel,
    ...settings
  } = values;
  const handle = await startPdbController({
    shared: {
      kubeconfig,
      leaderElect,
      leaseName,
      leaseNamespace,
      metricsBindAddress,
      healthProbeBindAddress,
      logLevel,
    },
    settings: settings as Settings,
    identity: ctx.env.POD_NAME || undefined,
    pod: ownPodFromEnv(ctx.env),
  });
  if (!ctx.signal.aborted) {
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  }
  await handle.stop();
  return 0;
}

if (typeof module === 'undefined' || require.main === module) void runMain(main);
