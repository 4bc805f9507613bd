/**
 * A PodDisruptionBudget whose status lags its spec (docs/node-lifecycle-controller.md#nlc-drain): after an edit the
 * disruption controller has not processed, `status.observedGeneration < metadata.generation` and the Eviction API
 * refuses with 429 and a `DisruptionBudget` cause "is still being processed by the server", whatever the stale status
 * says. The drain treats that as a PDB block (counted, Warning `EvictionBlocked`, no forced deletion inside the SLA),
 * never as an error or a pass, and evicts the pod once the disruption controller has caught up.
 *
 * The lag is real and lasting, not raced: the pod's controller is a ConfigMap, which has no scale subresource, so the
 * disruption controller (kube-controller-manager) cannot compute the expected pod count a `maxUnavailable` PDB needs
 * and only writes its fail-safe status (DisruptionAllowed=False, SyncFailed) without moving `observedGeneration`.
 */
import type { ApiError } from '@kubeaws/runtime';
import { waitFor } from '@kubeaws/testenv';
import { Fixtures, type Nlc, SettableClock, auditOffset, auditWritesSince, metric, startNlc } from './support';

interface PdbObj {
  metadata: { generation: number };
  status?: { observedGeneration?: number; disruptionsAllowed?: number; conditions?: { type: string; status: string; reason: string }[] };
}

const suffix = Math.random().toString(36).slice(2, 7);
const f = new Fixtures();
const clock = new SettableClock();
let rc: Nlc | undefined;

beforeAll(async () => {
  await f.namespace('nlc-lag');
  rc = await startNlc({
    kubeConfig: f.kc,
    clock,
    argv: ['--cluster-name=nlc-lag', '--aws-region=us-east-1', '--sla-profile=test', '--drain-poll-interval=1s', '--rolling-update=false', '--terminate-instances=false'],
    env: { POD_NAMESPACE: f.ns },
  });
}, 120_000);

afterAll(async () => {
  await rc?.stop();
  await f.cleanup();
});

it('observedGeneration < generation: a PDB block until the disruption controller catches up, then the pod is evicted', async () => {
  const node = `nlc-lag-${suffix}`;
  const pdbPath = `/apis/policy/v1/namespaces/${f.ns}/poddisruptionbudgets/lag`;
  await f.node(node);
  const owner = await f.kube.create<{ metadata: { uid: string } }>(`/api/v1/namespaces/${f.ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner' } });
  await f.pod('lag', {
    node,
    labels: { app: 'lag' },
    ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid, controller: true }],
  });
  // Generation 1 allows the disruption, and the disruption controller says so.
  await f.pdb('lag', { minAvailable: 0 }, { app: 'lag' });
  await waitFor(async () => {
    const p = await f.kube.get<PdbObj>(pdbPath);
    return p.status?.observedGeneration === 1 && p.status.disruptionsAllowed === 1 ? p : undefined;
  }, { timeoutMs: 30_000, description: 'PDB generation 1 processed: 1 disruption allowed' });
  // Generation 2 (maxUnavailable 1 would allow it too) cannot be processed: the status stays at generation 1.
  await f.kube.mergePatch(pdbPath, { spec: { minAvailable: null, maxUnavailable: 1 } });
  const lagging = await waitFor(async () => {
    const p = await f.kube.get<PdbObj>(pdbPath);
    return p.status?.conditions?.some((c) => c.type === 'DisruptionAllowed' && c.reason === 'SyncFailed') ? p : undefined;
  }, { timeoutMs: 30_000, description: 'disruption controller failed to process generation 2' });
  expect(lagging.metadata.generation).toBe(2);
  expect(lagging.status?.observedGeneration).toBe(1);
  // The API server's answer for this pod now: 429 "still being processed" (dry run, nothing evicted).
  const dry = await f.kube
    .create(`/api/v1/namespaces/${f.ns}/pods/lag/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'lag', namespace: f.ns } }, { dryRun: true })
    .then(
      () => undefined,
      (e: ApiError) => e,
    );
  expect(dry?.statusCode).toBe(429);
  expect(dry?.status?.details?.causes).toContainEqual(expect.objectContaining({ reason: 'DisruptionBudget', message: expect.stringContaining('still being processed') }));

  const auditFrom = await auditOffset();
  const blocked0 = await metric(rc!, 'evictions_total', 'result="pdb_blocked"');
  await f.request(node);
  await waitFor(async () => (await f.state(node)) === 'draining', { timeoutMs: 30_000, description: 'node fenced' });
  await waitFor(async () => (await metric(rc!, 'evictions_total', 'result="pdb_blocked"')) >= blocked0 + 3 || undefined, {
    timeoutMs: 30_000,
    description: 'three Evictions refused as PDB blocks',
  });
  const warning = await waitFor(async () => (await f.events()).find((e) => e.reason === 'EvictionBlocked' && e.regarding?.name === 'lag'), {
    timeoutMs: 30_000,
    description: 'Warning EvictionBlocked on the pod',
  });
  expect(warning.type).toBe('Warning');
  expect(await metric(rc!, 'evictions_total', 'result="error"')).toBe(0);
  expect(await metric(rc!, 'evictions_total', 'result="throttled"')).toBe(0);
  expect(await metric(rc!, 'evictions_total', 'result="accepted"')).toBe(0);
  expect((await f.getPod('lag')).metadata.deletionTimestamp).toBeUndefined();
  expect(await f.state(node)).toBe('draining');
  expect((await f.kube.get<PdbObj>(pdbPath)).status?.observedGeneration).toBe(1);

  // Generation 3 can be processed again; the next round's Eviction passes and the node drains. No forced deletion.
  await f.kube.mergePatch(pdbPath, { spec: { maxUnavailable: null, minAvailable: 0 } });
  await waitFor(async () => (await f.state(node)) === 'drained', { timeoutMs: 60_000, description: 'pod evicted once the PDB was processed, node drained' });
  expect((await f.kube.get<PdbObj>(pdbPath)).status?.observedGeneration).toBe(3);
  expect(await metric(rc!, 'evictions_total', 'result="accepted"')).toBe(1);
  expect(await metric(rc!, 'forced_terminations_total', 'reason="sla"')).toBe(0);
  const podWrites = (await auditWritesSince(auditFrom)).filter((w) => w.includes(`/namespaces/${f.ns}/pods/lag`));
  expect(podWrites.length).toBeGreaterThanOrEqual(4);
  expect(new Set(podWrites)).toEqual(new Set([`create /api/v1/namespaces/${f.ns}/pods/lag/eviction`]));
}, 150_000);
