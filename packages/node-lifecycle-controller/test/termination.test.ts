/**
 * Slow and stuck pod termination through kwok (docs/node-lifecycle-controller.md#nlc-drain, rule 2): kwok removes a
 * deleted pod annotated `pod-delete.stage.kwok.x-k8s.io/delay` only after that delay (testenv's pod-delete-delayed
 * stage), like a kubelet waiting for a slow container to stop.
 * - `slow` (grace period 30 s) takes 8 s to go: still within its grace period plus `--pod-termination-headroom`, so
 *   the node stays `draining` until the pod is gone, and it is never reported stuck;
 * - `stuck` (grace period 1 s) takes 25 s to go: past 1 s + 2 s headroom it is reported (Warning
 *   `PodStuckTerminating`) and no longer holds the node, which is drained while `stuck` is still terminating.
 * Each pod gets one Eviction and nothing else: the controller never deletes a terminating pod.
 */
import { waitFor } from '@kubeaws/testenv';
import { Fixtures, type Nlc, auditOffset, auditWritesSince, startNlc } from './support';

const DELAY = 'pod-delete.stage.kwok.x-k8s.io/delay';
const suffix = Math.random().toString(36).slice(2, 7);
const f = new Fixtures();
let rc: Nlc | undefined;

beforeAll(async () => {
  await f.namespace('nlc-slow');
  rc = await startNlc({
    kubeConfig: f.kc,
    argv: [
      '--cluster-name=nlc-slow', '--aws-region=us-east-1', '--sla-profile=test', '--drain-poll-interval=1s', '--rolling-update=false',
      '--terminate-instances=false', '--pod-termination-headroom=2s',
    ],
    env: { POD_NAMESPACE: f.ns },
  });
}, 120_000);

afterAll(async () => {
  await rc?.stop();
  await f.cleanup();
});

it('a slowly terminating pod holds the node until it is gone; one terminating past its grace period plus headroom is reported and stops holding it', async () => {
  const node = `nlc-slow-${suffix}`;
  await f.node(node);
  const slow = await f.pod('slow', { node, tgpSeconds: 30, annotations: { [DELAY]: '8s' } });
  const stuck = await f.pod('stuck', { node, tgpSeconds: 1, annotations: { [DELAY]: '25s' } });
  const auditFrom = await auditOffset();
  await f.request(node);

  // Sample the node and both pods until the node is drained.
  type Sample = { at: number; state?: string; slow?: boolean; slowTerminating: boolean; stuck?: boolean; stuckReported: boolean };
  const samples: Sample[] = [];
  const reported = async (name: string) => (await f.events()).some((e) => e.reason === 'PodStuckTerminating' && e.regarding?.name === name);
  await waitFor(
    async () => {
      // the node first, then the pods: a pod read after the node state cannot predate it
      const state = await f.state(node);
      const [s, k, stuckReported] = await Promise.all([f.findPod('slow'), f.findPod('stuck'), reported('stuck')]);
      samples.push({
        at: Date.now(),
        state,
        slow: s?.metadata.uid === slow.metadata.uid,
        slowTerminating: !!s?.metadata.deletionTimestamp,
        stuck: k?.metadata.uid === stuck.metadata.uid,
        stuckReported,
      });
      return state === 'drained' || undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250, description: 'node drained' },
  );
  // Never drained while `slow` was still there; waiting on it while `stuck` was already reported.
  expect(samples.filter((s) => s.slow && s.state === 'drained')).toEqual([]);
  expect(samples.some((s) => s.slow && s.slowTerminating && s.stuckReported && s.state === 'draining')).toBe(true);
  const goneAt = samples.find((s) => !s.slow)!.at;
  const drainedAt = samples.find((s) => s.state === 'drained')!.at;
  expect(drainedAt).toBeGreaterThanOrEqual(goneAt);
  // Drained while `stuck` is still terminating.
  const last = samples[samples.length - 1];
  expect(last.stuck).toBe(true);
  expect((await f.findPod('stuck'))?.metadata.deletionTimestamp).toBeDefined();

  const events = await f.events();
  expect(events.filter((e) => e.reason === 'PodStuckTerminating').map((e) => e.regarding?.name)).toEqual(['stuck']);
  const nodeEvents = await f.events('default');
  expect(nodeEvents.some((e) => e.reason === 'DrainCompleted' && e.regarding?.name === node)).toBe(true);
  const podWrites = (await auditWritesSince(auditFrom)).filter((w) => w.includes(`/namespaces/${f.ns}/pods/`)).sort();
  expect(podWrites).toEqual([`create /api/v1/namespaces/${f.ns}/pods/slow/eviction`, `create /api/v1/namespaces/${f.ns}/pods/stuck/eviction`]);
  // kwok removes `stuck` after its delay; the drained node is left as it is.
  await waitFor(async () => (await f.findPod('stuck')) === undefined || undefined, { timeoutMs: 40_000, description: 'stuck pod finally removed' });
  expect(await f.state(node)).toBe('drained');
}, 150_000);
