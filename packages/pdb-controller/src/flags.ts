/**
 * Command-line flags of the pdb-controller: the settings of docs/pdb-controller.md#pdb-flags (from
 * {@link SETTING_SPECS}) as runtime {@link FlagSpec}s, plus the shared runtime flags.
 */
import type { FlagSpec } from '@kubeaws/runtime';
import { SETTING_LIST, type Settings } from './config';

/** Default name of the leader-election Lease (`kubeaws-<component>`, as the manifests and RBAC use). */
export const LEASE_NAME = 'kubeaws-pdb-controller';

/** Settings that are boolean flags: a bare `--flag` means `true`. */
const BOOLEAN_SETTINGS: ReadonlySet<keyof Settings> = new Set(['enableRollouts', 'dryRun']);

/** The settings of docs/pdb-controller.md#pdb-flags as runtime flag specs (parse errors carry the expected form). */
export function settingFlags(): { [K in keyof Settings]: FlagSpec<Settings[K]> } {
  const out: Record<string, FlagSpec<unknown>> = {};
  for (const spec of SETTING_LIST) {
    const def = spec.parse(spec.default);
    if (!def.ok) throw new Error(`default of --${spec.flag} does not parse: ${def.expected}`);
    out[spec.key] = {
      flag: spec.flag,
      env: spec.env,
      description: spec.description,
      expected: spec.expected,
      default: def.value,
      parse: (raw: string) => {
        const r = spec.parse(raw);
        if (!r.ok) throw new Error(r.expected);
        return r.value;
      },
      boolean: BOOLEAN_SETTINGS.has(spec.key),
    };
  }
  return out as { [K in keyof Settings]: FlagSpec<Settings[K]> };
}

