const path = require('node:path');

// One real local cluster (etcd, kube-apiserver, controller-manager with a 5 s HPA sync, scheduler, kwok with a
// loopback pod CIDR) per jest run, started by test/global-setup.ts; run with `-w 1`.
module.exports = {
  ...require('../../jest.preset.js')(__dirname, 'integration'),
  globalSetup: path.join(__dirname, 'test/global-setup.ts'),
  globalTeardown: path.join(__dirname, '../testenv/src/jest/global-teardown.ts'),
};
