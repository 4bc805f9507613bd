import { AnnotationParser } from './annotations';
import { type Decision, decide } from './decide';
import type { Settings } from './settings';
import type { Workload } from './workload';
import { settings, workload } from '../test/fixtures/workloads';

const NOW = Date.parse('2025-06-02T12:00:00Z'); // a Monday, 14:00 in Berlin
const ORIG = 'downscaler/original-replicas';

/** Always down by flag. */
const DOWN = ['--default-uptime=never'];
/** Always up by flag. */
const UP = ['--default-uptime=always'];

const w = (o: Partial<Workload> = {}): Workload => workload(o);

function hpa(o: Partial<Workload> = {}): Workload {
  return w({
    kind: 'HorizontalPodAutoscaler',
    name: 'web',
    uid: 'h1',
    replicas: undefined,
    minReplicas: 2,
    maxReplicas: 10,
    target: { kind: 'Deployment', name: 'web' },
    ...o,
  });
}

interface Opts {
  settings?: Settings;
  ns?: Record<string, string>;
  hpas?: Workload[];
  targets?: Workload[];
  now?: number;
}

function run(obj: Workload, o: Opts = {}): Decision {
  const hpas = o.hpas ?? [];
  const targets = o.targets ?? [];
  return decide({
    obj,
    namespaceAnnotations: o.ns,
    settings: o.settings ?? settings(),
    parser: new AnnotationParser(),
    now: o.now ?? NOW,
    hpasFor: (x) =>
      hpas.filter((h) => h.target?.kind === x.kind && h.target.name === x.name && h.namespace === x.namespace),
    targetOf: (h) =>
      targets.find((t) => t.kind === h.target?.kind && t.name === h.target?.name && t.namespace === h.namespace),
  });
}

/** Applies a decision's patch to a workload view (as the API server would). */
function apply(obj: Workload, d: Decision): Workload {
  const next: Workload = { ...obj, annotations: { ...obj.annotations } };
  for (const [k, v] of Object.entries(d.patch?.metadata?.annotations ?? {})) {
    if (v === null) delete next.annotations[k];
    else next.annotations[k] = v as string;
  }
  if (d.patch?.spec?.replicas !== undefined) next.replicas = d.patch.spec.replicas;
  if (d.patch?.spec?.suspend !== undefined) next.suspend = d.patch.spec.suspend;
  if (d.patch?.spec?.minReplicas !== undefined) next.minReplicas = d.patch.spec.minReplicas;
  return next;
}

