import { ConfigError } from '@kubeaws/runtime';
import { downscaler } from './component';

function failure(argv: string[], env: Record<string, string>): string {
  try {
    downscaler.parse(argv, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error(`no error for ${JSON.stringify({ argv, env })}`);
}

describe('the downscaler component (docs/downscaler.md#ds-flags)', () => {
  it.each<[string[], Record<string, string>, string]>([
    [[], { INCLUDE_RESOURCES: 'jobs' }, 'for env INCLUDE_RESOURCES (flag --include-resources)'],
    [['--include-resources=jobs'], { INCLUDE_RESOURCES: 'jobs' }, 'for --include-resources (env INCLUDE_RESOURCES)'],
    [[], { EXCLUDE_NAMESPACES: 'a(' }, 'for env EXCLUDE_NAMESPACES (flag --exclude-namespaces)'],
    [['--default-timezone', 'CET'], { DEFAULT_TIMEZONE: 'CET' }, 'for --default-timezone (env DEFAULT_TIMEZONE)'],
  ])('names where a value came from: %j %j', (argv, env, says) => {
    expect(failure(argv, env)).toContain(says);
  });

  it('takes the write limit, field manager and dry run from the flags, and fixes the Event budget', () => {
    const cfg = downscaler.parse(['--qps=5', '--burst=7', '--field-manager=fm', '--dry-run'], {});
    expect(downscaler.manager!(cfg)).toEqual({
      qps: 5,
      burst: 7,
      fieldManager: 'fm',
      dryRun: true,
      eventQps: 50,
      eventBurst: 100,
      eventBudget: { qps: 10, burst: 100 },
    });
    expect(cfg).toMatchObject({ leaseName: 'kubeaws-downscaler', leaderElect: true, once: false });
  });
});
