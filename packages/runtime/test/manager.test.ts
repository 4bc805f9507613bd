import { testKubeConfig } from '@kubeaws/testenv';
import {
  type KubeObject,
  type Lease,
  Manager,
  type PolicyRule,
  objectKey,
  rbacAllows,
  resourcePath,
  splitKey,
} from '../src';
import { metricValue, namespace, waitFor } from './support';

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

function makeManager(ns: string, identity: string) {
  const mgr = new Manager({
    component: 'runtime-it',
    identity,
    kubeConfig: testKubeConfig(),
    config: {
      kubeconfig: '',
      leaderElect: true,
      leaseName: 'runtime-it',
      leaseNamespace: ns,
      metricsBindAddress: '127.0.0.1:0',
      healthProbeBindAddress: '127.0.0.1:0',
      logLevel: 'silent',
    },
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 500,
    drainTimeoutMs: 10_000,
  });
  const cmPath = (name?: string) =>
    resourcePath({
      group: '',
      version: 'v1',
      resource: 'configmaps',
      namespace: ns,
      name,
    });
  const inf = mgr.informer<ConfigMap>({
    path: cmPath(),
    labelSelector: 'app=demo',
  });
  const reconciled: string[] = [];
  const ctrl = mgr.controller({
    name: 'stamp',
    workers: 2,
    reconcile: async (key) => {
      const { namespace: n, name } = splitKey(key);
      const cm = inf.cache.getByName(n, name);
      if (!cm) return;
      reconciled.push(key);
      if (cm.data?.stampedBy === identity) return;
      await mgr.leaderClient.mergePatch(cmPath(name), {
        data: { stampedBy: identity },
      });
      mgr.events.normal(
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          namespace: n,
          name,
          uid: cm.metadata?.uid,
        },
        'Stamped',
        'Patch',
        `stamped by ${identity}`,
      );
    },
  });
  inf.addEventHandler({
    onAdd: (o) => ctrl.enqueue(objectKey(o)),
    onUpdate: (_, o) => ctrl.enqueue(objectKey(o)),
  });
  return { mgr, inf, ctrl, reconciled, cmPath };
}

