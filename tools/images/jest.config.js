// Jest projects of tools/images, one run per service: `image-check` (Dockerfile rules, no cluster) and
// `bundle-smoke` (the bundle from an empty directory against the local kube-apiserver). The service comes
// from KUBEAWS_SERVICE; results are written as <service>.<kind>.json for tools/ci/test.sh.
const path = require('node:path');

/** @param {'image-check'|'bundle-smoke'} kind */
module.exports = function imagesJestConfig(kind) {
  const service = process.env.KUBEAWS_SERVICE;
  if (!service) throw new Error('KUBEAWS_SERVICE must name the service (e.g. pdb-controller)');
  const base = require('../../jest.preset.js')(__dirname, kind === 'bundle-smoke' ? 'integration' : 'unit');
  return {
    ...base,
    displayName: `${service}:${kind}`,
    testMatch: [`<rootDir>/${kind}.test.ts`],
    ...(kind === 'bundle-smoke'
      ? {
          globalSetup: path.join(__dirname, '../../packages/testenv/src/jest/global-setup.ts'),
          globalTeardown: path.join(__dirname, '../../packages/testenv/src/jest/global-teardown.ts'),
        }
      : {}),
    reporters: ['default', [path.join(__dirname, '../ci/jest-results-reporter.js'), { name: service, kind }]],
  };
};
