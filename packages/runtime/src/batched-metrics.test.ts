import { CounterChildren } from './batched-metrics';
import { ComponentMetrics } from './metrics';

/** The sample lines of one metric family in the registry's text exposition. */
async function samples(m: ComponentMetrics, name: string): Promise<string[]> {
  const text = await m.registry.getSingleMetricAsString(m.prefix + name);
  return text.split('\n').filter((l) => l && !l.startsWith('#'));
}

describe('CounterChildren', () => {
  it.each<[string, Array<[string, string, number]>, string[]]>([
    ['nothing counted', [], []],
    [
      'one label set',
      [
        ['a', 'x', 1],
        ['a', 'x', 1],
      ],
      ['kubeaws_t_c_total{first="a",second="x"} 2'],
    ],
    [
      'two label sets and a bulk increment',
      [
        ['a', 'x', 1],
        ['b', 'x', 5],
        ['a', 'x', 1],
      ],
      ['kubeaws_t_c_total{first="a",second="x"} 2', 'kubeaws_t_c_total{first="b",second="x"} 5'],
    ],
    [
      'label sets differing in the last value only',
      [
        ['a', 'x', 1],
        ['a', 'y', 1],
      ],
      ['kubeaws_t_c_total{first="a",second="x"} 1', 'kubeaws_t_c_total{first="a",second="y"} 1'],
    ],
  ])('%s: every increment is on /metrics', async (_name, incs, expected) => {
    const m = new ComponentMetrics('t', { processMetrics: false });
    const c = new CounterChildren(m.counter('c_total', 'help', ['first', 'second']), ['first', 'second']);
    for (const [a, b, n] of incs) c.child(a, b).inc(n);
    expect((await samples(m, 'c_total')).sort()).toEqual(expected);
  });

  it('adds increments once: a second read shows the same values, later increments add up', async () => {
    const m = new ComponentMetrics('t', { processMetrics: false });
    const c = new CounterChildren(m.counter('c_total', 'help', ['only']), ['only']);
    const child = c.child('v');
    child.inc();
    expect(await samples(m, 'c_total')).toEqual(['kubeaws_t_c_total{only="v"} 1']);
    expect(await samples(m, 'c_total')).toEqual(['kubeaws_t_c_total{only="v"} 1']);
    child.inc(2);
    expect(c.child('v')).toBe(child);
    expect(await m.registry.metrics()).toContain('kubeaws_t_c_total{only="v"} 3');
  });

  it('three labels, next to direct increments of the same counter', async () => {
    const m = new ComponentMetrics('t', { processMetrics: false });
    const counter = m.counter('c_total', 'help', ['a', 'b', 'c']);
    const c = new CounterChildren(counter, ['a', 'b', 'c']);
    c.child('1', '2', '3').inc();
    counter.inc({ a: '1', b: '2', c: '3' });
    c.child('1', '2', '4').inc();
    expect((await samples(m, 'c_total')).sort()).toEqual([
      'kubeaws_t_c_total{a="1",b="2",c="3"} 2',
      'kubeaws_t_c_total{a="1",b="2",c="4"} 1',
    ]);
  });
});

