import { sumSamples } from './prometheus';

const text = `# HELP kubeaws_pdb_controller_pdb_writes_total Writes
# TYPE kubeaws_pdb_controller_pdb_writes_total counter
kubeaws_pdb_controller_pdb_writes_total{operation="create",result="success"} 3
kubeaws_pdb_controller_pdb_writes_total{operation="create",result="conflict"} 1
kubeaws_pdb_controller_pdb_writes_total{operation="delete",result="success"} 2
kubeaws_pdb_controller_managed_pdbs{kind="Deployment"} 2
kubeaws_pdb_controller_managed_pdbs{kind="StatefulSet"} 1
kubeaws_label_escape{note="a\\"b"} 7
`;

describe('sumSamples', () => {
  it.each([
    ['kubeaws_pdb_controller_managed_pdbs', 3],
    ['kubeaws_pdb_controller_pdb_writes_total', 6],
    ['kubeaws_pdb_controller_pdb_writes_total{operation="create"}', 4],
    ['kubeaws_pdb_controller_pdb_writes_total{operation="create",result="success"}', 3],
    ['kubeaws_pdb_controller_pdb_writes_total{operation="apply"}', 0],
    ['kubeaws_label_escape{note="a\\"b"}', 7],
    ['missing_metric', 0],
  ])('%s → %d', (selector, expected) => {
    expect(sumSamples(text, selector)).toBe(expected);
  });

  it('rejects a malformed selector with the selector in the message', () => {
    expect(() => sumSamples(text, '1bad{')).toThrow(/invalid metric selector "1bad\{"/);
  });
});
