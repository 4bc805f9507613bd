import { AnnotationParser } from './annotations';
import { decide } from './decide';
import { type Spec, type SpecItem, parseSpec } from './grammar';
import { itemMatches } from './match';
import { LOOKAHEAD_MS, nextItemChange, nextSpecChange, nextTransition } from './transitions';
import type { Workload } from './workload';
import { settings, workload } from '../test/fixtures/workloads';

const at = (iso: string): number => Date.parse(iso);
const iso = (t: number | undefined): string | undefined => (t === undefined ? undefined : new Date(t).toISOString());

function spec(text: string): Spec {
  const p = parseSpec(text);
  if (!p.ok) throw new Error(`${text}: ${JSON.stringify(p.errors)}`);
  return p.value;
}

function item(text: string): SpecItem {
  const s = spec(text);
  if (s.kind !== 'list') throw new Error(text);
  return s.items[0]!;
}

const w = (o: Partial<Workload> = {}): Workload => workload(o);

describe('nextItemChange', () => {
  // 2026-03-02 is a Monday; Europe/Berlin springs forward on 2026-03-29 01:00Z and falls back on 2026-10-25 01:00Z.
  it.each([
    ['Mon-Fri 08:00-18:00 UTC', '2026-03-02T10:00:00Z', '2026-03-02T18:00:00.000Z'],
    ['Mon-Fri 08:00-18:00 UTC', '2026-03-02T07:59:59Z', '2026-03-02T08:00:00.000Z'],
    ['Mon-Fri 08:00-18:00 UTC', '2026-03-02T18:00:00Z', '2026-03-03T08:00:00.000Z'],
    ['Mon-Fri 08:00-18:00 UTC', '2026-03-06T19:00:00Z', '2026-03-09T08:00:00.000Z'],
    ['Mon-Fri 08:00-18:00 UTC', '2026-03-07T12:00:00Z', '2026-03-09T08:00:00.000Z'],
    ['Mon-Fri 08:00-24:00 UTC', '2026-03-06T12:00:00Z', '2026-03-07T00:00:00.000Z'],
    // wrapped: [00:00, 08:00) and [20:00, 24:00) of each listed day
    ['Mon-Fri 20:00-08:00 UTC', '2026-03-02T10:00:00Z', '2026-03-02T20:00:00.000Z'],
    ['Mon-Fri 20:00-08:00 UTC', '2026-03-06T21:00:00Z', '2026-03-07T00:00:00.000Z'],
    ['Mon-Fri 20:00-08:00 UTC', '2026-03-08T12:00:00Z', '2026-03-09T00:00:00.000Z'],
    ['Mon-Fri 08:00-18:00 Europe/Berlin', '2026-03-02T06:00:00Z', '2026-03-02T07:00:00.000Z'],
    ['Mon-Fri 08:00-18:00 Europe/Berlin', '2026-07-06T05:00:00Z', '2026-07-06T06:00:00.000Z'],
    ['Mon-Fri 08:00-18:00 Asia/Kathmandu', '2026-03-02T00:00:00Z', '2026-03-02T02:15:00.000Z'],
    // spring forward: 02:30-03:30 matches 03:00-03:30 CEST only, from the offset change on
    ['Sun-Sun 02:30-03:30 Europe/Berlin', '2026-03-29T00:15:00Z', '2026-03-29T01:00:00.000Z'],
    ['Sun-Sun 02:30-03:30 Europe/Berlin', '2026-03-29T01:00:00Z', '2026-03-29T01:30:00.000Z'],
    // fall back: the repeated 02:15-02:45 matches on both passes
    ['Sun-Sun 02:15-02:45 Europe/Berlin', '2026-10-25T00:00:00Z', '2026-10-25T00:15:00.000Z'],
    ['Sun-Sun 02:15-02:45 Europe/Berlin', '2026-10-25T00:15:00Z', '2026-10-25T00:45:00.000Z'],
    ['Sun-Sun 02:15-02:45 Europe/Berlin', '2026-10-25T00:50:00Z', '2026-10-25T01:15:00.000Z'],
    ['Sun-Sun 02:15-02:45 Europe/Berlin', '2026-10-25T01:20:00Z', '2026-10-25T01:45:00.000Z'],
    ['2026-03-02T10:00:00Z-2026-03-02T12:00:00Z', '2026-03-01T00:00:00Z', '2026-03-02T10:00:00.000Z'],
    ['2026-03-02T10:00:00Z-2026-03-02T12:00:00Z', '2026-03-02T10:00:00Z', '2026-03-02T12:00:00.000Z'],
    ['2026-03-02T10:00:00Z-2026-03-02T12:00:00Z', '2026-03-02T12:00:00Z', undefined],
    ['from 2026-03-02T10:00:30Z', '2026-03-02T10:00:00Z', '2026-03-02T10:00:30.000Z'],
    ['until 2026-03-02T10:00:30Z', '2026-03-02T10:00:30Z', undefined],
    ['Mon-Sun 00:00-24:00 UTC', '2026-03-02T10:00:00Z', undefined],
  ])('%s at %s: %s', (text, now, expected) => {
    expect(iso(nextItemChange(item(text), at(now)))).toBe(expected);
  });

  /** The first whole minute after `now` whose match differs, by stepping minute by minute through the look-ahead. */
  function bruteForce(i: SpecItem, now: number): number | undefined {
    const before = itemMatches(i, now);
    for (let t = Math.floor(now / 60_000) * 60_000 + 60_000; t <= now + LOOKAHEAD_MS; t += 60_000)
      if (itemMatches(i, t) !== before) return t;
    return undefined;
  }

  it.each([
    ['Mon-Fri 08:00-18:00 America/New_York', '2026-03-06T22:10:00Z'],
    ['Sat-Sun 01:30-02:30 America/New_York', '2026-11-01T04:00:00Z'],
    ['Tue-Thu 22:00-03:00 Australia/Lord_Howe', '2026-10-01T09:00:00Z'],
    ['Sun-Sun 01:45-02:15 Australia/Lord_Howe', '2026-04-04T12:00:00Z'],
    ['Mon-Fri 09:00-17:30 Asia/Kolkata', '2026-05-15T12:34:56Z'],
    ['Wed-Wed 00:00-00:01 Europe/Berlin', '2026-10-22T00:00:00Z'],
    ['Mon-Sun 23:59-24:00 Pacific/Chatham', '2026-04-04T10:00:00Z'],
  ])('agrees with a minute-by-minute search: %s from %s, for a week of successive changes', (text, now) => {
    const i = item(text);
    let t = at(now);
    for (let n = 0; n < 6; n++) {
      const next = nextItemChange(i, t);
      expect({ n, from: iso(t), next: iso(next) }).toEqual({ n, from: iso(t), next: iso(bruteForce(i, t)) });
      if (next === undefined) break;
      t = next;
    }
  });
});