describe('action table (DS-ACTIONS)', () => {
  const down = settings(DOWN);
  const up = settings(UP);
  it.each<[string, Workload, Settings, Partial<Decision>, object | undefined]>([
    [
      'down, no orig, current > T: scale down',
      w(),
      down,
      { action: 'patch', reason: 'ScaleDown', direction: 'down', from: 3, to: 0 },
      { metadata: { annotations: { [ORIG]: '3' } }, spec: { replicas: 0 } },
    ],
    ['down, current = T: none', w({ replicas: 0 }), down, { action: 'none', reason: 'AtTarget' }, undefined],
    [
      'down, a team set 0 below T: never scaled up in downtime',
      w({ replicas: 0 }),
      settings([...DOWN, '--downtime-replicas=1']),
      { action: 'none', reason: 'AtTarget' },
      undefined,
    ],
    [
      'down, orig present and different: overwritten',
      w({ replicas: 5, annotations: { [ORIG]: '3' } }),
      down,
      { action: 'patch', reason: 'ScaleDown', overwritesOriginal: true },
      { metadata: { annotations: { [ORIG]: '5' } }, spec: { replicas: 0 } },
    ],
    [
      'down, orig present and equal: rewritten, no overwrite',
      w({ replicas: 3, annotations: { [ORIG]: '3' } }),
      down,
      { action: 'patch', overwritesOriginal: false },
      { metadata: { annotations: { [ORIG]: '3' } }, spec: { replicas: 0 } },
    ],
    [
      'down, in grace: none',
      w({ creationMs: NOW - 15 * 60_000 }),
      down,
      { action: 'none', reason: 'Grace', category: 'excluded' },
      undefined,
    ],
    [
      'down, just past grace: scale down',
      w({ creationMs: NOW - 15 * 60_000 - 1 }),
      down,
      { action: 'patch', reason: 'ScaleDown' },
      { metadata: { annotations: { [ORIG]: '3' } }, spec: { replicas: 0 } },
    ],
    [
      'up, orig present, current < orig: restore',
      w({ replicas: 0, annotations: { [ORIG]: '3' } }),
      up,
      { action: 'patch', reason: 'ScaleUp', direction: 'up', from: 0, to: 3 },
      { metadata: { annotations: { [ORIG]: null } }, spec: { replicas: 3 } },
    ],
    [
      'up, in grace: restore anyway',
      w({ replicas: 0, creationMs: NOW, annotations: { [ORIG]: '3' } }),
      up,
      { action: 'patch', reason: 'ScaleUp' },
      { metadata: { annotations: { [ORIG]: null } }, spec: { replicas: 3 } },
    ],
    [
      'up, current ≥ orig: remove orig only',
      w({ replicas: 5, annotations: { [ORIG]: '3' } }),
      up,
      { action: 'patch', reason: 'RestoreSkipped', direction: 'clear' },
      { metadata: { annotations: { [ORIG]: null } } },
    ],
    ['up, no orig: none', w({ replicas: 0 }), up, { action: 'none', reason: 'NoOriginal' }, undefined],
    [
      'hold (outside both periods): none',
      w(),
      settings(['--upscale-period=Mon-Mon 00:00-01:00 UTC']),
      { action: 'none', reason: 'Hold', mode: 'hold' },
      undefined,
    ],
  ])('%s', (_name, obj, s, expected, patch) => {
    const d = run(obj, { settings: s });
    expect(d).toMatchObject(expected);
    expect(d.patch).toEqual(patch);
    // every action is a fixed point
    if (d.action === 'patch') expect(run(apply(obj, d), { settings: s }).action).toBe('none');
  });

  it('names the deciding scope and item in the scale Events', () => {
    const d = run(w(), { settings: settings(['--default-uptime=Mon-Fri 07:00-09:00 UTC, Sat-Sun 00:00-01:00 UTC']) });
    expect(d.onWrite).toEqual([
      { type: 'Normal', reason: 'ScaleDown', message: '3→0: outside uptime (flag --default-uptime)', on: 'object' },
    ]);
    const e = run(w(), {
      settings: settings([], { DEFAULT_DOWNTIME: 'Sat-Sun 00:00-24:00 UTC, Mon-Mon 11:00-13:00 UTC' }),
    });
    expect(e.onWrite[0]!.message).toBe('3→0: inside downtime (env DEFAULT_DOWNTIME item 2)');
    const o = run(w({ replicas: 5, annotations: { [ORIG]: '3' } }), { settings: settings(DOWN) });
    expect(o.onWrite.map((n) => [n.type, n.reason, n.message])).toEqual([
      ['Normal', 'ScaleDown', `5→0: outside uptime (flag --default-uptime); replaced ${ORIG} 3 with 5`],
      ['Warning', 'OriginalReplicasOverwritten', `${ORIG} 3→5: the object was scaled to 5 during downtime`],
    ]);
    const r = run(w({ replicas: 5, annotations: { [ORIG]: '3' } }), { settings: settings(UP) });
    expect(r.onWrite[0]).toMatchObject({ reason: 'RestoreSkipped' });
  });

  it('grace counts from the deployment-time annotation when configured', () => {
    const s = settings([...DOWN, '--deployment-time-annotation=deployment-time']);
    const fresh = w({ annotations: { 'deployment-time': new Date(NOW - 60_000).toISOString() } });
    expect(run(fresh, { settings: s })).toMatchObject({ action: 'none', reason: 'Grace' });
    const stale = w({ annotations: { 'deployment-time': '2025-01-01T00:00:00Z' } });
    expect(run(stale, { settings: s })).toMatchObject({ action: 'patch' });
    const bad = w({ annotations: { 'deployment-time': 'yesterday' } });
    expect(run(bad, { settings: s })).toMatchObject({ action: 'skip', reason: 'InvalidAnnotation' });
    const perScope = run(w({ creationMs: NOW - 20 * 60_000 }), {
      settings: s,
      ns: { 'downscaler/grace-period': '1h' },
    });
    expect(perScope).toMatchObject({ action: 'none', reason: 'Grace' });
  });
});

