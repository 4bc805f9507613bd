/**
 * Bad input (docs/pdb-controller.md#pdb-bad-input) and budget health feedback (docs/pdb-controller.md#pdb-sync-failed)
 * against the real control plane: every case yields one Event on the named object, one structured log line and one
 * metric increment, on first observation only (not again on resyncs), with the documented fallback; the process stays
 * healthy. A PodDisruptionBudget the API rejects (422, here through a ValidatingAdmissionPolicy) is
 * reported with the API message and retried with backoff.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { FakeClock } from '@kubeaws/runtime';
import { DURATION_EXPECTED, INT_OR_PERCENT_EXPECTED, UPSTREAM_DURATION_EXPECTED, formatTimestamp } from '../src/index';
import { Cluster, type Obj, type TestController, httpGet, startTestController, waitFor, workloadPath } from './support';

const SINCE = 'kubeaws.io/non-ready-since';
const pdbPath = (ns: string, name: string) => `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/${name}`;

describe('pdb-controller bad input', () => {
  const cluster = new Cluster();
  const clock = new FakeClock(Date.now());
  let saKc: KubeConfig;
  let ctl: TestController;

  beforeAll(async () => {
    saKc = await cluster.controllerKubeConfig();
    ctl = await startTestController(saKc, { clock, settings: { nonReadyTtlMs: 2 * 3_600_000, resyncPeriodMs: 2_000 } });
  });

  afterAll(async () => {
    await ctl?.stop();
    await cluster.cleanup();
  });

  /** The `invalid input` log lines about one object. */
  const badInputLines = (ns: string, name: string): Obj[] =>
    ctl.logs.find((l) => l.msg === 'invalid input' && l.namespace === ns && l.name === name);

  it('reports each invalid annotation once with an Event, a log line and a metric, and falls back', async () => {
    const ns = await cluster.namespace('bad');
    const cases: Array<{
      name: string;
      annotations: Record<string, string>;
      reason: string;
      field: string;
      value: string;
      expected: string;
      fallback: string;
    }> = [
      {
        name: 'mu',
        annotations: { 'kubeaws.io/max-unavailable': '0%' },
        reason: 'InvalidAnnotation',
        field: 'kubeaws.io/max-unavailable',
        value: '0%',
        expected: INT_OR_PERCENT_EXPECTED,
        fallback: '1 from --max-unavailable',
      },
      {
        name: 'ttl',
        annotations: { 'kubeaws.io/non-ready-ttl': 'soon', 'pdb-controller.zalando.org/non-ready-ttl': '30m' },
        reason: 'InvalidAnnotation',
        field: 'kubeaws.io/non-ready-ttl',
        value: 'soon',
        expected: DURATION_EXPECTED,
        fallback: '30m from pdb-controller.zalando.org/non-ready-ttl',
      },
      {
        name: 'alias',
        annotations: { 'pdb-controller.zalando.org/non-ready-ttl': 'forever' },
        reason: 'InvalidAnnotation',
        field: 'pdb-controller.zalando.org/non-ready-ttl',
        value: 'forever',
        expected: UPSTREAM_DURATION_EXPECTED,
        fallback: '2h from --non-ready-ttl',
      },
      {
        name: 'both',
        annotations: { 'kubeaws.io/non-ready-ttl': '1h', 'pdb-controller.zalando.org/non-ready-ttl': '2h' },
        reason: 'ConflictingAnnotations',
        field: 'pdb-controller.zalando.org/non-ready-ttl',
        value: '2h',
        expected: 'absent, or the same duration as kubeaws.io/non-ready-ttl',
        fallback: '1h from kubeaws.io/non-ready-ttl',
      },
      {
        name: 'opt',
        annotations: { 'kubeaws.io/default-pdb': 'yes' },
        reason: 'InvalidAnnotation',
        field: 'kubeaws.io/default-pdb',
        value: 'yes',
        expected: '"true" or "false" (lower case)',
        fallback: '"true" (protected)',
      },
    ];
    for (const c of cases) await cluster.deployment(ns, c.name, { annotations: c.annotations });
    // a generated name taken by a user PDB, and two overlapping workloads
    await cluster.createPdb(ns, 'taken-deployment-pdb', {
      maxUnavailable: 1,
      selector: { matchLabels: { app: 'nothing' } },
    });
    await cluster.deployment(ns, 'taken');
    await cluster.deployment(ns, 'wide', {
      templateLabels: { app: 'pair', v: '1' },
      selector: { matchLabels: { app: 'pair' } },
    });
    await cluster.deployment(ns, 'narrow', { templateLabels: { app: 'pair', v: '2' } });

    for (const c of cases) {
      const [ev] = await cluster.waitEvent(ns, c.reason, c.name);
      expect(ev).toMatchObject({ type: 'Warning', regarding: { kind: 'Deployment', name: c.name } });
      expect(ev.note).toContain(c.reason === 'ConflictingAnnotations' ? 'differ; using 1h' : `"${c.value}"`);
      // the fallback is in force: all of them (the bad default-pdb counts as "true") get a PDB with budget 1
      await cluster.ready('Deployment', ns, c.name);
      const pdb = await cluster.waitPdb(ns, `${c.name}-deployment-pdb`);
      expect(pdb.spec.maxUnavailable).toBe(1);
    }
    await cluster.waitEvent(ns, 'PDBNameConflict', 'taken');
    await cluster.waitEvent(ns, 'OverlappingSelectors', 'wide');
    await cluster.waitEvent(ns, 'OverlappingSelectors', 'narrow');

    // several resyncs later: still one Event, one log line and one increment per case
    await waitFor(() => ctl.logs.find((l) => l.key === `Deployment/${ns}/mu` && l.action === 'none').length >= 3, {
      timeoutMs: 20_000,
      description: 'three resyncs of mu',
    });
    const events = await cluster.events(ns);
    for (const c of cases) {
      const evs = events.filter((e) => e.reason === c.reason && e.regarding.name === c.name);
      expect(evs).toHaveLength(1);
      expect(evs[0].series).toBeUndefined();
      const lines = badInputLines(ns, c.name);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        level: 'warn',
        kind: 'Deployment',
        namespace: ns,
        name: c.name,
        field: c.field,
        value: c.value,
        expected: c.expected,
        fallback: c.fallback,
      });
    }
    for (const [name, field] of [
      ['taken', 'metadata.name'],
      ['wide', 'spec.selector'],
      ['narrow', 'spec.selector'],
    ]) {
      expect(events.filter((e) => e.regarding.name === name && e.type === 'Warning')).toHaveLength(1);
      expect(badInputLines(ns, name).map((l) => l.field)).toEqual([field]);
    }
    const metric = (field: string) => ctl.metric('kubeaws_pdb_controller_invalid_input_total', { field });
    expect(await metric('kubeaws.io/max-unavailable')).toBe(1);
    expect(await metric('kubeaws.io/non-ready-ttl')).toBe(1);
    expect(await metric('pdb-controller.zalando.org/non-ready-ttl')).toBe(2); // invalid alias + conflicting alias
    expect(await metric('kubeaws.io/default-pdb')).toBe(1);
    expect(await metric('metadata.name')).toBe(1);
    expect(await metric('spec.selector')).toBe(2);

    // fixing the annotation ends the condition; breaking it again reports it again
    await cluster.patch(workloadPath('Deployment', ns, 'mu'), {
      metadata: { annotations: { 'kubeaws.io/max-unavailable': '2' } },
    });
    await cluster.waitPdb(ns, 'mu-deployment-pdb', (p) => p.spec.maxUnavailable === 2);
    await cluster.patch(workloadPath('Deployment', ns, 'mu'), {
      metadata: { annotations: { 'kubeaws.io/max-unavailable': '0' } },
    });
    await cluster.waitEvent(ns, 'InvalidAnnotation', 'mu', /"0"/);
    await cluster.waitPdb(ns, 'mu-deployment-pdb', (p) => p.spec.maxUnavailable === 1);
    expect(await metric('kubeaws.io/max-unavailable')).toBe(2);

    // healthy throughout
    expect((await httpGet(`${ctl.addresses.health!.url}/healthz`)).status).toBe(200);
    expect((await httpGet(`${ctl.addresses.health!.url}/readyz`)).status).toBe(200);
  });

  it('resets an unparsable or future non-ready-since to now', async () => {
    const ns = await cluster.namespace('since');
    await cluster.deployment(ns, 'app');
    await cluster.ready('Deployment', ns, 'app');
    await cluster.waitPdb(ns, 'app-deployment-pdb');
    const [pod] = await cluster.pods(ns, { app: 'app' });
    await cluster.setPodReady(ns, pod.metadata.name, false);
    await cluster.waitPdb(
      ns,
      'app-deployment-pdb',
      (p) => p.metadata.annotations?.[SINCE] === formatTimestamp(clock.now()),
    );

    await clock.advance(60_000);
    await cluster.patch(pdbPath(ns, 'app-deployment-pdb'), { metadata: { annotations: { [SINCE]: 'yesterday' } } });
    await cluster.waitPdb(
      ns,
      'app-deployment-pdb',
      (p) => p.metadata.annotations?.[SINCE] === formatTimestamp(clock.now()),
    );
    await cluster.waitEvent(ns, 'InvalidAnnotation', 'app', /kubeaws\.io\/non-ready-since="yesterday"/);

    await clock.advance(60_000);
    const future = formatTimestamp(clock.now() + 3_600_000);
    await cluster.patch(pdbPath(ns, 'app-deployment-pdb'), { metadata: { annotations: { [SINCE]: future } } });
    await cluster.waitPdb(
      ns,
      'app-deployment-pdb',
      (p) => p.metadata.annotations?.[SINCE] === formatTimestamp(clock.now()),
    );
    await cluster.waitEvent(ns, 'InvalidAnnotation', 'app', new RegExp(future));
    expect(badInputLines(ns, 'app').map((l) => [l.field, l.value])).toEqual([
      [SINCE, 'yesterday'],
      [SINCE, future],
    ]);
    expect(await ctl.metric('kubeaws_pdb_controller_invalid_input_total', { field: SINCE })).toBe(2);
  });

  it('reports a PDB the API rejects with its message and backs off', async () => {
    const ns = await cluster.namespace('rejected');
    const policy = `pdb-controller-test-${ns}`;
    await cluster.apply([
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicy',
        metadata: { name: policy },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: {
            resourceRules: [
              {
                apiGroups: ['policy'],
                apiVersions: ['v1'],
                operations: ['CREATE', 'UPDATE'],
                resources: ['poddisruptionbudgets'],
              },
            ],
          },
          validations: [
            {
              expression: "!has(object.spec.maxUnavailable) || string(object.spec.maxUnavailable) != '7'",
              message: 'maxUnavailable 7 is not allowed in this cluster',
            },
          ],
        },
      },
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicyBinding',
        metadata: { name: policy },
        spec: {
          policyName: policy,
          validationActions: ['Deny'],
          matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } },
        },
      },
    ]);
    try {
      // the policy is in force once a probe PDB is refused
      await waitFor(
        async () => {
          try {
            await cluster.createPdb(ns, 'probe', { maxUnavailable: 7, selector: { matchLabels: { app: 'probe' } } });
            await cluster.delete(pdbPath(ns, 'probe'));
            return false;
          } catch (e) {
            return (e as { statusCode?: number }).statusCode === 422;
          }
        },
        { timeoutMs: 30_000, intervalMs: 500, description: 'ValidatingAdmissionPolicy in force' },
      );
      const errorsBefore = await ctl.metric('kubeaws_pdb_controller_pdb_writes_total', {
        operation: 'create',
        result: 'error',
      });
      await cluster.deployment(ns, 'seven', { annotations: { 'kubeaws.io/max-unavailable': '7' } });
      const [ev] = await cluster.waitEvent(ns, 'PDBRejected', 'seven');
      expect(ev.type).toBe('Warning');
      expect(ev.note).toContain('maxUnavailable 7 is not allowed in this cluster');
      const started = Date.now();
      await waitFor(
        async () =>
          (await ctl.metric('kubeaws_pdb_controller_pdb_writes_total', { operation: 'create', result: 'error' })) -
            errorsBefore >=
          3,
        { description: 'retries' },
      );
      await waitFor(() => Date.now() - started >= 4_000, {
        timeoutMs: 6_000,
        intervalMs: 250,
        description: 'a few seconds of retries',
      });
      // exponential backoff: a handful of attempts, not a retry storm; one Event, one log line
      const attempts =
        (await ctl.metric('kubeaws_pdb_controller_pdb_writes_total', { operation: 'create', result: 'error' })) -
        errorsBefore;
      expect(attempts).toBeLessThanOrEqual(15);
      expect((await cluster.events(ns)).filter((e) => e.reason === 'PDBRejected')).toHaveLength(1);
      expect(badInputLines(ns, 'seven')).toHaveLength(1);
      expect(ctl.logs.find((l) => l.key === `Deployment/${ns}/seven` && l.level === 'error')[0]).toMatchObject({
        action: 'create',
        pdb: 'seven-deployment-pdb',
        error: expect.stringContaining('maxUnavailable 7 is not allowed'),
      });
      expect(await cluster.pdb(ns, 'seven-deployment-pdb')).toBeUndefined();

      // an acceptable budget is created at once
      await cluster.patch(workloadPath('Deployment', ns, 'seven'), {
        metadata: { annotations: { 'kubeaws.io/max-unavailable': '2' } },
      });
      await cluster.waitPdb(ns, 'seven-deployment-pdb', (p) => p.spec.maxUnavailable === 2);
      expect((await httpGet(`${ctl.addresses.health!.url}/healthz`)).status).toBe(200);
    } finally {
      await cluster.delete(`/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${policy}`);
      await cluster.delete(`/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${policy}`);
    }
  });

  it('reports a budget the disruption controller cannot compute, without writing', async () => {
    const ns = await cluster.namespace('syncfailed');
    await cluster.deployment(ns, 'mixed');
    await cluster.ready('Deployment', ns, 'mixed');
    await cluster.waitPdb(ns, 'mixed-deployment-pdb');
    await ctl.idle();
    const writes = ctl.logs.find((l) => l.key === `Deployment/${ns}/mixed` && l.action && l.action !== 'none').length;

    // a Job's pod matching the selector: the disruption controller cannot find the scale of a Job
    await cluster.create(`/apis/batch/v1/namespaces/${ns}/jobs`, {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'migrate' },
      spec: {
        template: {
          metadata: { labels: { app: 'mixed' } },
          spec: {
            restartPolicy: 'Never',
            containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }],
            terminationGracePeriodSeconds: 0,
          },
        },
      },
    });
    const [ev] = await cluster.waitEvent(ns, 'PDBSyncFailed', 'mixed', /mixed-deployment-pdb/);
    expect(ev.type).toBe('Warning');
    const pdb = await cluster.pdb(ns, 'mixed-deployment-pdb');
    const cond = pdb?.status.conditions.find((c: Obj) => c.type === 'DisruptionAllowed');
    expect(cond.reason).toBe('SyncFailed');
    expect(cond.message).toContain('jobs.batch');
    expect(ev.note).toContain(cond.message);
    await waitFor(async () => (await ctl.metric('kubeaws_pdb_controller_pdb_sync_failed')) === 1, {
      description: 'gauge 1',
    });

    await cluster.delete(`/apis/batch/v1/namespaces/${ns}/jobs/migrate`);
    await waitFor(async () => (await ctl.metric('kubeaws_pdb_controller_pdb_sync_failed')) === 0, {
      description: 'gauge 0',
    });
    await ctl.idle();
    expect(ctl.logs.find((l) => l.key === `Deployment/${ns}/mixed` && l.action && l.action !== 'none')).toHaveLength(
      writes,
    );
  });
});
