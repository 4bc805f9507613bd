/**
 * The production SLA profile's inclusive edges against the real control plane (docs/node-lifecycle-controller.md#nlc-sla):
 * the disruption controller answers 429 for the PDB-protected pods, and the controller's injected clock is frozen
 * 1 ms before and then exactly at each gate's edge. Nothing is forced 1 ms early; the pod is forced at the edge.
 *
 * - G3 (pods ≥ 72 h old), G1 (6 h after the drain started) and G2 (5 min between forced terminations) run with the
 *   production profile as shipped (only the poll interval is shortened, so rounds come every second).
 * - G4 (PDB siblings Ready ≥ 1 h, not Ready ≥ 6 h) runs with the production profile and `--drain-min-pod-lifetime=0s`:
 *   creation times are real, so all pods of a test are minutes apart at most and a 72 h old pod has 72 h old siblings;
 *   G3 would always bind. Overriding one `drain-*` flag keeps the profile's other five values (#nlc-flags).
 * - `blocked_pods{gate}` (#nlc-metrics) sums the blocked pods of every draining node and forgets a node that stops
 *   draining (it used to show only the node reconciled last, and keep a finished node's count).
 */
import { waitFor } from '@kubeaws/testenv';
import { Fixtures, H, type Nlc, SettableClock, auditOffset, auditWritesSince, metric, reconcileRounds, rfc3339, startNlc } from './support';

const MIN = 60_000;
const suffix = Math.random().toString(36).slice(2, 7);
const f = new Fixtures();
const clock = new SettableClock();
let rc: Nlc | undefined;

const argv = [
  '--cluster-name=nlc-prod', '--aws-region=us-east-1', '--sla-profile=production', '--drain-poll-interval=1s', '--rolling-update=false',
  '--terminate-instances=false', '--node-replacement-prepare=false', '--max-concurrent-drains=10',
];
const created = (p: { metadata: { creationTimestamp: string } }) => Date.parse(p.metadata.creationTimestamp);
const forced = () => metric(rc!, 'forced_terminations_total', 'reason="sla"');
const lastForce = async (node: string) => (await f.getNode(node)).metadata.annotations?.['kubeaws.io/last-force-termination'];
const deleting = async (name: string) => !!(await f.findPod(name))?.metadata.deletionTimestamp || (await f.findPod(name)) === undefined;

/** Freezes the clock 1 ms before `edge`: nothing is forced in three rounds; then at `edge`: `pod` is forced. */
async function edge(at: number, pod: string, node: string, what: string): Promise<void> {
  const before = await forced();
  const annotation = await lastForce(node);
  clock.freeze(at - 1);
  await reconcileRounds(rc!, 3, `1 ms before the ${what} edge`);
  expect(await forced()).toBe(before);
  expect(await deleting(pod)).toBe(false);
  expect(await lastForce(node)).toBe(annotation);
  clock.freeze(at);
  await waitFor(async () => (await forced()) === before + 1 || undefined, { timeoutMs: 30_000, description: `${pod} forced at the ${what} edge` });
  expect(await deleting(pod)).toBe(true);
  expect(await lastForce(node)).toBe(rfc3339(at));
}

beforeAll(async () => {
  await f.namespace('nlc-prod');
}, 60_000);

afterAll(async () => {
  await rc?.stop();
  await f.cleanup();
});

