// Entry of the workspace package: the compiled output lives in dist/packages/downscaler/lib (nx build).
module.exports = require('../../dist/packages/downscaler/lib/index.js');
