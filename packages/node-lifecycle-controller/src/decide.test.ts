import {
  type InterruptionRecord,
  type NodeView,
  type PdbView,
  type PodView,
  SLA_PROFILES,
  type SlaSettings,
  candidates,
  nodeInputProblems,
  podInputProblem,
  classifyEviction,
  classifyMessage,
  deadlineGrace,
  forceAllowed,
  formatTime,
  instanceIdOf,
  holdsSlot,
  mergeRecord,
  newReplacement,
  nextStep,
  parseReplacement,
  replacementStep,
  parseEventTime,
  planRound,
  podBlocked,
  readMarkers,
  siblingsOf,
  startOrder,
  stopOnlyFollowUp,
  terminateRetryDelay,
  terminationFollowUp,
} from './decide';

const H = 3_600_000;
const M = 60_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

function pod(name: string, o: Partial<PodView> = {}): PodView {
  return {
    uid: `uid-${name}`,
    namespace: 'app',
    name,
    nodeName: 'n1',
    createdAt: T0,
    startedAt: T0,
    phase: 'Running',
    ready: true,
    labels: { app: 'web' },
    controllerKind: 'ReplicaSet',
    ownerKinds: ['ReplicaSet'],
    mirror: false,
    tgpSeconds: 30,
    ...o,
  };
}

const pdb = (name: string, selector: PdbView['selector'], namespace = 'app'): PdbView => ({ namespace, name, selector });

describe('forceAllowed: the SLA predicate, inclusive edges, both profiles', () => {
  // drain started at T0 + 100 h; pod and siblings created at T0; each row moves `now` relative to one gate edge.
  const drainStart = T0 + 100 * H;
  type Row = [string, keyof typeof SLA_PROFILES, Partial<{ now: number; lastForce: number; podAge: number; sibling: { age: number; ready: boolean } }>, string | undefined];
  const rows: Row[] = [];
  for (const profile of ['production', 'test'] as const) {
    const s = SLA_PROFILES[profile];
    const g1 = drainStart + s.gracePeriodMs;
    rows.push(
      [`${profile} G1 one ms early`, profile, { now: g1 - 1 }, 'grace'],
      [`${profile} G1 exactly at the edge`, profile, { now: g1 }, undefined],
      [`${profile} G2 one ms early`, profile, { now: g1, lastForce: g1 - s.forceEvictIntervalMs + 1 }, 'interval'],
      [`${profile} G2 exactly at the edge`, profile, { now: g1, lastForce: g1 - s.forceEvictIntervalMs }, undefined],
      [`${profile} G3 pod one ms too young`, profile, { now: g1, podAge: s.minPodLifetimeMs - 1 }, 'pod_lifetime'],
      [`${profile} G3 pod exactly old enough`, profile, { now: g1, podAge: s.minPodLifetimeMs }, undefined],
      [`${profile} G4 Ready sibling one ms too young`, profile, { now: g1, sibling: { age: s.minHealthySiblingLifetimeMs - 1, ready: true } }, 'siblings'],
      [`${profile} G4 Ready sibling exactly old enough`, profile, { now: g1, sibling: { age: s.minHealthySiblingLifetimeMs, ready: true } }, undefined],
      [`${profile} G4 not-Ready sibling one ms too young`, profile, { now: g1, sibling: { age: s.minUnhealthySiblingLifetimeMs - 1, ready: false } }, 'siblings'],
      [`${profile} G4 not-Ready sibling exactly old enough`, profile, { now: g1, sibling: { age: s.minUnhealthySiblingLifetimeMs, ready: false } }, undefined],
    );
  }
  it.each(rows)('%s', (_name, profile, r, gate) => {
    const sla = SLA_PROFILES[profile];
    const now = r.now!;
    const p = pod('p', { createdAt: r.podAge === undefined ? T0 : now - r.podAge });
    const siblings = r.sibling ? [pod('s', { createdAt: now - r.sibling.age, ready: r.sibling.ready })] : [];
    const res = forceAllowed({ now, drainStart, lastForce: r.lastForce, pod: p, siblings, sla });
    expect(res.gate).toBe(gate);
    expect(res.allowed).toBe(gate === undefined);
  });

  it('gates fail cheapest first: grace before interval before pod lifetime before siblings', () => {
    const sla = SLA_PROFILES.production;
    const now = drainStart;
    const r = forceAllowed({ now, drainStart, lastForce: now, pod: pod('p', { createdAt: now }), siblings: [pod('s', { createdAt: now })], sla });
    expect(r).toEqual({ allowed: false, gate: 'grace', notBefore: now + sla.minPodLifetimeMs });
  });

  it('the published values', () => {
    expect(SLA_PROFILES.production).toEqual({ gracePeriodMs: 6 * H, minPodLifetimeMs: 72 * H, minHealthySiblingLifetimeMs: H, minUnhealthySiblingLifetimeMs: 6 * H, forceEvictIntervalMs: 5 * M, pollIntervalMs: 30_000 });
    expect(SLA_PROFILES.test).toEqual({ gracePeriodMs: 2 * H, minPodLifetimeMs: 8 * H, minHealthySiblingLifetimeMs: H, minUnhealthySiblingLifetimeMs: H, forceEvictIntervalMs: 5 * M, pollIntervalMs: 30_000 });
  });
});

