import { TokenRejected } from './errors';
import {
  NODE_TOKEN_PREFIX,
  checkNodeToken,
  isInstanceId,
  parseCallerIdentity,
  stsOrigins,
  workerSession,
} from './node-token';

const NOW = Date.UTC(2026, 11, 6, 6, 0, 0);
const ORIGINS = stsOrigins(['eu-central-1'], { AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:5000' });

function amz(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function query(over: Record<string, string | undefined> = {}): string {
  const q: Record<string, string | undefined> = {
    Action: 'GetCallerIdentity',
    Version: '2011-06-15',
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': 'ASIAEXAMPLE/20261206/eu-central-1/sts/aws4_request',
    'X-Amz-Date': amz(NOW - 60_000),
    'X-Amz-Expires': '60',
    'X-Amz-SignedHeaders': 'host;x-k8s-aws-id',
    'X-Amz-Signature': 'ab'.repeat(32),
    ...over,
  };
  return Object.entries(q)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v!)}`)
    .join('&');
}

function tok(url: string): string {
  return NODE_TOKEN_PREFIX + Buffer.from(url).toString('base64url');
}

const check = (token: string, nowMs = NOW) =>
  checkNodeToken(token, { nowMs, allowedOrigins: ORIGINS, maxBytes: 4096, clockToleranceMs: 30_000 });

describe('checkNodeToken', () => {
  it.each([
    ['regional endpoint', tok(`https://sts.eu-central-1.amazonaws.com/?${query()}`)],
    ['global endpoint', tok(`https://sts.amazonaws.com/?${query()}`)],
    ['configured SDK endpoint', tok(`http://127.0.0.1:5000/?${query()}`)],
    [
      'padded base64url',
      NODE_TOKEN_PREFIX +
        Buffer.from(`https://sts.amazonaws.com/?${query()}&Version=2011-06-15`.slice(0, -19))
          .toString('base64')
          .replace(/\+/g, '-')
          .replace(/\//g, '_'),
    ],
    ['14 minutes old', tok(`https://sts.amazonaws.com/?${query({ 'X-Amz-Date': amz(NOW - 14 * 60_000) })}`)],
    ['security token present', tok(`https://sts.amazonaws.com/?${query({ 'X-Amz-Security-Token': 'FQo' })}`)],
  ])('accepts %s', (_name, token) => {
    const c = check(token);
    expect(c.region).toBe('eu-central-1');
    expect(new URL(c.url).searchParams.get('Action')).toBe('GetCallerIdentity');
  });

  it.each<[string, string, string]>([
    ['over the size cap', NODE_TOKEN_PREFIX + 'A'.repeat(5000), 'node token too large'],
    ['empty payload', NODE_TOKEN_PREFIX, 'malformed node token: not base64url'],
    ['standard base64 characters', `${NODE_TOKEN_PREFIX}aHR0cHM6Ly9+/w`, 'malformed node token: not base64url'],
    [
      'not a URL',
      NODE_TOKEN_PREFIX + Buffer.from('not a url').toString('base64url'),
      'malformed node token: not a URL',
    ],
    ['foreign host', tok(`https://sts.evil.example/?${query()}`), 'malformed node token: STS host not allowed'],
    [
      'unconfigured region',
      tok(`https://sts.us-east-2.amazonaws.com/?${query()}`),
      'malformed node token: STS host not allowed',
    ],
    [
      'http to a public endpoint',
      tok(`http://sts.amazonaws.com/?${query()}`),
      'malformed node token: STS host not allowed',
    ],
    [
      'lookalike host',
      tok(`https://sts.amazonaws.com.evil.example/?${query()}`),
      'malformed node token: STS host not allowed',
    ],
    ['userinfo in the URL', tok(`https://x@sts.amazonaws.com/?${query()}`), 'malformed node token: not a URL'],
    ['other path', tok(`https://sts.amazonaws.com/x?${query()}`), 'malformed node token: path is not /'],
    [
      'other action',
      tok(`https://sts.amazonaws.com/?${query({ Action: 'AssumeRole' })}`),
      'malformed node token: action is not GetCallerIdentity',
    ],
    [
      'unknown parameter',
      tok(`https://sts.amazonaws.com/?${query()}&RoleArn=x`),
      'malformed node token: unexpected query parameter',
    ],
    [
      'duplicate parameter',
      tok(`https://sts.amazonaws.com/?${query()}&Action=GetCallerIdentity`),
      'malformed node token: duplicate query parameter',
    ],
    [
      'other algorithm',
      tok(`https://sts.amazonaws.com/?${query({ 'X-Amz-Algorithm': 'AWS4-ECDSA-P256-SHA256' })}`),
      'malformed node token: X-Amz-Algorithm is not AWS4-HMAC-SHA256',
    ],
    [
      'no signature',
      tok(`https://sts.amazonaws.com/?${query({ 'X-Amz-Signature': undefined })}`),
      'malformed node token: X-Amz-Signature missing',
    ],
    [
      'x-k8s-aws-id not signed',
      tok(`https://sts.amazonaws.com/?${query({ 'X-Amz-SignedHeaders': 'host' })}`),
      'malformed node token: x-k8s-aws-id is not a signed header',
    ],
    [
      'credential scope of another service',
      tok(`https://sts.amazonaws.com/?${query({ 'X-Amz-Credential': 'AKIA/20261206/eu-central-1/s3/aws4_request' })}`),
      'malformed node token: X-Amz-Credential is not an STS credential scope',
    ],
    [
      'bad date',
      tok(`https://sts.amazonaws.com/?${query({ 'X-Amz-Date': '2026-12-06T06:00:00Z' })}`),
      'malformed node token: X-Amz-Date is not YYYYMMDDTHHMMSSZ',
    ],
    [
      'impossible date',
      tok(`https://sts.amazonaws.com/?${query({ 'X-Amz-Date': '20261332T250000Z' })}`),
      'malformed node token: X-Amz-Date is not YYYYMMDDTHHMMSSZ',
    ],
    [
      'expires missing',
      tok(`https://sts.amazonaws.com/?${query({ 'X-Amz-Expires': undefined })}`),
      'malformed node token: X-Amz-Expires is not 1-900',
    ],
    [
      'expires too long',
      tok(`https://sts.amazonaws.com/?${query({ 'X-Amz-Expires': '86400' })}`),
      'malformed node token: X-Amz-Expires is not 1-900',
    ],
    [
      'date in the future',
      tok(`https://sts.amazonaws.com/?${query({ 'X-Amz-Date': amz(NOW + 5 * 60_000) })}`),
      'malformed node token: X-Amz-Date is in the future',
    ],
    [
      'older than 15 minutes',
      tok(`https://sts.amazonaws.com/?${query({ 'X-Amz-Date': amz(NOW - 15 * 60_000 - 1000) })}`),
      'node token expired',
    ],
  ])('rejects %s', (_name, token, error) => {
    let thrown: unknown;
    try {
      check(token);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(TokenRejected);
    expect((thrown as TokenRejected).error).toBe(error);
  });
});

