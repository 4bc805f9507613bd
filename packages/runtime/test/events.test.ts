import { EventRecorder, type KubeObject, objectReference, resourcePath } from '../src';
import { adminClient, metricValue, namespace, waitFor } from './support';

interface Ev extends KubeObject {
  reason?: string;
  note?: string;
  type?: string;
  action?: string;
  reportingController?: string;
  reportingInstance?: string;
  regarding?: { kind?: string; name?: string; uid?: string };
  series?: { count: number; lastObservedTime: string };
}

describe('EventRecorder against kube-apiserver', () => {
  let ns: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ ns, cleanup } = await namespace('rt-events')));
  afterAll(() => cleanup());

  const evPath = () =>
    resourcePath({
      group: 'events.k8s.io',
      version: 'v1',
      resource: 'events',
      namespace: ns,
    });

  async function subject(name: string) {
    const { client } = adminClient();
    const cm = await client.create<KubeObject>(
      resourcePath({
        group: '',
        version: 'v1',
        resource: 'configmaps',
        namespace: ns,
      }),
      { metadata: { name } },
    );
    return objectReference(cm, 'v1', 'ConfigMap');
  }

  it('creates an events.k8s.io/v1 Event and turns repeats into a series count', async () => {
    const { client, metrics } = adminClient('ev-series');
    const rec = new EventRecorder({
      client,
      metrics,
      reportingController: 'kubeaws.io/runtime-it',
      reportingInstance: 'pod-0',
      seriesPatchIntervalMs: 0,
    });
    const ref = await subject('series');
    for (let i = 0; i < 4; i++) {
      rec.warning(ref, 'InvalidAnnotation', 'Reconcile', 'kubeaws.io/max-unavailable: "0" is not valid');
      await rec.flush();
    }
    rec.normal(ref, 'PDBCreated', 'Create', 'created web-deployment-pdb');
    await rec.flush();
    const list = await client.listAll<Ev>(evPath(), {
      fieldSelector: `regarding.name=series`,
    });
    expect(list.length).toBe(2);
    const warn = list.find((e) => e.reason === 'InvalidAnnotation')!;
    expect(warn).toMatchObject({
      type: 'Warning',
      action: 'Reconcile',
      note: 'kubeaws.io/max-unavailable: "0" is not valid',
      reportingController: 'kubeaws.io/runtime-it',
      reportingInstance: 'pod-0',
      regarding: { kind: 'ConfigMap', name: 'series', uid: ref.uid },
    });
    expect(warn.series?.count).toBe(4);
    expect(list.find((e) => e.reason === 'PDBCreated')?.type).toBe('Normal');
    expect(await metricValue(metrics, 'events_total', { result: 'created' })).toBe(2);
    expect(await metricValue(metrics, 'events_total', { result: 'patched' })).toBe(3);
  });

  it('drops repeats within the patch interval (one object, no extra writes)', async () => {
    const { client, metrics } = adminClient('ev-drop');
    const rec = new EventRecorder({
      client,
      metrics,
      reportingController: 'kubeaws.io/runtime-it',
      reportingInstance: 'pod-0',
    });
    const ref = await subject('drop');
    for (let i = 0; i < 10; i++) rec.warning(ref, 'OverlappingSelectors', 'Reconcile', 'overlaps with web2');
    await rec.flush();
    const list = await client.listAll<Ev>(evPath(), {
      fieldSelector: `regarding.name=drop`,
    });
    expect(list.length).toBe(1);
    expect(list[0]!.series).toBeUndefined();
    expect(await metricValue(metrics, 'events_total', { result: 'dropped' })).toBe(9);
    expect(
      await metricValue(metrics, 'api_requests_total', {
        verb: 'create',
        resource: 'events',
      }),
    ).toBe(1);
  });

  it('writes nothing in dry-run mode and never throws on API failure', async () => {
    const { client, metrics } = adminClient('ev-dry');
    const dry = new EventRecorder({
      client,
      metrics,
      reportingController: 'kubeaws.io/runtime-it',
      reportingInstance: 'pod-0',
      dryRun: true,
    });
    const ref = await subject('dry');
    dry.normal(ref, 'PDBCreated', 'Create', 'would create');
    await dry.flush();
    expect(await metricValue(metrics, 'events_total', { result: 'dry_run' })).toBe(1);
    expect(
      await client.listAll<Ev>(evPath(), {
        fieldSelector: 'regarding.name=dry',
      }),
    ).toEqual([]);

    const rec = new EventRecorder({
      client,
      metrics,
      reportingController: 'kubeaws.io/runtime-it',
      reportingInstance: 'pod-0',
    });
    expect(() =>
      rec.warning(
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          namespace: 'no-such-namespace-xyz',
          name: 'x',
        },
        'Bad',
        'Reconcile',
        'n',
      ),
    ).not.toThrow();
    await rec.flush();
    await waitFor(async () => (await metricValue(metrics, 'events_total', { result: 'failed' })) === 1, {
      description: 'failure counted',
    });
  });
});
