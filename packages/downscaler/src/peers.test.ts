/**
 * Vectors from the peers' own test suites and behaviour (hjacobs/kube-downscaler, caas-team/py-kube-downscaler,
 * caas-team/GoKubeDownscaler, kedacore/keda) where the downscaler used to differ without saying so: a KEDA
 * ScaledObject's target (also while KEDA's HPA is gone, docs/downscaler.md#ds-keda), Deployments owned by a Zalando
 * Stack (#ds-owners), CronJobs GoKubeDownscaler suspended (#ds-upstream), capitalised `Until` (#ds-grammar), and a
 * restore only of what the downscaler itself left (#ds-taken-over).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { AnnotationParser } from './annotations';
import { type Decision, decide } from './decide';
import { parseSpec } from './grammar';
import type { Settings } from './settings';
import { type Workload, toWorkload } from './workload';
import { settings, workload } from '../test/fixtures/workloads';

const NOW = Date.parse('2025-06-02T12:00:00Z'); // a Monday
const ORIG = 'downscaler/original-replicas';
const DOCS = readFileSync(path.resolve(__dirname, '../../../docs/downscaler.md'), 'utf8');

const w = (o: Partial<Workload> = {}): Workload => workload({ name: 'worker', ...o });

function scaledObject(o: Partial<Workload> = {}): Workload {
  return w({
    kind: 'ScaledObject',
    name: 'worker',
    uid: 's1',
    replicas: undefined,
    annotations: { 'autoscaling.keda.sh/paused-replicas': '3' },
    target: { kind: 'Deployment', name: 'worker' },
    ...o,
  });
}

interface World {
  hpas?: Workload[];
  scaledObjects?: Workload[];
  now?: number;
}

function run(obj: Workload, s: Settings, world: World = {}): Decision {
  const same = (x: Workload, t: Workload) =>
    t.target?.kind === x.kind && t.target.name === x.name && t.namespace === x.namespace;
  return decide({
    obj,
    settings: s,
    parser: new AnnotationParser(),
    now: world.now ?? NOW,
    hpasFor: (x) => (world.hpas ?? []).filter((h) => same(x, h)),
    targetOf: () => undefined,
    scaledObjectsFor: (x) => (world.scaledObjects ?? []).filter((so) => same(x, so)),
  });
}

describe('KEDA: a ScaledObject target is never written directly (docs/downscaler.md#ds-keda)', () => {
  const keda = settings(['--include-resources=scaledobjects,deployments', '--default-uptime=never']);

  it('a Deployment targeted by a paused ScaledObject, no HPA, inside downtime: no patch, ManagedByKEDA', () => {
    // KEDA deletes its HPA while the ScaledObject is paused (ensureHPAForScaledObjectIsDeleted).
    const d = run(w(), keda, { scaledObjects: [scaledObject()] });
    expect(d).toMatchObject({ action: 'none', reason: 'ManagedByKEDA', category: 'excluded' });
    expect(d.patch).toBeUndefined();
    expect(d.notices).toEqual([
      expect.objectContaining({ type: 'Normal', reason: 'ManagedByKEDA', message: expect.stringContaining('worker') }),
    ]);
  });

  it('the ScaledObject itself is still paused through its annotation', () => {
    const d = run(scaledObject({ annotations: {} }), keda);
    expect(d).toMatchObject({ action: 'patch', reason: 'ScaleDown' });
    expect(d.patch).toEqual({
      metadata: { annotations: { [ORIG]: '-1', 'autoscaling.keda.sh/paused-replicas': '0' } },
    });
  });

  it('a target carrying original-replicas is not restored by the downscaler either (KEDA owns its replicas)', () => {
    const up = settings(['--include-resources=scaledobjects,deployments']);
    const d = run(w({ replicas: 0, annotations: { [ORIG]: '3' } }), up, { scaledObjects: [scaledObject()] });
    expect(d).toMatchObject({ action: 'none', reason: 'ManagedByKEDA' });
  });

  it('a StatefulSet target, and a target of kind named explicitly, are recognised alike', () => {
    const sts = w({ kind: 'StatefulSet' });
    const so = scaledObject({ target: { kind: 'StatefulSet', name: 'worker' } });
    expect(run(sts, keda, { scaledObjects: [so] })).toMatchObject({ action: 'none', reason: 'ManagedByKEDA' });
    expect(run(w(), keda, { scaledObjects: [so] })).toMatchObject({ action: 'patch', reason: 'ScaleDown' });
  });

  it('the projection keeps spec.scaleTargetRef of a ScaledObject (kind defaults to Deployment, as in KEDA)', () => {
    const view = toWorkload('ScaledObject', {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'so', namespace: 'team' },
      spec: { scaleTargetRef: { name: 'worker' } },
    } as never);
    expect(view.target).toEqual({ kind: 'Deployment', name: 'worker' });
  });
});

describe('Stack-owned Deployments are left alone (docs/downscaler.md#ds-owners)', () => {
  const down = settings(['--default-uptime=never']);
  // As the stackset-controller writes it: an ownerReference without controller: true.
  const stackOwned = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web-v1',
      namespace: 'team',
      uid: 'd1',
      resourceVersion: '7',
      creationTimestamp: '2025-01-01T00:00:00Z',
      ownerReferences: [{ apiVersion: 'zalando.org/v1', kind: 'Stack', name: 'web-v1', uid: 'st1' }],
    },
    spec: { replicas: 1 },
  };

  it('hjacobs/kube-downscaler test_downscale_stack_deployment_ignored: replicas 1 stay 1, no annotation', () => {
    const d = run(toWorkload('Deployment', stackOwned as never), down);
    expect(d).toMatchObject({ action: 'none', reason: 'ControlledByOwner', category: 'excluded' });
    expect(d.why).toContain('Stack web-v1');
    expect(d.patch).toBeUndefined();
  });

  it('another kind of non-controller owner does not exclude', () => {
    const other = {
      ...stackOwned,
      metadata: {
        ...stackOwned.metadata,
        ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'Stack', name: 'x', uid: 'x1' }],
      },
    };
    expect(run(toWorkload('Deployment', other as never), down)).toMatchObject({ action: 'patch', reason: 'ScaleDown' });
  });

  it('the migration table states it', () => {
    expect(DOCS).toMatch(/\| Deployment owned by a Zalando `Stack`[^\n]*left alone/);
  });
});

describe('CronJobs suspended by GoKubeDownscaler (docs/downscaler.md#ds-upstream)', () => {
  const up = settings(['--include-resources=cronjobs']);
  const cron = (orig: string): Workload =>
    w({ kind: 'CronJob', name: 'report', replicas: undefined, suspend: true, annotations: { [ORIG]: orig } });

  it.each(['false', 'False', 'FALSE'])('original-replicas %j (it was running) is resumed in uptime', (orig) => {
    const d = run(cron(orig), up);
    expect(d).toMatchObject({ action: 'patch', reason: 'ScaleUp', from: 0, to: 1 });
    expect(d.patch).toEqual({ metadata: { annotations: { [ORIG]: null } }, spec: { suspend: false } });
    expect(d.notices).toEqual([]);
  });

  it('"true" (it was suspended before) only loses the annotation; the CronJob stays suspended', () => {
    const d = run(cron('true'), up);
    expect(d).toMatchObject({ action: 'patch', reason: 'RestoreSkipped', direction: 'clear' });
    expect(d.patch).toEqual({ metadata: { annotations: { [ORIG]: null } } });
  });

  it('true/false stays invalid on the other kinds', () => {
    const d = run(w({ replicas: 0, annotations: { [ORIG]: 'false' } }), settings([]));
    expect(d).toMatchObject({ action: 'skip', reason: 'InvalidAnnotation' });
  });
});

describe('capitalised from/until (docs/downscaler.md#ds-grammar)', () => {
  it('GoKubeDownscaler vector "Until 2024-07-01T12:00:00Z" is accepted, as every keyword of the grammar', () => {
    const r = parseSpec('Until 2024-07-01T12:00:00Z');
    expect(r).toEqual({
      ok: true,
      value: {
        kind: 'list',
        items: [{ type: 'until', text: 'Until 2024-07-01T12:00:00Z', at: Date.UTC(2024, 6, 1, 12) }],
      },
    });
    expect(parseSpec('FROM-2024-07-01T12:00:00Z').ok).toBe(true);
  });

  it('the documented grammar says so', () => {
    const ebnf = /```ebnf\n([\s\S]*?)```/.exec(DOCS)![1]!;
    expect(ebnf).toMatch(/directional = \( "from" \| "until" \)[^\n]*\(\* case-insensitive/);
  });
});

describe('a restore happens only from what the downscaler left (docs/downscaler.md#ds-taken-over)', () => {
  const up = settings(['--default-uptime=always']);

  it.each<[string, Workload, Settings, Partial<Decision>]>([
    [
      'at the downtime target 0: restored',
      w({ replicas: 0, annotations: { [ORIG]: '2' } }),
      up,
      { action: 'patch', reason: 'ScaleUp', from: 0, to: 2 },
    ],
    [
      'scaled to 1 by its team after the boundary: not restored, annotation dropped',
      w({ replicas: 1, annotations: { [ORIG]: '2' } }),
      up,
      { action: 'patch', reason: 'RestoreSkipped', direction: 'clear', from: 1, to: 1 },
    ],
    [
      'downtime-replicas 1, still at 1: restored',
      w({ replicas: 1, annotations: { [ORIG]: '4', 'downscaler/downtime-replicas': '1' } }),
      up,
      { action: 'patch', reason: 'ScaleUp', from: 1, to: 4 },
    ],
    [
      'downtime-replicas 1, set to 0 by someone: theirs stands',
      w({ replicas: 0, annotations: { [ORIG]: '4', 'downscaler/downtime-replicas': '1' } }),
      up,
      { action: 'patch', reason: 'RestoreSkipped', direction: 'clear' },
    ],
    [
      'excluded after a takeover: not restored either',
      w({ replicas: 1, annotations: { [ORIG]: '2', 'downscaler/exclude': 'true' } }),
      up,
      { action: 'patch', reason: 'RestoreSkipped', direction: 'clear', category: 'excluded' },
    ],
    [
      'out of scope by a hard filter after a takeover: not restored either',
      w({ namespace: 'kube-system', replicas: 1, annotations: { [ORIG]: '2' } }),
      up,
      { action: 'patch', reason: 'RestoreSkipped', direction: 'clear' },
    ],
  ])('%s', (_name, obj, s, expected) => {
    const d = run(obj, s);
    expect(d).toMatchObject(expected);
    if (d.reason === 'RestoreSkipped') {
      expect(d.patch).toEqual({ metadata: { annotations: { [ORIG]: null } } });
      expect(d.onWrite).toEqual([
        expect.objectContaining({
          type: 'Normal',
          reason: 'RestoreSkipped',
          message: expect.stringMatching(/^taken over by someone else: at \d+, not the downtime target \d+/),
        }),
      ]);
    }
  });
});
