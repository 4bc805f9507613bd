/**
 * The decision log (docs/authnz-webhook.md#authnz-decision-log, #authnz-access-audit): one JSON line per decision.
 *
 * - With `logging.decisions: privileged` (default) info level gets every authentication failure, every
 *   deny, every decision for Administrator, Manual, Emergency and allow-listed principals, and every
 *   audit event; everything else goes to debug. `all` logs every decision at info.
 * - Non-audit lines are rate-limited to 50/s per `reason` (drops are counted); audit lines (`audit:true`)
 *   never are.
 * - Lines never carry a token: callers pass `token_sha256` (12 hex digits) only.
 */
import { createHash } from 'node:crypto';
import type { Clock, Logger } from '@kubeaws/runtime';
import type { WebhookMetrics } from './metrics.js';

/** The first 12 hex digits of SHA-256 of a token (docs/authnz-webhook.md#authnz-no-token-leaks). */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

/** Lines per second per reason for non-audit lines. */
export const LOG_RATE_PER_REASON = 50;

/** See the module docs. */
export class DecisionLog {
  private window = 0;
  private counts = new Map<string, number>();
  mode: 'privileged' | 'all' = 'privileged';

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly metrics?: WebhookMetrics,
  ) {}

  private allow(reason: string): boolean {
    const sec = Math.floor(this.clock.now() / 1000);
    if (sec !== this.window) {
      this.window = sec;
      this.counts.clear();
    }
    const n = (this.counts.get(reason) ?? 0) + 1;
    this.counts.set(reason, n);
    if (n > LOG_RATE_PER_REASON) {
      this.metrics?.logLinesDropped.inc({ reason: reason.slice(0, 64) });
      return false;
    }
    return true;
  }

  /**
   * True when a decision line of this kind would be written at all (avoids building its fields): info lines when the
   * logger's level lets info through, debug lines when it lets debug through.
   */
  wants(privileged: boolean): boolean {
    return this.log.isLevelEnabled(this.mode === 'all' || privileged ? 'info' : 'debug');
  }

  /**
   * Writes a decision line. `privileged` marks lines that go to info in privileged mode.
   * `reason` is the rate-limit key (the rule id or the error).
   */
  decision(fields: Record<string, unknown>, privileged: boolean, reason: string): void {
    const info = this.mode === 'all' || privileged;
    if (!this.log.isLevelEnabled(info ? 'info' : 'debug')) return;
    if (!this.allow(reason)) return;
    if (info) this.log.info(fields, 'decision');
    else this.log.debug(fields, 'decision');
  }

  /** Writes an audit line (`audit: true`, never rate-limited). */
  audit(event: string, fields: Record<string, unknown>): void {
    this.log.info({ audit: true, event, ...fields }, event);
  }
}
