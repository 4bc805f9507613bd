import { readFile } from 'node:fs/promises';
import {
  AppsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  KubeConfig,
  PolicyV1Api,
  type V1Pod,
  Watch,
} from '@kubernetes/client-node';
import {
  type Cluster,
  attachCluster,
  createTestNamespace,
  deleteNamespace,
  serviceAccountKubeConfig,
  testKubeConfig,
  waitFor,
} from '../src';

function code(err: unknown): number | undefined {
  const c = (err as { code?: unknown })?.code;
  return typeof c === 'number' ? c : undefined;
}

function isRunningReady(p: V1Pod): boolean {
  return (
    p.status?.phase === 'Running' &&
    !p.metadata?.deletionTimestamp &&
    (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/** Starts a watch at `resourceVersion` and resolves with the HTTP or in-stream error code, if any. */
function watchOutcome(kc: KubeConfig, path: string, resourceVersion: string): Promise<number | 'ok'> {
  return new Promise((resolve, reject) => {
    let controller: AbortController | undefined;
    let settled = false;
    const settle = (v: number | 'ok'): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      controller?.abort();
      resolve(v);
    };
    // With no error within 3 s the watch is considered established.
    const timer = setTimeout(() => settle('ok'), 3_000);
    new Watch(kc)
      .watch(
        path,
        { resourceVersion, allowWatchBookmarks: false },
        (phase, obj: { code?: number }) => {
          if (phase === 'ERROR') settle(obj?.code ?? -1);
        },
        (err: unknown) => {
          if (!err) return settle('ok');
          const status = (err as { statusCode?: number; code?: number }).statusCode ?? code(err);
          settle(status ?? -1);
        },
      )
      .then((c) => {
        controller = c;
        if (settled) c.abort();
      }, reject);
  });
}

describe('local control plane', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let policy: PolicyV1Api;
  let ns: string;
  let cluster: Cluster;

  beforeAll(async () => {
    kc = testKubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    policy = kc.makeApiClient(PolicyV1Api);
    cluster = attachCluster();
    ns = await createTestNamespace(kc, 'testenv');
  });

  afterAll(async () => {
    await deleteNamespace(kc, ns);
  });

  it('has Ready kwok nodes with capacity', async () => {
    const nodes = (await core.listNode({ labelSelector: 'type=kwok' })).items;
    expect(nodes.length).toBe(cluster.nodes);
    for (const n of nodes) {
      expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(n.status?.allocatable?.cpu).toBe('32');
    }
  });

  it('runs a 3-replica Deployment to 3 Running+Ready pods, fills PDB status and enforces it on eviction', async () => {
    const labels = { app: 'web' };
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 3,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10' }] },
          },
        },
      },
    });
    const pods = await waitFor(
      async () => {
        const items = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items;
        const ready = items.filter(isRunningReady);
        return ready.length === 3 && items.length === 3 ? ready : undefined;
      },
      { timeoutMs: 60_000, description: '3 Running+Ready pods of deployment web' },
    );
    for (const p of pods) expect(p.spec?.nodeName).toMatch(/^kwok-node-\d+$/);
    await waitFor(
      async () => (await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).status?.readyReplicas === 3,
      { timeoutMs: 30_000, description: 'deployment web readyReplicas=3' },
    );

    await policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: { metadata: { name: 'web' }, spec: { maxUnavailable: 1, selector: { matchLabels: labels } } },
    });
    const status = await waitFor(
      async () => {
        const s = (await policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace: ns })).status;
        return s?.currentHealthy === 3 && s.disruptionsAllowed === 1 ? s : undefined;
      },
      { timeoutMs: 30_000, description: 'PDB web status currentHealthy=3 disruptionsAllowed=1' },
    );
    expect(status).toMatchObject({ currentHealthy: 3, desiredHealthy: 2, expectedPods: 3, disruptionsAllowed: 1 });

    // One eviction fits the budget.
    const evict = (name: string): Promise<unknown> =>
      core.createNamespacedPodEviction({
        name,
        namespace: ns,
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: ns } },
      });
    await evict(pods[0].metadata!.name!);
    await waitFor(
      async () => {
        const s = (await policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace: ns })).status;
        return s?.currentHealthy === 3 && s.disruptionsAllowed === 1;
      },
      { timeoutMs: 30_000, description: 'replacement pod ready and PDB healthy again' },
    );

    // With no disruption allowed, the eviction API answers 429 Too Many Requests.
    await policy.patchNamespacedPodDisruptionBudget({
      name: 'web',
      namespace: ns,
      body: [{ op: 'replace', path: '/spec/maxUnavailable', value: 0 }],
    });
    await waitFor(
      async () =>
        (await policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace: ns })).status?.disruptionsAllowed ===
        0,
      { timeoutMs: 30_000, description: 'PDB web disruptionsAllowed=0' },
    );
    const victim = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items.find(
      isRunningReady,
    )!;
    const err = await evict(victim.metadata!.name!).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(code(err)).toBe(429);
  });

  it('writes write requests to the audit log at Metadata level and skips reads', async () => {
    const events = await waitFor(
      async () => {
        const lines = (await readFile(cluster.auditLogPath, 'utf8')).split('\n').filter(Boolean);
        const parsed = lines.map((l) => JSON.parse(l) as { verb: string; level: string; objectRef?: { name?: string; resource?: string } });
        return parsed.some((e) => e.objectRef?.resource === 'namespaces' && e.objectRef.name === ns) ? parsed : undefined;
      },
      { timeoutMs: 10_000, description: `audit event for namespace ${ns}` },
    );
    expect(new Set(events.map((e) => e.level))).toEqual(new Set(['Metadata']));
    expect(events.some((e) => ['get', 'list', 'watch'].includes(e.verb))).toBe(false);
    expect(events.some((e) => e.verb === 'create' && e.objectRef?.resource === 'pods')).toBe(true);
  });

  it('removes a deleted pod at once, and one annotated pod-delete.stage.kwok.x-k8s.io/delay only after that delay', async () => {
    const nodeName = (await core.listNode({ labelSelector: 'type=kwok' })).items[0].metadata!.name!;
    const pod = (name: string, annotations?: Record<string, string>) =>
      core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name, annotations },
          spec: { nodeName, terminationGracePeriodSeconds: 30, tolerations: [{ operator: 'Exists' }], containers: [{ name: 'c', image: 'fake' }] },
        },
      });
    await pod('fast');
    await pod('slow', { 'pod-delete.stage.kwok.x-k8s.io/delay': '6s' });
    for (const name of ['fast', 'slow'])
      await waitFor(async () => isRunningReady(await core.readNamespacedPod({ namespace: ns, name })) || undefined, { timeoutMs: 30_000, description: `${name} Ready` });
    const gone = (name: string) => core.readNamespacedPod({ namespace: ns, name }).then(() => undefined, (e) => (code(e) === 404 ? true : Promise.reject(e)));
    const t0 = Date.now();
    await core.deleteNamespacedPod({ namespace: ns, name: 'fast' });
    await core.deleteNamespacedPod({ namespace: ns, name: 'slow' });
    await waitFor(() => gone('fast'), { timeoutMs: 5_000, intervalMs: 100, description: 'fast pod removed at once (well within its 30 s grace period)' });
    expect((await core.readNamespacedPod({ namespace: ns, name: 'slow' })).metadata?.deletionTimestamp).toBeDefined();
    await waitFor(() => gone('slow'), { timeoutMs: 20_000, intervalMs: 100, description: 'slow pod removed after its delay' });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(5_500);
    expect(took).toBeLessThan(15_000);
  });

  it('issues ServiceAccount kubeconfigs that authenticate as the ServiceAccount only', async () => {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'robot' } } });
    const saKc = await serviceAccountKubeConfig(kc, ns, 'robot', { expirationSeconds: 600 });
    const review = await saKc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${ns}:robot`);
    const denied = await saKc
      .makeApiClient(CoreV1Api)
      .listNamespacedSecret({ namespace: ns })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(code(denied)).toBe(403);
  });

  it('restarts kube-apiserver on the same address and keeps the data', async () => {
    const before = JSON.parse(await readFile(cluster.statePath, 'utf8')).processes['kube-apiserver'].pid as number;
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'survivor' }, data: { a: '1' } } });
    await cluster.restartApiserver();
    const after = JSON.parse(await readFile(cluster.statePath, 'utf8')).processes['kube-apiserver'].pid as number;
    expect(after).not.toBe(before);
    const cm = await core.readNamespacedConfigMap({ name: 'survivor', namespace: ns });
    expect(cm.data).toEqual({ a: '1' });
    // Controllers reconnect: a scale-up is still carried out.
    await apps.patchNamespacedDeploymentScale({
      name: 'web',
      namespace: ns,
      body: [{ op: 'replace', path: '/spec/replicas', value: 4 }],
    });
    await waitFor(
      async () => (await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).status?.readyReplicas === 4,
      { timeoutMs: 60_000, description: 'deployment web readyReplicas=4 after apiserver restart' },
    );
  });

  it('compacts etcd so that an old resourceVersion gets 410 Gone', async () => {
    const cm = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'old' }, data: { v: '0' } },
    });
    const oldRv = cm.metadata!.resourceVersion!;
    for (let i = 1; i <= 3; i++) {
      await core.patchNamespacedConfigMap({
        name: 'old',
        namespace: ns,
        body: [{ op: 'replace', path: '/data/v', value: String(i) }],
      });
    }
    const path = `/api/v1/namespaces/${ns}/configmaps`;
    expect(await watchOutcome(kc, path, oldRv)).toBe('ok');

    const rev = await cluster.compactEtcd();
    expect(rev).toBeGreaterThan(Number(oldRv));

    // Requests that reach etcd fail at once; the watch cache drops its list snapshots within ~15 s.
    await waitFor(
      async () => {
        const err = await core
          .listNamespacedConfigMap({ namespace: ns, resourceVersion: oldRv, resourceVersionMatch: 'Exact' })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        return code(err) === 410;
      },
      { timeoutMs: 40_000, intervalMs: 500, description: `list at compacted resourceVersion ${oldRv} to give 410` },
    );

    // After an apiserver restart (empty watch cache) a watch from before the compaction is 410 Gone.
    await cluster.restartApiserver();
    expect(await watchOutcome(kc, path, oldRv)).toBe(410);
  });
});