it('production profile: forced exactly at 72 h pod age (G3), 6 h after drain-start (G1) and 5 min after the last forced termination (G2)', async () => {
  rc = await startNlc({ kubeConfig: f.kc, clock, argv, env: { POD_NAMESPACE: f.ns } });
  expect(rc.config.sla).toMatchObject({ gracePeriodMs: 6 * H, minPodLifetimeMs: 72 * H, minHealthySiblingLifetimeMs: H, minUnhealthySiblingLifetimeMs: 6 * H, forceEvictIntervalMs: 5 * MIN });
  const a = `nlc-prod-a-${suffix}`;
  const b = `nlc-prod-b-${suffix}`;
  await f.node(a);
  await f.node(b);
  // Node a: p1 (older) and p2 behind a PDB that allows no disruption. Node b: p3, created last, behind its own.
  await f.pdb('pair', { minAvailable: 2 }, { app: 'pair' });
  await f.pdb('single', { minAvailable: 1 }, { app: 'single' });
  const p1 = await f.pod('p1', { node: a, labels: { app: 'pair' } });
  await waitFor(async () => Date.now() >= created(p1) + 1000 || undefined, { timeoutMs: 5_000, intervalMs: 50, description: 'a later creation second' });
  const p2 = await f.pod('p2', { node: a, labels: { app: 'pair' } });
  const p3 = await f.pod('p3', { node: b, labels: { app: 'single' } });
  expect(created(p1)).toBeLessThan(created(p2));
  const auditFrom = await auditOffset();

  // G3 binds on node b: drain-start is now, so G1 opens at +6 h, long before the pod is 72 h old.
  const blocked = await metric(rc, 'evictions_total', 'result="pdb_blocked"');
  await f.request(b);
  await waitFor(async () => (await f.state(b)) === 'draining', { timeoutMs: 30_000, description: 'node b fenced' });
  await waitFor(async () => (await metric(rc!, 'evictions_total', 'result="pdb_blocked"')) > blocked || undefined, { timeoutMs: 30_000, description: 'p3 blocked by its PDB' });
  await edge(created(p3) + 72 * H, 'p3', b, 'G3 72 h pod lifetime');

  // G1 binds on node a: fenced now (clock at p3's edge), so its pods are past 72 h already and drain-start + 6 h is the edge.
  const t = clock.now();
  // The clock stands still: one Eviction per pod, no retries within the poll interval.
  const blockedA = await metric(rc, 'evictions_total', 'result="pdb_blocked"');
  await f.request(a);
  await waitFor(async () => (await f.getNode(a)).metadata.annotations?.['kubeaws.io/drain-start'], { timeoutMs: 30_000, description: 'node a fenced' });
  const drainStart = (await f.getNode(a)).metadata.annotations!['kubeaws.io/drain-start'];
  expect(drainStart).toBe(rfc3339(t));
  await waitFor(async () => (await metric(rc!, 'evictions_total', 'result="pdb_blocked"')) >= blockedA + 2 || undefined, { timeoutMs: 30_000, description: 'p1 and p2 blocked' });
  // The oldest pod first.
  await edge(Date.parse(drainStart) + 6 * H, 'p1', a, 'G1 6 h grace');
  expect(await deleting('p2')).toBe(false);

  // G2 binds for p2: 5 min after p1's forced termination.
  await edge(Date.parse(drainStart) + 6 * H + 5 * MIN, 'p2', a, 'G2 5 min interval');
  clock.thaw();
  for (const n of [a, b]) await waitFor(async () => (await f.state(n)) === 'drained', { timeoutMs: 30_000, description: `node ${n} drained` });
  const deletes = (await auditWritesSince(auditFrom)).filter((w) => w.startsWith('delete ') && w.includes('/pods/'));
  expect(deletes).toEqual(['p3', 'p1', 'p2'].map((p) => `delete /api/v1/namespaces/${f.ns}/pods/${p}`));
}, 180_000);

