/**
 * Typed errors of the runtime: {@link ApiError} for Kubernetes API failures (classified after the
 * `metav1.Status` conventions of the Kubernetes API, see
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#response-status-kind) and
 * {@link ConfigError} for invalid flags or environment variables, {@link ExitError} for other startup
 * failures with an exit code of their own.
 */

/** One entry of `Status.details.causes`. */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** The `metav1.Status` object the API server returns with every error response. */
export interface Status {
  kind?: 'Status';
  apiVersion?: string;
  status?: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: StatusCause[];
    retryAfterSeconds?: number;
  };
}

/**
 * A failed Kubernetes API request (HTTP status >= 400), or a transport failure (`statusCode` 0,
 * `reason` "NetworkError" or "Timeout").
 *
 * - `statusCode`: HTTP status (0 when no response was received).
 * - `reason`: `Status.reason` (e.g. "NotFound", "AlreadyExists", "Conflict", "Invalid",
 *   "TooManyRequests", "Expired", "Gone", "Forbidden"); for 403 responses caused by a terminating
 *   namespace it is "NamespaceTerminating" (taken from `details.causes`, as client-go's
 *   `apierrors.HasStatusCause(err, NamespaceTerminatingCause)`).
 * - `retryAfterSeconds`: from the `Retry-After` header, else `Status.details.retryAfterSeconds`.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
    readonly retryAfterSeconds?: number,
    readonly status?: Status,
    readonly verb?: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

/**
 * Thrown by a reconcile to say "this key cannot succeed by retrying" (after controller-runtime's
 * `reconcile.TerminalError`): the controller logs it at error level, counts it as
 * `reconcile_errors_total{class="terminal"}`, calls the `onError` hook (emit a Warning Event there)
 * and forgets the key until the next event for it. `cause` keeps the underlying error.
 */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Raised by the client when a write is attempted by a replica that is not the leader. */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError';
}

/** Broad error classes that decide what the reconcile loop does with a failed key. */
export type ErrorClass =
  | 'not_found' // 404: done when it names the key's primary object, else retried with backoff
  | 'terminal' // TerminalError: retrying cannot help; logged, hook called, key forgotten
  | 'conflict' // 409: stale resourceVersion or AlreadyExists; retry at once
  | 'throttled' // 429: back off, honouring Retry-After
  | 'server' // 5xx (and 410 outside of watches): back off, honouring Retry-After
  | 'invalid' // 400 / 422: retrying the same request will not help; back off, emit a Warning
  | 'namespace_terminating' // 403 NamespaceTerminating: nothing to do until the namespace is gone
  | 'forbidden' // other 403, 401
  | 'network' // no response (connection refused, reset, timeout)
  | 'not_leader' // write attempted without leadership
  | 'unknown'; // anything else (bugs, non-API errors)

/** Result of {@link classifyError}. */
export interface ErrorClassification {
  class: ErrorClass;
  /** HTTP status, 0 when unknown. */
  statusCode: number;
  /** Server-requested minimum delay in ms (Retry-After), when given. */
  retryAfterMs?: number;
}

/**
 * Classifies any thrown value. ApiErrors by status code and reason; other errors as "network" when
 * they look like a Node socket error (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, EAI_AGAIN,
 * ENOTFOUND, UND_ERR_*), else "unknown".
 */
export function classifyError(err: unknown): ErrorClassification {
  if (err instanceof NotLeaderError) return { class: 'not_leader', statusCode: 0 };
  if (err instanceof TerminalError) return { class: 'terminal', statusCode: 0 };
  if (err instanceof ApiError) {
    const retryAfterMs = err.retryAfterSeconds !== undefined ? err.retryAfterSeconds * 1000 : undefined;
    const base = {
      statusCode: err.statusCode,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    };
    const c = err.statusCode;
    if (c === 0) return { class: 'network', ...base };
    if (c === 404) return { class: 'not_found', ...base };
    if (c === 409) return { class: 'conflict', ...base };
    if (c === 429) return { class: 'throttled', ...base };
    if (c === 400 || c === 422) return { class: 'invalid', ...base };
    if (c === 403 && err.reason === 'NamespaceTerminating') return { class: 'namespace_terminating', ...base };
    if (c === 401 || c === 403) return { class: 'forbidden', ...base };
    if (c >= 500 || c === 410) return { class: 'server', ...base };
    return { class: 'unknown', ...base };
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (
    typeof code === 'string' &&
    /^(ECONN|ETIMEDOUT|EPIPE|EAI_AGAIN|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|UND_ERR)/.test(code)
  ) {
    return { class: 'network', statusCode: 0 };
  }
  return { class: 'unknown', statusCode: 0 };
}

/** True for an ApiError with HTTP 404. */
export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.statusCode === 404;
/** True for an ApiError with HTTP 409 (both Conflict and AlreadyExists). */
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.statusCode === 409;
/** True for a 409 with reason AlreadyExists (a create hit an existing name). */
export const isAlreadyExists = (e: unknown): boolean => isConflict(e) && (e as ApiError).reason === 'AlreadyExists';
/** True for HTTP 410 Gone / reason Expired (resourceVersion too old, continue token expired). */
export const isGone = (e: unknown): boolean =>
  e instanceof ApiError && (e.statusCode === 410 || e.reason === 'Expired' || e.reason === 'Gone');
/** True for 400/422 (validation or malformed request). */
export const isInvalid = (e: unknown): boolean =>
  e instanceof ApiError && (e.statusCode === 422 || e.statusCode === 400);
/** True for 403 (any reason). */
export const isForbidden = (e: unknown): boolean => e instanceof ApiError && e.statusCode === 403;
/** True for 403 caused by a terminating namespace. */
export const isNamespaceTerminating = (e: unknown): boolean =>
  e instanceof ApiError && e.reason === 'NamespaceTerminating';

/**
 * An invalid flag or environment value. The message names the flag (and its env var), the value and
 * the expected form, e.g.
 * `invalid value "abc" for --min-replicas (env MIN_REPLICAS): expected an integer >= 2`.
 * {@link runMain} prints it to stderr, writes it to /dev/termination-log and exits with code 2.
 */
export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
  /**
   * @param flag flag name without dashes (e.g. "min-replicas"); empty for errors not tied to one flag
   * @param value the offending raw value
   * @param expected human-readable expected form (e.g. "an integer >= 2")
   * @param env the environment variable the flag can also be set by
   * @param source where the value came from
   */
  constructor(
    readonly flag: string,
    readonly value: string,
    readonly expected: string,
    readonly env?: string,
    readonly source: 'flag' | 'env' | 'default' | 'other' = 'flag',
    message?: string,
  ) {
    super(
      message ??
        (source === 'env' && env
          ? `invalid value ${JSON.stringify(value)} for env ${env} (flag --${flag}): expected ${expected}`
          : `invalid value ${JSON.stringify(value)} for --${flag}${env ? ` (env ${env})` : ''}: expected ${expected}`),
    );
  }
}

/**
 * A startup failure that is not about one flag, reported as it is: {@link runMain} prints
 * `error: <message>` (no stack trace) to stderr and the termination log and exits with `exitCode`
 * (default 1). For problems whose message already says everything, e.g. an invalid configuration file
 * listing one problem per line. Throw it from `configure` or `setup` (or a main function); flag and
 * environment problems are {@link ConfigError}s (exit 2).
 */
export class ExitError extends Error {
  override readonly name: string = 'ExitError';
  /**
   * @param message the whole report, possibly several lines (without the `error: ` prefix)
   * @param exitCode the process exit code, 1 to 125; default 1
   */
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
