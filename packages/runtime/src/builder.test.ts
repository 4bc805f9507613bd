import type { KubeObject } from './client';
import {
  type MapEvent,
  annotationChanged,
  anyOf,
  generationChanged,
  labelChanged,
  labelSelector,
  resourceVersionChanged,
  watchSource,
} from './builder';
import type { EventHandler } from './informer';
import { matchesLabels } from './labels';

const obj = (m: Partial<NonNullable<KubeObject['metadata']>>): KubeObject => ({
  metadata: { name: 'x', namespace: 'ns', ...m },
});

describe('predicates', () => {
  it.each([
    ['generationChanged: spec change passes', generationChanged(), obj({ generation: 1 }), obj({ generation: 2 }), true],
    ['generationChanged: status-only update dropped', generationChanged(), obj({ generation: 2 }), obj({ generation: 2 }), false],
    [
      'annotationChanged(): any annotation',
      annotationChanged(),
      obj({ annotations: { a: '1' } }),
      obj({ annotations: { a: '2' } }),
      true,
    ],
    [
      'annotationChanged(): added annotation',
      annotationChanged(),
      obj({}),
      obj({ annotations: { a: '1' } }),
      true,
    ],
    [
      'annotationChanged(key): other key ignored',
      annotationChanged('kubeaws.io/x'),
      obj({ annotations: { a: '1' } }),
      obj({ annotations: { a: '2' } }),
      false,
    ],
    [
      'annotationChanged(key): the key',
      annotationChanged('kubeaws.io/x'),
      obj({ annotations: { 'kubeaws.io/x': '1' } }),
      obj({ annotations: {} }),
      true,
    ],
    ['labelChanged: same labels', labelChanged(), obj({ labels: { a: '1' } }), obj({ labels: { a: '1' } }), false],
    ['labelChanged: new label', labelChanged(), obj({ labels: { a: '1' } }), obj({ labels: { a: '1', b: '2' } }), true],
    ['resourceVersionChanged: resync', resourceVersionChanged(), obj({ resourceVersion: '5' }), obj({ resourceVersion: '5' }), false],
    ['resourceVersionChanged: new rv', resourceVersionChanged(), obj({ resourceVersion: '5' }), obj({ resourceVersion: '6' }), true],
    [
      'labelSelector: stops matching (seen once more)',
      labelSelector({ matchLabels: { app: 'web' } }),
      obj({ labels: { app: 'web' } }),
      obj({ labels: { app: 'db' } }),
      true,
    ],
    [
      'labelSelector: never matched',
      labelSelector({ matchLabels: { app: 'web' } }),
      obj({ labels: { app: 'db' } }),
      obj({ labels: { app: 'db', x: '1' } }),
      false,
    ],
    [
      'anyOf: one passes',
      anyOf(generationChanged(), annotationChanged()),
      obj({ generation: 1, annotations: { a: '1' } }),
      obj({ generation: 1, annotations: { a: '2' } }),
      true,
    ],
    [
      'anyOf: none passes',
      anyOf(generationChanged(), annotationChanged()),
      obj({ generation: 1, labels: { a: '1' } }),
      obj({ generation: 1, labels: { a: '2' } }),
      false,
    ],
  ])('%s', (_name, p, o, n, want) => {
    expect(p.update!(o, n)).toBe(want);
  });

  it('lets creates and deletes through unless the predicate filters them', () => {
    expect(generationChanged().create).toBeUndefined();
    const sel = labelSelector({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['a'] }] });
    expect(sel.create!(obj({ labels: { tier: 'a' } }))).toBe(true);
    expect(sel.delete!(obj({ labels: { tier: 'b' } }))).toBe(false);
  });
});

describe('matchesLabels', () => {
  it.each([
    [null, {}, false],
    [{}, { a: '1' }, true],
    [{ matchLabels: { a: '1' } }, { a: '1' }, true],
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, {}, true],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, { a: '' }, true],
    [{ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, { a: '' }, false],
    [{ matchExpressions: [{ key: 'a', operator: 'In' }] }, { a: '1' }, false],
    [{ matchExpressions: [{ key: 'a', operator: 'Bogus', values: ['1'] }] }, { a: '1' }, false],
  ])('%j on %j → %s', (sel, labels, want) => {
    expect(matchesLabels(sel, labels)).toBe(want);
  });
});

describe('watchSource', () => {
  it('maps each passing event with its type, the old object and the initial-list flag; disconnects', () => {
    const handlers: EventHandler<KubeObject>[] = [];
    const source = {
      name: 'test',
      addEventHandler: (h: EventHandler<KubeObject>) => {
        handlers.push(h);
        return () => handlers.splice(handlers.indexOf(h), 1);
      },
    };
    const keys: string[] = [];
    const seen: Array<Omit<MapEvent, 'old'> & { old?: string }> = [];
    const off = watchSource(
      { enqueue: (k) => keys.push(k) },
      source,
      (o, ev) => {
        seen.push({ ...ev, old: ev.old?.metadata?.name });
        return [`ns/${o.metadata?.name}`];
      },
      { predicates: [generationChanged()] },
    );
    const a = obj({ name: 'a', generation: 1 });
    const a2 = obj({ name: 'a', generation: 2 });
    handlers[0]!.onAdd!(a, true);
    handlers[0]!.onUpdate!(a, a); // resync: same generation, filtered
    handlers[0]!.onUpdate!(a, a2);
    handlers[0]!.onDelete!(a2, false);
    expect(keys).toEqual(['ns/a', 'ns/a', 'ns/a']);
    expect(seen).toEqual([
      { type: 'create', initial: true, old: undefined },
      { type: 'update', old: 'a' },
      { type: 'delete', old: undefined },
    ]);
    off();
    expect(handlers).toHaveLength(0);
  });
});
