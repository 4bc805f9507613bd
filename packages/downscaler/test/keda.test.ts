/**
 * KEDA on the real control plane (docs/downscaler.md#ds-keda): with `scaledobjects` included, a Deployment that a
 * paused ScaledObject targets is never written, although KEDA's HPA is gone while the ScaledObject is paused
 * (KEDA's `ensureHPAForScaledObjectIsDeleted`); the ScaledObject is paused through its annotation instead. The
 * ScaledObject CRD is installed as a minimal schema (KEDA itself does not run: there is no HPA, as during a pause).
 * The ScaledObject informer is optional (KEDA may be absent), so evaluation waits for its first list, or its 404: a
 * proxy in front of the API holds that list back, or refuses it as a missing CRD would.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import {
  Cluster,
  ORIG,
  type Obj,
  SettableClock,
  type TestController,
  deniedAccesses,
  pathOf,
  startTestController,
  waitFor,
} from './support';
import { waitTicks } from './helpers';
import { ApiProxy } from './api-proxy';

const CRD = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/scaledobjects.keda.sh';
const PAUSED = 'autoscaling.keda.sh/paused-replicas';

function scaledObjectPath(ns: string, name: string): string {
  return `/apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects/${name}`;
}

describe('KEDA ScaledObjects on the local cluster', () => {
  const cluster = new Cluster();
  let saKc: KubeConfig;
  let ctl: TestController | undefined;

  beforeAll(async () => {
    await cluster.api.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'scaledobjects.keda.sh' },
      spec: {
        group: 'keda.sh',
        scope: 'Namespaced',
        names: {
          plural: 'scaledobjects',
          singular: 'scaledobject',
          kind: 'ScaledObject',
          listKind: 'ScaledObjectList',
        },
        versions: [
          {
            name: 'v1alpha1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    });
    await waitFor(
      async () => {
        const crd = await cluster.get<Obj>(CRD);
        return crd.status?.conditions?.some((c: Obj) => c.type === 'Established' && c.status === 'True');
      },
      { timeoutMs: 30_000, description: 'ScaledObject CRD established' },
    );
    saKc = await cluster.controllerKubeConfig();
  }, 120_000);

  afterEach(async () => {
    await ctl?.stop();
    ctl = undefined;
  });

  afterAll(async () => {
    await cluster.cleanup();
    await cluster.api.delete(CRD).catch(() => undefined);
  });

  /** A Deployment `worker` at 3 replicas and a ScaledObject `worker` targeting it, paused at 3 by annotation. */
  async function pausedScaledObject(ns: string): Promise<void> {
    await cluster.deployment(ns, 'worker', { replicas: 3 });
    await cluster.api.create(`/apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects`, {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'worker', annotations: { [PAUSED]: '3' } },
      spec: { scaleTargetRef: { name: 'worker' }, triggers: [{ type: 'cpu', metadata: { value: '50' } }] },
    });
  }

  it('a paused ScaledObject without HPA: its Deployment is left alone, the ScaledObject is paused at 0', async () => {
    const ns = await cluster.namespace('keda', { 'downscaler/downtime': 'always' });
    await pausedScaledObject(ns);
    ctl = await startTestController(saKc, {
      // years after creation: past any grace period
      clock: new SettableClock(Date.parse('2030-01-07T20:00:00Z')),
      settings: { includeResources: new Set(['scaledobjects', 'deployments']) },
    });
    await waitFor(() => ctl!.downscaler.informers('ScaledObject').every((i) => i.hasSynced()), {
      timeoutMs: 30_000,
      description: 'ScaledObject informer synced',
    });
    const so = await cluster.waitObj(
      scaledObjectPath(ns, 'worker'),
      (o) => o.metadata.annotations?.[PAUSED] === '0',
      'ScaledObject paused at 0',
    );
    expect(so.metadata.annotations[ORIG]).toBe('3');
    const [ev] = await cluster.waitEvent(ns, 'ManagedByKEDA', 'worker', /ScaledObject worker targets it/);
    expect(ev!.regarding.kind).toBe('Deployment');
    await waitTicks(ctl, 3);
    const dep = await cluster.get(pathOf('Deployment', ns, 'worker'));
    expect([dep.spec.replicas, dep.metadata.annotations?.[ORIG]]).toEqual([3, undefined]);
    expect(deniedAccesses(ctl.accesses())).toEqual([]);
  }, 120_000);

  it('evaluation waits for the first list of ScaledObjects: a target listed late is still never written', async () => {
    const ns = await cluster.namespace('keda-late', { 'downscaler/downtime': 'always' });
    await pausedScaledObject(ns);
    const proxy = new ApiProxy(saKc);
    await proxy.start();
    try {
      proxy.hold('/apis/keda.sh/v1alpha1/scaledobjects');
      ctl = await startTestController(proxy.kubeConfig(), {
        clock: new SettableClock(Date.parse('2030-01-07T20:00:00Z')),
        settings: { includeResources: new Set(['scaledobjects', 'deployments']) },
      });
      const waiting = () => ctl!.logs.find((l) => /waiting for the first list of ScaledObjects/.test(l.msg)).length > 0;
      // the Deployments are cached and the ScaledObject list is parked: evaluation has either begun (the race) or waits
      await waitFor(
        async () =>
          proxy.parkedCount() >= 1 && (waiting() || (await ctl!.metric('kubeaws_downscaler_cycles_total')) > 0),
        { timeoutMs: 30_000, description: 'ScaledObject list parked and evaluation started or waiting' },
      );
      expect(await ctl.metric('kubeaws_downscaler_cycles_total')).toBe(0);
      expect(waiting()).toBe(true);
      proxy.release('/apis/keda.sh/v1alpha1/scaledobjects');
      await cluster.waitObj(
        scaledObjectPath(ns, 'worker'),
        (o) => o.metadata.annotations?.[PAUSED] === '0',
        'ScaledObject paused at 0',
      );
      await cluster.waitEvent(ns, 'ManagedByKEDA', 'worker', /ScaledObject worker targets it/);
      await waitTicks(ctl, 2);
      const dep = await cluster.get(pathOf('Deployment', ns, 'worker'));
      expect([dep.spec.replicas, dep.metadata.annotations?.[ORIG]]).toEqual([3, undefined]);
    } finally {
      await ctl?.stop();
      ctl = undefined;
      await proxy.stop();
    }
  }, 120_000);

  it.each([
    [404, 'the CRD is not installed'],
    [403, 'not granted'],
  ])(
    'ScaledObject list refused with %i (%s): evaluation does not wait, Deployments are scaled',
    async (code) => {
      const ns = await cluster.namespace(`keda-${code}`, { 'downscaler/downtime': 'always' });
      await cluster.deployment(ns, 'api', { replicas: 2 });
      const proxy = new ApiProxy(saKc);
      await proxy.start();
      try {
        proxy.refuse('/apis/keda.sh/', code);
        ctl = await startTestController(proxy.kubeConfig(), {
          clock: new SettableClock(Date.parse('2030-01-07T20:00:00Z')),
          settings: { includeResources: new Set(['scaledobjects', 'deployments']) },
        });
        const dep = await cluster.waitObj(
          pathOf('Deployment', ns, 'api'),
          (o) => o.spec.replicas === 0,
          'Deployment scaled to 0',
        );
        expect(dep.metadata.annotations[ORIG]).toBe('2');
        expect(ctl.downscaler.informers('ScaledObject').every((i) => !i.hasSynced())).toBe(true);
        expect(proxy.seen.some((p) => p.startsWith('/apis/keda.sh/v1alpha1/scaledobjects'))).toBe(true);
        expect(ctl.logs.find((l) => /listing ScaledObjects is forbidden/.test(l.msg)).length).toBe(
          code === 403 ? 1 : 0,
        );
      } finally {
        await ctl?.stop();
        ctl = undefined;
        await proxy.stop();
      }
    },
    120_000,
  );
});
