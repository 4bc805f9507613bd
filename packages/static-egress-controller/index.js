// Entry of the workspace package: the compiled output lives in dist/packages/static-egress-controller/lib (nx build).
module.exports = require('../../dist/packages/static-egress-controller/lib/index.js');