describe('scope precedence (DS-SCOPES)', () => {
  type Row = [
    string,
    { obj?: Record<string, string>; ns?: Record<string, string>; argv?: string[]; env?: Record<string, string> },
    'up' | 'down' | 'hold' | 'excluded' | 'skip',
    string?,
  ];
  const rows: Row[] = [
    ['built-in default: up', {}, 'up', 'default'],
    ['env only', { env: { DEFAULT_UPTIME: 'never' } }, 'down', 'env'],
    ['flag beats env', { argv: ['--default-uptime=always'], env: { DEFAULT_UPTIME: 'never' } }, 'up', 'flag'],
    [
      'flag group shadows the env group as a whole',
      { argv: ['--default-downtime=Tue-Tue 00:00-24:00 UTC'], env: { DEFAULT_UPTIME: 'never' } },
      'up',
      'flag',
    ],
    [
      'namespace beats flags',
      { ns: { 'downscaler/downtime': 'Mon-Mon 00:00-24:00 UTC' }, argv: UP },
      'down',
      'namespace',
    ],
    [
      'workload beats namespace (whole group: workload uptime, namespace downtime ignored)',
      {
        obj: { 'downscaler/uptime': 'Mon-Fri 08:00-18:00 UTC' },
        ns: { 'downscaler/downtime': 'Mon-Mon 00:00-24:00 UTC' },
      },
      'up',
      'workload',
    ],
    [
      'uptime + downtime in one scope: downtime wins on overlap',
      {
        obj: {
          'downscaler/uptime': 'Mon-Fri 08:00-18:00 UTC',
          'downscaler/downtime': '2025-06-02T00:00:00Z - 2025-06-03T00:00:00Z',
        },
      },
      'down',
      'workload',
    ],
    [
      'period keys: only upscale matches → up',
      { obj: { 'downscaler/upscale-period': 'Mon-Mon 11:00-13:00 UTC' } },
      'up',
      'workload',
    ],
    [
      'period keys: only downscale matches → down',
      { obj: { 'downscaler/downscale-period': 'Mon-Mon 11:00-13:00 UTC' } },
      'down',
      'workload',
    ],
    [
      'period keys: neither → hold',
      { obj: { 'downscaler/downscale-period': 'Tue-Tue 11:00-13:00 UTC' } },
      'hold',
      'workload',
    ],
    [
      'period keys: both → hold + ConflictingSchedule',
      {
        obj: {
          'downscaler/downscale-period': 'Mon-Mon 11:00-13:00 UTC',
          'downscaler/upscale-period': 'Mon-Mon 00:00-24:00 UTC',
        },
      },
      'hold',
    ],
    ['force-uptime beats the schedule', { obj: { 'downscaler/force-uptime': 'true' }, argv: DOWN }, 'up', 'workload'],
    [
      'force group: workload force-uptime false stops the namespace force-downtime',
      { obj: { 'downscaler/force-uptime': 'false' }, ns: { 'downscaler/force-downtime': 'true' } },
      'up',
      'default',
    ],
    [
      'force-downtime by namespace spec while it matches',
      { ns: { 'downscaler/force-downtime': 'Mon-Mon 11:00-13:00 UTC' } },
      'down',
      'namespace',
    ],
    ['force-downtime by env', { env: { FORCE_DOWNTIME: 'true' } }, 'down', 'env'],
    [
      'both forces active → hold + ConflictingForce',
      { obj: { 'downscaler/force-uptime': 'true', 'downscaler/force-downtime': 'true' } },
      'hold',
    ],
    ['namespace exclude', { ns: { 'downscaler/exclude': 'true' }, argv: DOWN }, 'excluded'],
    [
      'workload exclude=false stops the namespace exclude',
      { obj: { 'downscaler/exclude': 'false' }, ns: { 'downscaler/exclude': 'true' }, argv: DOWN },
      'down',
    ],
    [
      'exclude while a spec matches',
      { obj: { 'downscaler/exclude': 'Mon-Mon 11:00-13:00 UTC' }, argv: DOWN },
      'excluded',
    ],
    [
      'exclude spec not matching: not excluded',
      { obj: { 'downscaler/exclude': 'Tue-Tue 11:00-13:00 UTC' }, argv: DOWN },
      'down',
    ],
    ['--explicit-include excludes by default', { argv: [...DOWN, '--explicit-include'] }, 'excluded'],
    [
      '--explicit-include: opted in with exclude=false',
      { obj: { 'downscaler/exclude': 'false' }, argv: [...DOWN, '--explicit-include'] },
      'down',
    ],
    [
      'exclude-until on any scope excludes while unexpired',
      { obj: { 'downscaler/exclude': 'false' }, ns: { 'downscaler/exclude-until': '2025-06-03' }, argv: DOWN },
      'excluded',
    ],
    [
      'expired exclude-until does nothing',
      { ns: { 'downscaler/exclude-until': '2025-06-02 12:00' }, argv: DOWN },
      'down',
    ],
    [
      'time and period keys in one annotation scope → ConflictingAnnotations',
      { obj: { 'downscaler/uptime': 'always', 'downscaler/downscale-period': 'never' } },
      'skip',
    ],
  ];
  it.each(rows.map((r) => [r[0], r[1], r[2], r[3] ?? ''] as const))('%s', (_name, r, expected, scope) => {
    const d = run(w({ annotations: r.obj ?? {} }), { ns: r.ns, settings: settings(r.argv ?? [], r.env ?? {}) });
    if (expected === 'excluded') expect(d).toMatchObject({ action: 'none', category: 'excluded' });
    else if (expected === 'skip') expect(d).toMatchObject({ action: 'skip', reason: 'ConflictingAnnotations' });
    else
      expect({ mode: d.mode, scope: d.scope }).toEqual({ mode: expected, ...(scope ? { scope } : { scope: d.scope }) });
  });

  it('emits ConflictingSchedule and ConflictingForce Warnings', () => {
    const a = run(
      w({ annotations: { 'downscaler/downscale-period': 'always', 'downscaler/upscale-period': 'always' } }),
    );
    expect(a.notices.map((n) => n.reason)).toEqual(['ConflictingSchedule']);
    expect(a.category).toBe('skipped');
    const b = run(w({ annotations: { 'downscaler/force-uptime': 'true', 'downscaler/force-downtime': 'true' } }));
    expect(b.notices.map((n) => n.reason)).toEqual(['ConflictingForce']);
  });

  it.each<
    [
      string,
      { obj?: Record<string, string>; ns?: Record<string, string>; argv?: string[]; env?: Record<string, string> },
      number,
    ]
  >([
    ['default 0', {}, 0],
    ['env', { env: { DOWNTIME_REPLICAS: '1' } }, 1],
    ['flag beats env', { argv: ['--downtime-replicas=2'], env: { DOWNTIME_REPLICAS: '1' } }, 2],
    ['namespace beats flag', { ns: { 'downscaler/downtime-replicas': '1' }, argv: ['--downtime-replicas=2'] }, 1],
    [
      'workload beats namespace',
      { obj: { 'downscaler/downtime-replicas': '2' }, ns: { 'downscaler/downtime-replicas': '1' } },
      2,
    ],
    [
      'alias on the workload',
      { obj: { 'downscaler/downscale-replicas': '2' }, ns: { 'downscaler/downtime-replicas': '1' } },
      2,
    ],
    [
      'both spellings with one value',
      { obj: { 'downscaler/downscale-replicas': '1', 'downscaler/downtime-replicas': '1' } },
      1,
    ],
  ])('downtime-replicas per key: %s', (_n, r, T) => {
    const d = run(w({ annotations: r.obj ?? {}, replicas: 5 }), {
      ns: r.ns,
      settings: settings([...DOWN, ...(r.argv ?? [])], r.env ?? {}),
    });
    expect(d).toMatchObject({ action: 'patch', to: T, target: T });
  });
});

