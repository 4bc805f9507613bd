// cfn-lint (pinned in tools/python/requirements.txt) over the rendered templates of every fixture cluster.
const path = require('node:path');
const base = require('../jest.preset.js')(__dirname, 'integration');
module.exports = {
  ...base,
  displayName: 'infra:cfn-lint',
  testMatch: ['<rootDir>/test/lint/**/*.test.ts'],
  reporters: [
    'default',
    [path.join(__dirname, '../tools/ci/jest-results-reporter.js'), { name: 'infra', kind: 'cfn-lint' }],
  ],
};