describe('siblingsOf', () => {
  const p = pod('p', { labels: { app: 'web', tier: 'a' } });
  const others = [
    pod('same', { labels: { app: 'web' } }),
    pod('other-app', { labels: { app: 'db' } }),
    pod('done', { phase: 'Succeeded' }),
    pod('failed', { phase: 'Failed' }),
    pod('job', { ownerKinds: ['Job'], controllerKind: 'Job' }),
    pod('db', { labels: { app: 'db', tier: 'a' } }),
    pod('elsewhere', { namespace: 'other' }),
    p,
  ];
  it.each<[string, PdbView[], string[], string[]]>([
    ['no PDB', [], [], []],
    ['a PDB selecting app=web', [pdb('web', { matchLabels: { app: 'web' } })], ['same'], ['web']],
    ['union over two PDBs', [pdb('web', { matchLabels: { app: 'web' } }), pdb('tier', { matchLabels: { tier: 'a' } })], ['same', 'db'], ['web', 'tier']],
    ['a PDB not selecting P is ignored', [pdb('db', { matchLabels: { app: 'db' } })], [], []],
    ['empty selector selects all (terminal, Job and other namespaces excluded)', [pdb('all', {})], ['same', 'other-app', 'db'], ['all']],
    ['null selector selects none', [pdb('none', null)], [], []],
    ['a PDB of another namespace', [pdb('web', { matchLabels: { app: 'web' } }, 'other')], [], []],
  ])('%s', (_n, pdbs, names, pdbNames) => {
    const r = siblingsOf(p, others, pdbs);
    expect(r.siblings.map((s) => s.name).sort()).toEqual([...names].sort());
    expect(r.pdbs).toEqual(pdbNames);
  });
});

describe('candidates', () => {
  const now = T0 + H;
  it('skips mirror, DaemonSet and finished pods; orders oldest first', () => {
    const c = candidates(
      [
        pod('b', { createdAt: T0 + 2 }),
        pod('a', { createdAt: T0 + 1 }),
        pod('mirror', { mirror: true }),
        pod('ds', { controllerKind: 'DaemonSet' }),
        pod('ok', { phase: 'Succeeded' }),
        pod('bad', { phase: 'Failed' }),
        pod('pending', { phase: 'Pending', createdAt: T0 + 3 }),
      ],
      now,
      30_000,
    );
    expect(c.active.map((p) => p.name)).toEqual(['a', 'b', 'pending']);
  });
  it('critical pods wait until all others are gone, the own pod goes last', () => {
    const crit = pod('crit', { priorityClassName: 'system-node-critical' });
    const own = pod('own');
    expect(candidates([pod('x'), crit, own], now, 0, own.uid).active.map((p) => p.name)).toEqual(['x']);
    expect(candidates([pod('x', { deletingAt: now }), crit, own], now, 0, own.uid).active.map((p) => p.name)).toEqual([]);
    expect(candidates([crit, own], now, 0, own.uid).active.map((p) => p.name)).toEqual(['crit']);
    expect(candidates([own], now, 0, own.uid).active.map((p) => p.name)).toEqual(['own']);
  });
  it.each([
    ['within TGP + headroom', now - 60_000 + 1, 'terminating'],
    ['exactly at TGP + headroom', now - 60_000, 'stuck'],
  ])('terminating pod %s', (_n, deletingAt, bucket) => {
    const c = candidates([pod('t', { deletingAt, tgpSeconds: 30 })], now, 30_000);
    expect(c[bucket as 'terminating' | 'stuck'].map((p) => p.name)).toEqual(['t']);
  });
});

describe('deadlineGrace', () => {
  const D = T0 + 120_000;
  it.each<[string, number, number, number | undefined]>([
    ['before D - TGP - margin', 30, D - 30_000 - 10_000 - 1, undefined],
    ['exactly at D - TGP - margin: full TGP', 30, D - 40_000, 30],
    ['later: what is left', 30, D - 25_000, 15],
    ['past the deadline: at least 1 s', 30, D + 5_000, 1],
    ['long TGP at receipt of a spot notice', 600, T0, 110],
  ])('%s', (_n, tgp, now, expected) => {
    expect(deadlineGrace(pod('p', { tgpSeconds: tgp }), D, 10_000, now)).toBe(expected);
  });
});

