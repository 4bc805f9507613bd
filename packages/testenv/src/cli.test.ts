import { parseUpArgs } from './cli';
import { optionsFromEnv } from './jest/global-setup';

describe('parseUpArgs', () => {
  it('has defaults', () => {
    expect(parseUpArgs([])).toEqual({ nodes: 3, moto: false, keep: false, apiserverArgs: [] });
  });
  it('parses options', () => {
    expect(
      parseUpArgs(['--nodes=5', '--moto', '--keep', '--write-env=/tmp/e', '--apiserver-arg=--v=4', '--apiserver-arg=--x=a=b']),
    ).toEqual({ nodes: 5, moto: true, keep: true, envFile: '/tmp/e', apiserverArgs: ['--v=4', '--x=a=b'] });
  });
  it('rejects unknown options and bad counts', () => {
    expect(() => parseUpArgs(['--bogus'])).toThrow(/unknown option/);
    expect(() => parseUpArgs(['--nodes=x'])).toThrow(/bad --nodes/);
  });
});

describe('optionsFromEnv', () => {
  it('reads node count and apiserver args', () => {
    expect(optionsFromEnv({ KUBEAWS_TEST_NODES: '2', KUBEAWS_TEST_APISERVER_ARGS: '["--v=3"]' })).toEqual({
      nodes: 2,
      apiserverExtraArgs: ['--v=3'],
    });
    expect(() => optionsFromEnv({ KUBEAWS_TEST_APISERVER_ARGS: '{"a":1}' })).toThrow(/JSON array/);
  });
});
