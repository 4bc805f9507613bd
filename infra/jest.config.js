// Unit tests of infra/: config registry, schema and error messages, rendering, golden renders, JSON Schema sync.
const base = require('../jest.preset.js')(__dirname, 'unit');
module.exports = { ...base, displayName: 'infra:unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] };
