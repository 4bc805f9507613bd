module.exports = require('./jest.config.js')('bundle-smoke');
