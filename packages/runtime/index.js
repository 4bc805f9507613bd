// Entry of the workspace package: the compiled output lives in dist/packages/runtime/lib (nx build).
module.exports = require('../../dist/packages/runtime/lib/index.js');
