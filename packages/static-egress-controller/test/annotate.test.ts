/**
 * `--annotate-configmaps`, the legacy last-sync metric name and Event deduplication per object, against the
 * real kube-apiserver and moto (docs/static-egress-controller.md#seg-annotate, #seg-metrics, #seg-events).
 */
import { waitFor } from '@kubeaws/testenv';
import { createVpc, useEgressEnv } from './support';

jest.setTimeout(180_000);

const env = useEgressEnv();
const { api, ns, start } = env;

type Cm = { metadata: { uid?: string; annotations?: Record<string, string> }; data?: Record<string, string> };
const cmPath = (n: string, name: string) => `/api/v1/namespaces/${n}/configmaps/${name}`;
const create = (n: string, name: string, data: Record<string, string>) =>
  api.create(`/api/v1/namespaces/${n}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: n, labels: { egress: 'static' } }, data });
async function readyEvents(n: string, name: string) {
  const list = await api.list<any>(`/apis/events.k8s.io/v1/namespaces/${n}/events`);
  return list.items.filter((e: any) => e.regarding?.name === name && e.reason === 'EgressReady');
}

describe('annotations, legacy metric, Event deduplication (kube-apiserver + moto)', () => {
  it('annotates input ConfigMaps with the egress IPs; exports the legacy name; one Event per object per hour', async () => {
    const cluster = 'annot';
    const vpc = await createVpc(env.ec2, cluster, '10.12.0.0/16');
    const n = await ns('seg-n');
    const rc = await start(cluster, vpc, n, { annotateConfigMaps: true });
    await create(n, 'p', { a: '203.0.113.0/24' });
    await create(n, 'bad', { x: '10.0.0.300/24' });
    const ips = await waitFor(async () => {
      try {
        const st = await api.get<Cm>(cmPath(n, 'static-egress-status'));
        return JSON.parse(st.data?.['status.json'] ?? '{}').cidrs?.['203.0.113.0/24']?.state === 'Applied' && st.data!['egress-ips']!;
      } catch {
        return false;
      }
    }, { timeoutMs: 60_000, description: 'applied' });
    expect(ips.split(',')).toHaveLength(2);
    const annotated = await waitFor(async () => (await api.get<Cm>(cmPath(n, 'p'))).metadata.annotations?.['kubeaws.io/egress-ips'], {
      timeoutMs: 30_000, description: 'annotation',
    });
    expect(annotated).toBe(ips);
    // a ConfigMap without a valid source is not annotated
    expect((await api.get<Cm>(cmPath(n, 'bad'))).metadata.annotations?.['kubeaws.io/egress-ips']).toBeUndefined();

    // legacy metric name, same value as the prefixed one
    const text = await rc.metrics.registry.metrics();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('kube_static_egress_controller_last_sync_timestamp_seconds')).toBeGreaterThan(0);
    expect(value('kube_static_egress_controller_last_sync_timestamp_seconds')).toBe(value('kubeaws_static_egress_controller_last_sync_timestamp_seconds'));

    // several resyncs (1.5 s) later still one EgressReady Event for the object, and no further annotation patch
    const first = await waitFor(async () => (await readyEvents(n, 'p')).length === 1 && (await readyEvents(n, 'p')), { timeoutMs: 30_000, description: 'EgressReady' });
    const oldUid = first[0].regarding.uid;
    const syncs = async () =>
      Number(/^kubeaws_static_egress_controller_reconciles_total\{result="success"\} (\S+)$/m.exec(await rc.metrics.registry.metrics())?.[1] ?? 0);
    const mark = await syncs();
    await waitFor(async () => (await syncs()) >= mark + 3, { timeoutMs: 30_000, description: 'three more successful resyncs' });
    const again = await readyEvents(n, 'p');
    expect(again).toHaveLength(1);
    expect(again[0].series?.count ?? 1).toBe(1);

    // the same name re-created is another object: its own Event
    await api.delete(cmPath(n, 'p'));
    await create(n, 'p', { a: '203.0.113.0/24' });
    const uid = (await api.get<Cm>(cmPath(n, 'p'))).metadata.uid;
    await waitFor(async () => (await readyEvents(n, 'p')).some((e: any) => e.regarding.uid === uid), { timeoutMs: 30_000, description: 'EgressReady of the new object' });
    expect(uid).not.toBe(oldUid);
    await waitFor(async () => (await api.get<Cm>(cmPath(n, 'p'))).metadata.annotations?.['kubeaws.io/egress-ips'] === ips, {
      timeoutMs: 30_000, description: 'annotation on the new object',
    });
  });
});
