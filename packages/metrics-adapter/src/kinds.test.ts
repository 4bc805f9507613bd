import { KindIndex, groupOf } from './kinds';
import { DISCOVERY, ROLLOUTS } from '../test/discovery-fixture';

describe('KindIndex (docs/metrics-adapter.md#ma-kinds)', () => {
  const index = new KindIndex(DISCOVERY);
  it.each<[string, { kind: string; apiVersion?: string }, string | undefined]>([
    ['core kind', { kind: 'Pod', apiVersion: 'v1' }, 'pods'],
    ['group kind, any version', { kind: 'Deployment', apiVersion: 'apps/v1beta2' }, 'deployments.apps'],
    ['wrong group', { kind: 'Deployment', apiVersion: 'extensions/v1beta1' }, undefined],
    ['unknown kind', { kind: 'Rollout', apiVersion: 'argoproj.io/v1alpha1' }, undefined],
    ['no apiVersion, unique kind', { kind: 'Ingress' }, 'ingresses.networking.k8s.io'],
  ])('%s', (_n, ref, want) => expect(index.resolve(ref)?.resource).toBe(want));

  it('skips subresources, keeps the scope, prefers the first list of a kind', () => {
    expect(index.size).toBe(8); // pods/status is no kind of its own
    expect(index.resolve({ kind: 'Namespace', apiVersion: 'v1' })).toEqual({ group: '', kind: 'Namespace', resource: 'namespaces', namespaced: false });
    const twice = new KindIndex([{ groupVersion: 'x.io/v2', resources: [{ name: 'things', kind: 'Thing', namespaced: true }] },
      { groupVersion: 'x.io/v1', resources: [{ name: 'oldthings', kind: 'Thing', namespaced: true }] }]);
    expect(twice.resolve({ kind: 'Thing', apiVersion: 'x.io/v1' })?.resource).toBe('things.x.io');
  });

  it('an ambiguous kind without apiVersion resolves only to the core group', () => {
    const both = new KindIndex([...DISCOVERY, { groupVersion: 'example.com/v1', resources: [{ name: 'services', kind: 'Service', namespaced: true }, { name: 'ingresses', kind: 'Ingress', namespaced: true }] }]);
    expect(both.resolve({ kind: 'Service' })?.resource).toBe('services');
    expect(both.resolve({ kind: 'Ingress' })).toBeUndefined();
  });

  it('the signature tells whether discovery changed', () => {
    expect(new KindIndex(DISCOVERY).signature).toBe(index.signature);
    expect(new KindIndex([...DISCOVERY, ROLLOUTS]).signature).not.toBe(index.signature);
  });

  it('groupOf', () => {
    expect([groupOf('v1'), groupOf('apps/v1'), groupOf(undefined), groupOf('')]).toEqual(['', 'apps', undefined, undefined]);
  });
});
