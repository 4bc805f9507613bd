/**
 * AnswerBatch on a real loopback server: answers are written in the check phase of their turn, not when queued; every
 * client gets its own answer, pipelined requests on one connection in order; a response whose `end` throws is
 * reported, its connection closed, and the others are still written.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { setImmediate as nextCheckPhase } from 'node:timers/promises';
import { AnswerBatch } from './answer-batch';

interface Harness {
  server: http.Server;
  port: number;
  errors: Array<{ err: unknown; res: http.ServerResponse }>;
  batch: AnswerBatch;
}

/**
 * A server answering `POST` bodies with `{"echo": <body>}` through the batch; `onRequest` sees each response before it
 * is queued, `onQueued` right after.
 */
async function serve(
  onRequest?: (res: http.ServerResponse, body: string) => void,
  onQueued?: (res: http.ServerResponse) => void,
): Promise<Harness> {
  const errors: Harness['errors'] = [];
  const batch = new AnswerBatch((err, res) => errors.push({ err, res }));
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const text = JSON.stringify({ echo: body });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      onRequest?.(res, body);
      batch.end(res, text);
      onQueued?.(res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, errors, batch };
}

function post(port: number, agent: http.Agent, body: string): Promise<{ status?: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function close(h: Harness): Promise<void> {
  h.server.closeAllConnections();
  return new Promise((r) => h.server.close(() => r()));
}

describe('AnswerBatch', () => {
  it('writes an answer in the check phase of its turn, not when it is queued', async () => {
    const seen: Array<{ endedAtQueue: boolean; headersSent: boolean; pending: number; endedAfter: boolean }> = [];
    const h = await serve(undefined, (res) => {
      const entry = { endedAtQueue: res.writableEnded, headersSent: res.headersSent, pending: h.batch.pending, endedAfter: false };
      seen.push(entry);
      // an immediate queued after the batch's own runs after the batch was written
      setImmediate(() => (entry.endedAfter = res.writableEnded));
    });
    const agent = new http.Agent({ keepAlive: true });
    try {
      expect(await post(h.port, agent, 'a')).toEqual({ status: 200, body: '{"echo":"a"}' });
      expect(seen).toEqual([{ endedAtQueue: false, headersSent: true, pending: 1, endedAfter: true }]);
      expect(h.batch.pending).toBe(0);
    } finally {
      agent.destroy();
      await close(h);
    }
  });

  it('answers many keep-alive clients at once, each with its own answer', async () => {
    const h = await serve();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    try {
      for (let round = 0; round < 5; round++) {
        const bodies = Array.from({ length: 64 }, (_, i) => `r${round}-${i}`);
        const answers = await Promise.all(bodies.map((b) => post(h.port, agent, b)));
        expect(answers).toEqual(bodies.map((b) => ({ status: 200, body: JSON.stringify({ echo: b }) })));
      }
      expect(h.errors).toEqual([]);
    } finally {
      agent.destroy();
      await close(h);
    }
  });

  it('keeps the order of pipelined requests on one connection', async () => {
    const h = await serve();
    const sock = net.connect(h.port, '127.0.0.1');
    try {
      const request = (b: string) =>
        `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${b.length}\r\n\r\n${b}`;
      let received = '';
      sock.setEncoding('utf8');
      const third = new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`no third answer within 10 s; got ${received}`)), 10_000);
        sock.on('data', (c: string) => {
          received += c;
          if (!received.includes('"echo":"three"')) return;
          clearTimeout(deadline);
          resolve();
        });
      });
      // three requests in one write: the server reads them in one turn
      sock.write(request('one') + request('two') + request('three'));
      await third;
      const echoes = [...received.matchAll(/"echo":"(\w+)"/g)].map((m) => m[1]);
      expect(echoes).toEqual(['one', 'two', 'three']);
    } finally {
      sock.destroy();
      await close(h);
    }
  });

  it('reports a response whose end throws and still writes the others', async () => {
    const fault = new Error('injected end failure');
    const h = await serve((res, body) => {
      if (body === 'broken')
        res.end = () => {
          throw fault;
        };
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    try {
      const broken = http.request({ host: '127.0.0.1', port: h.port, method: 'POST', path: '/', agent });
      const brokenFailed = new Promise<string>((resolve) => broken.on('error', (e) => resolve(e.message)));
      broken.end('broken');
      const others = await Promise.all(['x', 'y', 'z'].map((b) => post(h.port, agent, b)));
      expect(others.map((o) => o.body)).toEqual(['{"echo":"x"}', '{"echo":"y"}', '{"echo":"z"}']);
      const deadline = Date.now() + 10_000;
      while (h.errors.length === 0 && Date.now() < deadline) await nextCheckPhase();
      expect(h.errors.map((e) => e.err)).toEqual([fault]);
      // its connection was closed: the client fails at once
      expect(await brokenFailed).toBe('socket hang up');
    } finally {
      agent.destroy();
      await close(h);
    }
  });
});
