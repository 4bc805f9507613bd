/**
 * How the pdb-controller reports: Events through the Manager's recorder (docs/pdb-controller.md#pdb-events)
 * and bad input as one `warn` log line plus one `invalid_input_total{field}` increment
 * (docs/pdb-controller.md#pdb-bad-input). What to report, and when, is decided in `decide.ts`.
 */
import type { Logger, Manager, ObjectReference } from '@kubeaws/runtime';
import type { ControllerEvent, InvalidInput } from './decide';
import type { PdbMetrics } from './metrics';

/** The object a bad-input line is about: a workload, or the controller's own Pod. */
export interface Subject {
  kind: string;
  namespace: string;
  name: string;
}

/** Emits Events and bad-input reports of the pdb-controller. */
export class Reporter {
  private readonly log: Logger;

  constructor(
    private readonly mgr: Manager,
    private readonly metrics: PdbMetrics,
  ) {
    this.log = mgr.logger;
  }

  /** Records `ev` regarding `ev.regarding`, else `regarding`; `action` is the Event's action (e.g. `Create`). */
  event(ev: ControllerEvent, regarding: ObjectReference, action: string): void {
    this.mgr.events.record({
      regarding: ev.regarding ?? regarding,
      related: ev.related,
      type: ev.type,
      reason: ev.reason,
      action,
      note: ev.note,
    });
  }

  /** The `invalid input` log line (`kind`, `namespace`, `name`, `field`, `value`, `expected`, `fallback`) and metric. */
  badInput(subject: Subject, i: InvalidInput): void {
    this.metrics.invalidInput.inc({ field: i.field });
    this.log.warn(
      {
        kind: subject.kind,
        namespace: subject.namespace,
        name: subject.name,
        field: i.field,
        value: i.value,
        expected: i.expected,
        fallback: i.fallback,
      },
      'invalid input',
    );
  }
}
