#!/usr/bin/env node
require('../../../dist/packages/kubeaws/lib/main.js');
