const path = require('node:path');

// One real local cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok) per jest run,
// started by the testenv globalSetup; run with `-w 1` so the suites share it one at a time.
module.exports = {
  ...require('../../jest.preset.js')(__dirname, 'integration'),
  globalSetup: path.join(__dirname, '../testenv/src/jest/global-setup.ts'),
  globalTeardown: path.join(__dirname, '../testenv/src/jest/global-teardown.ts'),
};
