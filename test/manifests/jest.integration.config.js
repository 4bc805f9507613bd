// manifests/ against the real local control plane: server-side dry-run and RBAC sufficiency/minimality.
const path = require('node:path');
const base = require('../../jest.preset.js')(__dirname, 'integration');
module.exports = {
  ...base,
  displayName: 'manifests:integration',
  testMatch: ['<rootDir>/*.cluster.test.ts'],
  globalSetup: path.join(__dirname, '../../packages/testenv/src/jest/global-setup.ts'),
  globalTeardown: path.join(__dirname, '../../packages/testenv/src/jest/global-teardown.ts'),
  reporters: ['default', [path.join(__dirname, '../../tools/ci/jest-results-reporter.js'), { name: 'manifests', kind: 'integration' }]],
};
