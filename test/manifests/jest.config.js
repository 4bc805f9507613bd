// Static checks of manifests/ (no cluster): the rules of every workload, RBAC hygiene.
const path = require('node:path');
const base = require('../../jest.preset.js')(__dirname, 'unit');
module.exports = { ...base, displayName: 'manifests:unit', testMatch: ['<rootDir>/*.static.test.ts'],
  reporters: ['default', [path.join(__dirname, '../../tools/ci/jest-results-reporter.js'), { name: 'manifests', kind: 'unit' }]] };
