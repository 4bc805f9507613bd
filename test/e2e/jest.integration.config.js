// End-to-end suites across components against one real local cluster per jest run (global-setup.ts): the
// metrics-adapter's cluster options (docs/metrics-adapter.md#ma-local) and the authnz webhook wired into
// kube-apiserver (docs/authnz-webhook.md#authnz-apiserver). Run with `-w 1`: the suites share the cluster one at a time.
const path = require('node:path');
const base = require('../../jest.preset.js')(__dirname, 'integration');
module.exports = {
  ...base,
  displayName: 'e2e:integration',
  testMatch: ['<rootDir>/*.e2e.test.ts'],
  globalSetup: path.join(__dirname, 'global-setup.ts'),
  globalTeardown: path.join(__dirname, 'global-teardown.ts'),
  reporters: ['default', [path.join(__dirname, '../../tools/ci/jest-results-reporter.js'), { name: 'e2e', kind: 'integration' }]],
};