describe('planRound', () => {
  const sla: SlaSettings = SLA_PROFILES.test;
  const drainStart = T0 + 10 * H;
  const base = {
    sla,
    podsInNamespace: () => [] as PodView[],
    pdbsInNamespace: () => [] as PdbView[],
    pdbBlocked: new Map<string, number>(),
    lastEviction: new Map<string, number>(),
    accepted: new Set<string>(),
    drainStart,
    marginMs: 10_000,
    headroomMs: 30_000,
    voluntary: true,
    paused: false,
  };
  it('no candidates: drained', () => {
    expect(planRound({ ...base, now: drainStart, podsOnNode: [pod('ds', { controllerKind: 'DaemonSet' })] }).drained).toBe(true);
  });
  it('evicts every candidate not tried within the poll interval', () => {
    const now = drainStart + 60_000;
    const lastEviction = new Map([['uid-a', now - sla.pollIntervalMs + 1], ['uid-b', now - sla.pollIntervalMs]]);
    const plan = planRound({ ...base, now, lastEviction, podsOnNode: [pod('a'), pod('b'), pod('c')] });
    expect(plan.evict.map((p) => p.name)).toEqual(['b', 'c']);
    expect(plan.force).toBeUndefined();
  });
  it.each([
    ['an accepted Eviction, voluntary', undefined],
    ['an accepted Eviction or DELETE, at the deadline', drainStart + 60_000],
  ])('a pod after %s is waited for while the cache does not show it terminating yet', (_what, deadline) => {
    const now = drainStart + 60_000;
    const plan = planRound({
      ...base,
      now,
      deadline,
      lastEviction: new Map([['uid-a', now - 5 * sla.pollIntervalMs]]),
      accepted: new Set(['uid-a']),
      pdbBlocked: new Map([['uid-a', now - 5 * sla.pollIntervalMs]]),
      podsOnNode: [pod('a'), pod('b')],
    });
    expect(plan.evict.map((p) => p.name)).toEqual(deadline === undefined ? ['b'] : []);
    expect(plan.deadlineDeletes.map((d) => d.pod.name)).toEqual(deadline === undefined ? [] : ['b']);
    expect(plan.force).toBeUndefined();
    expect(plan.blocked).toEqual([]);
    expect(plan.drained).toBe(false);
  });
  it('forces at most one PDB-blocked pod, oldest first, once the gates hold', () => {
    const now = drainStart + sla.gracePeriodMs;
    const a = pod('a', { createdAt: T0 + 1 });
    const b = pod('b', { createdAt: T0 });
    const sib = pod('sib', { nodeName: 'n2', createdAt: T0 });
    const plan = planRound({
      ...base,
      now,
      podsOnNode: [a, b],
      podsInNamespace: () => [a, b, sib],
      pdbsInNamespace: () => [pdb('web', { matchLabels: { app: 'web' } })],
      pdbBlocked: new Map([[a.uid, now], [b.uid, now]]),
    });
    expect(plan.force?.name).toBe('b');
    expect(plan.evict.map((p) => p.name)).toEqual(['a']);
  });
  it('a blocked pod that no PDB selects is never forced', () => {
    const now = drainStart + sla.gracePeriodMs;
    const a = pod('a');
    const plan = planRound({ ...base, now, podsOnNode: [a], podsInNamespace: () => [a], pdbBlocked: new Map([[a.uid, now]]) });
    expect(plan.force).toBeUndefined();
  });
  it('do-not-disrupt pods get no Eviction, count as blocked and are still bounded by the SLA', () => {
    const now = drainStart + sla.gracePeriodMs - 1;
    const a = pod('a', { doNotDisrupt: 'true' });
    const early = planRound({ ...base, now, podsOnNode: [a], podsInNamespace: () => [a] });
    expect(early.evict).toEqual([]);
    expect(early.blocked.map((b) => b.gate)).toEqual(['grace']);
    expect(early.nextAt).toBe(now + 1);
    const late = planRound({ ...base, now: now + 1, podsOnNode: [a], podsInNamespace: () => [a] });
    expect(late.force?.name).toBe('a');
  });
  it('gates run cheapest first: the namespace pods (siblings) are read only once G1–G3 hold', () => {
    const a = pod('a', { createdAt: T0 });
    const young = pod('young', { nodeName: 'n2', createdAt: drainStart + sla.gracePeriodMs - 1 });
    const reads: string[] = [];
    const input = {
      ...base,
      podsOnNode: [a],
      podsInNamespace: (ns: string) => (reads.push(ns), [a, young]),
      pdbsInNamespace: () => [pdb('web', { matchLabels: { app: 'web' } })],
    };
    const early = planRound({ ...input, now: drainStart + sla.gracePeriodMs - 1, pdbBlocked: new Map([[a.uid, 0]]) });
    expect(early.blocked.map((b) => [b.gate, b.pdbs])).toEqual([['grace', ['web']]]);
    expect(reads).toEqual([]);
    const late = planRound({ ...input, now: drainStart + sla.gracePeriodMs, pdbBlocked: new Map([[a.uid, 0]]) });
    expect(late.blocked.map((b) => b.gate)).toEqual(['siblings']);
    expect(late.force).toBeUndefined();
    expect(reads).toEqual([a.namespace]);
  });
  it('G4 runs oldest first only until one pod may be forced; the others wait for the force interval', () => {
    const now = drainStart + sla.gracePeriodMs;
    const a = pod('a', { createdAt: T0 + 1 });
    const b = pod('b', { createdAt: T0 });
    const c = pod('c', { createdAt: T0 + 2 });
    const reads: string[] = [];
    const plan = planRound({
      ...base,
      now,
      podsOnNode: [a, b, c],
      podsInNamespace: (ns: string) => (reads.push(ns), [a, b, c]),
      pdbsInNamespace: () => [pdb('web', { matchLabels: { app: 'web' } })],
      pdbBlocked: new Map([[a.uid, now], [b.uid, now], [c.uid, now]]),
    });
    expect(plan.force?.name).toBe('b');
    expect(plan.blocked.map((x) => [x.pod.name, x.gate])).toEqual([['a', 'interval'], ['c', 'interval']]);
    expect(reads).toHaveLength(1);
  });
  it('paused: no evictions, no forcing, deadline deletes still happen', () => {
    const now = drainStart + 100 * H;
    const a = pod('a');
    const plan = planRound({ ...base, now, paused: true, podsOnNode: [a], pdbBlocked: new Map([[a.uid, now]]), podsInNamespace: () => [a], pdbsInNamespace: () => [pdb('x', {})] });
    expect(plan.evict).toEqual([]);
    expect(plan.force).toBeUndefined();
    const dl = planRound({ ...base, now, paused: true, podsOnNode: [a], deadline: now + 20_000 });
    expect(dl.deadlineDeletes).toEqual([{ pod: a, graceSeconds: 10 }]);
  });
});

describe('podBlocked', () => {
  it.each<[string | undefined, number, boolean, boolean]>([
    [undefined, 0, false, false],
    ['false', 0, false, false],
    ['true', 0, true, false],
    ['4h', 4 * H - 1, true, false],
    ['4h', 4 * H, false, false],
    ['yes', 0, true, true],
  ])('%s at start+%d', (v, dt, blocked, invalid) => {
    expect(podBlocked(pod('p', { doNotDisrupt: v }), T0 + dt)).toEqual({ blocked, invalid });
  });
});

