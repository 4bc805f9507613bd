import { Writable } from 'node:stream';
import { ComponentMetrics, FakeClock, type LogLevel, createLogger } from '@kubeaws/runtime';
import { DecisionLog, LOG_RATE_PER_REASON } from './decision-log';
import { WebhookMetrics } from './metrics';

function setup(level: LogLevel, mode: 'privileged' | 'all') {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  const metrics = new WebhookMetrics(new ComponentMetrics('authnz-webhook', { processMetrics: false }));
  const log = new DecisionLog(
    createLogger({ component: 'authnz-webhook', level, destination: dest }),
    new FakeClock(),
    metrics,
  );
  log.mode = mode;
  return { log, lines, metrics };
}

describe('DecisionLog', () => {
  it.each<[LogLevel, 'privileged' | 'all', boolean, boolean]>([
    // level, mode, privileged, wanted
    ['info', 'privileged', true, true],
    ['info', 'privileged', false, false],
    ['info', 'all', false, true],
    ['debug', 'privileged', false, true],
    ['warn', 'privileged', true, false],
    ['warn', 'all', false, false],
    ['error', 'privileged', true, false],
    ['debug', 'all', true, true],
  ])(
    'level %s, mode %s, privileged %s: wants() = %s, and a line is written exactly then',
    (level, mode, privileged, wanted) => {
      const { log, lines } = setup(level, mode);
      expect(log.wants(privileged)).toBe(wanted);
      log.decision({ event: 'authz', rule: 'r' }, privileged, 'r');
      expect(lines.length).toBe(wanted ? 1 : 0);
    },
  );

  it('lines the logger level drops are not counted as rate-limit drops', async () => {
    const { log, metrics } = setup('warn', 'privileged');
    for (let i = 0; i < LOG_RATE_PER_REASON + 10; i++) log.decision({ event: 'authz' }, true, 'deny-rule');
    const text = await metrics.base.registry.getSingleMetricAsString('kubeaws_authnz_webhook_log_lines_dropped_total');
    expect(text).not.toContain('deny-rule');
  });

  it('lines above the rate limit are dropped and counted', async () => {
    const { log, lines, metrics } = setup('info', 'privileged');
    for (let i = 0; i < LOG_RATE_PER_REASON + 10; i++) log.decision({ event: 'authz' }, true, 'deny-rule');
    expect(lines.length).toBe(LOG_RATE_PER_REASON);
    const text = await metrics.base.registry.getSingleMetricAsString('kubeaws_authnz_webhook_log_lines_dropped_total');
    expect(text).toContain('kubeaws_authnz_webhook_log_lines_dropped_total{reason="deny-rule"} 10');
  });
});
