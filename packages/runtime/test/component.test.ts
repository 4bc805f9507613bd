import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startCountingApiServer, testKubeConfig } from '@kubeaws/testenv';
import {
  ConfigError,
  type KubeObject,
  type Manager,
  annotationChanged,
  defineComponent,
  flag,
  parsers,
  resourcePath,
  runComponent,
  splitKey,
  startComponent,
} from '../src';
import { namespace, waitFor } from './support';

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

const cmPath = (ns: string, name?: string) =>
  resourcePath({ group: '', version: 'v1', resource: 'configmaps', namespace: ns, name });
const secretPath = (ns: string, name?: string) =>
  resourcePath({ group: '', version: 'v1', resource: 'secrets', namespace: ns, name });

/**
 * A small component declared the way every kubeaws component is: a controller for ConfigMaps that
 * owns Secrets, and a leader-only runnable.
 */
function demoComponent(ns: string, log: { reconciled: string[]; runnable: string[] }) {
  return defineComponent({
    name: 'framework-it',
    description: 'framework integration test component',
    flags: {
      exitAfterFirstTick: flag<boolean>({
        flag: 'exit-after-first-tick',
        description: 'ask the framework to exit with code 3 after one tick',
        expected: 'true or false',
        default: false,
        parse: parsers.bool,
        boolean: true,
      }),
    },
    setup(mgr: Manager, cfg) {
      const cms = mgr.informer<ConfigMap>({ path: cmPath(ns) });
      const secrets = mgr.informer<KubeObject>({ path: secretPath(ns) });
      const controller = mgr
        .builder('demo')
        .for(cms, { kind: 'ConfigMap', predicates: [annotationChanged('demo/wanted')] })
        .owns(secrets)
        .complete(async (key) => {
          const { namespace: n, name } = splitKey(key);
          const cm = cms.cache.getByName(n, name);
          if (!cm) return;
          log.reconciled.push(key);
          mgr.events.normal(
            { apiVersion: 'v1', kind: 'ConfigMap', namespace: n, name, uid: cm.metadata?.uid },
            'Reconciled',
            'Reconcile',
            `reconciled by ${mgr.identity}`,
          );
        });
      mgr.add({
        name: 'ticker',
        start: async (signal) => {
          log.runnable.push(`start:${mgr.identity}`);
          if (cfg.exitAfterFirstTick) mgr.requestExit(3);
          await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
          log.runnable.push(`stop:${mgr.identity}`);
        },
      });
      return { controller, cms };
    },
  });
}

const testConfig = (ns: string) => ({
  leaseNamespace: ns,
  metricsBindAddress: '127.0.0.1:0',
  healthProbeBindAddress: '127.0.0.1:0',
  logLevel: 'silent' as const,
});

