/** jest globalTeardown: stops the cluster of test/global-setup.ts (testenv) and removes the wiring files. */
import { rmSync } from 'node:fs';
import testenvTeardown from '@kubeaws/testenv/src/jest/global-teardown';
import { WIRING_DIR_KEY } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  await testenvTeardown();
  const dir = (globalThis as Record<string, unknown>)[WIRING_DIR_KEY] as string | undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
}
