/**
 * ConnectionDrain on a real loopback server with keep-alive clients looping requests through shutdown:
 * no request the server read is lost and no keep-alive connection is cut under a client, answers during
 * the drain carry `Connection: close`, a slow in-flight request completes, and after close new connections
 * are refused. A connection the kernel queued in the instant the listener closed is reset before the server
 * reads a byte of it: like a refused connection, the client knows nothing was processed (kube-apiserver's
 * webhook client retries connection resets: `DefaultShouldRetry` in k8s.io/apiserver/pkg/util/webhook).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectionDrain } from './drain';

interface Outcome {
  ok: number;
  closeHeaders: number;
  refused: number;
  /** Requests that failed after the server read them, or on a reused keep-alive connection. */
  failures: string[];
  /** Fresh connections reset before the server read anything (the listener closing). */
  unread: number;
  /** Request ids the server read. */
  read: Set<string>;
}

let nextId = 0;

/** POST in a loop on one keep-alive connection until the server refuses connections. */
async function loop(port: number, outcome: Outcome, stop: () => boolean): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    while (!stop()) {
      const id = String(nextId++);
      const r = await new Promise<{ status?: number; connection?: string; error?: string; reused?: boolean }>((resolve) => {
        const req = http.request(
          { host: '127.0.0.1', port, method: 'POST', path: '/authorize', agent, headers: { 'content-type': 'application/json', 'x-id': id } },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection }));
          },
        );
        req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message, reused: req.reusedSocket }));
        req.end('{"spec":{}}');
      });
      if (r.error === 'ECONNREFUSED') {
        outcome.refused++;
        return;
      }
      if (r.error && !r.reused && !outcome.read.has(id)) {
        outcome.unread++;
        continue;
      }
      if (r.error || r.status !== 200) outcome.failures.push(`${r.error ?? `HTTP ${r.status}`}${r.reused ? ' (reused connection)' : ''}`);
      else {
        outcome.ok++;
        if (r.connection === 'close') outcome.closeHeaders++;
      }
    }
  } finally {
    agent.destroy();
  }
}

async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('ConnectionDrain', () => {
  it('4 keep-alive clients looping POSTs through drain and close: no request the server read is lost, slow ones complete', async () => {
    let slowArrived = false;
    const server = http.createServer();
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const slow = req.headers['x-slow'] === '1';
      if (slow) slowArrived = true;
      outcome.read.add(String(req.headers['x-id']));
      req.resume();
      req.on('end', () => {
        const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"allowed":true}');
        if (slow) setTimeout(answer, 300);
        else setImmediate(answer);
      });
    };
    const outcome: Outcome = { ok: 0, closeHeaders: 0, refused: 0, failures: [], unread: 0, read: new Set() };
    const drain = new ConnectionDrain(server, handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    let stopAll = false;
    const clients = Array.from({ length: 4 }, () => loop(port, outcome, () => stopAll));
    try {
      await waitUntil(() => outcome.ok >= 200, 20_000, '200 answers before the drain');
      expect(outcome.closeHeaders).toBe(0);
      drain.beginDrain();
      const atDrain = outcome.ok;
      await waitUntil(() => outcome.ok >= atDrain + 200, 20_000, '200 answers during the drain');
      expect(outcome.closeHeaders).toBeGreaterThan(0);

      // A slow request in flight when the listener closes still gets its answer.
      const slow = new Promise<number | string>((resolve) => {
        const req = http.request(
          { host: '127.0.0.1', port, method: 'POST', path: '/authorize', headers: { 'x-slow': '1' }, agent: false },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        req.end('{}');
      });
      await waitUntil(() => slowArrived, 5_000, 'the slow request in flight');
      await drain.close(5_000);
      expect(await slow).toBe(200);
      await Promise.race([Promise.all(clients), new Promise((r) => setTimeout(r, 10_000).unref())]);
      expect({ failures: outcome.failures, refused: outcome.refused, open: drain.openConnections }).toEqual({
        failures: [],
        refused: 4,
        open: 0,
      });
    } finally {
      stopAll = true;
      server.closeAllConnections();
      server.close();
      await Promise.all(clients);
    }
  }, 60_000);

  it('after the grace, a request that is still running is cut and close resolves', async () => {
    const server = http.createServer();
    const drain = new ConnectionDrain(server, () => {
      /* never answers */
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const hung = new Promise<string>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'GET', path: '/', agent: false }, () => resolve('answered'));
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      req.end();
    });
    await waitUntil(() => drain.inFlightRequests === 1, 5_000, 'the request in flight');
    const t0 = Date.now();
    await drain.close(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(await hung).toBe('ECONNRESET');
    expect(drain.openConnections).toBe(0);
  });
});
