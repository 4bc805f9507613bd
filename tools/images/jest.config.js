// Jest projects of tools/images, one run per service: `image-check` (Dockerfile rules, no cluster),
// `bundle-smoke` (the bundle from an empty directory against the local kube-apiserver) and `image-run` (the built
// container image run from its own read-only root filesystem against the local cluster). The service comes
// from KUBEAWS_SERVICE; results are written as <service>.<kind>.json for tools/ci/test.sh.
const path = require('node:path');

/** @param {'image-check'|'bundle-smoke'|'image-run'} kind */
module.exports = function imagesJestConfig(kind) {
  const service = process.env.KUBEAWS_SERVICE;
  if (!service) throw new Error('KUBEAWS_SERVICE must name the service (e.g. pdb-controller)');
  const withCluster = kind === 'bundle-smoke' || kind === 'image-run';
  const base = require('../../jest.preset.js')(__dirname, withCluster ? 'integration' : 'unit');
  return {
    ...base,
    displayName: `${service}:${kind}`,
    testMatch: [`<rootDir>/${kind}.test.ts`],
    ...(withCluster
      ? {
          // image-run: testenv's cluster with the options a service's image needs (image-run.global-setup.ts)
          globalSetup:
            kind === 'image-run'
              ? path.join(__dirname, 'image-run.global-setup.ts')
              : path.join(__dirname, '../../packages/testenv/src/jest/global-setup.ts'),
          globalTeardown: path.join(__dirname, '../../packages/testenv/src/jest/global-teardown.ts'),
        }
      : {}),
    reporters: ['default', [path.join(__dirname, '../ci/jest-results-reporter.js'), { name: service, kind }]],
  };
};