describe('bad input (DS-BAD-INPUT)', () => {
  const down = settings(DOWN);
  it.each<[string, Record<string, string>, string, string]>([
    ['syntax', { 'downscaler/uptime': 'Mon-Fri 7:30-18:00 UTC' }, 'InvalidAnnotation', 'Syntax'],
    ['hour out of range', { 'downscaler/uptime': 'Mon-Fri 07:30-25:99 UTC' }, 'InvalidAnnotation', 'TimeOutOfRange'],
    ['zone not allowed', { 'downscaler/downtime': 'Sat-Sun 00:00-24:00 PST' }, 'InvalidAnnotation', 'ZoneNotAllowed'],
    ['exclude "0" is not un-excluded', { 'downscaler/exclude': '0' }, 'InvalidAnnotation', 'InvalidBool'],
    ['exclude "yes"', { 'downscaler/exclude': 'yes' }, 'InvalidAnnotation', 'InvalidBool'],
    ['bad exclude-until', { 'downscaler/exclude-until': 'next week' }, 'InvalidAnnotation', 'InvalidInstant'],
    ['bad grace-period', { 'downscaler/grace-period': '1d' }, 'InvalidAnnotation', 'InvalidDuration'],
    ['downtime-replicas -1', { 'downscaler/downtime-replicas': '-1' }, 'InvalidAnnotation', 'InvalidInteger'],
    ['downtime-replicas 1.5', { 'downscaler/downtime-replicas': '1.5' }, 'InvalidAnnotation', 'InvalidInteger'],
    ['downtime-replicas 50%', { 'downscaler/downtime-replicas': '50%' }, 'InvalidAnnotation', 'Percentage'],
    [
      'both replica spellings differ',
      { 'downscaler/downtime-replicas': '1', 'downscaler/downscale-replicas': '2' },
      'ConflictingAnnotations',
      'Conflict',
    ],
    ['invalid original-replicas', { [ORIG]: 'three' }, 'InvalidAnnotation', 'InvalidInteger'],
    [
      'keyword in list',
      { 'downscaler/uptime': 'always, Mon-Fri 08:00-09:00 UTC' },
      'InvalidAnnotation',
      'KeywordInList',
    ],
  ])('%s on the workload: skipped with a Warning, no write', (_n, annotations, reason, code) => {
    const d = run(w({ annotations }), { settings: down });
    expect(d).toMatchObject({ action: 'skip', reason, category: 'skipped' });
    expect(d.patch).toBeUndefined();
    const warn = d.notices.find((n) => n.type === 'Warning')!;
    expect(warn).toMatchObject({ reason, on: 'object', problem: { code } });
  });

  it('an invalid value on the Namespace blocks every object in it, reported on the Namespace', () => {
    const d = run(w(), { settings: down, ns: { 'downscaler/downtime': 'Mon-Fry 00:00-24:00 UTC' } });
    expect(d).toMatchObject({ action: 'skip', reason: 'InvalidAnnotation' });
    expect(d.notices).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'InvalidAnnotation',
        on: 'namespace',
        message:
          'namespace downscaler/downtime item 1 "Mon-Fry 00:00-24:00 UTC": unknown weekday "Fry": expected one of Mon, Tue, Wed, Thu, Fri, Sat, Sun',
      }),
    ]);
  });

  it('an invalid original-replicas blocks restores too', () => {
    expect(run(w({ replicas: 0, annotations: { [ORIG]: '-1' } }), { settings: settings(UP) })).toMatchObject({
      action: 'skip',
    });
  });

  it('unknown downscaler/* keys warn without blocking', () => {
    const d = run(w({ annotations: { 'downscaler/uptme': 'never', 'downscaler/scale-children': 'true' } }), {
      settings: down,
    });
    expect(d.action).toBe('patch');
    expect(d.notices.map((n) => [n.reason, n.problem?.key])).toEqual([
      ['UnknownAnnotation', 'downscaler/uptme'],
      ['UnknownAnnotation', 'downscaler/scale-children'],
    ]);
    const ns = run(w(), { settings: down, ns: { [ORIG]: '3' } });
    expect(ns.notices).toEqual([expect.objectContaining({ reason: 'UnknownAnnotation', on: 'namespace' })]);
  });

  it('a wrapped time range is reported as a Normal notice', () => {
    const d = run(w({ annotations: { 'downscaler/downtime': 'Mon-Fri 20:00-08:00 Europe/Berlin' } }));
    expect(d.notices).toEqual([
      expect.objectContaining({
        type: 'Normal',
        reason: 'WrappedTimeRange',
        message: expect.stringContaining('00:00-08:00 and 20:00-24:00'),
      }),
    ]);
  });
});

