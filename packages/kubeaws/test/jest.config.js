// Integration suites of kubeaws that start their own moto and control plane (no shared test cluster); the
// globalSetup provisions moto's venv and the control-plane binaries first.
const path = require('node:path');

module.exports = {
  ...require('../../../jest.preset.js')(path.resolve(__dirname, '..'), 'integration'),
  globalSetup: path.join(__dirname, 'global-setup.ts'),
};
