/**
 * jest globalSetup of the kubeaws integration suites: provisions what they start, outside any test timeout (a
 * first build of the control-plane binaries takes tens of minutes): the moto venv and the binaries of
 * tools/kube-binaries. The authnz webhook bundle comes from `nx run authnz-webhook:bundle`, a dependency of
 * this project's `integration-test` target.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { ensureBinaries, ensurePythonEnv, repoRoot } from '@kubeaws/testenv';

/** The built authnz webhook the bootstrap suite starts. */
export const AUTHNZ_BUNDLE = 'dist/packages/authnz-webhook/bundle/main.mjs';

export default async function globalSetup(): Promise<void> {
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  await ensurePythonEnv({ onProgress: progress });
  await ensureBinaries({ onProgress: progress });
  if (!existsSync(path.join(repoRoot(), AUTHNZ_BUNDLE)))
    throw new Error(`${AUTHNZ_BUNDLE} is missing: run \`npx nx run authnz-webhook:bundle\` (or \`npx nx run kubeaws:integration-test\`)`);
}