describe('BatchedHistogram', () => {
  const BUCKETS = [0.001, 0.01, 0.1, 1];
  it.each<[string, string[], Array<[string, number]>]>([
    ['no labels, nothing observed', [], []],
    [
      'no labels',
      [],
      [
        ['', 0.0005],
        ['', 0.001],
        ['', 0.05],
        ['', 3],
      ],
    ],
    [
      'one label, two label sets',
      ['endpoint'],
      [
        ['a', 0.002],
        ['b', 0.2],
        ['a', 0.01],
        ['a', 1],
      ],
    ],
    [
      'a value on a bound counts in that bucket (le)',
      ['endpoint'],
      [
        ['a', 0.1],
        ['a', 1],
      ],
    ],
  ])("%s: the same exposition as prom-client's Histogram", async (_name, labelNames, observations) => {
    const ours = new ComponentMetrics('ours', { processMetrics: false });
    const theirs = new ComponentMetrics('ours', { processMetrics: false });
    const h = ours.batchedHistogram('d_seconds', 'help', labelNames, BUCKETS);
    const p = theirs.histogram('d_seconds', 'help', labelNames, BUCKETS);
    for (const [label, v] of observations) {
      if (labelNames.length) {
        h.labels(label).observe(v);
        p.observe({ [labelNames[0]!]: label }, v);
      } else {
        h.labels().observe(v);
        p.observe(v);
      }
    }
    if (!labelNames.length) h.labels();
    expect(await ours.registry.metrics()).toBe(await theirs.registry.metrics());
  });

  it('three labels; a child resolved once is the same object; observe by label object; reset', async () => {
    const m = new ComponentMetrics('t', { processMetrics: false });
    const h = m.batchedHistogram('d_seconds', 'help', ['a', 'b', 'c'], [1]);
    const child = h.labels('x', 'y', 'z');
    expect(h.labels('x', 'y', 'z')).toBe(child);
    child.observe(0.5);
    h.observe({ a: 'x', b: 'y', c: 'z' }, 2);
    h.observe({ a: 'x', b: 'y', c: 'w' }, Number.NaN);
    expect(await samples(m, 'd_seconds')).toEqual(
      [
        't_d_seconds_bucket{le="1",a="x",b="y",c="z"} 1',
        't_d_seconds_bucket{le="+Inf",a="x",b="y",c="z"} 2',
        't_d_seconds_sum{a="x",b="y",c="z"} 2.5',
        't_d_seconds_count{a="x",b="y",c="z"} 2',
        't_d_seconds_bucket{le="1",a="x",b="y",c="w"} 0',
        't_d_seconds_bucket{le="+Inf",a="x",b="y",c="w"} 0',
        't_d_seconds_sum{a="x",b="y",c="w"} 0',
        't_d_seconds_count{a="x",b="y",c="w"} 0',
      ].map((l) => `kubeaws_${l}`),
    );
    expect(m.batchedHistogram('d_seconds', 'help', ['a', 'b', 'c'], [1])).toBe(h);
    m.registry.resetMetrics();
    expect(await samples(m, 'd_seconds')).toContain('kubeaws_t_d_seconds_count{a="x",b="y",c="z"} 0');
  });

  it.each<[string, () => unknown, RegExp]>([
    [
      'empty buckets',
      () => new ComponentMetrics('t', { processMetrics: false }).batchedHistogram('h', 'help', [], []),
      /strictly ascending and not empty, got \[\]/,
    ],
    [
      'unordered buckets',
      () => new ComponentMetrics('t', { processMetrics: false }).batchedHistogram('h', 'help', [], [1, 0.5]),
      /got \[1, 0.5\]/,
    ],
    [
      'four label names',
      () =>
        new ComponentMetrics('t', { processMetrics: false }).batchedHistogram('h', 'help', ['a', 'b', 'c', 'd'], [1]),
      /at most three label names, got 4/,
    ],
    [
      'a prom-client metric of the same name',
      () => {
        const m = new ComponentMetrics('t', { processMetrics: false });
        m.histogram('h', 'help');
        return m.batchedHistogram('h', 'help');
      },
      /kubeaws_t_h exists and is not a BatchedHistogram/,
    ],
  ])('refuses %s', (_name, make, message) => {
    expect(make).toThrow(message);
  });

  it('is the histogram type on /metrics and in the JSON form', async () => {
    const m = new ComponentMetrics('t', { processMetrics: false });
    m.batchedHistogram('d_seconds', 'Latency', ['e']).labels('x').observe(0.2);
    expect(await m.registry.metrics()).toContain(
      '# HELP kubeaws_t_d_seconds Latency\n# TYPE kubeaws_t_d_seconds histogram\n',
    );
    const json = await m.registry.getMetricsAsJSON();
    expect(json[0]).toMatchObject({ name: 'kubeaws_t_d_seconds', type: 'histogram' });
  });
});
