import { attachCluster } from '@kubeaws/testenv';
import { type KubeObject, Informer, dropManagedFields, objectKey, resourcePath } from '../src';
import { adminClient, metricValue, namespace, waitFor } from './support';

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

const cmPath = (ns: string, name?: string) =>
  resourcePath({
    group: '',
    version: 'v1',
    resource: 'configmaps',
    namespace: ns,
    name,
  });

/** Records every delivery of an informer. */
function recorder(inf: Informer<ConfigMap>) {
  const log: Array<{
    type: 'add' | 'update' | 'delete';
    key: string;
    initial?: boolean;
    unknown?: boolean;
    same?: boolean;
  }> = [];
  inf.addEventHandler({
    onAdd: (o, initial) => log.push({ type: 'add', key: objectKey(o), initial }),
    onUpdate: (a, b) => log.push({ type: 'update', key: objectKey(b), same: a === b }),
    onDelete: (o, unknown) => log.push({ type: 'delete', key: objectKey(o), unknown }),
  });
  return log;
}

describe('Informer against kube-apiserver', () => {
  let ns: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ ns, cleanup } = await namespace('rt-informer')));
  afterAll(() => cleanup());

  it('lists in pages, syncs, delivers add/update/delete, keeps indexes and applies the transform', async () => {
    const { client, metrics } = adminClient('inf-basic');
    for (let i = 0; i < 7; i++)
      await client.create(cmPath(ns), {
        metadata: { name: `cm-${i}`, labels: { team: i % 2 ? 'odd' : 'even' } },
      });
    // The controller manager publishes kube-root-ca.crt into every new namespace asynchronously.
    await waitFor(() => client.get(`${cmPath(ns)}/kube-root-ca.crt`), {
      timeoutMs: 30_000,
      description: 'kube-root-ca.crt published into the test namespace',
    });
    const inf = new Informer<ConfigMap>({
      client,
      metrics,
      path: cmPath(ns),
      pageSize: 3,
      transform: dropManagedFields,
      indexers: { byTeam: (o) => [o.metadata?.labels?.team ?? ''] },
    });
    const log = recorder(inf);
    inf.start();
    try {
      expect(await inf.waitForSync(undefined, 30_000)).toBe(true);
      expect(inf.hasSynced()).toBe(true);
      // 7 ConfigMaps + kube-root-ca.crt = 8 objects in pages of 3
      expect(inf.cache.size).toBe(8);
      expect(
        await metricValue(metrics, 'informer_list_requests_total', {
          resource: 'configmaps',
        }),
      ).toBe(3);
      expect(log.filter((e) => e.type === 'add' && e.initial).length).toBe(8);
      expect(inf.cache.byNamespace(ns).length).toBe(8);
      expect(
        inf.cache
          .byIndex('byTeam', 'odd')
          .map((o) => o.metadata!.name)
          .sort(),
      ).toEqual(['cm-1', 'cm-3', 'cm-5']);
      expect(inf.cache.getByName(ns, 'cm-0')?.metadata?.managedFields).toBeUndefined();

      await client.mergePatch(cmPath(ns, 'cm-1'), {
        metadata: { labels: { team: 'even' } },
      });
      await client.delete(cmPath(ns, 'cm-2'));
      await client.create(cmPath(ns), { metadata: { name: 'late' } });
      await waitFor(
        () =>
          inf.cache.get(`${ns}/late`) &&
          !inf.cache.get(`${ns}/cm-2`) &&
          inf.cache.byIndex('byTeam', 'odd').length === 2,
        {
          timeoutMs: 20_000,
          description: 'watch events to reach the cache',
        },
      );
      expect(log).toEqual(
        expect.arrayContaining([
          { type: 'update', key: `${ns}/cm-1`, same: false },
          { type: 'delete', key: `${ns}/cm-2`, unknown: false },
          { type: 'add', key: `${ns}/late`, initial: false },
        ]),
      );
      expect(inf.cache.getByName(ns, 'late')?.metadata?.managedFields).toBeUndefined();
      expect(inf.resourceVersion).not.toBe('');
      expect(
        await metricValue(metrics, 'informer_synced', {
          resource: 'configmaps',
        }),
      ).toBe(1);

      // A handler added to a running informer gets the cache replayed as adds.
      const late: string[] = [];
      inf.addEventHandler({
        onAdd: (o, initial) => initial && late.push(o.metadata!.name!),
      });
      expect(late.length).toBe(inf.cache.size);
    } finally {
      await inf.stop();
    }
  });

  it('re-delivers cached objects as updates on resync without API calls', async () => {
    const { client, metrics } = adminClient('inf-resync');
    const inf = new Informer<ConfigMap>({
      client,
      metrics,
      path: cmPath(ns),
      resyncPeriodMs: 300,
    });
    const log = recorder(inf);
    inf.start();
    try {
      await inf.waitForSync(undefined, 30_000);
      const reads = async () =>
        (await metricValue(metrics, 'api_requests_total', { verb: 'list' })) +
        (await metricValue(metrics, 'api_requests_total', { verb: 'get' }));
      const requestsAfterSync = await reads();
      await waitFor(() => log.filter((e) => e.type === 'update' && e.same).length >= 2 * inf.cache.size, {
        timeoutMs: 10_000,
        description: 'two resyncs',
      });
      expect(await reads()).toBe(requestsAfterSync);
      expect(await metricValue(metrics, 'informer_list_requests_total')).toBe(1);
    } finally {
      await inf.stop();
    }
  });

  it('keeps retrying a missing resource with backoff and exposes the error', async () => {
    const { client, metrics } = adminClient('inf-missing');
    const inf = new Informer<KubeObject>({
      client,
      metrics,
      path: '/apis/example.kubeaws.io/v1/widgets',
      backoff: { initialMs: 100, maxMs: 400 },
    });
    inf.start();
    try {
      await waitFor(
        async () => (await metricValue(metrics, 'informer_watch_restarts_total', { reason: 'error' })) >= 3,
        {
          timeoutMs: 15_000,
          description: 'repeated list attempts',
        },
      );
      expect(inf.lastError).toMatchObject({ statusCode: 404 });
      expect(inf.hasSynced()).toBe(false);
      expect(inf.isStalled()).toBe(false);
    } finally {
      await inf.stop();
    }
  });

  it('restarts a watch that delivers nothing within the watchdog period', async () => {
    const { client, metrics } = adminClient('inf-watchdog');
    const inf = new Informer<ConfigMap>({
      client,
      metrics,
      path: cmPath(ns),
      watchdogMs: 1000,
    });
    inf.start();
    try {
      await inf.waitForSync(undefined, 30_000);
      await waitFor(
        async () =>
          (await metricValue(metrics, 'informer_watch_restarts_total', {
            reason: 'stalled',
          })) >= 2,
        {
          timeoutMs: 15_000,
          description: 'watchdog restarts',
        },
      );
      // the restarted watch still works
      await client.create(cmPath(ns), {
        metadata: { generateName: 'after-watchdog-' },
      });
      await waitFor(() => inf.cache.list().some((o) => o.metadata?.name?.startsWith('after-watchdog-')), {
        timeoutMs: 15_000,
        description: 'object created after watchdog restarts',
      });
      expect(inf.isStalled()).toBe(false);
      expect(await metricValue(metrics, 'informer_relists_total')).toBe(0);
    } finally {
      await inf.stop();
    }
  });

  it('resumes after a kube-apiserver restart and relists after 410 Gone (etcd compacted)', async () => {
    const cluster = attachCluster();
    const { client, metrics } = adminClient('inf-restart');
    const inf = new Informer<ConfigMap>({
      client,
      metrics,
      path: cmPath(ns),
      backoff: { initialMs: 200, maxMs: 2000 },
    });
    const log = recorder(inf);
    inf.start();
    try {
      await inf.waitForSync(undefined, 30_000);
      const rvBefore = inf.resourceVersion;
      // Move the store's revision past the informer's resourceVersion (elsewhere, so the informer sees
      // nothing), then compact etcd: the informer's resourceVersion is now too old.
      const { ns: other, cleanup: cleanupOther } = await namespace('rt-informer-noise');
      for (let i = 0; i < 20; i++)
        await client.create(cmPath(other), {
          metadata: { name: `noise-${i}` },
        });
      const compacted = await cluster.compactEtcd();
      expect(compacted).toBeGreaterThan(Number(rvBefore));
      await cluster.restartApiserver();

      await waitFor(async () => (await metricValue(metrics, 'informer_relists_total')) >= 1, {
        timeoutMs: 60_000,
        description: 'a relist after 410 Gone',
      });
      expect(
        await metricValue(metrics, 'informer_watch_restarts_total', {
          reason: 'gone',
        }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        await metricValue(metrics, 'informer_watch_restarts_total', {
          reason: 'error',
        }),
      ).toBeGreaterThanOrEqual(1);

      // The informer works again: a new object arrives, and the cache matches the server's list.
      await client.create(cmPath(ns), { metadata: { name: 'after-restart' } });
      await waitFor(() => inf.cache.get(`${ns}/after-restart`), {
        timeoutMs: 30_000,
        description: 'object created after the restart',
      });
      const server = await client.listAll(cmPath(ns));
      expect(inf.cache.keys().sort()).toEqual(server.map((o) => objectKey(o)).sort());
      expect(Number(inf.resourceVersion)).toBeGreaterThan(compacted);
      // a relist without changes delivers no spurious deletes
      expect(log.filter((e) => e.type === 'delete').length).toBe(0);
      await cleanupOther();
    } finally {
      await inf.stop();
    }
  });

  it('relists and reports deletions missed while disconnected as finalStateUnknown', async () => {
    const cluster = attachCluster();
    const { client, metrics } = adminClient('inf-missed');
    const { ns: own, cleanup: cleanupOwn } = await namespace('rt-informer-missed');
    await client.create(cmPath(own), { metadata: { name: 'doomed' } });
    // The informer reaches the API through its own client; we stop it, change the world, compact, and
    // start a second informer run on the same cache by restarting the loop.
    const inf = new Informer<ConfigMap>({
      client,
      metrics,
      path: cmPath(own),
      backoff: { initialMs: 200, maxMs: 2000 },
    });
    const log = recorder(inf);
    inf.start();
    try {
      await inf.waitForSync(undefined, 30_000);
      await inf.stop();
      await client.delete(cmPath(own, 'doomed'));
      await client.create(cmPath(own), { metadata: { name: 'born' } });
      await cluster.compactEtcd();
      inf.start();
      await waitFor(() => inf.cache.get(`${own}/born`) && !inf.cache.get(`${own}/doomed`), {
        timeoutMs: 30_000,
        description: 'the relist to catch up',
      });
      expect(log).toEqual(
        expect.arrayContaining([
          { type: 'delete', key: `${own}/doomed`, unknown: true },
          { type: 'add', key: `${own}/born`, initial: false },
        ]),
      );
      expect(await metricValue(metrics, 'informer_relists_total')).toBe(1);
    } finally {
      await inf.stop();
      await cleanupOwn();
    }
  });
});
