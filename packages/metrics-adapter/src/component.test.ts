import { ConfigError } from '@kubeaws/runtime';
import { metricsAdapter } from './component';

const parse = (...argv: string[]) => metricsAdapter.parse(argv, {});

describe('flags (docs/metrics-adapter.md#ma-flags)', () => {
  it('defaults: 5 s readiness delay on SIGTERM inside a 30 s grace period; no override of the trust anchors', () => {
    const c = parse();
    expect([c.shutdownDelayMs, c.shutdownGracePeriodMs]).toEqual([5000, 30_000]);
    expect([c.requestheaderClientCaFile, c.requestheaderAllowedNames, c.clientCaFile]).toEqual(['', [], '']);
  });
  it('requestheader overrides', () => {
    const c = parse('--requestheader-client-ca-file', __filename, '--requestheader-allowed-names', 'front-proxy-client,aggregator', '--client-ca-file', __filename);
    expect([c.requestheaderClientCaFile, c.requestheaderAllowedNames, c.clientCaFile]).toEqual([__filename, ['front-proxy-client', 'aggregator'], __filename]);
  });
  it.each([
    [['--requestheader-client-ca-file', '/nonexistent/ca.crt'], /requestheader-client-ca-file/],
    [['--client-ca-file', __dirname], /client-ca-file/],
    [['--shutdown-delay', '30s'], /shutdown-delay/],
    [['--shutdown-delay', 'soon'], /shutdown-delay/],
  ])('%j is a ConfigError (exit 2)', (argv, message) => {
    expect(() => parse(...argv)).toThrow(ConfigError);
    expect(() => parse(...argv)).toThrow(message);
  });
});