describe('hard filters, owners and exclusion restore (DS-FILTERS, DS-OWNERS, DS-EXCLUDED)', () => {
  it.each<[string, Partial<Workload>, string[], string]>([
    ['excluded namespace (default kube-system)', { namespace: 'kube-system' }, DOWN, 'ExcludedNamespace'],
    ['--namespace list', { namespace: 'other' }, [...DOWN, '--namespace=team,qa'], 'ExcludedNamespace'],
    ['excluded name (default kubeaws-downscaler)', { name: 'kubeaws-downscaler' }, DOWN, 'ExcludedName'],
    ['name regex full match', { name: 'db-main' }, [...DOWN, '--exclude-deployments=db-.*'], 'ExcludedName'],
    [
      'labels not matching',
      { labels: { env: 'prod' } },
      [...DOWN, '--matching-labels=env=(test|dev)'],
      'LabelsNotMatching',
    ],
    ['controlled by an owner', { controller: { kind: 'Foo', name: 'x' } }, DOWN, 'ControlledByOwner'],
  ])('%s', (_n, o, argv, reason) => {
    expect(run(w(o), { settings: settings(argv) })).toMatchObject({ action: 'none', reason, category: 'excluded' });
  });

  it('regexes match fully: "db" does not exclude "db-main"', () => {
    expect(run(w({ name: 'db-main' }), { settings: settings([...DOWN, '--exclude-deployments=db']) }).action).toBe(
      'patch',
    );
    expect(
      run(w({ labels: { env: 'test' } }), { settings: settings([...DOWN, '--matching-labels=env=(test|dev)']) }).action,
    ).toBe('patch');
  });

  it('an excluded object carrying orig is restored once (--restore-excluded), otherwise left alone', () => {
    const obj = w({ replicas: 0, annotations: { [ORIG]: '3', 'downscaler/exclude': 'true' } });
    const d = run(obj, { settings: settings(DOWN) });
    expect(d).toMatchObject({ action: 'patch', reason: 'ScaleUp', patch: { spec: { replicas: 3 } } });
    expect(run(apply(obj, d), { settings: settings(DOWN) })).toMatchObject({
      action: 'none',
      reason: 'ExcludeAnnotation',
    });
    expect(run(obj, { settings: settings([...DOWN, '--restore-excluded=false']) })).toMatchObject({ action: 'none' });
    const hard = w({ namespace: 'kube-system', replicas: 0, annotations: { [ORIG]: '2' } });
    expect(run(hard, { settings: settings(DOWN) })).toMatchObject({ action: 'patch', to: 2 });
  });
});