it('production profile, pod lifetime 0: forced exactly when the Ready sibling is 1 h old and when the not-Ready sibling is 6 h old (G4)', async () => {
  await rc?.stop();
  clock.thaw();
  clock.offset = 0;
  rc = await startNlc({ kubeConfig: f.kc, clock, argv: [...argv, '--drain-min-pod-lifetime=0s'], env: { POD_NAMESPACE: f.ns } });
  expect(rc.config.sla).toMatchObject({ gracePeriodMs: 6 * H, minPodLifetimeMs: 0, minHealthySiblingLifetimeMs: H, minUnhealthySiblingLifetimeMs: 6 * H, forceEvictIntervalMs: 5 * MIN });
  const c = `nlc-prod-c-${suffix}`;
  const x = `nlc-prod-x-${suffix}`;
  await f.node(c);
  await f.node(x);
  await f.pdb('g4', { minAvailable: 3 }, { app: 'g4' });
  const p4 = await f.pod('p4', { node: c, labels: { app: 'g4' } });
  const p5 = await f.pod('p5', { node: c, labels: { app: 'g4' } });
  await waitFor(async () => Date.now() >= Math.max(created(p4), created(p5)) + 1000 || undefined, { timeoutMs: 5_000, intervalMs: 50, description: 'a later creation second' });
  // The Ready sibling lives on a node that is not drained; it is the youngest pod, so its edge binds.
  const ready = await f.pod('ready-sibling', { node: x, labels: { app: 'g4' } });
  expect(created(ready)).toBeGreaterThan(Math.max(created(p4), created(p5)));
  const auditFrom = await auditOffset();
  // The drain started 7 h ago (G1 open); the request carries it, as a migration or an earlier run would.
  const blocked = await metric(rc, 'evictions_total', 'result="pdb_blocked"');
  await f.request(c, { 'kubeaws.io/drain-start': rfc3339(Date.now() - 7 * H) });
  await waitFor(async () => (await f.state(c)) === 'draining', { timeoutMs: 30_000, description: 'node c fenced' });
  await waitFor(async () => (await metric(rc!, 'evictions_total', 'result="pdb_blocked"')) >= blocked + 2 || undefined, { timeoutMs: 30_000, description: 'p4 and p5 blocked' });
  await edge(created(ready) + H, 'p4', c, 'G4 Ready sibling 1 h');

  // A not-Ready sibling appears (Pending: no node matches it). G2 opens 5 min after p4; the 6 h edge binds.
  const unready = await f.pod('unready-sibling', { labels: { app: 'g4' }, nodeSelector: { 'nlc-no-such-node': suffix } });
  expect(unready.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false).toBe(false);
  // At 1 h (a Ready sibling's lifetime) and 5 min past p4's forced termination, it still holds p5.
  clock.freeze(Math.max(created(unready) + H, Date.parse((await lastForce(c))!) + 5 * MIN));
  await reconcileRounds(rc, 3, 'not-Ready sibling 1 h old');
  expect(await deleting('p5')).toBe(false);
  await edge(created(unready) + 6 * H, 'p5', c, 'G4 not-Ready sibling 6 h');
  clock.thaw();
  await waitFor(async () => (await f.state(c)) === 'drained', { timeoutMs: 30_000, description: 'node c drained' });
  const deletes = (await auditWritesSince(auditFrom)).filter((w) => w.startsWith('delete ') && w.includes('/pods/'));
  expect(deletes).toEqual(['p4', 'p5'].map((p) => `delete /api/v1/namespaces/${f.ns}/pods/${p}`));
  expect((await f.getPod('ready-sibling')).metadata.deletionTimestamp).toBeUndefined();
}, 180_000);

it('blocked_pods{gate} counts the blocked pods of every draining node, and drops a node once it stops draining', async () => {
  // The controller of the previous test runs on; its clock is hours ahead of the pods' creation, so drain-start
  // (now) + 6 h is the first failing gate of both pods.
  const gate = () => metric(rc!, 'blocked_pods', 'gate="grace"');
  const d = `nlc-prod-d-${suffix}`;
  const e = `nlc-prod-e-${suffix}`;
  for (const [node, app] of [[d, 'gd'], [e, 'ge']]) {
    await f.node(node);
    await f.pdb(app, { minAvailable: 1 }, { app });
    await f.pod(`${app}-pod`, { node, labels: { app } });
    await f.request(node);
  }
  for (const node of [d, e]) await waitFor(async () => (await f.state(node)) === 'draining', { timeoutMs: 30_000, description: `node ${node} fenced` });
  await waitFor(async () => (await gate()) === 2 || undefined, { timeoutMs: 30_000, description: 'two pods blocked by G1' });
  // Rounds of either node leave the count at 2.
  for (let i = 0; i < 4; i++) {
    await reconcileRounds(rc!, 2, 'rounds of both nodes');
    expect(await gate()).toBe(2);
  }
  // Aborts: each node stops draining and its pod no longer counts.
  await f.kube.mergePatch(`/api/v1/nodes/${d}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'ready' } } });
  await waitFor(async () => (await f.state(d)) === 'ready' && (await f.getNode(d)).metadata.annotations?.['kubeaws.io/drain-start'] === undefined, { timeoutMs: 30_000, description: `node ${d} aborted` });
  await waitFor(async () => (await gate()) === 1 || undefined, { timeoutMs: 30_000, description: 'one pod blocked after the first abort' });
  await f.kube.mergePatch(`/api/v1/nodes/${e}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'ready' } } });
  await waitFor(async () => (await gate()) === 0 || undefined, { timeoutMs: 30_000, description: 'no pod blocked after both aborts' });
  for (const g of ['interval', 'pod_lifetime', 'siblings']) expect(await metric(rc!, 'blocked_pods', `gate="${g}"`)).toBe(0);
}, 120_000);
