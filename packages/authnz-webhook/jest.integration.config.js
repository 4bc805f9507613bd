// End-to-end suites start their own local cluster: kube-apiserver needs the webhook's files (authentication
// kubeconfig, AuthorizationConfiguration) before it starts, and flags that differ from the default cluster.
// Run with `-w 1`.
module.exports = {
  ...require('../../jest.preset.js')(__dirname, 'integration'),
};
