const path = require('node:path');

// One real local cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok) per jest run, started by
// test/global-setup.ts with the webhook wired into kube-apiserver (authentication kubeconfig,
// AuthorizationConfiguration); run with `-w 1` so the suites share it one at a time.
module.exports = {
  ...require('../../jest.preset.js')(__dirname, 'integration'),
  globalSetup: path.join(__dirname, 'test/global-setup.ts'),
  globalTeardown: path.join(__dirname, 'test/global-teardown.ts'),
};