describe('kinds (DS-KINDS)', () => {
  const all = ['--include-resources=deployments,statefulsets,cronjobs,horizontalpodautoscalers,scaledobjects'];
  it('CronJob: suspend when T = 0, resume on restore; T ≥ 1 leaves it alone', () => {
    const cj = w({ kind: 'CronJob', replicas: undefined, suspend: false });
    const d = run(cj, { settings: settings([...DOWN, ...all]) });
    expect(d.patch).toEqual({ metadata: { annotations: { [ORIG]: '1' } }, spec: { suspend: true } });
    const down = apply(cj, d);
    expect(run(down, { settings: settings([...DOWN, ...all]) }).action).toBe('none');
    expect(run(down, { settings: settings([...UP, ...all]) }).patch).toEqual({
      metadata: { annotations: { [ORIG]: null } },
      spec: { suspend: false },
    });
    expect(run(cj, { settings: settings([...DOWN, ...all, '--downtime-replicas=1']) }).action).toBe('none');
  });

  it('StatefulSet like Deployment', () => {
    expect(run(w({ kind: 'StatefulSet' }), { settings: settings([...DOWN, ...all]) }).patch).toEqual({
      metadata: { annotations: { [ORIG]: '3' } },
      spec: { replicas: 0 },
    });
  });

  it('ScaledObject: pause through KEDA annotation; orig -1 when it was absent', () => {
    const so = w({ kind: 'ScaledObject', replicas: undefined, target: { kind: 'Deployment', name: 'web' } });
    const d = run(so, { settings: settings([...DOWN, ...all]) });
    expect(d.patch).toEqual({
      metadata: { annotations: { [ORIG]: '-1', 'autoscaling.keda.sh/paused-replicas': '0' } },
    });
    const paused = apply(so, d);
    expect(run(paused, { settings: settings([...DOWN, ...all]) }).action).toBe('none');
    expect(run(paused, { settings: settings([...UP, ...all]) }).patch).toEqual({
      metadata: { annotations: { [ORIG]: null, 'autoscaling.keda.sh/paused-replicas': null } },
    });
    const pre = w({
      kind: 'ScaledObject',
      replicas: undefined,
      annotations: { 'autoscaling.keda.sh/paused-replicas': '2' },
    });
    const d2 = run(pre, { settings: settings([...DOWN, ...all]) });
    expect(d2.patch).toEqual({
      metadata: { annotations: { [ORIG]: '2', 'autoscaling.keda.sh/paused-replicas': '0' } },
    });
    expect(run(apply(pre, d2), { settings: settings([...UP, ...all]) }).patch).toEqual({
      metadata: { annotations: { [ORIG]: null, 'autoscaling.keda.sh/paused-replicas': '2' } },
    });
  });

  it('HPA with its own schedule: minReplicas = T ≥ 1; below 1 is InvalidDowntimeReplicas; restore capped', () => {
    const s = settings(all);
    const h = hpa({ annotations: { 'downscaler/uptime': 'never', 'downscaler/downtime-replicas': '1' } });
    const d = run(h, { settings: s });
    expect(d.patch).toEqual({ metadata: { annotations: { [ORIG]: '2' } }, spec: { minReplicas: 1 } });
    const zero = run(hpa({ annotations: { 'downscaler/uptime': 'never' } }), { settings: s });
    expect(zero).toMatchObject({ action: 'skip', reason: 'InvalidDowntimeReplicas' });
    expect(zero.notices[0]).toMatchObject({ type: 'Warning', reason: 'InvalidDowntimeReplicas' });
    const clamped = run(
      hpa({ minReplicas: 1, maxReplicas: 4, annotations: { 'downscaler/uptime': 'always', [ORIG]: '6' } }),
      { settings: s },
    );
    expect(clamped.patch).toEqual({ metadata: { annotations: { [ORIG]: null } }, spec: { minReplicas: 4 } });
    expect(clamped.onWrite.map((n) => n.reason)).toEqual(['ScaleUp', 'RestoreClamped']);
  });
});

