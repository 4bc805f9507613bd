// Entry of the workspace package: the compiled output lives in dist/packages/metrics-adapter/lib (nx build).
module.exports = require('../../dist/packages/metrics-adapter/lib/index.js');
