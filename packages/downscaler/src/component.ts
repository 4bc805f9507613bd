/**
 * The downscaler component (docs/downscaler.md): its flags and env grammar (docs/downscaler.md#ds-flags;
 * invalid values exit 2 before any API call), its Manager settings and its setup. The framework adds the
 * shared flags (Lease `kubeaws-downscaler`), leader election, probes, metrics, SIGTERM drain, Lease
 * release and the Event flush. Run by `main.ts`; in-process: `startComponent(downscaler, { … })`.
 */
import { defineComponent } from '@kubeaws/runtime';
import { Downscaler } from './controller';
import { DESCRIPTION, configureDownscaler, describeSettings, downscalerFlags } from './settings';

/** Component version reported in `build_info`. */
export const VERSION = '0.1.0';

/**
 * The downscaler: configuration {@link DownscalerConfig}, handle the {@link Downscaler}. Writes go through
 * a client limited to `--qps`/`--burst` with field manager `--field-manager`; Events through the
 * Manager's recorder on a client of its own (50 requests/s, burst 100) within a budget of 10 Events/s,
 * burst 100 (docs/downscaler.md#ds-events). `--dry-run`: no Lease, no write, Events only logged.
 */
export const downscaler = defineComponent({
  name: 'downscaler',
  description: DESCRIPTION,
  flags: downscalerFlags(),
  configure: configureDownscaler,
  manager: (cfg) => ({
    qps: cfg.qps,
    burst: cfg.burst,
    fieldManager: cfg.fieldManager,
    dryRun: cfg.dryRun,
    eventQps: 50,
    eventBurst: 100,
    eventBudget: { qps: 10, burst: 100 },
  }),
  describe: describeSettings,
  setup: (mgr, cfg) => new Downscaler({ manager: mgr, settings: cfg, version: VERSION }),
});
