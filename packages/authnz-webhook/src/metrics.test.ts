import { ComponentMetrics } from '@kubeaws/runtime';
import { CounterChildren, WebhookMetrics } from './metrics';

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

  it("WebhookMetrics' request-path handles feed the documented families", async () => {
    const w = new WebhookMetrics(new ComponentMetrics('authnz-webhook', { processMetrics: false }));
    w.httpRequestsBy.child('authorize', '200').inc();
    w.sarsBy.child('deny', 'protected-secrets', 'PowerUser').inc();
    w.tokenReviewsBy.child('authenticated', 'oidc', 'corp').inc();
    w.cacheLookupsBy.child('miss').inc();
    w.authorizeDuration.observe(0.002);
    const text = await w.base.registry.metrics();
    for (const line of [
      'kubeaws_authnz_webhook_http_requests_total{endpoint="authorize",code="200"} 1',
      'kubeaws_authnz_webhook_subjectaccessreviews_total{decision="deny",rule="protected-secrets",role="PowerUser"} 1',
      'kubeaws_authnz_webhook_tokenreviews_total{result="authenticated",source="oidc",issuer="corp"} 1',
      'kubeaws_authnz_webhook_token_cache_lookups_total{result="miss"} 1',
      'kubeaws_authnz_webhook_http_request_duration_seconds_count{endpoint="authorize"} 1',
    ])
      expect(text).toContain(line);
  });
});
