/**
 * Client settings shared by every kubeaws component that calls AWS (static-egress-controller first).
 * No AWS SDK dependency: the result is a plain object for any `@aws-sdk/client-*` constructor.
 *
 * What it fixes for all components:
 * - region: the SDK default chain (`AWS_REGION`, profile) unless given explicitly;
 * - credentials: the SDK default chain (env, web identity / EKS pod identity, instance profile);
 * - endpoints: only the SDK's own settings (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`, profile
 *   `endpoint_url`), so a component never has an endpoint flag of its own
 *   (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html);
 * - retries: the SDK's `adaptive` retry mode (client-side rate limiting on throttling errors) with
 *   `maxAttempts` attempts in all (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html);
 * - user agent: `kubeaws/<component>` appended to the SDK's own, so CloudTrail names the caller.
 */

/** Options of {@link awsClientConfig}. */
export interface AwsClientOptions {
  /** Component name, e.g. "static-egress-controller"; becomes the user agent suffix `kubeaws/<component>`. */
  component: string;
  /** Region; default undefined = the SDK default chain (`AWS_REGION`, `AWS_DEFAULT_REGION` is not read by v3). */
  region?: string;
  /** Attempts per call including the first, 1-20; default 8. */
  maxAttempts?: number;
  /** Component version for the user agent; default "0.1.0". */
  version?: string;
}

/** Alias of {@link AwsClientOptions}. */
export type AwsClientSettings = AwsClientOptions;

/** Settings accepted by every AWS SDK v3 client constructor (a subset of its `ClientConfig`). */
export interface AwsClientConfig {
  region?: string;
  maxAttempts: number;
  retryMode: 'adaptive';
  customUserAgent: Array<[string, string]>;
}

/**
 * Returns the client settings for an AWS SDK v3 client, e.g. `new EC2Client(awsClientConfig({ component }))`.
 * @throws RangeError when `maxAttempts` is not an integer in 1-20.
 */
export function awsClientConfig(opts: AwsClientOptions): AwsClientConfig {
  const maxAttempts = opts.maxAttempts ?? 8;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 20)
    throw new RangeError(`maxAttempts ${maxAttempts}: expected an integer 1-20`);
  const cfg: AwsClientConfig = {
    maxAttempts,
    retryMode: 'adaptive',
    customUserAgent: [[`kubeaws/${opts.component}`, opts.version ?? '0.1.0']],
  };
  if (opts.region) cfg.region = opts.region;
  return cfg;
}

/**
 * The error code of an AWS SDK v3 error (`name`, or `Code` of an EC2 query-protocol error), or
 * `NetworkError` for errors without one (socket and DNS errors), `Unknown` for non-errors.
 */
export function awsErrorCode(err: unknown): string {
  if (!err || typeof err !== 'object') return 'Unknown';
  const e = err as { name?: string; Code?: string; code?: string; $metadata?: unknown };
  if (e.Code) return e.Code;
  if (e.$metadata && e.name) return e.name;
  if (e.code && /^E[A-Z]+$/.test(e.code)) return 'NetworkError';
  return e.name && e.name !== 'Error' ? e.name : 'NetworkError';
}
