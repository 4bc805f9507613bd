import { testKubeConfig } from '@kubeaws/testenv';
import { type KubeClient, type Lease, LeaderElector, NotLeaderError, resourcePath } from '../src';
import { CuttableProxy, adminClient, apiserverAddress, namespace, waitFor } from './support';

interface Term {
  id: string;
  start: number;
  end?: number;
}

/**
 * A candidate that, while it believes it leads, keeps writing its identity into a shared ConfigMap
 * through a client guarded by `isLeader()` (the way components write). Every accepted write is
 * recorded with the server's answer, so overlapping leadership would show as interleaved writers.
 */
function candidate(opts: {
  id: string;
  ns: string;
  leaseClient: KubeClient;
  writeClient: KubeClient;
  writes: Array<{ id: string; at: number; rv: number }>;
  terms: Term[];
  releaseOnCancel: boolean;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}) {
  const ac = new AbortController();
  const el = new LeaderElector({
    client: opts.leaseClient,
    namespace: opts.ns,
    name: 'it-lease',
    identity: opts.id,
    leaseDurationMs: opts.leaseDurationMs,
    renewDeadlineMs: opts.renewDeadlineMs,
    retryPeriodMs: opts.retryPeriodMs,
    releaseOnCancel: opts.releaseOnCancel,
    onStartedLeading: (signal) => {
      opts.terms.push({ id: opts.id, start: Date.now() });
      const guarded = opts.writeClient.withWriteGuard(() => el.isLeader());
      void (async () => {
        while (!signal.aborted) {
          try {
            const res = await guarded.mergePatch<Lease>(
              resourcePath({
                group: '',
                version: 'v1',
                resource: 'configmaps',
                namespace: opts.ns,
                name: 'writes',
              }),
              {
                data: { writer: opts.id },
              },
            );
            opts.writes.push({
              id: opts.id,
              at: Date.now(),
              rv: Number(res.metadata!.resourceVersion),
            });
          } catch (e) {
            if (!(e instanceof NotLeaderError)) {
              // transient API errors are fine; keep trying while leading
            }
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
    },
    onStoppedLeading: () => {
      const t = [...opts.terms].reverse().find((x) => x.id === opts.id && x.end === undefined);
      if (t) t.end = Date.now();
    },
  });
  const done = el.run(ac.signal);
  const stop = async () => (ac.abort(), await done);
  running.push(stop);
  return { el, stop };
}

/** Candidates and proxies still running, stopped after each test even when it failed. */
const running: Array<() => Promise<unknown>> = [];

/** Writes ordered by the server's resourceVersion must never switch back to an earlier leader. */
function assertNoInterleaving(writes: Array<{ id: string; rv: number }>, order: string[]): void {
  const seq = [...writes].sort((a, b) => a.rv - b.rv).map((w) => w.id);
  const runs = seq.filter((id, i) => i === 0 || seq[i - 1] !== id);
  expect(runs).toEqual(order);
}

describe('LeaderElector against kube-apiserver', () => {
  let ns: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ ns, cleanup } = await namespace('rt-leader'));
    await adminClient().client.create(
      resourcePath({
        group: '',
        version: 'v1',
        resource: 'configmaps',
        namespace: ns,
      }),
      {
        metadata: { name: 'writes' },
        data: {},
      },
    );
  });
  afterEach(async () => {
    for (const stop of running.splice(0)) await stop();
    await cleanup();
  });

  const timings = {
    leaseDurationMs: 3000,
    renewDeadlineMs: 2000,
    retryPeriodMs: 250,
  };

  it('a partitioned leader stops leading within the renew deadline; the other takes over within the lease duration, without overlap', async () => {
    const proxy = new CuttableProxy(apiserverAddress());
    await proxy.start();
    running.push(() => proxy.cut());
    const admin = adminClient('le-a');
    const aLeaseClient = adminClient('le-a-lease', proxy.kubeConfig(testKubeConfig())).client;
    const b = adminClient('le-b').client;
    const writes: Array<{ id: string; at: number; rv: number }> = [];
    const terms: Term[] = [];
    const A = candidate({
      id: 'a',
      ns,
      leaseClient: aLeaseClient,
      writeClient: admin.client,
      writes,
      terms,
      releaseOnCancel: false,
      ...timings,
    });
    await waitFor(() => A.el.isLeader(), {
      timeoutMs: 10_000,
      description: 'a to lead',
    });
    const B = candidate({
      id: 'b',
      ns,
      leaseClient: b,
      writeClient: b,
      writes,
      terms,
      releaseOnCancel: true,
      ...timings,
    });
    await waitFor(() => writes.filter((w) => w.id === 'a').length >= 5, {
      timeoutMs: 10_000,
      description: 'a to write',
    });
    expect(B.el.isLeader()).toBe(false);

    // Partition a from the API for its Lease only: its writes still reach the API directly, so only
    // the renew deadline (and the write guard) keeps it from writing once it cannot renew.
    const cutAt = Date.now();
    await proxy.cut();
    await waitFor(() => B.el.isLeader(), {
      timeoutMs: 15_000,
      description: 'b to take over',
    });
    const aTerm = terms.find((t) => t.id === 'a')!;
    const bTerm = terms.find((t) => t.id === 'b')!;
    expect(aTerm.end).toBeDefined();
    // a gave up within renewDeadline of its last renewal (which was at most one retry period before the cut)
    expect(aTerm.end! - cutAt).toBeLessThanOrEqual(timings.renewDeadlineMs + 500);
    // b acquired no earlier than a stopped, and within lease duration + a retry period (+ slack) of the cut
    expect(bTerm.start).toBeGreaterThanOrEqual(aTerm.end!);
    expect(bTerm.start - cutAt).toBeLessThanOrEqual(timings.leaseDurationMs + 2 * timings.retryPeriodMs + 1500);
    await waitFor(() => writes.filter((w) => w.id === 'b').length >= 5, {
      timeoutMs: 10_000,
      description: 'b to write',
    });
    expect(A.el.isLeader()).toBe(false);
    assertNoInterleaving(writes, ['a', 'b']);
    await B.stop();
    await A.stop();
  });

  it('a killed leader (stops renewing, no release) is replaced after the lease expires, not before', async () => {
    const a = adminClient('le-a').client;
    const b = adminClient('le-b').client;
    const writes: Array<{ id: string; at: number; rv: number }> = [];
    const terms: Term[] = [];
    const A = candidate({
      id: 'a',
      ns,
      leaseClient: a,
      writeClient: a,
      writes,
      terms,
      releaseOnCancel: false,
      ...timings,
    });
    await waitFor(() => A.el.isLeader(), {
      timeoutMs: 10_000,
      description: 'a to lead',
    });
    const B = candidate({
      id: 'b',
      ns,
      leaseClient: b,
      writeClient: b,
      writes,
      terms,
      releaseOnCancel: true,
      ...timings,
    });
    await waitFor(() => writes.filter((w) => w.id === 'a').length >= 3, {
      timeoutMs: 10_000,
      description: 'a to write',
    });
    const killedAt = Date.now();
    await A.stop(); // no release: the Lease still names a
    const lease = await b.get<Lease>(
      resourcePath({
        group: 'coordination.k8s.io',
        version: 'v1',
        resource: 'leases',
        namespace: ns,
        name: 'it-lease',
      }),
    );
    expect(lease.spec?.holderIdentity).toBe('a');
    await waitFor(() => B.el.isLeader(), {
      timeoutMs: 15_000,
      description: 'b to take over',
    });
    const took = terms.find((t) => t.id === 'b')!.start - killedAt;
    expect(took).toBeGreaterThanOrEqual(timings.leaseDurationMs - timings.retryPeriodMs - 100);
    expect(took).toBeLessThanOrEqual(timings.leaseDurationMs + 2 * timings.retryPeriodMs + 1500);
    await waitFor(() => writes.some((w) => w.id === 'b'), {
      timeoutMs: 10_000,
      description: 'b to write',
    });
    assertNoInterleaving(writes, ['a', 'b']);
    await B.stop();
  });

  it('releasing on shutdown lets the next candidate acquire at once', async () => {
    const a = adminClient('le-a').client;
    const b = adminClient('le-b').client;
    const writes: Array<{ id: string; at: number; rv: number }> = [];
    const terms: Term[] = [];
    const slow = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 500,
    };
    const A = candidate({
      id: 'a',
      ns,
      leaseClient: a,
      writeClient: a,
      writes,
      terms,
      releaseOnCancel: true,
      ...slow,
    });
    await waitFor(() => A.el.isLeader(), {
      timeoutMs: 10_000,
      description: 'a to lead',
    });
    const B = candidate({
      id: 'b',
      ns,
      leaseClient: b,
      writeClient: b,
      writes,
      terms,
      releaseOnCancel: true,
      ...slow,
    });
    await waitFor(() => B.el.observedLeader() === 'a', {
      timeoutMs: 10_000,
      description: 'b to observe a',
    });
    const releasedAt = Date.now();
    await A.stop();
    const lease = await b.get<Lease>(
      resourcePath({
        group: 'coordination.k8s.io',
        version: 'v1',
        resource: 'leases',
        namespace: ns,
        name: 'it-lease',
      }),
    );
    expect(lease.spec?.holderIdentity === '' || lease.spec?.holderIdentity === 'b').toBe(true);
    await waitFor(() => B.el.isLeader(), {
      timeoutMs: 5_000,
      description: 'b to acquire the released lease',
    });
    const took = terms.find((t) => t.id === 'b')!.start - releasedAt;
    expect(took).toBeLessThan(2 * slow.retryPeriodMs + 1000); // far below the 15 s lease duration
    const after = await b.get<Lease>(
      resourcePath({
        group: 'coordination.k8s.io',
        version: 'v1',
        resource: 'leases',
        namespace: ns,
        name: 'it-lease',
      }),
    );
    expect(after.spec).toMatchObject({
      holderIdentity: 'b',
      leaseDurationSeconds: 15,
      leaseTransitions: 1,
    });
    assertNoInterleaving(writes, writes.some((w) => w.id === 'b') ? ['a', 'b'] : ['a']);
    await B.stop();
  });
});
