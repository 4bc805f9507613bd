/** jest globalTeardown of the end-to-end suites: stops the cluster of global-setup.ts and removes the wiring files. */
import { rmSync } from 'node:fs';
import testenvTeardown from '@kubeaws/testenv/src/jest/global-teardown';
import { E2E_WIRING_DIR_KEY } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  await testenvTeardown();
  const dir = (globalThis as Record<string, unknown>)[E2E_WIRING_DIR_KEY] as string | undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
}
