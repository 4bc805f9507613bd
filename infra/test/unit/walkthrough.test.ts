/**
 * The walkthrough of docs/infra.md#infra-walkthrough stays true: its cluster file is
 * infra/test/fixtures/walkthrough/kube-1.yaml verbatim, validates, renders with `--strict --offline`, and the error
 * lines the walkthrough shows are what its invalid variants produce.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries -- infra is rendered and applied by the kubeaws CLI; its tests drive that code
import { type CommandIO, renderCommand, validateCommand } from '@kubeaws/kubeaws';
import { ROOT } from './helpers';

const FILE = path.join(ROOT, 'infra/test/fixtures/walkthrough/kube-1.yaml');
const doc = fs.readFileSync(path.join(ROOT, 'docs/infra.md'), 'utf8');
const walkthrough = doc.slice(doc.indexOf('## From nothing to a cluster'), doc.indexOf('## Booting a cluster'));

function capture(): CommandIO & { text: () => string } {
  const lines: string[] = [];
  return { out: (t) => void lines.push(t), err: (t) => void lines.push(t), text: () => lines.join('') };
}

/** The walkthrough's cluster file with `edit` applied, as `clusters/kube-1.yaml` in a temporary directory. */
function variant(edit: (text: string) => string): { file: string; shown: (out: string) => string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-walkthrough-'));
  const file = path.join(dir, 'clusters', 'kube-1.yaml');
  fs.mkdirSync(path.dirname(file));
  fs.writeFileSync(file, edit(fs.readFileSync(FILE, 'utf8')));
  return { file, shown: (out) => out.replaceAll(file, 'clusters/kube-1.yaml') };
}

/** The lines of the walkthrough that start with `prefix` (code blocks are indented by three spaces). */
const documented = (prefix: string): string[] =>
  walkthrough
    .split('\n')
    .filter((l) => l.startsWith(`   ${prefix}`))
    .map((l) => l.slice(3));

describe('docs/infra.md walkthrough', () => {
  it('shows the fixture cluster file verbatim', () => {
    const text = fs.readFileSync(FILE, 'utf8');
    const indented = text
      .split('\n')
      .map((l) => (l ? `   ${l}` : l))
      .join('\n');
    expect(walkthrough).toContain(indented);
  });

  it('validates, and renders with --strict --offline without any missing manifest', async () => {
    const v = capture();
    expect(validateCommand(FILE, v)).toBe(0);
    expect(v.text()).toBe(`${FILE}: valid (3 node pools, 0 warnings)\n`);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-walkthrough-out-'));
    const r = capture();
    expect(await renderCommand(FILE, { out, format: 'yaml', offline: true, strict: true }, r)).toBe(0);
    expect(r.text()).toBe(`wrote 32 files to ${path.join(out, 'kube-1')}\n`);
    const kustomization = fs.readFileSync(path.join(out, 'kube-1/manifests/authnz-webhook/kustomization.yaml'), 'utf8');
    expect(kustomization).toContain(
      '            nodes:\n              clusterID: aws:123456789012:eu-central-1:kube-1\n              workerRoleARN: arn:aws:iam::123456789012:role/kube-1-worker\n',
    );
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('shows the error lines of the invalid variants', async () => {
    const bad = variant((t) =>
      t
        .replace('  vpcId: vpc-0a1b2c3d\n', '  vpcId: vpc-0a1b2c3d\n  apiAllowedCidr: 198.51.100.7/24\n')
        .replace('static_egress_nat_cidrs: [10.0.255.0/28, 10.0.255.16/28]', 'static_egress_nat_cidrs: [10.0.255.0/28]'),
    );
    const v = capture();
    expect(validateCommand(bad.file, v)).toBe(2);
    expect(bad.shown(v.text()).trimEnd().split('\n')).toEqual(documented('clusters/kube-1.yaml:').filter((l) => /^clusters\/kube-1\.yaml:\d+:\d+ /.test(l)));
    const noZone = variant((t) => t.replace(/  hostedZoneId: .*\n/, ''));
    const r = capture();
    expect(await renderCommand(noZone.file, { format: 'yaml', offline: true }, r)).toBe(2);
    expect(documented('clusters/kube-1.yaml: --offline')).toEqual([noZone.shown(r.text()).trimEnd()]);
  });
});