describe('Manager against kube-apiserver', () => {
  let ns: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ ns, cleanup } = await namespace('rt-manager')));
  afterAll(() => cleanup());

  it('serves probes and metrics, reconciles only while leading, and hands the Lease over on shutdown', async () => {
    const one = makeManager(ns, 'replica-1');
    const addr = await one.mgr.start();
    const health = addr.health!.url;
    const metricsUrl = addr.metrics!.url;
    await waitFor(async () => (await fetch(`${health}/readyz`)).status === 200, {
      timeoutMs: 30_000,
      description: '/readyz 200',
    });
    expect(await (await fetch(`${health}/healthz`)).text()).toBe('ok\n');
    await waitFor(() => one.mgr.isLeader(), {
      timeoutMs: 10_000,
      description: 'replica-1 to lead',
    });

    await one.mgr.client.create(one.cmPath(), {
      metadata: { name: 'demo-1', labels: { app: 'demo' } },
    });
    await waitFor(
      async () => (await one.mgr.client.get<ConfigMap>(one.cmPath('demo-1'))).data?.stampedBy === 'replica-1',
      {
        timeoutMs: 20_000,
        description: 'demo-1 stamped by replica-1',
      },
    );

    // A second replica: informers sync (ready), but it does not lead and does not reconcile.
    const two = makeManager(ns, 'replica-2');
    const addr2 = await two.mgr.start();
    await waitFor(async () => (await fetch(`${addr2.health!.url}/readyz`)).status === 200, {
      timeoutMs: 30_000,
      description: 'replica-2 ready',
    });
    expect(two.inf.cache.getByName(ns, 'demo-1')).toBeDefined();
    expect(two.mgr.isLeader()).toBe(false);
    expect(two.reconciled).toEqual([]);

    const text = await (await fetch(`${metricsUrl}/metrics`)).text();
    for (const re of [
      /^process_start_time_seconds \d+/m,
      /^kubeaws_runtime_it_reconcile_total\{controller="stamp",result="success"\} [1-9]/m,
      /^kubeaws_runtime_it_reconcile_duration_seconds_count\{controller="stamp"\} [1-9]/m,
      /^kubeaws_runtime_it_workqueue_depth\{name="stamp"\} 0/m,
      /^kubeaws_runtime_it_informer_synced\{resource="configmaps"\} 1/m,
      /^kubeaws_runtime_it_api_requests_total\{verb="patch",group="",resource="configmaps",code="200"\} [1-9]/m,
      /^kubeaws_runtime_it_leader_election_is_leader\{lease="runtime-it"\} 1/m,
      /^kubeaws_runtime_it_events_total\{type="Normal",reason="Stamped",result="created"\} 1/m,
    ]) {
      expect(text).toMatch(re);
    }

    // Graceful shutdown of the leader: readiness fails, the Lease is released, replica-2 takes over at once.
    const stopping = one.mgr.shutdown();
    const releasedBy = Date.now();
    await stopping;
    const lease = await two.mgr.client.get<Lease>(
      resourcePath({
        group: 'coordination.k8s.io',
        version: 'v1',
        resource: 'leases',
        namespace: ns,
        name: 'runtime-it',
      }),
    );
    expect(['', 'replica-2']).toContain(lease.spec?.holderIdentity);
    await waitFor(() => two.mgr.isLeader(), {
      timeoutMs: 5_000,
      description: 'replica-2 to acquire the released Lease',
    });
    expect(Date.now() - releasedBy).toBeLessThan(5_000); // far below the 15 s lease duration
    await expect(fetch(`${health}/healthz`)).rejects.toThrow(); // servers closed

    await two.mgr.client.mergePatch(two.cmPath('demo-1'), {
      data: { touch: '1' },
    });
    await waitFor(
      async () => (await two.mgr.client.get<ConfigMap>(two.cmPath('demo-1'))).data?.stampedBy === 'replica-2',
      {
        timeoutMs: 20_000,
        description: 'demo-1 stamped by replica-2',
      },
    );
    expect(await metricValue(two.mgr.metrics, 'leader_election_is_leader')).toBe(1);

    // Every API access of the component is covered by this (minimal) RBAC.
    const clusterRules: PolicyRule[] = [
      {
        apiGroups: [''],
        resources: ['configmaps'],
        verbs: ['list', 'watch', 'patch'],
      },
      {
        apiGroups: ['events.k8s.io'],
        resources: ['events'],
        verbs: ['create', 'patch'],
      },
    ];
    const leaseRules: PolicyRule[] = [
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        verbs: ['create'],
      },
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        verbs: ['get', 'update'],
        resourceNames: ['runtime-it'],
      },
    ];
    const testOnly = (a: { verb: string; resource: string }) =>
      a.resource === 'configmaps' && (a.verb === 'create' || a.verb === 'get');
    const uncovered = two.mgr.client
      .accesses()
      .filter((a) => !testOnly(a) && !rbacAllows([...clusterRules, ...leaseRules], a));
    expect(uncovered).toEqual([]);
    await two.mgr.shutdown();
  });

  it('drains queued work before releasing the Lease on shutdown', async () => {
    const { ns: own, cleanup: cleanupOwn } = await namespace('rt-drain');
    const m = makeManager(own, 'drainer');
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const slowCtrl = m.mgr.controller({
      name: 'slow',
      reconcile: async () => {
        await gate;
      },
    });
    await m.mgr.start();
    await waitFor(() => m.mgr.isLeader() && slowCtrl.isRunning(), {
      timeoutMs: 30_000,
      description: 'leading with workers',
    });
    slowCtrl.enqueue('k1');
    slowCtrl.enqueue('k2');
    await waitFor(() => slowCtrl.queue.processingLen() === 1, {
      description: 'k1 in flight',
    });
    const done = m.mgr.shutdown();
    const state = { finished: false };
    void done.then(() => (state.finished = true));
    await waitFor(async () => (await m.mgr.probes.readyz()).checks.some((c) => c.name === 'shutdown' && !c.ok), {
      description: 'readiness to report shutting down',
    });
    expect(state.finished).toBe(false); // waits for the queue
    expect(slowCtrl.queue.len() + slowCtrl.queue.processingLen()).toBe(2);
    const leaseWhileDraining = await m.mgr.client.get<Lease>(
      resourcePath({
        group: 'coordination.k8s.io',
        version: 'v1',
        resource: 'leases',
        namespace: own,
        name: 'runtime-it',
      }),
    );
    expect(leaseWhileDraining.spec?.holderIdentity).toBe('drainer');
    release();
    await done;
    expect(slowCtrl.queue.len()).toBe(0);
    expect(
      await metricValue(m.mgr.metrics, 'reconcile_total', {
        controller: 'slow',
        result: 'success',
      }),
    ).toBe(2);
    const lease = await m.mgr.client.get<Lease>(
      resourcePath({
        group: 'coordination.k8s.io',
        version: 'v1',
        resource: 'leases',
        namespace: own,
        name: 'runtime-it',
      }),
    );
    expect(lease.spec?.holderIdentity).toBe('');
    await cleanupOwn();
  });
});
