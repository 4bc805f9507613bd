/**
 * The plan at a chosen instant (docs/downscaler.md#ds-plan): the decision at that instant and the next transition per
 * object, across weekends, daylight saving time, absolute items, grace, exclude-until and HPA delegation; and the
 * arguments of `downscaler plan` (exit 2 before any API call).
 */
import { ConfigError } from '@kubeaws/runtime';
import { AnnotationParser } from './annotations';
import { decide } from './decide';
import { type PlanEntry, formatInstant, formatPlan, planAt } from './plan';
import { parsePlanArgs } from './plan-command';
import type { Workload } from './workload';
import { settings, workload } from '../test/fixtures/workloads';

const ORIG = 'downscaler/original-replicas';

const w = (o: Partial<Workload> = {}): Workload => workload({ replicas: 2, ...o });

function plan(objects: Workload[], at: string, s = settings(), ns: Record<string, Record<string, string>> = {}) {
  return planAt({ settings: s, at: Date.parse(at), objects, namespaces: new Map(Object.entries(ns)) });
}

function summary(e: PlanEntry) {
  return {
    action:
      e.decision.action === 'patch' ? `${e.decision.reason} ${e.decision.from}→${e.decision.to}` : e.decision.reason,
    next: e.next && `${formatInstant(e.next.at)} ${e.next.decision.reason}`,
  };
}

const BERLIN_OFFICE = { 'downscaler/uptime': 'Mon-Fri 08:00-18:00 Europe/Berlin' };

