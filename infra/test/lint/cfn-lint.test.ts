/**
 * cfn-lint (pinned in tools/python/requirements.txt) over the rendered templates of every fixture cluster, in
 * eu-central-1 and us-east-1, with infra/.cfnlintrc: no error, no warning. A broken template proves the linter
 * runs and reports.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
// eslint-disable-next-line @nx/enforce-module-boundaries -- infra is rendered and applied by the kubeaws CLI; its tests drive that code
import { loadCluster, renderStacks, serialize } from '@kubeaws/kubeaws';
import { ensurePythonEnv } from '@kubeaws/testenv';

const ROOT = path.resolve(__dirname, '../../..');
const FIXTURES_DIR = path.join(ROOT, 'infra/test/fixtures/clusters');
const FIXTURES = fs
  .readdirSync(FIXTURES_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.replace(/\.yaml$/, ''))
  .sort();

interface Match {
  Rule: { Id: string; ShortDescription: string };
  Level: string;
  Message: string;
  Filename: string;
  Location: { Start: { LineNumber: number } };
}

async function cfnLint(venv: string, files: string[]): Promise<{ code: number; matches: Match[]; stderr: string }> {
  const bin = path.join(venv, 'bin', 'cfn-lint');
  return new Promise((resolve) => {
    execFile(
      bin,
      ['--config-file', path.join(ROOT, 'infra/.cfnlintrc'), '--format', 'json', '--', ...files],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code, matches: stdout.trim() ? (JSON.parse(stdout) as Match[]) : [], stderr });
      },
    );
  });
}

describe('cfn-lint', () => {
  let venv: string;
  let dir: string;
  let result: { code: number; matches: Match[]; stderr: string };
  const filesOf = new Map<string, string[]>();

  beforeAll(async () => {
    venv = await ensurePythonEnv({ onProgress: (l) => process.stderr.write(`${l}\n`) });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-cfn-lint-'));
    const all: string[] = [];
    for (const name of FIXTURES) {
      const r = loadCluster(path.join(FIXTURES_DIR, `${name}.yaml`), { version: '0.0.0-test' });
      if (!r.cluster) throw new Error(`${name}: ${JSON.stringify(r.diagnostics)}`);
      const files = renderStacks(r.cluster).map((s) => {
        const file = path.join(dir, name, `${s.name}.template.json`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, serialize(s.template, 'json'));
        return file;
      });
      filesOf.set(name, files);
      all.push(...files);
    }
    result = await cfnLint(venv, all);
  }, 900_000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is the pinned version', async () => {
    const version = await promisify(execFile)(path.join(venv, 'bin', 'cfn-lint'), ['--version']);
    const pin = /^cfn-lint==(.+)$/m.exec(fs.readFileSync(path.join(ROOT, 'tools/python/requirements.txt'), 'utf8'))![1];
    expect(version.stdout.trim()).toBe(`cfn-lint ${pin}`);
  });

  it.each(FIXTURES)('%s: no errors and no warnings', (name) => {
    const files = new Set(filesOf.get(name));
    expect(files.size).toBeGreaterThanOrEqual(3);
    const found = result.matches
      .filter((m) => files.has(m.Filename) || files.has(path.resolve(m.Filename)))
      .map((m) => `${path.basename(m.Filename)}:${m.Location.Start.LineNumber} ${m.Rule.Id} ${m.Message}`);
    expect(found).toEqual([]);
  });

  it('exits 0 over all rendered templates', () => {
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('reports a broken template (the linter really runs)', async () => {
    const file = path.join(dir, 'broken.template.json');
    const t = JSON.parse(fs.readFileSync(filesOf.get('test-1az')![0], 'utf8'));
    t.Resources.EtcdMember0.Properties.ImageId = { Ref: 'NoSuchParameter' };
    fs.writeFileSync(file, JSON.stringify(t));
    const r = await cfnLint(venv, [file]);
    expect(r.code).not.toBe(0);
    expect(r.matches.map((m) => m.Rule.Id)).toContain('E1020');
  });
});
