import { createHash } from 'node:crypto';
import { desiredPdbName } from './naming';
import type { WorkloadKind } from './workload';

const h8 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8);

describe('desiredPdbName (PDB-NAME)', () => {
  test.each<[WorkloadKind, string, string, string]>([
    ['Deployment', 'web', 'pdb', 'web-deployment-pdb'],
    ['StatefulSet', 'web', 'pdb', 'web-statefulset-pdb'],
    ['Rollout', 'web', 'pdb', 'web-rollout-pdb'],
    ['Deployment', 'web', '', 'web-deployment'],
    ['StatefulSet', 'db', 'budget', 'db-statefulset-budget'],
  ])('%s %s suffix %j → %s', (kind, name, suffix, expected) => {
    expect(desiredPdbName(kind, name, suffix)).toBe(expected);
  });

  test('exactly 253 characters is not truncated', () => {
    const name = 'a'.repeat(253 - '-deployment-pdb'.length);
    expect(desiredPdbName('Deployment', name, 'pdb')).toBe(`${name}-deployment-pdb`);
  });

  test.each<[WorkloadKind, string]>([
    ['Deployment', 'pdb'],
    ['StatefulSet', 'pdb'],
    ['Rollout', ''],
  ])('one character over: %s suffix %j is cut and hashed', (kind, suffix) => {
    const tail = `-${kind.toLowerCase()}${suffix ? `-${suffix}` : ''}`;
    const name = 'a'.repeat(254 - tail.length);
    const got = desiredPdbName(kind, name, suffix);
    expect(got).toHaveLength(253);
    expect(got).toBe(`${'a'.repeat(253 - 9 - tail.length)}-${h8(`${kind}/${name}`)}${tail}`);
  });

  test('253-character workload name', () => {
    const name = 'b'.repeat(253);
    const got = desiredPdbName('StatefulSet', name, 'pdb');
    expect(got).toHaveLength(253);
    expect(got.endsWith(`-${h8(`StatefulSet/${name}`)}-statefulset-pdb`)).toBe(true);
  });

  test('names differing only after the cut point get different names', () => {
    const a = desiredPdbName('Deployment', `${'x'.repeat(250)}a`, 'pdb');
    const b = desiredPdbName('Deployment', `${'x'.repeat(250)}b`, 'pdb');
    expect(a).not.toBe(b);
    expect(a.slice(0, 200)).toBe(b.slice(0, 200));
  });

  test('a Deployment and a StatefulSet with one long name get different hashes', () => {
    const name = 'y'.repeat(250);
    expect(desiredPdbName('Deployment', name, 'pdb')).not.toBe(
      desiredPdbName('StatefulSet', name, 'pdb').replace('statefulset', 'deployment'),
    );
  });

  test('trailing dots and dashes of the cut are dropped', () => {
    const tail = '-deployment-pdb';
    const keep = 253 - 9 - tail.length;
    const name = `${'c'.repeat(keep - 2)}.-${'d'.repeat(20)}`;
    const got = desiredPdbName('Deployment', name, 'pdb');
    expect(got).toBe(`${'c'.repeat(keep - 2)}-${h8(`Deployment/${name}`)}${tail}`);
    expect(got).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/);
  });
});
