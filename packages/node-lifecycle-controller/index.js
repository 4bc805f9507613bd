// Entry of the workspace package: the compiled output lives in dist/packages/node-lifecycle-controller/lib (nx build).
module.exports = require('../../dist/packages/node-lifecycle-controller/lib/index.js');