describe('planAt (docs/downscaler.md#ds-plan)', () => {
  it('Friday 20:30 in Berlin: scaled down now, back up on Monday 08:00 local', () => {
    const [e] = plan([w({ annotations: BERLIN_OFFICE })], '2030-01-11T20:30:00+01:00');
    expect(summary(e!)).toEqual({ action: 'ScaleDown 2→0', next: '2030-01-14T07:00:00Z ScaleUp' });
    expect(e!.next!.decision).toMatchObject({ from: 0, to: 2 });
  });

  it('inside uptime: nothing now, next the scale-down at 18:00 local', () => {
    const [e] = plan([w({ annotations: BERLIN_OFFICE })], '2030-01-14T10:00:00Z');
    expect(summary(e!)).toEqual({ action: 'NoOriginal', next: '2030-01-14T17:00:00Z ScaleDown' });
  });

  it('already down: nothing now; the restore is the next transition', () => {
    const [e] = plan([w({ replicas: 0, annotations: { ...BERLIN_OFFICE, [ORIG]: '2' } })], '2030-01-12T12:00:00Z');
    expect(summary(e!)).toEqual({ action: 'AtTarget', next: '2030-01-14T07:00:00Z ScaleUp' });
  });

  it('follows daylight saving time: 08:00 local is 07:00Z before and 06:00Z after the spring change', () => {
    const daily = { 'downscaler/uptime': 'Mon-Sun 08:00-18:00 Europe/Berlin' };
    expect(summary(plan([w({ annotations: daily })], '2030-03-30T20:00:00Z')[0]!).next).toBe(
      '2030-03-31T06:00:00Z ScaleUp',
    );
    expect(summary(plan([w({ annotations: daily })], '2030-03-29T20:00:00Z')[0]!).next).toBe(
      '2030-03-30T07:00:00Z ScaleUp',
    );
  });

  it('a window that starts inside the spring-forward gap begins at the first existing minute', () => {
    const gap = { 'downscaler/downtime': 'Sun-Sun 02:30-03:30 Europe/Berlin' };
    // 2030-03-31 02:00 CET → 03:00 CEST: 02:30-03:30 matches 03:00-03:30 CEST = 01:00Z-01:30Z.
    const [e] = plan([w({ annotations: gap })], '2030-03-31T00:00:00Z');
    expect(summary(e!)).toEqual({ action: 'NoOriginal', next: '2030-03-31T01:00:00Z ScaleDown' });
  });

  it('absolute items and exclude-until count at any distance; grace ends 1 ms after creation + grace', () => {
    const holidays = { 'downscaler/downtime': '2031-12-24T00:00:00+01:00 - 2032-01-02T00:00:00+01:00' };
    expect(summary(plan([w({ annotations: holidays })], '2030-06-01T00:00:00Z')[0]!).next).toBe(
      '2031-12-23T23:00:00Z ScaleDown',
    );
    const excluded = { 'downscaler/exclude-until': '2031-03-01', 'downscaler/uptime': 'never' };
    expect(summary(plan([w({ annotations: excluded })], '2030-06-01T00:00:00Z')[0]!)).toEqual({
      action: 'ExcludeUntil',
      next: '2031-03-01T00:00:00Z ScaleDown',
    });
    const created = Date.parse('2030-06-01T00:00:00Z');
    const fresh = w({ creationMs: created, annotations: { 'downscaler/uptime': 'never' } });
    expect(summary(plan([fresh], '2030-06-01T00:05:00Z')[0]!)).toEqual({
      action: 'Grace',
      next: '2030-06-01T00:15:00.001Z ScaleDown',
    });
  });

  it('no schedule ever changes: no next transition', () => {
    const [e] = plan([w()], '2030-01-11T20:30:00Z');
    expect(summary(e!)).toEqual({ action: 'NoOriginal', next: undefined });
  });

  it('HPA delegation: the HPA entry carries the minReplicas change; the workload says it is delegated', () => {
    const s = settings(['--include-resources=deployments,horizontalpodautoscalers']);
    const dep = w({ annotations: { ...BERLIN_OFFICE, 'downscaler/downtime-replicas': '1' }, replicas: 4 });
    const hpa = w({
      kind: 'HorizontalPodAutoscaler',
      uid: 'h1',
      replicas: undefined,
      minReplicas: 3,
      maxReplicas: 8,
      target: { kind: 'Deployment', name: 'web' },
    });
    const entries = plan([dep, hpa], '2030-01-11T20:30:00+01:00', s);
    expect(entries.map((e) => [e.obj.kind, summary(e)])).toEqual([
      ['Deployment', { action: 'DelegatedToHPA', next: '2030-01-14T07:00:00Z DelegatedToHPA' }],
      ['HorizontalPodAutoscaler', { action: 'ScaleDown 3→1', next: '2030-01-14T07:00:00Z ScaleUp' }],
    ]);
  });

  it('Namespace annotations and the --namespace scope apply as in the controller; kinds not included are not listed', () => {
    const s = settings(['--include-resources=deployments']);
    const cron = w({ kind: 'CronJob', name: 'report', replicas: undefined, suspend: false });
    const entries = plan([w(), cron], '2030-01-11T20:30:00Z', s, { team: { 'downscaler/downtime': 'always' } });
    expect(entries.map((e) => [e.obj.kind, summary(e).action])).toEqual([['Deployment', 'ScaleDown 2→0']]);
  });

  it('is the controller decision at that instant: the same as decide({ now })', () => {
    const s = settings();
    const obj = w({ annotations: BERLIN_OFFICE });
    const now = Date.parse('2030-01-11T20:30:00+01:00');
    const d = decide({
      obj,
      settings: s,
      parser: new AnnotationParser(s.specDefaults),
      now,
      hpasFor: () => [],
      targetOf: () => undefined,
    });
    expect(plan([obj], '2030-01-11T20:30:00+01:00', s)[0]!.decision).toEqual(d);
  });

  it('formats one block per object and a summary', () => {
    const at = '2030-01-11T20:30:00+01:00';
    const text = formatPlan(plan([w({ annotations: BERLIN_OFFICE })], at), Date.parse(at));
    expect(text).toBe(
      [
        'plan at 2030-01-11T19:30:00Z: 1 object(s); nothing is written',
        '',
        'Deployment team/web (replicas 2)',
        '  at 2030-01-11T19:30:00Z: scale-down 2→0: outside uptime (annotation downscaler/uptime)',
        '  next 2030-01-14T07:00:00Z: scale-up 0→2: inside uptime (annotation downscaler/uptime item 1)',
        '',
        'summary: 1 scale-down',
        '',
      ].join('\n'),
    );
  });
});

describe('downscaler plan arguments', () => {
  it('--at is required and strict RFC 3339; the downscaler flags are validated as in the controller', () => {
    const fail = (argv: string[]) => {
      try {
        parsePlanArgs(argv, {});
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error(`accepted ${argv.join(' ')}`);
    };
    expect(fail([])).toMatch(/^missing --at: expected an RFC 3339 instant/);
    expect(fail(['--at=2030-01-11 20:30'])).toMatch(/^invalid value "2030-01-11 20:30" for --at: /);
    expect(fail(['--at=2030-01-11T20:30:00'])).toMatch(/for --at/);
    expect(fail(['--at=2030-01-11T20:30:00Z', '--default-uptime=Mon-Fri 25:00-26:00 UTC'])).toContain(
      '--default-uptime',
    );
    const ok = parsePlanArgs(['--at', '2030-01-11T20:30:00+01:00', '--namespace=team', '--kubeconfig=/k'], {});
    expect(ok).toMatchObject({ at: Date.parse('2030-01-11T19:30:00Z'), kubeconfig: '/k' });
    expect(ok.settings.namespaces).toEqual(['team']);
  });
});
