const path = require('node:path');

module.exports = {
  ...require('../../jest.preset.js')(__dirname, 'integration'),
  globalSetup: path.join(__dirname, 'src/jest/global-setup.ts'),
  globalTeardown: path.join(__dirname, 'src/jest/global-teardown.ts'),
};
