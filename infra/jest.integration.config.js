// Create, update and delete of a cluster's stacks against a local moto server.
const base = require('../jest.preset.js')(__dirname, 'integration');
module.exports = { ...base, displayName: 'infra:integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] };
