import { canonicalRequirements, canonicalSelector, matchesRequirements, parseSelector, SelectorError } from './selector';

describe('parseSelector', () => {
  it.each([
    ['', []],
    ['a=b', [{ key: 'a', operator: 'In', values: ['b'] }]],
    ['a==b', [{ key: 'a', operator: 'In', values: ['b'] }]],
    ['a!=b', [{ key: 'a', operator: 'NotIn', values: ['b'] }]],
    ['a in (x, y)', [{ key: 'a', operator: 'In', values: ['x', 'y'] }]],
    ['a notin (x)', [{ key: 'a', operator: 'NotIn', values: ['x'] }]],
    ['a,!b', [{ key: 'a', operator: 'Exists', values: [] }, { key: 'b', operator: 'DoesNotExist', values: [] }]],
    ['example.com/x=1,type=sqs-queue-length', [
      { key: 'example.com/x', operator: 'In', values: ['1'] },
      { key: 'type', operator: 'In', values: ['sqs-queue-length'] },
    ]],
  ])('%p', (s, want) => expect(parseSelector(s)).toEqual(want));

  it.each(['a=', '=b', 'a in x', 'a in (x', 'a=b c', 'a=-b-', 'a/b/c=d', 'a b'])('refuses %p', (s) => {
    if (s === 'a=') {
      // an empty value is valid in apimachinery
      expect(parseSelector(s)).toEqual([{ key: 'a', operator: 'In', values: [''] }]);
      return;
    }
    expect(() => parseSelector(s)).toThrow(SelectorError);
  });

  it('treats semantically equal selectors as equal', () => {
    expect(canonicalRequirements(parseSelector('b in (y,x),a==1'))).toBe(canonicalRequirements(parseSelector('a=1,b in (x,y)')));
    expect(canonicalSelector({ matchLabels: { a: '1' }, matchExpressions: [{ key: 'b', operator: 'In', values: ['y', 'x'] }] })).toBe(
      canonicalRequirements(parseSelector('b in (x,y), a=1')),
    );
    expect(canonicalSelector(null)).toBe('');
    expect(canonicalRequirements(parseSelector('a=1'))).not.toBe(canonicalRequirements(parseSelector('a=1,b=2')));
  });

  it('matches labels', () => {
    expect(matchesRequirements(parseSelector('app=web,tier notin (db)'), { app: 'web' })).toBe(true);
    expect(matchesRequirements(parseSelector('app=web,!canary'), { app: 'web', canary: 'x' })).toBe(false);
  });
});
