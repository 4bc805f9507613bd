import { ComponentMetrics } from './metrics';
import { ProbeServer, parseBindAddress } from './server';

describe('parseBindAddress', () => {
  it.each([
    [':8080', { port: 8080 }],
    ['0.0.0.0:8081', { host: '0.0.0.0', port: 8081 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['[::1]:9000', { host: '::1', port: 9000 }],
    ['0', undefined],
  ])('%s', (s, want) => expect(parseBindAddress(s)).toEqual(want));
  it.each(['8080', 'localhost', ':99999', ':', 'a:b'])('rejects %j', (s) =>
    expect(() => parseBindAddress(s)).toThrow(/expected|range/),
  );
});

describe('ProbeServer', () => {
  it('serves /healthz, /readyz and /metrics on free ports', async () => {
    const metrics = new ComponentMetrics('probe-test');
    metrics.counter('things_total', 'things').inc(3);
    let ready: boolean | string = 'caches not synced';
    const s = new ProbeServer({
      metricsBindAddress: '127.0.0.1:0',
      healthProbeBindAddress: '127.0.0.1:0',
      registry: metrics.registry,
    });
    s.addReadyzCheck('caches', () => ready);
    s.addHealthzCheck('ok', () => undefined);
    const addr = await s.start();
    try {
      expect(addr.metrics!.port).toBeGreaterThan(0);
      expect(addr.health!.port).not.toBe(addr.metrics!.port);
      const h = await fetch(`${addr.health!.url}/healthz`);
      expect(h.status).toBe(200);
      expect(await h.text()).toBe('ok\n');
      const r1 = await fetch(`${addr.health!.url}/readyz`);
      expect(r1.status).toBe(500);
      expect(await r1.text()).toContain('[-]caches failed: caches not synced');
      ready = true;
      const r2 = await fetch(`${addr.health!.url}/readyz?verbose`);
      expect(r2.status).toBe(200);
      expect(await r2.text()).toContain('[+]caches ok');
      const m = await fetch(`${addr.metrics!.url}/metrics`);
      expect(m.status).toBe(200);
      const text = await m.text();
      expect(text).toContain('kubeaws_probe_test_things_total 3');
      expect(text).toMatch(/^process_start_time_seconds \d+/m);
      expect((await fetch(`${addr.metrics!.url}/healthz`)).status).toBe(404);
    } finally {
      await s.stop();
    }
  });

  it('fails /healthz when a check throws, and can be disabled with "0"', async () => {
    const metrics = new ComponentMetrics('probe-test2', {
      processMetrics: false,
    });
    const s = new ProbeServer({
      metricsBindAddress: '0',
      healthProbeBindAddress: '127.0.0.1:0',
      registry: metrics.registry,
    });
    s.addHealthzCheck('informers', () => {
      throw new Error('informer(s) stalled: pods');
    });
    const addr = await s.start();
    try {
      expect(addr.metrics).toBeUndefined();
      const h = await fetch(`${addr.health!.url}/healthz`);
      expect(h.status).toBe(500);
      const body = await h.text();
      expect(body).toContain('[+]event-loop ok');
      expect(body).toContain('[-]informers failed: informer(s) stalled: pods');
    } finally {
      await s.stop();
    }
  });
});

describe('ProbeServer shutdown', () => {
  it('keep-alive scrapers looping /metrics and /readyz through beginDrain and stop: nothing is cut', async () => {
    const http = await import('node:http');
    const metrics = new ComponentMetrics('probe-drain-test');
    const s = new ProbeServer({
      metricsBindAddress: '127.0.0.1:0',
      healthProbeBindAddress: '127.0.0.1:0',
      registry: metrics.registry,
    });
    const addr = await s.start();
    const failures: string[] = [];
    let ok = 0;
    let closeHeaders = 0;
    const loop = async (port: number, p: string) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      for (;;) {
        const r = await new Promise<{ status?: number; close?: boolean; code?: string; reused?: boolean }>((resolve) => {
          const req = http.request({ host: '127.0.0.1', port, path: p, agent }, (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode, close: res.headers.connection === 'close' }));
          });
          req.on('error', (e: NodeJS.ErrnoException) => resolve({ code: e.code, reused: req.reusedSocket }));
          req.end();
        });
        if (r.code === 'ECONNREFUSED') break;
        // A reset of a fresh connection before the server read it: the listener closing (see drain.test.ts).
        if (r.code && !r.reused) continue;
        if (r.code || r.status !== 200) failures.push(`${p}: ${r.code ?? r.status}${r.reused ? ' (reused)' : ''}`);
        else {
          ok++;
          if (r.close) closeHeaders++;
        }
      }
      agent.destroy();
    };
    const loops = [
      loop(addr.metrics!.port, '/metrics'),
      loop(addr.metrics!.port, '/metrics'),
      loop(addr.health!.port, '/healthz'),
      loop(addr.health!.port, '/readyz'),
    ];
    const deadline = Date.now() + 10_000;
    while (ok < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    s.beginDrain();
    const atDrain = ok;
    while (closeHeaders < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await s.stop();
    await loops;
    expect({ failures, answeredDuringDrain: ok - atDrain >= 20, closeHeaders: closeHeaders >= 20 }).toEqual({
      failures: [],
      answeredDuringDrain: true,
      closeHeaders: true,
    });
  }, 30_000);
});
