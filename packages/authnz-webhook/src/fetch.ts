/**
 * A bounded HTTP GET for identity-provider calls (docs/authnz-webhook.md#authnz-idp-fetch, #authnz-jwks-response,
 * #authnz-tokeninfo): no redirects are followed, the response body is capped, and the whole exchange has a deadline.
 * Built on node:http(s) so the CA bundle, the size cap and the timeout are exact.
 */
import * as http from 'node:http';
import * as https from 'node:https';

/** Outcome label of an upstream call (`result` of `upstream_requests_total`). */
export type UpstreamResult = 'ok' | 'timeout' | 'connect_error' | 'http_4xx' | 'http_5xx' | 'invalid_response';

/** A transport-level failure: no usable response (timeout, connection error, too large, redirect...). */
export class FetchError extends Error {
  override readonly name = 'FetchError';
  constructor(
    readonly result: 'timeout' | 'connect_error' | 'invalid_response',
    message: string,
  ) {
    super(message);
  }
}

/** Options of {@link boundedGet}. */
export interface BoundedGetOptions {
  /** Deadline for connect + response + body, in ms. */
  timeoutMs: number;
  /** Maximum body size in bytes; a larger body fails with `invalid_response`. */
  maxBytes: number;
  /** Extra request headers (e.g. `Authorization`). */
  headers?: Record<string, string>;
  /** PEM CA bundle for https (replaces the system roots). */
  ca?: string | Buffer;
}

/** The response of {@link boundedGet}. Redirects are returned as-is (3xx) and never followed. */
export interface BoundedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * GETs `url` with a deadline and a body cap. Resolves for any HTTP status (the caller classifies it);
 * rejects with {@link FetchError} on timeout, connection failure, or a body above `maxBytes`.
 */
export function boundedGet(url: string, opts: BoundedGetOptions): Promise<BoundedResponse> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new FetchError('connect_error', `invalid URL ${url}`));
      return;
    }
    const mod = u.protocol === 'https:' ? https : http;
    let done = false;
    const fail = (e: FetchError) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      reject(e);
    };
    const req = mod.request(
      u,
      {
        method: 'GET',
        headers: { Accept: 'application/json', ...opts.headers },
        ...(u.protocol === 'https:' && opts.ca ? { ca: opts.ca } : {}),
        agent: false,
      },
      (res) => {
        const len = Number(res.headers['content-length']);
        if (Number.isFinite(len) && len > opts.maxBytes) {
          fail(new FetchError('invalid_response', `response of ${len} bytes exceeds ${opts.maxBytes}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > opts.maxBytes) {
            fail(new FetchError('invalid_response', `response exceeds ${opts.maxBytes} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on('error', () => fail(new FetchError('connect_error', 'response aborted')));
      },
    );
    const timer = setTimeout(
      () => fail(new FetchError('timeout', `no complete response within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    req.on('error', (e) => fail(new FetchError('connect_error', e.message)));
    req.end();
  });
}

/** Maps an HTTP status to an upstream result label. */
export function statusResult(status: number): UpstreamResult {
  if (status >= 200 && status < 300) return 'ok';
  if (status >= 500) return 'http_5xx';
  if (status >= 400) return 'http_4xx';
  return 'invalid_response';
}
