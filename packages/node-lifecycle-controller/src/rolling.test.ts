import type { AsgInfo } from './aws';
import { outdatedInstances } from './rolling';

const sizes = { desired: 1, min: 0, max: 3, tags: {} };

describe('outdatedInstances', () => {
  it.each([
    [
      'pinned launch template: other versions and launch configurations are outdated, only InService',
      [{ name: 'g', template: 'lt:lt-1:3', unpinned: false, ...sizes, instances: [
        { id: 'i-1', lifecycleState: 'InService', template: 'lt:lt-1:3' },
        { id: 'i-2', lifecycleState: 'InService', template: 'lt:lt-1:2' },
        { id: 'i-3', lifecycleState: 'InService', template: 'lc:old' },
        { id: 'i-4', lifecycleState: 'Terminating', template: 'lt:lt-1:2' },
      ] }],
      { outdated: ['i-2', 'i-3'], unpinned: [] },
    ],
    ['$Latest is skipped', [{ name: 'g', template: 'lt:lt-1:$Latest', unpinned: true, ...sizes, instances: [{ id: 'i-2', lifecycleState: 'InService', template: 'lt:lt-1:1' }] }], { outdated: [], unpinned: ['g'] }],
    ['no template at all', [{ name: 'g', unpinned: false, ...sizes, instances: [{ id: 'i-2', lifecycleState: 'InService' }] }], { outdated: [], unpinned: [] }],
  ] as [string, AsgInfo[], { outdated: string[]; unpinned: string[] }][])('%s', (_n, asgs, expected) => expect(outdatedInstances(asgs)).toEqual(expected));
});
