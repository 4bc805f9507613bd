import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import { canonical, mergePatchDiff, ownedFields } from './desired';

describe('canonical', () => {
  test.each<[string, unknown, unknown, boolean]>([
    ['key order', { a: 1, b: 2 }, { b: 2, a: 1 }, true],
    ['empty map vs absent', { matchLabels: {} }, {}, true],
    ['empty list vs absent', { matchExpressions: [] }, undefined, true],
    ['null vs absent', { a: null }, {}, true],
    ['list order matters', { v: ['a', 'b'] }, { v: ['b', 'a'] }, false],
    ['false is kept', { x: false }, {}, false],
    ['number vs string', 1, '1', false],
  ])('%s', (_n, a, b, eq) => expect(canonical(a) === canonical(b)).toBe(eq));
});

describe('mergePatchDiff (RFC 7386)', () => {
  test.each<[string, unknown, unknown, unknown]>([
    ['unchanged', { matchLabels: { a: '1' } }, { matchLabels: { a: '1' } }, {}],
    [
      'removed key becomes null',
      { matchLabels: { a: '1', b: '2' } },
      { matchLabels: { a: '1' } },
      { matchLabels: { b: null } },
    ],
    ['added key', { matchLabels: { a: '1' } }, { matchLabels: { a: '1', c: '3' } }, { matchLabels: { c: '3' } }],
    [
      'array replaced',
      { matchExpressions: [{ key: 'a', operator: 'Exists' }] },
      { matchExpressions: [] },
      { matchExpressions: [] },
    ],
    [
      'array removed',
      { matchLabels: { a: '1' }, matchExpressions: [{ key: 'a', operator: 'Exists' }] },
      { matchLabels: { a: '1' } },
      { matchExpressions: null },
    ],
    ['from nothing', undefined, { matchLabels: { a: '1' } }, { matchLabels: { a: '1' } }],
  ])('%s', (_n, cur, des, patch) => expect(mergePatchDiff(cur, des)).toEqual(patch));
});

describe('ownedFields (managedFields FieldsV1)', () => {
  test('splits by operation, ignores other managers and status', () => {
    const p: V1PodDisruptionBudget = {
      metadata: {
        managedFields: [
          {
            manager: 'fm',
            operation: 'Apply',
            fieldsV1: {
              'f:metadata': {
                'f:labels': { '.': {}, 'f:app': {} },
                'f:annotations': { 'f:kubeaws.io/non-ready-since': {} },
              },
              'f:spec': { 'f:maxUnavailable': {} },
            },
          },
          { manager: 'fm', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:team': {} } } } },
          { manager: 'fm', operation: 'Update', subresource: 'status', fieldsV1: { 'f:status': {} } },
          { manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:x': {} } } } },
        ],
      },
    };
    const o = ownedFields(p, 'fm');
    expect([...o.apply].sort()).toEqual([
      'annotations:kubeaws.io/non-ready-since',
      'labels:app',
      'spec:maxUnavailable',
    ]);
    expect([...o.update]).toEqual(['labels:team']);
  });
});
