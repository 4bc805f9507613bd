import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findRepoRoot } from '../infra/config/load';
import { FILE_ITEM_IDS } from '../infra/files';
import { MANIFEST_COMPONENTS } from '../infra/manifests';
import { applyCommand, type CommandIO, renderCommand, splitList } from './infra';

const ROOT = findRepoRoot();
const FIXTURE = path.join(ROOT, 'infra/test/fixtures/clusters/test-1az.yaml');

function capture(): { io: CommandIO; out: () => string; err: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t) => void out.push(t), err: (t) => void err.push(t) }, out: () => out.join(''), err: () => err.join('') };
}

/** A root whose manifests/ lacks `drop` (symlinks to the repository's other folders). */
function rootWithout(drop: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-root-'));
  fs.mkdirSync(path.join(dir, 'manifests'));
  for (const c of MANIFEST_COMPONENTS)
    if (!drop.includes(c)) fs.symlinkSync(path.join(ROOT, 'manifests', c), path.join(dir, 'manifests', c));
  return dir;
}

describe('render: missing manifests', () => {
  const drop = [MANIFEST_COMPONENTS[1], MANIFEST_COMPONENTS[MANIFEST_COMPONENTS.length - 1]];
  let root: string;
  beforeAll(() => (root = rootWithout(drop)));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('names every missing manifest and still exits 0 without --strict', async () => {
    const r = capture();
    expect(await renderCommand(FIXTURE, { format: 'yaml', offline: true, only: 'manifests', root }, r.io)).toBe(0);
    expect(r.err()).toBe(drop.map((m) => `warning: missing manifest ${m}: no manifests/${m}/kustomization.yaml\n`).join(''));
  });

  it('exits 2 with --strict, naming each of them', async () => {
    const r = capture();
    expect(await renderCommand(FIXTURE, { format: 'yaml', offline: true, strict: true, root }, r.io)).toBe(2);
    expect(r.err()).toBe(drop.map((m) => `error: missing manifest ${m}: no manifests/${m}/kustomization.yaml\n`).join(''));
  });

  it('--strict also names the stack resources whose consumer is no longer deployed', async () => {
    const without = rootWithout(['node-lifecycle-controller']);
    try {
      const r = capture();
      expect(await renderCommand(FIXTURE, { format: 'yaml', offline: true, strict: true, root: without }, r.io)).toBe(2);
      const nlc = 'Deployment kube-system/kubeaws-node-lifecycle-controller is not deployed';
      expect(r.err().split('\n')).toEqual(
        expect.arrayContaining([
          'error: missing manifest node-lifecycle-controller: no manifests/node-lifecycle-controller/kustomization.yaml',
          `error: missing manifest for test-1-cluster/InterruptionQueue: ${nlc}`,
          `error: missing manifest for test-1-pool-default/AutoScalingGroup:kubeaws-drain: ${nlc}`,
          expect.stringMatching(/^error: missing manifest for test-1-cluster\/NodeLifecycleControllerRole: ServiceAccount kube-system\/kubeaws-node-lifecycle-controller annotated /),
        ]),
      );
    } finally {
      fs.rmSync(without, { recursive: true, force: true });
    }
  });

  it('exits 0 with --strict when every manifest exists', async () => {
    const r = capture();
    expect(await renderCommand(FIXTURE, { format: 'yaml', offline: true, strict: true, only: 'manifests' }, r.io)).toBe(0);
    expect(r.err()).toBe('');
  });
});

describe('render --files', () => {
  it('--offline lists every object key as created, without contents', async () => {
    const r = capture();
    expect(await renderCommand(FIXTURE, { format: 'yaml', offline: true, files: true }, r.io)).toBe(0);
    const lines = r.out().trimEnd().split('\n');
    expect(lines[0]).toBe('# test-1 cluster files (bucket not read: --offline)');
    expect(lines.slice(1).map((l) => l.split(':')[0])).toEqual(FILE_ITEM_IDS.map((id) => `create ${id}`));
    expect(lines).toContain('create apiserver: master/pki/apiserver.crt, master/pki/apiserver.key');
    expect(r.out()).not.toMatch(/BEGIN|secret:/);
  });

  it.each([
    ['render', () => renderCommand(FIXTURE, { format: 'yaml', offline: true, files: true, rotate: ['apiserver', 'nope'] }, cap.io)],
    ['apply', () => applyCommand(FIXTURE, { rotate: ['nope'] }, cap.io)],
  ])('%s --rotate with an unknown item exits 2 before any AWS call', async (_verb, run) => {
    cap = capture();
    expect(await run()).toBe(2);
    expect(cap.err()).toBe(`--rotate: unknown nope; expected items of ${FILE_ITEM_IDS.join(', ')}\n`);
  });
  let cap = capture();
});

describe('splitList', () => {
  it.each([
    ['', []],
    ['a', ['a']],
    [' a, b ,,c', ['a', 'b', 'c']],
  ])('%j', (v, want) => expect(splitList(v)).toEqual(want));
});