describe('defineComponent / startComponent against kube-apiserver', () => {
  let ns: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ ns, cleanup } = await namespace('rt-component')));
  afterAll(() => cleanup());

  it('builder: for() with a predicate and owns() enqueue the primary key; Events are flushed at stop', async () => {
    const log = { reconciled: [] as string[], runnable: [] as string[] };
    const rc = await startComponent(demoComponent(ns, log), {
      kubeConfig: testKubeConfig(),
      processMetrics: false,
      config: { ...testConfig(ns), leaderElect: false },
    });
    await rc.synced();
    const admin = rc.manager.client;
    await admin.create(cmPath(ns), { metadata: { name: 'app' } });
    await waitFor(() => log.reconciled.includes(`${ns}/app`), { timeoutMs: 20_000, description: 'create reconciled' });
    const n0 = log.reconciled.length;

    // an update that the predicate filters out (no demo/wanted change): delivered, not reconciled
    await admin.mergePatch(cmPath(ns, 'app'), { data: { x: '1' } });
    await waitFor(() => rc.handle.cms.cache.getByName(ns, 'app')?.data?.x === '1', {
      timeoutMs: 20_000,
      description: 'filtered update delivered',
    });
    const q = rc.handle.controller.queue;
    expect(q.len() + q.processingLen()).toBe(0);
    expect(log.reconciled.length).toBe(n0);
    // an owned Secret's change: reconciles the owner
    const cm = await admin.get<ConfigMap>(cmPath(ns, 'app'));
    await admin.create(secretPath(ns), {
      metadata: {
        name: 'app-secret',
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'app', uid: cm.metadata!.uid!, controller: true }],
      },
    });
    await waitFor(() => log.reconciled.length === n0 + 1, { timeoutMs: 20_000, description: 'owned Secret reconciles owner' });
    // an update the predicate passes
    await admin.mergePatch(cmPath(ns, 'app'), { metadata: { annotations: { 'demo/wanted': 'yes' } } });
    await waitFor(() => log.reconciled.length === n0 + 2, { timeoutMs: 20_000, description: 'annotation change reconciled' });

    await rc.stop();
    const events = await admin.list<KubeObject & { reason?: string; reportingController?: string }>(
      resourcePath({ group: 'events.k8s.io', version: 'v1', resource: 'events', namespace: ns }),
    );
    const ours = events.items.filter((e) => e.reason === 'Reconciled');
    expect(ours.length).toBeGreaterThanOrEqual(1);
    expect(ours[0]!.reportingController).toBe('kubeaws.io/framework-it');
    expect(log.runnable).toEqual([`start:${rc.manager.identity}`, `stop:${rc.manager.identity}`]);
  });

  it('a leader-only runnable runs on the leader only and moves with the Lease', async () => {
    const log = { reconciled: [] as string[], runnable: [] as string[] };
    const comp = demoComponent(ns, log);
    const opts = (identity: string) => ({
      kubeConfig: testKubeConfig(),
      processMetrics: false,
      identity,
      retryPeriodMs: 300,
      config: { ...testConfig(ns), leaseName: 'framework-it-lease' },
    });
    const one = await startComponent(comp, opts('one'));
    await waitFor(() => log.runnable.includes('start:one'), { timeoutMs: 20_000, description: 'one leads and runs' });
    const two = await startComponent(comp, opts('two'));
    await two.synced();
    expect(two.isLeader()).toBe(false);
    expect(log.runnable).toEqual(['start:one']);
    await one.stop();
    expect(log.runnable).toContain('stop:one');
    await waitFor(() => log.runnable.includes('start:two'), { timeoutMs: 10_000, description: 'two takes over' });
    await two.stop();
    expect(log.runnable).toEqual(['start:one', 'stop:one', 'start:two', 'stop:two']);
  });

  it('requestExit ends runComponent with the code, after a graceful shutdown', async () => {
    const log = { reconciled: [] as string[], runnable: [] as string[] };
    const exits: number[] = [];
    const code = await runComponent(demoComponent(ns, log), {
      argv: ['--exit-after-first-tick', '--leader-elect=false', '--metrics-bind-address=0', '--health-probe-bind-address=0', '--log-level=silent'],
      env: {},
      kubeConfig: testKubeConfig(),
      processMetrics: false,
      handleSignals: false,
      exit: (c) => exits.push(c),
    });
    expect(code).toBe(3);
    expect(exits).toEqual([3]);
    expect(log.runnable).toEqual([expect.stringMatching(/^start:/), expect.stringMatching(/^stop:/)]);
  });

  it('an invalid flag exits 2 naming the flag, before any API call', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'framework-it-'));
    const api = await startCountingApiServer(path.join(dir, 'kubeconfig'));
    try {
      const log = { reconciled: [] as string[], runnable: [] as string[] };
      const stderr: string[] = [];
      const code = await runComponent(demoComponent(ns, log), {
        argv: ['--kubeconfig', path.join(dir, 'kubeconfig'), '--leader-elect=maybe'],
        env: {},
        handleSignals: false,
        exit: () => {},
        stderr: (s) => stderr.push(s),
      });
      expect(code).toBe(2);
      expect(stderr.join('')).toMatch(/"maybe" for --leader-elect/);
      await expect(
        startComponent(demoComponent(ns, log), { argv: ['--lease-name', 'Not_A_Name'], env: {} }),
      ).rejects.toBeInstanceOf(ConfigError);
      expect(api.connections()).toBe(0);
    } finally {
      await api.close();
    }
  });
});