describe('classifyEviction', () => {
  it.each<[number, object | undefined, string]>([
    [201, undefined, 'accepted'],
    [404, undefined, 'not_found'],
    [409, undefined, 'conflict'],
    [429, { details: { causes: [{ reason: 'DisruptionBudget', message: 'needs 1 healthy pods' }] } }, 'pdb_blocked'],
    [429, { message: 'too many requests' }, 'throttled'],
    [500, { message: 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.' }, 'multiple_pdbs'],
    [403, { details: { causes: [{ reason: 'NamespaceTerminating' }] } }, 'namespace_terminating'],
    [500, { message: 'etcd' }, 'error'],
  ])('%d %j', (status, body, result) => expect(classifyEviction(status, body as never)).toBe(result));
});

function node(o: Partial<NodeView> = {}): NodeView {
  return { name: 'n1', createdAt: T0, labels: {}, annotations: {}, taints: [], unschedulable: false, providerID: 'aws:///eu-central-1a/i-0123456789abcdef0', ready: true, ...o };
}

describe('readMarkers and aliases', () => {
  const now = T0 + H;
  it.each<[string, Partial<NodeView>, Partial<ReturnType<typeof readMarkers>>]>([
    ['our request label', { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } }, { requested: true, state: 'decommission-pending' }],
    ['Zalando label request', { labels: { 'lifecycle-status': 'decommission-pending' } }, { requested: true }],
    ['Zalando taint without label', { taints: [{ key: 'decommission-pending', effect: 'NoSchedule' }] }, { requested: true }],
    ['Zalando taint with label ready', { labels: { 'lifecycle-status': 'ready' }, taints: [{ key: 'decommission-pending', effect: 'NoSchedule' }] }, { requested: false, abortRequested: true }],
    ['unknown state', { labels: { 'kubeaws.io/lifecycle-state': 'drainin' } }, { state: 'invalid' }],
    ['CLM drain-start is read', { annotations: { 'cluster-lifecycle-manager.zalando.org/drain-start': '2026-01-01T00:10:00Z' } }, { drainStart: T0 + 10 * M, drainStartInvalid: false }],
    ['ours wins over CLM', { annotations: { 'kubeaws.io/drain-start': '2026-01-01T00:20:00Z', 'cluster-lifecycle-manager.zalando.org/drain-start': '2026-01-01T00:10:00Z' } }, { drainStart: T0 + 20 * M }],
    ['unparsable drain-start reads as now', { annotations: { 'kubeaws.io/drain-start': 'yesterday' } }, { drainStart: now, drainStartInvalid: true }],
    ['drain-start > 5 min ahead reads as now', { annotations: { 'kubeaws.io/drain-start': formatTime(now + 5 * M + 1000) } }, { drainStart: now, drainStartInvalid: true }],
    ['drain-start exactly 5 min ahead is kept', { annotations: { 'kubeaws.io/drain-start': formatTime(now + 5 * M) } }, { drainStart: now + 5 * M, drainStartInvalid: false }],
    ['CLM last-forced-drain', { annotations: { 'cluster-lifecycle-manager.zalando.org/last-forced-drain': '2026-01-01T00:30:00Z' } }, { lastForce: T0 + 30 * M }],
    ['CLC priority alias', { labels: { 'cluster-lifecycle-controller.zalan.do/decommission-priority': '7' } }, { priority: 7 }],
    ['priority out of range', { labels: { 'kubeaws.io/decommission-priority': '1001' } }, { priority: 0, priorityInvalid: true }],
    ['bad interruption record', { annotations: { 'kubeaws.io/interruption': '{' } }, { interruption: undefined, interruptionInvalid: true }],
  ])('%s', (_n, o, expected) => expect(readMarkers(node(o), now)).toMatchObject(expected));
});

describe('nextStep: the state machine', () => {
  const now = T0;
  const s = { now, blocked: false, slotFree: true, terminateInstances: true };
  const taint = { key: 'kubeaws.io/decommission-pending', value: 'requested', effect: 'NoSchedule' };
  const spot: InterruptionRecord = { v: 1, kinds: ['spot-interruption'], eventIds: ['e'], firstSeen: formatTime(T0), deadline: formatTime(T0 + 120_000), stopOnly: false };
  const hook: InterruptionRecord = { ...spot, kinds: ['asg-termination'], deadline: null, lifecycle: { asg: 'g', hook: 'kubeaws-drain', token: 't', heartbeatTimeoutSeconds: 300, holdUntil: formatTime(T0 + H), completedAt: null } };
  const st = (state: string, extra: Partial<NodeView> = {}) => node({ labels: { 'kubeaws.io/lifecycle-state': state }, ...extra });
  it.each<[string, NodeView, Partial<typeof s>, string]>([
    ['ready node: nothing', st('ready'), {}, 'none'],
    ['request: accept', st('decommission-pending'), {}, 'accept'],
    ['request while blocked: nothing (zero writes)', st('decommission-pending'), { blocked: true }, 'none'],
    ['pending with taint: fence', st('decommission-pending', { taints: [taint] }), {}, 'fence'],
    ['pending, no slot', st('decommission-pending', { taints: [taint] }), { slotFree: false }, 'wait-slot'],
    ['pending while blocked', st('decommission-pending', { taints: [taint] }), { blocked: true }, 'none'],
    ['draining: round', st('draining', { taints: [taint] }), {}, 'round'],
    ['drained voluntary: terminate', st('drained', { taints: [taint] }), {}, 'terminate'],
    ['drained with --terminate-instances=false', st('drained', { taints: [taint] }), { terminateInstances: false }, 'none'],
    ['drained spot: AWS terminates', st('drained', { taints: [taint], annotations: { 'kubeaws.io/interruption': JSON.stringify(spot) } }), {}, 'await-aws'],
    ['drained with a hook: complete it', st('drained', { taints: [taint], annotations: { 'kubeaws.io/interruption': JSON.stringify(hook) } }), {}, 'complete-hook'],
    ['terminating: confirm', st('terminating', { taints: [taint] }), {}, 'confirm'],
    ['drained spot stop: waits for the instance to run again', st('drained', { taints: [taint], annotations: { 'kubeaws.io/interruption': JSON.stringify({ ...spot, stopOnly: true }) } }), {}, 'await-restart'],
    ['drained stop-only under a block: still waits', st('drained', { taints: [taint], annotations: { 'kubeaws.io/interruption': JSON.stringify({ ...spot, stopOnly: true }) } }), { blocked: true }, 'await-restart'],
    ['terminating stop-only (older record): waits for the restart', st('terminating', { taints: [taint], annotations: { 'kubeaws.io/interruption': JSON.stringify({ ...spot, stopOnly: true }) } }), {}, 'await-restart'],
    ['draining stop-only: drained like any interruption', st('draining', { taints: [taint], annotations: { 'kubeaws.io/interruption': JSON.stringify({ ...spot, stopOnly: true }) } }), {}, 'round'],
    ['abort: label set back to ready', st('ready', { taints: [taint] }), {}, 'abort'],
    ['abort: label removed', node({ taints: [taint], annotations: { 'kubeaws.io/drain-start': formatTime(T0) } }), {}, 'abort'],
    ['abort too late', node({ labels: { 'lifecycle-status': 'ready', 'kubeaws.io/lifecycle-state': 'terminating' }, taints: [taint] }), {}, 'abort-too-late'],
    ['typo in the state', st('drainig'), {}, 'invalid-state'],
  ])('%s', (_n, n, over, kind) => {
    expect(nextStep(n, readMarkers(n, now), { ...s, ...over }).kind).toBe(kind);
  });
  it('a voluntary draining node pauses under a block, an involuntary one does not', () => {
    const v = st('draining', { taints: [taint] });
    expect(nextStep(v, readMarkers(v, now), { ...s, blocked: true })).toEqual({ kind: 'round', paused: true });
    const i = st('draining', { taints: [taint], annotations: { 'kubeaws.io/interruption': JSON.stringify(spot) } });
    expect(nextStep(i, readMarkers(i, now), { ...s, blocked: true })).toEqual({ kind: 'round', paused: false });
  });
});

describe('startOrder', () => {
  it('priority descending, then creation, then name', () => {
    expect(startOrder([
      { name: 'c', createdAt: 2, priority: 0 },
      { name: 'b', createdAt: 1, priority: 0 },
      { name: 'a', createdAt: 1, priority: 0 },
      { name: 'z', createdAt: 9, priority: 10 },
    ])).toEqual(['z', 'a', 'b', 'c']);
  });
});

describe('terminationFollowUp', () => {
  it.each<[string | undefined, number | undefined, number, boolean, string]>([
    [undefined, T0, T0, true, 'terminated'],
    ['terminated', T0, T0, true, 'terminated'],
    ['running', T0, T0 + 5 * M - 1, true, 'wait'],
    ['running', T0, T0 + 5 * M, true, 'call'],
    ['shutting-down', T0, T0 + H, true, 'wait'],
    ['running', undefined, T0, true, 'call'],
    ['running', undefined, T0, false, 'wait'],
  ])('%s requested %s now %s own %s', (state, req, now, own, r) => expect(terminationFollowUp(state, req, now, own)).toBe(r));
});

describe('terminate call backoff', () => {
  it('10 s doubling to 5 min', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 100].map(terminateRetryDelay)).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  });
  it.each<[string, number, number | undefined, string]>([
    ['failed call: not before the retry time', T0 + 9_999, T0 + 10_000, 'wait'],
    ['failed call: retried at the retry time (inclusive)', T0 + 10_000, T0 + 10_000, 'call'],
    ['no failure: the 5 min rule', T0 + 10_000, undefined, 'wait'],
  ])('%s', (_n, now, retryAt, r) => expect(terminationFollowUp('running', T0, now, true, retryAt)).toBe(r));
  it('never retries once EC2 stops reporting the instance as terminable', () => {
    expect(terminationFollowUp('shutting-down', T0, T0 + H, true, T0 + 10_000)).toBe('wait');
  });
});

