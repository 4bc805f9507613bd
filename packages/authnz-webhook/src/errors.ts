/**
 * Error types of the token pipeline. A {@link TokenRejected} becomes HTTP 200 with
 * `authenticated:false` and `status.error` = its `error` (docs/authnz-webhook.md#authnz-rejections); an
 * {@link Unavailable} becomes HTTP 503 and is never cached (docs/authnz-webhook.md#authnz-http, #authnz-token-cache).
 */

/**
 * The token is invalid; `error` is the exact `status.error` string of the table in
 * docs/authnz-webhook.md#authnz-rejections.
 */
export class TokenRejected extends Error {
  override readonly name = 'TokenRejected';
  constructor(readonly error: string) {
    super(error);
  }
}

/** An upstream outage (issuer key set unusable, tokeninfo 5xx/429/timeout): answer 503. */
export class Unavailable extends Error {
  override readonly name = 'Unavailable';
}

/** `status.error` → the failure metric's `reason` label (snake_case, bounded set). */
export function reasonLabel(error: string): string {
  return error
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}
