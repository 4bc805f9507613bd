/**
 * Answers of an HTTP server written together at the end of the event loop's turn, not one by one as each is ready.
 *
 * One turn of Node's event loop handles every socket that one `epoll_wait` found readable: under load, the requests
 * of many keep-alive connections at once. Written as each is answered, every answer whose client already sleeps in
 * its own `epoll_wait` wakes it up again, and the `write` that does so pays for the wake-up: on a VM an
 * inter-processor interrupt, charged to the server. Written together in the loop's check phase (`setImmediate`),
 * after the turn's requests were handled, the first answer wakes the client and the others find it awake. The
 * answers keep their order; an answer waits at most for the rest of its turn's requests. Measured with the
 * authnz-webhook in docs/benchmarks.md ("authnz-webhook: waking the client, and answers written together").
 */
import type * as http from 'node:http';

/** See the module docs. One per server, or shared by several. */
export class AnswerBatch {
  /** Responses and their bodies, in pairs, in the order they were answered. */
  private queue: Array<http.ServerResponse | string> = [];

  /**
   * @param onError called with the error of a response whose `end` threw; that response's connection is then closed
   *   (`res.destroy()`), so that its client fails at once rather than at its timeout, and the other answers are still
   *   written. Node's `end` on a connection that has closed meanwhile writes nothing and throws nothing.
   */
  constructor(private readonly onError: (err: unknown, res: http.ServerResponse) => void) {}

  /**
   * Ends `res` with `body` in this turn's check phase. The status and headers must be set already
   * (`res.writeHead`); `res.headersSent` is then true at once, and `res.writableEnded` from the write on.
   */
  end(res: http.ServerResponse, body: string): void {
    if (this.queue.length === 0) setImmediate(this.flush);
    this.queue.push(res, body);
  }

  /** Answers waiting for the check phase. */
  get pending(): number {
    return this.queue.length / 2;
  }

  /** Writes every waiting answer, oldest first (an arrow function: handed to `setImmediate` as it is). */
  private readonly flush = (): void => {
    const q = this.queue;
    this.queue = [];
    for (let i = 0; i < q.length; i += 2) {
      const res = q[i] as http.ServerResponse;
      try {
        res.end(q[i + 1] as string);
      } catch (err) {
        this.onError(err, res);
        res.destroy();
      }
    }
  };
}