describe('stopOnlyFollowUp', () => {
  const spotStop: InterruptionRecord = { v: 1, kinds: ['spot-interruption'], eventIds: ['e'], firstSeen: formatTime(T0), deadline: formatTime(T0 + 120_000), stopOnly: true };
  const seen = { ...spotStop, stoppedAt: formatTime(T0 + 130_000) };
  const stateChange = { ...spotStop, kinds: ['state-change'] };
  it.each<[string, string | undefined, InterruptionRecord, boolean, string, number?]>([
    ['not found', undefined, spotStop, true, 'terminated'],
    ['terminated after all', 'terminated', seen, true, 'terminated'],
    ['still running before the stop: never cleared early', 'running', spotStop, true, 'wait'],
    ['first sight of stopping', 'stopping', spotStop, false, 'mark-stopped'],
    ['first sight of stopped', 'stopped', spotStop, false, 'mark-stopped'],
    ['stopped, already recorded', 'stopped', seen, false, 'wait'],
    ['pending again', 'pending', seen, false, 'wait'],
    ['running again, Node not Ready yet', 'running', seen, false, 'wait'],
    ['running again and Ready: clear', 'running', seen, true, 'clear'],
    ['a stopping state change proves the stop', 'running', stateChange, true, 'clear'],
    ['shutting-down: wait for terminated', 'shutting-down', seen, true, 'wait'],
    // No stop ever seen (e.g. the warning redelivered after the stop and restart): running well past the deadline.
    ['running, no stop seen, 1 ms before deadline + 5 min', 'running', spotStop, true, 'wait', T0 + 120_000 + 5 * M - 1],
    ['running, no stop seen, at deadline + 5 min (inclusive)', 'running', spotStop, true, 'clear', T0 + 120_000 + 5 * M],
    ['running past the deadline, Node not Ready', 'running', spotStop, false, 'wait', T0 + 120_000 + 5 * M],
    ['stopping past the deadline: first sight', 'stopping', spotStop, true, 'mark-stopped', T0 + H],
    ['pending past the deadline', 'pending', spotStop, true, 'wait', T0 + H],
    ['record without deadline never clears by time', 'running', { ...spotStop, deadline: null }, true, 'wait', T0 + H],
  ])('%s', (_n, ec2, r, ready, out, now = T0 + 130_000) => expect(stopOnlyFollowUp(ec2, r, ready, now)).toBe(out));
});