describe('nextSpecChange', () => {
  it('is the earliest change of any item; always and never never change', () => {
    const now = at('2026-03-02T10:00:00Z');
    expect(iso(nextSpecChange(spec('Mon-Fri 08:00-18:00 UTC, Mon-Mon 11:00-12:00 UTC'), now))).toBe(
      '2026-03-02T11:00:00.000Z',
    );
    expect(nextSpecChange(spec('always'), now)).toBeUndefined();
    expect(nextSpecChange(spec('never'), now)).toBeUndefined();
  });
});

describe('nextTransition', () => {
  const parser = new AnnotationParser();
  const NOW = at('2026-03-02T10:00:00Z'); // Monday

  it.each([
    ['the object annotation', {}, {}, { 'downscaler/uptime': 'Mon-Fri 08:00-18:00 UTC' }, '2026-03-02T18:00:00.000Z'],
    [
      'the Namespace annotation',
      {},
      { 'downscaler/downtime': 'Mon-Mon 12:00-13:00 UTC' },
      {},
      '2026-03-02T12:00:00.000Z',
    ],
    ['the flags', { argv: ['--default-uptime=Mon-Fri 07:00-19:00 UTC'] }, {}, {}, '2026-03-02T19:00:00.000Z'],
    ['the environment', { env: { DOWNSCALE_PERIOD: 'Mon-Mon 10:30-11:00 UTC' } }, {}, {}, '2026-03-02T10:30:00.000Z'],
    [
      'a force key',
      {},
      {},
      { 'downscaler/force-downtime': '2026-03-02T10:00:05Z-2026-03-02T11:00:00Z' },
      '2026-03-02T10:00:05.000Z',
    ],
    ['an exclude spec', {}, { 'downscaler/exclude': 'Mon-Mon 10:45-11:00 UTC' }, {}, '2026-03-02T10:45:00.000Z'],
    ['exclude-until', {}, {}, { 'downscaler/exclude-until': '2026-03-02T10:20:00Z' }, '2026-03-02T10:20:00.000Z'],
    [
      'the earliest of all scopes',
      { argv: ['--default-uptime=Mon-Fri 07:00-19:00 UTC'] },
      { 'downscaler/downtime': 'Mon-Mon 12:00-13:00 UTC' },
      { 'downscaler/uptime': 'Mon-Fri 08:00-11:00 UTC' },
      '2026-03-02T11:00:00.000Z',
    ],
    ['nothing time-dependent', {}, { 'downscaler/exclude': 'true' }, { 'downscaler/uptime': 'always' }, undefined],
    ['an invalid annotation', {}, {}, { 'downscaler/uptime': 'Mon-Fri 08:00-25:00 UTC' }, undefined],
  ] as const)('reads %s', (_what, flags, ns, own, expected) => {
    const s = settings([...((flags as { argv?: string[] }).argv ?? [])], {
      ...((flags as { env?: Record<string, string> }).env ?? {}),
    });
    const next = nextTransition({
      obj: w({ annotations: { ...own } }),
      namespaceAnnotations: { ...ns },
      settings: s,
      parser,
      now: NOW,
    });
    expect(iso(next)).toBe(expected);
  });

  it('ends the grace period 1 ms after creation + grace, counting from the deployment-time annotation', () => {
    const s = settings(['--grace-period=10m', '--deployment-time-annotation=deployed-at']);
    const created = w({ creationMs: NOW - 60_000 });
    expect(iso(nextTransition({ obj: created, settings: s, parser, now: NOW }))).toBe('2026-03-02T10:09:00.001Z');
    const redeployed = w({ annotations: { 'deployed-at': '2026-03-02T10:05:00Z' } });
    expect(iso(nextTransition({ obj: redeployed, settings: s, parser, now: NOW }))).toBe('2026-03-02T10:15:00.001Z');
    expect(nextTransition({ obj: w(), settings: s, parser, now: NOW })).toBeUndefined();
  });

  it('ends the built-in default grace period (15 min) when no scope sets one', () => {
    const created = w({ creationMs: NOW - 60_000 });
    expect(iso(nextTransition({ obj: created, settings: settings(), parser, now: NOW }))).toBe(
      '2026-03-02T10:14:00.001Z',
    );
  });

  it('follows only the grace period in force, not the one of a scope it shadows', () => {
    const created = w({ creationMs: NOW - 60_000 });
    // --grace-period=0 shadows the built-in 15 min: the object left its grace at creation, nothing changes later
    expect(
      nextTransition({ obj: created, settings: settings(['--grace-period=0']), parser, now: NOW }),
    ).toBeUndefined();
    // a longer flag value shadows the shorter default: only its end is a transition
    expect(iso(nextTransition({ obj: created, settings: settings(['--grace-period=30m']), parser, now: NOW }))).toBe(
      '2026-03-02T10:29:00.001Z',
    );
  });

  it('uses the HPA scope for HPAs', () => {
    const h = w({
      kind: 'HorizontalPodAutoscaler',
      replicas: undefined,
      minReplicas: 2,
      maxReplicas: 5,
      annotations: { 'downscaler/uptime': 'Mon-Mon 08:00-10:30 UTC' },
    });
    expect(
      iso(
        nextTransition({
          obj: h,
          settings: settings(['--include-resources=deployments,horizontalpodautoscalers']),
          parser,
          now: NOW,
        }),
      ),
    ).toBe('2026-03-02T10:30:00.000Z');
  });

  it('leaves no change of the decision between two transitions (two days, minute by minute)', () => {
    const s = settings(['--default-uptime=Mon-Fri 07:00-19:00 Europe/Berlin', '--grace-period=90m'], {
      DEFAULT_DOWNTIME: 'never',
    });
    const objs = [
      w({ creationMs: NOW - 30 * 60_000 }),
      w({ annotations: { 'downscaler/downtime': 'Mon-Tue 12:00-12:30 UTC, Tue-Tue 22:00-02:00 America/New_York' } }),
      w({
        annotations: { 'downscaler/exclude-until': '2026-03-02T16:07:00Z', 'downscaler/original-replicas': '5' },
        replicas: 0,
      }),
      w({
        annotations: { 'downscaler/force-uptime': 'Mon-Mon 21:00-22:00 UTC', 'downscaler/original-replicas': '3' },
        replicas: 0,
      }),
    ];
    const ns = { 'downscaler/exclude': 'Tue-Tue 06:00-06:30 Asia/Kolkata' };
    const outcome = (obj: Workload, now: number) => {
      const d = decide({
        obj,
        namespaceAnnotations: ns,
        settings: s,
        parser,
        now,
        hpasFor: () => [],
        targetOf: () => undefined,
      });
      return `${d.action} ${d.reason} ${d.mode ?? ''} ${d.why}`;
    };
    for (const obj of objs) {
      let t = NOW;
      let transitions = 0;
      while (t < NOW + 2 * 86_400_000) {
        const next =
          nextTransition({ obj, namespaceAnnotations: ns, settings: s, parser, now: t }) ?? NOW + 2 * 86_400_000;
        expect(next).toBeGreaterThan(t);
        const here = outcome(obj, t);
        for (let m = t + 60_000 - (t % 60_000); m < next; m += 60_000) {
          if (outcome(obj, m) !== here)
            throw new Error(`decision changed at ${iso(m)}, before the transition ${iso(next)} (from ${iso(t)})`);
        }
        t = next;
        transitions++;
      }
      expect(transitions).toBeGreaterThan(1);
    }
  });
});
