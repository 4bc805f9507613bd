// Entry of the workspace package: the compiled output lives in dist/packages/authnz-webhook/lib (nx build).
module.exports = require('../../dist/packages/authnz-webhook/lib/index.js');