describe('instanceIdOf', () => {
  it.each([
    ['aws:///eu-central-1a/i-0123456789abcdef0', 'i-0123456789abcdef0'],
    ['aws:///eu-central-1a/i-01234567', 'i-01234567'],
    ['aws:///eu-central-1a/i-0123', undefined],
    ['kwok://n1', undefined],
    [undefined, undefined],
  ])('%s', (p, id) => expect(instanceIdOf(p)).toBe(id));
});

describe('classifyMessage', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  const o = { now, spotNoticeMs: 120_000, hookName: 'kubeaws-drain', rebalanceAction: 'fence' as const };
  const env = (source: string, dt: string, detail: unknown, extra: object = {}) =>
    JSON.stringify({ version: '0', id: 'ev-1', source, 'detail-type': dt, time: '2026-01-01T12:00:00Z', account: '1', region: 'eu-central-1', resources: [], detail, ...extra });
  const iid = 'i-0123456789abcdef0';
  const hookDetail = { EC2InstanceId: iid, AutoScalingGroupName: 'g', LifecycleHookName: 'kubeaws-drain', LifecycleActionToken: 'tok', LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING' };
  it.each<[string, string, object]>([
    ['spot terminate', env('aws.ec2', 'EC2 Spot Instance Interruption Warning', { 'instance-id': iid, 'instance-action': 'terminate' }), { outcome: 'event', kind: 'spot-interruption', deadline: now + 120_000, stopOnly: false, instanceIds: [iid] }],
    ['spot stop', env('aws.ec2', 'EC2 Spot Instance Interruption Warning', { 'instance-id': iid, 'instance-action': 'stop' }), { outcome: 'event', stopOnly: true }],
    ['spot bad action', env('aws.ec2', 'EC2 Spot Instance Interruption Warning', { 'instance-id': iid, 'instance-action': 'reboot' }), { outcome: 'invalid', field: 'detail.instance-action' }],
    ['spot bad instance id', env('aws.ec2', 'EC2 Spot Instance Interruption Warning', { 'instance-id': 'i-xyz', 'instance-action': 'terminate' }), { outcome: 'invalid', field: 'detail.instance-id' }],
    ['rebalance', env('aws.ec2', 'EC2 Instance Rebalance Recommendation', { 'instance-id': iid }), { outcome: 'event', kind: 'rebalance-recommendation', deadline: null }],
    ['hook', env('aws.autoscaling', 'EC2 Instance-terminate Lifecycle Action', hookDetail), { outcome: 'event', kind: 'asg-termination', lifecycle: { asg: 'g', hook: 'kubeaws-drain', token: 'tok' } }],
    ['hook of another name', env('aws.autoscaling', 'EC2 Instance-terminate Lifecycle Action', { ...hookDetail, LifecycleHookName: 'other' }), { outcome: 'ignored', kind: 'asg-termination' }],
    ['hook missing token', env('aws.autoscaling', 'EC2 Instance-terminate Lifecycle Action', { ...hookDetail, LifecycleActionToken: undefined }), { outcome: 'invalid', field: 'LifecycleActionToken' }],
    ['launch hook', env('aws.autoscaling', 'EC2 Instance-launch Lifecycle Action', {}), { outcome: 'ignored', kind: 'asg-launch' }],
    ['direct ASG notification', JSON.stringify({ ...hookDetail, Time: '2026-01-01T12:00:00Z', RequestId: 'r1', Service: 'AWS Auto Scaling' }), { outcome: 'event', kind: 'asg-termination', eventId: 'r1' }],
    ['test notification', JSON.stringify({ Event: 'autoscaling:TEST_NOTIFICATION', AutoScalingGroupName: 'g' }), { outcome: 'ignored', kind: 'test-notification' }],
    ['state stopping', env('aws.ec2', 'EC2 Instance State-change Notification', { 'instance-id': iid, state: 'stopping' }), { outcome: 'event', kind: 'state-change', reason: 'instance-stopping', stopOnly: true, deadline: now }],
    ['state terminated', env('aws.ec2', 'EC2 Instance State-change Notification', { 'instance-id': iid, state: 'terminated' }), { outcome: 'event', reason: 'instance-terminated', stopOnly: false }],
    ['state running', env('aws.ec2', 'EC2 Instance State-change Notification', { 'instance-id': iid, state: 'running' }), { outcome: 'ignored' }],
    ['health scheduled change', env('aws.health', 'AWS Health Event', { service: 'EC2', eventTypeCategory: 'scheduledChange', startTime: 'Sat, 03 Jan 2026 10:00:00 GMT', affectedEntities: [{ entityValue: iid }, { entityValue: iid }] }), { outcome: 'event', kind: 'scheduled-change', deadline: Date.parse('2026-01-03T10:00:00Z'), instanceIds: [iid] }],
    ['health other service', env('aws.health', 'AWS Health Event', { service: 'RDS', eventTypeCategory: 'scheduledChange', startTime: '2026-01-03T10:00:00Z', affectedEntities: [] }), { outcome: 'ignored' }],
    ['health bad startTime', env('aws.health', 'AWS Health Event', { service: 'EC2', eventTypeCategory: 'scheduledChange', startTime: 'soon', affectedEntities: [] }), { outcome: 'invalid', field: 'detail.startTime' }],
    ['SNS-wrapped', JSON.stringify({ Type: 'Notification', Message: env('aws.ec2', 'EC2 Instance Rebalance Recommendation', { 'instance-id': iid }) }), { outcome: 'event', kind: 'rebalance-recommendation' }],
    ['SNS-wrapped garbage', JSON.stringify({ Type: 'Notification', Message: 'nope' }), { outcome: 'invalid', field: 'Message' }],
    ['not JSON', 'hello', { outcome: 'invalid', field: 'body' }],
    ['JSON array', '[]', { outcome: 'invalid', field: 'body' }],
    ['empty id', env('aws.ec2', 'x', {}, { id: '' }), { outcome: 'invalid', field: 'id' }],
    ['bad time', env('aws.ec2', 'x', {}, { time: 'now' }), { outcome: 'invalid', field: 'time' }],
    ['detail not an object', env('aws.ec2', 'x', 'str'), { outcome: 'invalid', field: 'detail' }],
    ['unknown detail-type', env('aws.ec2', 'EC2 AMI State Change', {}), { outcome: 'unsupported' }],
    ['time far in the future is clamped to now', env('aws.ec2', 'EC2 Spot Instance Interruption Warning', { 'instance-id': iid, 'instance-action': 'terminate' }, { time: '2026-01-01T12:05:01Z' }), { time: now, deadline: now + 120_000 }],
  ])('%s', (_n, body, expected) => expect(classifyMessage(body, o)).toMatchObject(expected));
  it('rebalance with action ignore', () => {
    expect(classifyMessage(env('aws.ec2', 'EC2 Instance Rebalance Recommendation', { 'instance-id': iid }), { ...o, rebalanceAction: 'ignore' }).outcome).toBe('ignored');
  });
  it('RFC 1123 and RFC 3339 dates', () => {
    expect(parseEventTime('Sat, 03 Jan 2026 10:00:00 GMT')).toBe(Date.parse('2026-01-03T10:00:00Z'));
    expect(parseEventTime('2026-01-03T10:00:00+01:00')).toBe(Date.parse('2026-01-03T09:00:00Z'));
    expect(parseEventTime('tomorrow')).toBeUndefined();
  });
});

