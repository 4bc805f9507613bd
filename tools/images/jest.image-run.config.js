module.exports = require('./jest.config.js')('image-run');
