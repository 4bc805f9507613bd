// Entry of the workspace package: the compiled output lives in dist/packages/kubeaws/lib (nx build).
module.exports = require('../../dist/packages/kubeaws/lib/index.js');
