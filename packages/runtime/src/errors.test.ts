import {
  ApiError,
  ConfigError,
  NotLeaderError,
  classifyError,
  isAlreadyExists,
  isGone,
  isNamespaceTerminating,
} from './errors';

describe('classifyError', () => {
  const cases: Array<[number, string, string]> = [
    [404, 'NotFound', 'not_found'],
    [409, 'Conflict', 'conflict'],
    [409, 'AlreadyExists', 'conflict'],
    [429, 'TooManyRequests', 'throttled'],
    [500, 'InternalError', 'server'],
    [503, 'ServiceUnavailable', 'server'],
    [504, 'Timeout', 'server'],
    [422, 'Invalid', 'invalid'],
    [400, 'BadRequest', 'invalid'],
    [403, 'Forbidden', 'forbidden'],
    [401, 'Unauthorized', 'forbidden'],
    [403, 'NamespaceTerminating', 'namespace_terminating'],
    [0, 'NetworkError', 'network'],
    [418, 'Teapot', 'unknown'],
  ];
  it.each(cases)('HTTP %i %s -> %s', (code, reason, cls) => {
    expect(classifyError(new ApiError(code, reason, 'm')).class).toBe(cls);
  });

  it('carries Retry-After as milliseconds', () => {
    expect(classifyError(new ApiError(429, 'TooManyRequests', 'slow down', 7))).toEqual({
      class: 'throttled',
      statusCode: 429,
      retryAfterMs: 7000,
    });
  });

  it('recognises socket errors and NotLeaderError', () => {
    expect(classifyError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).class).toBe('network');
    expect(classifyError(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' })).class).toBe('network');
    expect(classifyError(new NotLeaderError('no')).class).toBe('not_leader');
    expect(classifyError(new Error('bug')).class).toBe('unknown');
    expect(classifyError('string').class).toBe('unknown');
  });

  it('predicates', () => {
    expect(isAlreadyExists(new ApiError(409, 'AlreadyExists', ''))).toBe(true);
    expect(isAlreadyExists(new ApiError(409, 'Conflict', ''))).toBe(false);
    expect(isGone(new ApiError(410, 'Gone', ''))).toBe(true);
    expect(isGone(new ApiError(500, 'Expired', ''))).toBe(true);
    expect(isNamespaceTerminating(new ApiError(403, 'NamespaceTerminating', ''))).toBe(true);
  });
});

describe('ConfigError', () => {
  it('names flag, env, value and expected form', () => {
    const e = new ConfigError('min-replicas', 'abc', 'an integer >= 2', 'MIN_REPLICAS');
    expect(e.message).toBe('invalid value "abc" for --min-replicas (env MIN_REPLICAS): expected an integer >= 2');
    const fromEnv = new ConfigError('min-replicas', 'abc', 'an integer >= 2', 'MIN_REPLICAS', 'env');
    expect(fromEnv.message).toBe(
      'invalid value "abc" for env MIN_REPLICAS (flag --min-replicas): expected an integer >= 2',
    );
  });
});
