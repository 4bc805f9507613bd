// End-to-end suites across components against one real local cluster: the real HPA controller of
// kube-controller-manager scaling on the metrics-adapter's metrics (docs/metrics-adapter.md#ma-local). The cluster
// options (no aggregator endpoint routing, 5 s HPA sync, loopback pod CIDR) come from the adapter's global setup.
const path = require('node:path');
const base = require('../../jest.preset.js')(__dirname, 'integration');
module.exports = {
  ...base,
  displayName: 'e2e:integration',
  testMatch: ['<rootDir>/*.e2e.test.ts'],
  globalSetup: path.join(__dirname, '../../packages/metrics-adapter/test/global-setup.ts'),
  globalTeardown: path.join(__dirname, '../../packages/testenv/src/jest/global-teardown.ts'),
  reporters: ['default', [path.join(__dirname, '../../tools/ci/jest-results-reporter.js'), { name: 'e2e', kind: 'integration' }]],
};
