// Jest reporter that writes one JSON summary per jest run into $KUBEAWS_TEST_RESULTS_DIR, so that
// tools/ci/test.sh can print one `N passed, M failed` line summed over every project.
// Without KUBEAWS_TEST_RESULTS_DIR it does nothing.
const fs = require('node:fs');
const path = require('node:path');

class ResultsReporter {
  constructor(_globalConfig, options) {
    this.options = options || {};
  }
  onRunComplete(_contexts, results) {
    const dir = process.env.KUBEAWS_TEST_RESULTS_DIR;
    if (!dir) return;
    fs.mkdirSync(dir, { recursive: true });
    const summary = {
      name: this.options.name,
      kind: this.options.kind,
      passed: results.numPassedTests,
      // A suite that failed to run (syntax error, failing beforeAll) counts as one failure.
      failed: results.numFailedTests + results.numRuntimeErrorTestSuites,
      suitesFailedToRun: results.numRuntimeErrorTestSuites,
      skipped: results.numPendingTests + results.numTodoTests,
      total: results.numTotalTests,
    };
    const file = path.join(dir, `${this.options.name}.${this.options.kind}.json`);
    fs.writeFileSync(file, JSON.stringify(summary, null, 2));
  }
}
module.exports = ResultsReporter;
