const path = require('node:path');

// One local control plane per run (started by the testenv globalSetup). The tests restart
// kube-apiserver and compact etcd, so test files run one at a time.
module.exports = {
  ...require('../../jest.preset.js')(__dirname, 'integration'),
  globalSetup: path.join(__dirname, '../testenv/src/jest/global-setup.ts'),
  globalTeardown: path.join(__dirname, '../testenv/src/jest/global-teardown.ts'),
  maxWorkers: 1,
};
