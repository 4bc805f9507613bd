import { awsClientConfig, awsErrorCode } from './aws';

describe('awsClientConfig', () => {
  it.each([
    [{ component: 'x' }, { maxAttempts: 8, retryMode: 'adaptive', customUserAgent: [['kubeaws/x', '0.1.0']] }],
    [
      { component: 'y', region: 'eu-central-1', maxAttempts: 3, version: '1.2.3' },
      { region: 'eu-central-1', maxAttempts: 3, retryMode: 'adaptive', customUserAgent: [['kubeaws/y', '1.2.3']] },
    ],
  ])('%j', (opts, want) => expect(awsClientConfig(opts)).toEqual(want));
  it.each([0, 21, 1.5])('refuses maxAttempts %p', (n) =>
    expect(() => awsClientConfig({ component: 'x', maxAttempts: n })).toThrow(RangeError),
  );
});

describe('awsErrorCode', () => {
  it.each([
    [{ name: 'RouteAlreadyExists', $metadata: {} }, 'RouteAlreadyExists'],
    [{ Code: 'AddressLimitExceeded', name: 'x' }, 'AddressLimitExceeded'],
    [Object.assign(new Error('x'), { code: 'ECONNRESET' }), 'NetworkError'],
    [undefined, 'Unknown'],
  ])('%j -> %s', (err, code) => expect(awsErrorCode(err)).toBe(code));
});