describe('mergeRecord', () => {
  const now = T0;
  it('creates, merges, keeps the earliest deadline, dedupes by event id, keeps 20 ids', () => {
    const a = mergeRecord(undefined, { kind: 'spot-interruption', eventId: 'e1', deadline: T0 + 120_000, stopOnly: false }, now);
    expect(a.record).toEqual({ v: 1, kinds: ['spot-interruption'], eventIds: ['e1'], firstSeen: formatTime(T0), deadline: formatTime(T0 + 120_000), stopOnly: false });
    const b = mergeRecord(a.record, { kind: 'state-change', eventId: 'e2', deadline: T0 + 60_000, stopOnly: true }, now);
    expect(b.record.kinds).toEqual(['spot-interruption', 'state-change']);
    expect(b.record.deadline).toBe(formatTime(T0 + 60_000));
    expect(b.record.stopOnly).toBe(false);
    expect(mergeRecord(b.record, { kind: 'state-change', eventId: 'e2', deadline: null, stopOnly: true }, now).duplicate).toBe(true);
    let r = b.record;
    for (let i = 0; i < 30; i++) r = mergeRecord(r, { kind: 'rebalance-recommendation', eventId: `x${i}`, deadline: null, stopOnly: false }, now).record;
    expect(r.eventIds).toHaveLength(20);
    expect(r.eventIds[19]).toBe('x29');
    expect(JSON.stringify(r).length).toBeLessThanOrEqual(4096);
  });
});

