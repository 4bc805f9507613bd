import { LabelSelectorSyntaxError, matchesLabels, parseLabelSelector, requirementHolds } from './labels';

describe('parseLabelSelector (apimachinery labels.Parse grammar)', () => {
  it.each<[string, unknown[]]>([
    ['', []],
    ['   ', []],
    ['egress=static', [{ key: 'egress', operator: 'In', values: ['static'] }]],
    ['egress==static', [{ key: 'egress', operator: 'In', values: ['static'] }]],
    ['tier!=db', [{ key: 'tier', operator: 'NotIn', values: ['db'] }]],
    ['a=', [{ key: 'a', operator: 'In', values: [''] }]],
    ['a=,b', [{ key: 'a', operator: 'In', values: [''] }, { key: 'b', operator: 'Exists', values: [] }]],
    [' env in (prod, staging) ', [{ key: 'env', operator: 'In', values: ['prod', 'staging'] }]],
    ['env notin (dev)', [{ key: 'env', operator: 'NotIn', values: ['dev'] }]],
    ['env in ()', [{ key: 'env', operator: 'In', values: [''] }]],
    ['env in (a,,a)', [{ key: 'env', operator: 'In', values: ['a', ''] }]],
    ['x in (in,notin)', [{ key: 'x', operator: 'In', values: ['in', 'notin'] }]],
    ['managed', [{ key: 'managed', operator: 'Exists', values: [] }]],
    ['!legacy', [{ key: 'legacy', operator: 'DoesNotExist', values: [] }]],
    ['replicas>2,rank<-1', [{ key: 'replicas', operator: 'Gt', values: ['2'] }, { key: 'rank', operator: 'Lt', values: ['-1'] }]],
    [
      'kubeaws.io/egress=static,app.kubernetes.io/part-of!=x,!b',
      [
        { key: 'kubeaws.io/egress', operator: 'In', values: ['static'] },
        { key: 'app.kubernetes.io/part-of', operator: 'NotIn', values: ['x'] },
        { key: 'b', operator: 'DoesNotExist', values: [] },
      ],
    ],
  ])('%j', (s, want) => expect(parseLabelSelector(s)).toEqual(want));

  it.each<[string, number, string]>([
    ['egress in static', 10, 'expected "(" after "in"'],
    ['egress=static,', 14, 'expected a label key, found the end'],
    [',a', 0, 'expected a label key'],
    ['a b', 2, 'expected one of'],
    ['a=b=c', 3, 'expected "," between requirements'],
    ['a=b c', 4, 'expected "," between requirements'],
    ['a in (b', 7, 'expected "," or ")"'],
    ['a in (b c)', 8, 'expected "," or ")"'],
    ['a>x', 2, 'expected an integer after ">"'],
    ['a>', 2, 'expected an integer'],
    ['=static', 0, 'expected a label key, found "="'],
    ['in=x', 0, 'expected a label key, found "in"'],
    ['!a=b', 2, 'expected "," between requirements'],
    ['Egress/x=y', 0, 'invalid label key "Egress/x"'],
    ['-a=b', 0, 'invalid label key "-a"'],
    [`${'k'.repeat(64)}=v`, 0, 'invalid label key'],
    ['a=-b', 2, 'invalid label value "-b"'],
    [`a=${'v'.repeat(64)}`, 2, 'invalid label value'],
    ['a in (ok,b_)', 9, 'invalid label value "b_"'],
    ['a=(b)', 2, 'expected a label value after "=", found "("'],
  ])('%j is rejected at %d: %s', (s, position, problem) => {
    let err: unknown;
    try {
      parseLabelSelector(s);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LabelSelectorSyntaxError);
    expect(err).toMatchObject({ selector: s, position });
    expect((err as Error).message).toContain(problem);
    expect((err as Error).message).toContain(JSON.stringify(s));
  });

  it('its requirements match as the metav1 ones do', () => {
    const reqs = parseLabelSelector('egress=static,tier notin (db),!legacy');
    const holds = (labels: Record<string, string>) => reqs.every((r) => requirementHolds(r, labels));
    expect(holds({ egress: 'static' })).toBe(true);
    expect(holds({ egress: 'static', tier: 'db' })).toBe(false);
    expect(holds({ egress: 'static', legacy: '' })).toBe(false);
    expect(holds({ egress: 'dynamic' })).toBe(false);
    expect(matchesLabels({ matchLabels: { egress: 'static' } }, { egress: 'static' })).toBe(holds({ egress: 'static' }));
  });
});