describe('stsOrigins', () => {
  it.each<[Record<string, string>, string[]]>([
    [{}, ['https://sts.amazonaws.com', 'https://sts.eu-west-1.amazonaws.com']],
    [
      { AWS_ENDPOINT_URL: 'http://127.0.0.1:9/' },
      ['https://sts.amazonaws.com', 'https://sts.eu-west-1.amazonaws.com', 'http://127.0.0.1:9'],
    ],
    [
      { AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_ENDPOINT_URL_STS: 'https://sts.internal.example' },
      ['https://sts.amazonaws.com', 'https://sts.eu-west-1.amazonaws.com', 'https://sts.internal.example'],
    ],
    [{ AWS_ENDPOINT_URL_STS: 'not a url' }, ['https://sts.amazonaws.com', 'https://sts.eu-west-1.amazonaws.com']],
  ])('%j', (env, expected) => {
    expect([...stsOrigins(['eu-west-1'], env)]).toEqual(expected);
  });
});

describe('parseCallerIdentity', () => {
  const xml = (inner: string) =>
    `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>${inner}</GetCallerIdentityResult></GetCallerIdentityResponse>`;
  it.each<[string, string, ReturnType<typeof parseCallerIdentity>]>([
    [
      'XML',
      xml(
        '<Arn>arn:aws:sts::123456789012:assumed-role/w/i-0123456789abcdef0</Arn><UserId>AROA:i-1</UserId><Account>123456789012</Account>',
      ),
      {
        arn: 'arn:aws:sts::123456789012:assumed-role/w/i-0123456789abcdef0',
        account: '123456789012',
        userId: 'AROA:i-1',
      },
    ],
    [
      'JSON',
      JSON.stringify({
        GetCallerIdentityResponse: { GetCallerIdentityResult: { Arn: 'arn:a', Account: '1', UserId: 'u' } },
      }),
      { arn: 'arn:a', account: '1', userId: 'u' },
    ],
    ['XML without Account', xml('<Arn>arn:a</Arn><UserId>u</UserId>'), undefined],
    [
      'JSON with a number',
      JSON.stringify({ GetCallerIdentityResponse: { GetCallerIdentityResult: { Arn: 'a', Account: 1, UserId: 'u' } } }),
      undefined,
    ],
    ['bad JSON', '{', undefined],
    [
      'an error document',
      '<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>',
      undefined,
    ],
  ])('%s', (_name, body, expected) => {
    expect(parseCallerIdentity(body)).toEqual(expected);
  });
});

describe('workerSession', () => {
  const role = 'arn:aws:iam::123456789012:role/kube-1/kube-1-worker';
  it.each<[string, string, string, string | undefined]>([
    [
      'the worker role',
      'arn:aws:sts::123456789012:assumed-role/kube-1-worker/i-0123456789abcdef0',
      '123456789012',
      'i-0123456789abcdef0',
    ],
    [
      'another role',
      'arn:aws:sts::123456789012:assumed-role/kube-1-master/i-0123456789abcdef0',
      '123456789012',
      undefined,
    ],
    [
      'another account',
      'arn:aws:sts::210987654321:assumed-role/kube-1-worker/i-0123456789abcdef0',
      '210987654321',
      undefined,
    ],
    [
      'another partition',
      'arn:aws-cn:sts::123456789012:assumed-role/kube-1-worker/i-0123456789abcdef0',
      '123456789012',
      undefined,
    ],
    ['an IAM user', 'arn:aws:iam::123456789012:user/kube-1-worker', '123456789012', undefined],
    [
      'Account not the ARN account',
      'arn:aws:sts::123456789012:assumed-role/kube-1-worker/i-0123456789abcdef0',
      '1',
      undefined,
    ],
  ])('%s', (_name, arn, account, expected) => {
    expect(workerSession({ arn, account, userId: 'AROA:x' }, role)).toBe(expected);
  });

  it.each([
    ['i-0123456789abcdef0', true],
    ['i-01234567', true],
    ['i-0123', false],
    ['ip-10-0-0-1.ec2.internal', false],
    ['i-0123456789ABCDEF0', false],
  ])('isInstanceId(%s) = %s', (s, ok) => {
    expect(isInstanceId(s)).toBe(ok);
  });
});
