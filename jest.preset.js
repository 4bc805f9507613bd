// Shared jest preset for every package.
// TypeScript is compiled to CommonJS by @swc/jest. The ESM-only @kubernetes/client-node is loaded through
// Node's require(esm), which jest supports when NODE_OPTIONS contains --experimental-vm-modules
// (set by the npm scripts and tools/ci/test.sh). See docs/adr/0001-node-esm-client-node.md.
const path = require('node:path');

/** @param {string} dir package directory; @param {'unit'|'integration'} kind */
module.exports = function preset(dir, kind) {
  const name = path.basename(dir);
  return {
    displayName: `${name}:${kind}`,
    rootDir: dir,
    testEnvironment: 'node',
    testMatch: kind === 'unit' ? ['<rootDir>/src/**/*.test.ts'] : ['<rootDir>/test/**/*.test.ts'],
    transform: {
      '^.+\\.ts$': [
        '@swc/jest',
        { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'commonjs' } },
      ],
    },
    moduleNameMapper: {
      // Relative imports may carry the `.js` extension that nodenext output needs; map them to the .ts source.
      '^(\\.{1,2}/.*)\\.js$': '$1',
      '^@kubeaws/([a-z-]+)$': path.join(__dirname, 'packages/$1/src/index.ts'),
    },
    moduleFileExtensions: ['ts', 'js', 'json'],
    testTimeout: kind === 'unit' ? 10_000 : 180_000,
    reporters: ['default', [path.join(__dirname, 'tools/ci/jest-results-reporter.js'), { name, kind }]],
  };
};
