// Entry of the workspace package: the compiled output lives in dist/packages/testenv/lib (nx build).
module.exports = require('../../dist/packages/testenv/lib/index.js');