describe('HPA-managed workloads (DS-HPA)', () => {
  const withHpa = settings([...DOWN, '--include-resources=deployments,horizontalpodautoscalers']);
  const noHpa = settings(DOWN);

  it('rule 1: several HPAs → no writes, MultipleHPAs', () => {
    const d = run(w(), { settings: withHpa, hpas: [hpa(), hpa({ name: 'web2', uid: 'h2' })] });
    expect(d).toMatchObject({ action: 'skip', reason: 'MultipleHPAs' });
    expect(d.notices[0]).toMatchObject({
      type: 'Warning',
      reason: 'MultipleHPAs',
      message: expect.stringContaining('web, web2'),
    });
    expect(
      run(hpa({ minReplicas: 2 }), { settings: withHpa, hpas: [hpa(), hpa({ name: 'web2' })], targets: [w()] }).action,
    ).toBe('none');
  });

  it('rule 2: HPA controlled by a ScaledObject → ManagedByKEDA, nothing written', () => {
    const keda = hpa({ controller: { kind: 'ScaledObject', name: 'web' } });
    const d = run(w(), { settings: withHpa, hpas: [keda] });
    expect(d).toMatchObject({ action: 'none', reason: 'ManagedByKEDA' });
    expect(d.notices[0]).toMatchObject({ type: 'Normal', reason: 'ManagedByKEDA' });
    expect(run(keda, { settings: withHpa, targets: [w()] })).toMatchObject({ action: 'none', reason: 'ManagedByKEDA' });
  });

  it('rule 3: T = 0 → the workload goes to 0, the HPA is not touched', () => {
    const d = run(w(), { settings: withHpa, hpas: [hpa()] });
    expect(d).toMatchObject({ action: 'patch', to: 0 });
    expect(run(hpa(), { settings: withHpa, targets: [w()], hpas: [hpa()] })).toMatchObject({ action: 'none' });
  });

  it('rule 4: T ≥ 1 without HPAs included → HPAManaged Warning naming both remedies, no write', () => {
    const s = settings([...DOWN, '--downtime-replicas=1']);
    const d = run(w(), { settings: s, hpas: [hpa()] });
    expect(d).toMatchObject({ action: 'none', reason: 'HPAManaged' });
    expect(d.notices[0]!.message).toMatch(/include horizontalpodautoscalers.*downtime-replicas: "0"/);
    void noHpa;
  });

  it('rule 4: T ≥ 1 with HPAs included → delegated: HPA minReplicas = T with orig, DelegatedToHPA on the workload', () => {
    const s = settings([...DOWN, '--downtime-replicas=1', '--include-resources=deployments,horizontalpodautoscalers']);
    const dep = w();
    const h = hpa({ minReplicas: 3 });
    const dw = run(dep, { settings: s, hpas: [h] });
    expect(dw).toMatchObject({ action: 'none', reason: 'DelegatedToHPA', delegate: { mode: 'down', target: 1 } });
    const dh = run(h, { settings: s, hpas: [h], targets: [dep] });
    expect(dh.patch).toEqual({ metadata: { annotations: { [ORIG]: '3' } }, spec: { minReplicas: 1 } });
    expect(dh.onWrite.map((n) => [n.reason, n.on])).toEqual([
      ['ScaleDown', 'object'],
      ['DelegatedToHPA', 'target'],
    ]);
    const lowered = apply(h, dh);
    expect(run(lowered, { settings: s, hpas: [lowered], targets: [dep] }).action).toBe('none');
    const up = settings(['--downtime-replicas=1', '--include-resources=deployments,horizontalpodautoscalers']);
    expect(run(lowered, { settings: up, hpas: [lowered], targets: [dep] }).patch).toEqual({
      metadata: { annotations: { [ORIG]: null } },
      spec: { minReplicas: 3 },
    });
  });

  it('rule 4: an excluded HPA is not delegated to', () => {
    const s = settings([...DOWN, '--downtime-replicas=1', '--include-resources=deployments,horizontalpodautoscalers']);
    const h = hpa({ annotations: { 'downscaler/exclude': 'true' } });
    expect(run(w(), { settings: s, hpas: [h] })).toMatchObject({ reason: 'HPAManaged' });
  });

  it('rule 5: an HPA with its own schedule is evaluated on its own chain and not delegated to', () => {
    const s = settings(['--downtime-replicas=1', '--include-resources=deployments,horizontalpodautoscalers']);
    const h = hpa({ annotations: { 'downscaler/downtime': 'Mon-Mon 00:00-24:00 UTC' } });
    expect(run(h, { settings: s, targets: [w()] })).toMatchObject({
      action: 'patch',
      scope: 'hpa',
      patch: { spec: { minReplicas: 1 } },
    });
    // the upstream recipe: annotate the HPA, exclude the Deployment
    const dep = w({ annotations: { 'downscaler/exclude': 'true', 'downscaler/downtime': 'always' } });
    expect(run(dep, { settings: s, hpas: [h] })).toMatchObject({ action: 'none', reason: 'ExcludeAnnotation' });
    const notExcluded = w({ annotations: { 'downscaler/downtime': 'always' } });
    expect(run(notExcluded, { settings: s, hpas: [h] })).toMatchObject({ reason: 'HPAManaged' });
  });

  it('an HPA carrying orig whose target left scope is restored', () => {
    const s = settings([...DOWN, '--downtime-replicas=1', '--include-resources=deployments,horizontalpodautoscalers']);
    const h = hpa({ minReplicas: 1, annotations: { [ORIG]: '3' } });
    const gone = run(h, { settings: s, hpas: [h], targets: [] });
    expect(gone).toMatchObject({ action: 'patch', reason: 'ScaleUp', patch: { spec: { minReplicas: 3 } } });
    const excluded = run(h, {
      settings: s,
      hpas: [h],
      targets: [w({ annotations: { 'downscaler/exclude': 'true' } })],
    });
    expect(excluded).toMatchObject({ action: 'patch', reason: 'ScaleUp' });
  });
});