describe('prepared replacement', () => {
  const rec = { asg: 'pool-a', targetDesired: 4, readyBefore: 3, requestedAt: formatTime(T0), skipped: false };
  it('newReplacement: desired + 1, skipped at the maximum', () => {
    expect(newReplacement({ name: 'pool-a', desired: 3, max: 5 }, 3, T0)).toEqual(rec);
    expect(newReplacement({ name: 'pool-a', desired: 5, max: 5 }, 5, T0)).toMatchObject({ targetDesired: 6, skipped: true });
  });
  it('parseReplacement: valid records only', () => {
    expect(parseReplacement(JSON.stringify(rec))).toEqual(rec);
    for (const bad of ['{', 'null', JSON.stringify({ ...rec, targetDesired: '4' }), JSON.stringify({ ...rec, requestedAt: 'now' }), JSON.stringify({ ...rec, asg: '' })])
      expect(parseReplacement(bad)).toBeUndefined();
  });
  it.each<[string, number | undefined, number, number, string]>([
    ['desired below the target: set it', 3, 3, T0, 'set-desired'],
    ['desired already at the target (restart): never set twice', 4, 3, T0, 'wait'],
    ['one more Ready unmarked node: ready', 4, 4, T0 + M, 'ready'],
    ['timeout reached (inclusive)', 4, 3, T0 + 15 * M, 'timeout'],
    ['just before the timeout', 4, 3, T0 + 15 * M - 1, 'wait'],
    ['ASG unknown: wait for the timeout', undefined, 0, T0, 'wait'],
  ])('%s', (_n, desired, ready, now, out) => expect(replacementStep(rec, desired, ready, now, 15 * M)).toBe(out));
  it('skipped: fence at once', () => expect(replacementStep({ ...rec, skipped: true }, 5, 0, T0, 15 * M)).toBe('ready'));
  it('a replacement wait holds a voluntary slot', () => {
    const taint = { key: 'kubeaws.io/decommission-pending', value: 'requested', effect: 'NoSchedule' };
    const waiting = node({ labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' }, taints: [taint], annotations: { 'kubeaws.io/replacement': JSON.stringify(rec) } });
    expect(holdsSlot(readMarkers(waiting, T0))).toBe(true);
    const pending = node({ labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' }, taints: [taint] });
    expect(holdsSlot(readMarkers(pending, T0))).toBe(false);
    const bad = node({ labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' }, taints: [taint], annotations: { 'kubeaws.io/replacement': '{' } });
    expect(readMarkers(bad, T0)).toMatchObject({ replacement: undefined, replacementInvalid: true });
  });
});

describe('nodeInputProblems: every bad Node input names its field, value, what is valid and the fallback', () => {
  const now = T0;
  it.each<[string, Partial<NodeView>, { reason: string; field: string; value: string; fallback: RegExp }[]]>([
    ['clean node', { labels: { 'kubeaws.io/lifecycle-state': 'draining', 'kubeaws.io/decommission-priority': '10' }, annotations: { 'kubeaws.io/drain-start': formatTime(T0) } }, []],
    ['drain-start unparsable', { annotations: { 'kubeaws.io/drain-start': 'yesterday' } }, [{ reason: 'InvalidAnnotation', field: 'kubeaws.io/drain-start', value: 'yesterday', fallback: /now/ }]],
    ['CLM drain-start alias in the future', { annotations: { 'cluster-lifecycle-manager.zalando.org/drain-start': formatTime(T0 + H) } }, [{ reason: 'InvalidAnnotation', field: 'cluster-lifecycle-manager.zalando.org/drain-start', value: formatTime(T0 + H), fallback: /now/ }]],
    ['last-force-termination unparsable', { annotations: { 'kubeaws.io/last-force-termination': '12:00' } }, [{ reason: 'InvalidAnnotation', field: 'kubeaws.io/last-force-termination', value: '12:00', fallback: /now/ }]],
    ['CLM last-forced-drain alias unparsable', { annotations: { 'cluster-lifecycle-manager.zalando.org/last-forced-drain': 'x' } }, [{ reason: 'InvalidAnnotation', field: 'cluster-lifecycle-manager.zalando.org/last-forced-drain', value: 'x', fallback: /now/ }]],
    ['interruption not JSON', { annotations: { 'kubeaws.io/interruption': '{' } }, [{ reason: 'InvalidAnnotation', field: 'kubeaws.io/interruption', value: '{', fallback: /voluntary/ }]],
    ['replacement not JSON', { annotations: { 'kubeaws.io/replacement': 'asg' } }, [{ reason: 'InvalidAnnotation', field: 'kubeaws.io/replacement', value: 'asg', fallback: /without a replacement/ }]],
    ['node do-not-disrupt not a bool', { annotations: { 'kubeaws.io/do-not-disrupt': 'yes' } }, [{ reason: 'InvalidAnnotation', field: 'kubeaws.io/do-not-disrupt', value: 'yes', fallback: /true/ }]],
    ['Karpenter alias not a bool', { annotations: { 'karpenter.sh/do-not-disrupt': '1' } }, [{ reason: 'InvalidAnnotation', field: 'karpenter.sh/do-not-disrupt', value: '1', fallback: /true/ }]],
    ['decrement not a bool', { annotations: { 'kubeaws.io/decrement-desired-capacity': 'True' } }, [{ reason: 'InvalidAnnotation', field: 'kubeaws.io/decrement-desired-capacity', value: 'True', fallback: /^false$/ }]],
    ['state label typo', { labels: { 'kubeaws.io/lifecycle-state': 'draning' } }, [{ reason: 'InvalidLabel', field: 'kubeaws.io/lifecycle-state', value: 'draning', fallback: /no action/ }]],
    ['priority out of range', { labels: { 'kubeaws.io/decommission-priority': '1001' } }, [{ reason: 'InvalidLabel', field: 'kubeaws.io/decommission-priority', value: '1001', fallback: /^0$/ }]],
    ['CLC priority alias not an integer', { labels: { 'cluster-lifecycle-controller.zalan.do/decommission-priority': 'high' } }, [{ reason: 'InvalidLabel', field: 'cluster-lifecycle-controller.zalan.do/decommission-priority', value: 'high', fallback: /^0$/ }]],
    ['priority at the edges is valid', { labels: { 'kubeaws.io/decommission-priority': '-1000' } }, []],
    [
      'several at once',
      { labels: { 'kubeaws.io/lifecycle-state': 'x' }, annotations: { 'kubeaws.io/drain-start': 'y' } },
      [
        { reason: 'InvalidAnnotation', field: 'kubeaws.io/drain-start', value: 'y', fallback: /now/ },
        { reason: 'InvalidLabel', field: 'kubeaws.io/lifecycle-state', value: 'x', fallback: /no action/ },
      ],
    ],
  ])('%s', (_name, o, want) => {
    const n = node(o);
    const got = nodeInputProblems(n, readMarkers(n, now));
    expect(got.map(({ reason, field, value }) => ({ reason, field, value }))).toEqual(want.map(({ reason, field, value }) => ({ reason, field, value })));
    got.forEach((g, i) => {
      expect(g.fallback).toMatch(want[i].fallback);
      expect(g.expected.length).toBeGreaterThan(0);
    });
  });
});

describe('podInputProblem', () => {
  it.each<[string, string | undefined, boolean]>([
    ['absent', undefined, false],
    ['true', 'true', false],
    ['false', 'false', false],
    ['a duration', '4h', false],
    ['not a bool or duration', 'forever', true],
    ['upper case', 'TRUE', true],
  ])('%s', (_name, v, bad) => {
    const got = podInputProblem(pod('p', { doNotDisrupt: v }), T0);
    if (!bad) expect(got).toBeUndefined();
    else expect(got).toMatchObject({ reason: 'InvalidAnnotation', field: 'kubeaws.io/do-not-disrupt', value: v, expected: expect.stringMatching(/duration/) });
  });
});
