// Entry of the workspace package: the compiled output lives in dist/packages/pdb-controller/lib (nx build).
module.exports = require('../../dist/packages/pdb-controller/lib/index.js');
