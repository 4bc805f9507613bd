import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoreV1Api, EventsV1Api, KubeConfig } from '@kubernetes/client-node';
import { Cluster, type MotoServer, ensureBinaries, serviceAccountKubeConfig, startCluster, startMoto } from '@kubeaws/testenv';
import { applyObjects, readObjects } from './apply';
import { COMPONENTS, ComponentSpec, repoRoot } from './components';
import { type StaticEgressDemo, prepareStaticEgress } from './up-egress';
import { type NodeLifecycleDemo, prepareNodeLifecycle } from './up-nlc';
import { METRICS_ADAPTER_CLUSTER, type MetricsAdapterDemo, prepareMetricsAdapter } from './up-ma';
import { type AuthnzDemo, prepareAuthnzWiring } from './up-authnz';
import { sumSamples } from './prometheus';

/** Options of `kubeaws up`. */
export interface UpOptions {
  /** Run against this cluster instead of starting a local one. */
  kubeconfig?: string;
  /** Apply the demo workloads of `examples/` (default true). */
  examples: boolean;
  /** Fake nodes of the local cluster (default 3). */
  nodes: number;
  /** Components to run (default all). */
  components: string[];
  /** Status refresh interval in milliseconds. */
  refreshMs: number;
  out: NodeJS.WriteStream;
}

/** The components whose local demo needs AWS (moto). */
const AWS_DEMOS = ['node-lifecycle-controller', 'static-egress-controller', 'metrics-adapter'];

interface RunningComponent {
  spec: ComponentSpec;
  child: ChildProcess;
  metricsUrl: string;
  readyzUrl: string;
  logPath: string;
  exited?: string;
}

interface RecentEvent {
  time: string;
  type: string;
  reason: string;
  object: string;
  note: string;
}

/**
 * `kubeaws up`: starts (or attaches to) a cluster, runs the components against it as child processes, applies
 * the demo workloads and shows a live status until SIGINT/SIGTERM, then tears everything down.
 *
 * On a local cluster each component runs under its own ServiceAccount with the RBAC of `manifests/<component>`
 * (a token from the TokenRequest API), exactly as in a real cluster. With `--kubeconfig` the given credentials
 * are used and nothing in kube-system is changed.
 * @returns the process exit code (0 after a clean Ctrl-C).
 */
export async function up(opts: UpOptions): Promise<number> {
  const root = repoRoot();
  const say = (line: string): void => void opts.out.write(`${line}\n`);
  const selected = COMPONENTS.filter((c) => opts.components.length === 0 || opts.components.includes(c.name));
  for (const c of selected) {
    const main = path.join(root, c.main);
    if (!fs.existsSync(main)) throw new Error(`${c.name} is not built (${main} missing): run \`npx nx run ${c.name}:build\``);
  }

  let cluster: Cluster | undefined;
  const running: RunningComponent[] = [];
  let nlcDemo: NodeLifecycleDemo | undefined;
  let egressDemo: StaticEgressDemo | undefined;
  let maDemo: MetricsAdapterDemo | undefined;
  let authnzDemo: AuthnzDemo | undefined;
  // One moto server for the demos that need AWS (each uses its own region), started while the cluster starts.
  let motoStart: Promise<MotoServer> | undefined;
  const stopAll = async (): Promise<void> => {
    await Promise.all(running.map((r) => stopChild(r.child)));
    await nlcDemo?.stop();
    await egressDemo?.stop();
    await maDemo?.stop();
    await authnzDemo?.stop();
    await (await motoStart?.catch(() => undefined))?.stop();
    if (cluster) {
      say('stopping the local cluster');
      await cluster.stop();
    }
  };
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeaws-up-'));
  // Start of the run: the status view reports the time until every component is Ready.
  const t0 = Date.now();

  try {
    let kubeconfigPath = opts.kubeconfig;
    if (!kubeconfigPath) {
      say('building or reusing the control-plane binaries (first run: several minutes)');
      const binaries = await ensureBinaries({ onProgress: (l: string) => say(`  ${l}`) });
      say(`starting a local cluster with ${opts.nodes} fake nodes`);
      const tc = Date.now();
      // The metrics-adapter needs the aggregator to resolve its ExternalName Service and a short HPA sync (up-ma.ts).
      const maCluster = selected.some((c) => c.name === 'metrics-adapter') ? METRICS_ADAPTER_CLUSTER : {};
      // The authnz webhook is wired into kube-apiserver with the shipped files, which kube-apiserver reads at start (up-authnz.ts).
      if (selected.some((c) => c.name === 'authnz-webhook')) authnzDemo = await prepareAuthnzWiring(root, workDir, say);
      if (selected.some((c) => AWS_DEMOS.includes(c.name))) {
        say('starting moto (local AWS stand-in) for the node-lifecycle-controller, static-egress-controller and metrics-adapter demos');
        motoStart = startMoto();
        motoStart.catch(() => undefined); // awaited (and its error thrown) by the first demo that needs it
      }
      cluster = await startCluster({
        nodes: opts.nodes,
        binaries,
        onProgress: (l: string) => say(`  ${l}`),
        ...maCluster,
        apiserverExtraArgs: { ...(maCluster as typeof METRICS_ADAPTER_CLUSTER).apiserverExtraArgs, ...authnzDemo?.apiserverArgs },
      });
      kubeconfigPath = cluster.kubeconfigPath;
      say(`cluster ready in ${((Date.now() - tc) / 1000).toFixed(1)} s: ${cluster.server}`);
      say(`  export KUBECONFIG=${kubeconfigPath}`);
    }
    const adminKc = new KubeConfig();
    adminKc.loadFromFile(kubeconfigPath as string);

    // Each component's RBAC, credentials, local AWS and process are set up concurrently: on a 2-core machine the
    // start is bound by waiting (tokens, moto, process start-up), not by work.
    const launch = async (spec: ComponentSpec): Promise<void> => {
      let componentKubeconfig = kubeconfigPath;
      if (spec.name === 'authnz-webhook' && !cluster) {
        // kube-apiserver must be started with the webhook's files; an existing cluster is wired by its own flags.
        say(`skipping ${spec.name}: wire an existing cluster's kube-apiserver with manifests/authnz-webhook/apiserver instead`);
        return;
      }
      if (cluster) {
        // The access namespace and CRD the webhook's RBAC refers to.
        if (spec.name === 'authnz-webhook') await authnzDemo?.install(adminKc);
        // Run under the component's own ServiceAccount with exactly the shipped RBAC.
        const rbac = readObjects(path.join(root, spec.manifests), (f) => f === 'serviceaccount.yaml' || f === 'rbac.yaml');
        await applyObjects(adminKc, rbac);
        const saKc = await serviceAccountKubeConfig(adminKc, spec.serviceAccount.namespace, spec.serviceAccount.name, {
          expirationSeconds: 24 * 3600,
        });
        componentKubeconfig = path.join(workDir, `${spec.name}.kubeconfig`);
        fs.writeFileSync(componentKubeconfig, saKc.exportConfig(), { mode: 0o600 });
      }
      let extra: { env: Record<string, string>; args: string[] } = { env: {}, args: [] };
      if (spec.name === 'node-lifecycle-controller') {
        // Local AWS (moto) and demo nodes only on a local cluster; against a real one the controller needs its own flags.
        if (!cluster) {
          say(`skipping ${spec.name}: it needs --cluster-name, --aws-region and a queue on an existing cluster`);
          return;
        }
        nlcDemo = await prepareNodeLifecycle(adminKc, await motoStart!, say);
        extra = nlcDemo;
      }
      if (spec.name === 'static-egress-controller') {
        // Local EC2 (moto) with a demo VPC only on a local cluster; against a real one it needs its own flags and AWS.
        if (!cluster) {
          say(`skipping ${spec.name}: it needs --cluster-id, --availability-zones and AWS access on an existing cluster`);
          return;
        }
        egressDemo = await prepareStaticEgress(await motoStart!, say);
        extra = egressDemo;
      }
      if (spec.name === 'authnz-webhook' && authnzDemo) extra = authnzDemo;
      if (spec.name === 'metrics-adapter') {
        // Local SQS (moto) and loopback APIServices only on a local cluster; a real one uses manifests/metrics-adapter.
        if (!cluster) {
          say(`skipping ${spec.name}: on an existing cluster install manifests/metrics-adapter instead`);
          return;
        }
        maDemo = await prepareMetricsAdapter(adminKc, await motoStart!, workDir, say);
        extra = maDemo;
      }
      const r = await startComponent(root, workDir, spec, componentKubeconfig as string, extra);
      running.push(r);
      say(`started ${spec.name} (logs: ${r.logPath})`);
    };
    const launched = await Promise.allSettled(selected.map(launch));
    const failed = launched.find((l): l is PromiseRejectedResult => l.status === 'rejected');
    if (failed) throw failed.reason;
    // The status view lists the components in start order.
    running.sort((a, b) => selected.indexOf(a.spec) - selected.indexOf(b.spec));
    const ready = watchReady(running, t0);

    if (opts.examples) {
      // Each folder is independent (its own namespaces): applied concurrently.
      await Promise.all(
        selected.map(async (spec) => {
          const applied = await applyObjects(adminKc, readObjects(path.join(root, spec.examples)));
          say(`applied ${applied.length} demo objects from ${spec.examples}`);
        }),
      );
      // Runs in the background: it waits for the protected demo pods to be Ready before it asks for the decommission.
      nlcDemo?.start().catch((e: Error) => say(`node lifecycle demo: ${e.message}`));
    }
    // The APIServices and the queue cycle, with or without the demo workloads.
    await maDemo?.start();

    return await statusLoop(opts, adminKc, running, ready, cluster, { nlcDemo, egressDemo, maDemo, authnzDemo });
  } finally {
    await stopAll();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function startComponent(
  root: string,
  workDir: string,
  spec: ComponentSpec,
  kubeconfig: string,
  extra: { env: Record<string, string>; args: string[] } = { env: {}, args: [] },
): Promise<RunningComponent> {
  const metricsPort = await freePort();
  const probePort = await freePort();
  const logPath = path.join(workDir, `${spec.name}.log`);
  const log = fs.openSync(logPath, 'a');
  const child = spawn(
    process.execPath,
    [
      path.join(root, spec.main),
      `--kubeconfig=${kubeconfig}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
      '--lease-namespace=kube-system',
      ...spec.args,
      ...extra.args,
    ],
    { stdio: ['ignore', log, log], env: { ...process.env, ...extra.env, POD_NAME: `${spec.name}-local`, POD_NAMESPACE: 'kube-system' } },
  );
  const r: RunningComponent = {
    spec,
    child,
    logPath,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    readyzUrl: `http://127.0.0.1:${probePort}/readyz`,
  };
  child.on('exit', (code, signal) => (r.exited = signal ? `killed by ${signal}` : `exited with code ${code}`));
  return r;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 35_000);
  await done;
  clearTimeout(timer);
}

async function fetchText(url: string): Promise<{ status: number; text: string } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, text: await res.text() };
  } catch {
    return undefined;
  }
}

async function recentEvents(events: EventsV1Api, controllers: string[]): Promise<RecentEvent[]> {
  try {
    const list = await events.listEventForAllNamespaces({ limit: 500 });
    return list.items
      .filter((e) => controllers.includes(e.reportingController ?? ''))
      .map((e) => {
        const when = e.series?.lastObservedTime ?? e.eventTime ?? e.metadata?.creationTimestamp;
        const r = e.regarding;
        return {
          time: when ? new Date(when as unknown as string).toISOString().slice(11, 19) : '',
          type: e.type ?? '',
          reason: e.reason ?? '',
          object: `${r?.kind}/${r?.namespace ? `${r.namespace}/` : ''}${r?.name}`,
          note: e.note ?? '',
        };
      })
      .sort((a, b) => a.time.localeCompare(b.time));
  } catch {
    return [];
  }
}

/** When every component first answered `/readyz` with 200, as seconds since `t0`. */
interface ReadyWatch {
  seconds?: number;
  stop(): void;
}

/** Polls every component's `/readyz` every 250 ms until all answer 200 at once (or a component exits). */
function watchReady(running: RunningComponent[], t0: number): ReadyWatch {
  const w: ReadyWatch = { stop: () => clearInterval(timer) };
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void Promise.all(running.map((r) => fetchText(r.readyzUrl)))
      .then((answers) => {
        if (running.length > 0 && answers.every((a) => a?.status === 200) && w.seconds === undefined) {
          w.seconds = (Date.now() - t0) / 1000;
          clearInterval(timer);
        }
      })
      .finally(() => (busy = false));
  }, 250);
  return w;
}

/** The demo parts of a local run, each adding lines to the status view. */
interface Demos {
  nlcDemo?: NodeLifecycleDemo;
  egressDemo?: StaticEgressDemo;
  maDemo?: MetricsAdapterDemo;
  authnzDemo?: AuthnzDemo;
}

/**
 * Redraws the status view until SIGINT/SIGTERM. On a TTY the view is one screen, redrawn in place (cursor home,
 * each line cleared to its end, the rest of the screen cleared) and cut to the terminal's height; otherwise the
 * head is printed whenever it changes and each new Event once.
 */
async function statusLoop(
  opts: UpOptions,
  kc: KubeConfig,
  running: RunningComponent[],
  ready: ReadyWatch,
  cluster: Cluster | undefined,
  demos: Demos,
): Promise<number> {
  const tty = Boolean(opts.out.isTTY);
  let stop = false;
  const onSignal = (): void => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const core = kc.makeApiClient(CoreV1Api);
  const eventsApi = kc.makeApiClient(EventsV1Api);
  let last = '';
  const seenEvents = new Set<string>();
  if (tty) opts.out.write('\x1b[2J');
  while (!stop) {
    const lines: string[] = [];
    let nodes = '?';
    try {
      const list = await core.listNode();
      const ready = list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      nodes = `${ready.length}/${list.items.length}`;
    } catch {
      nodes = 'unreachable';
    }
    const states: string[] = [];
    const componentLines: string[] = [];
    for (const r of running) {
      const [metrics, readyz] = await Promise.all([fetchText(r.metricsUrl), fetchText(r.readyzUrl)]);
      const ok = !r.exited && readyz?.status === 200;
      const state = r.exited ? `DOWN (${r.exited}; see ${r.logPath})` : ok ? 'Ready' : 'starting';
      const counters = metrics
        ? Object.entries(r.spec.counters)
            .map(([label, sel]) => `${label} ${sumSamples(metrics.text, sel)}`)
            .join(', ')
        : 'metrics unavailable';
      componentLines.push(`  ${r.spec.name.padEnd(26)} ${state.padEnd(8)} ${counters}`);
      states.push(state);
    }
    const readyAfter = ready.seconds !== undefined ? `${ready.seconds.toFixed(1)} s` : undefined;
    lines.push(
      `kubeaws up: ${cluster ? `local cluster ${cluster.server}` : kc.getCurrentCluster()?.server}, nodes Ready ${nodes}, ` +
        (readyAfter ? `all ${running.length} components Ready after ${readyAfter}` : `${states.filter((s) => s === 'Ready').length}/${running.length} components Ready`),
    );
    lines.push(...componentLines);
    const { nlcDemo, egressDemo, maDemo, authnzDemo } = demos;
    if (nlcDemo) lines.push(...(await nlcDemo.status().catch(() => ['  node lifecycle: status unavailable'])));
    if (egressDemo) lines.push(...(await egressDemo.status().catch(() => ['  egress: status unavailable'])));
    if (maDemo) lines.push(...(await maDemo.status().catch(() => ['  metrics demo: status unavailable'])));
    if (authnzDemo && cluster && running.some((r) => r.spec.name === 'authnz-webhook'))
      lines.push(...(await authnzDemo.status(cluster.server, cluster.caCertPath).catch((e: Error) => [`  people: status unavailable (${e.message})`])));
    const events = await recentEvents(
      eventsApi,
      running.map((r) => `kubeaws.io/${r.spec.name}`),
    );
    const warnings = events.filter((e) => e.type === 'Warning').length;
    lines.push(`  events: ${events.length} (${warnings} warnings)`);
    if (tty) {
      const rows = opts.out.rows || 50;
      const cols = opts.out.columns || 200;
      const room = Math.max(0, rows - lines.length - 3);
      for (const e of events.slice(-Math.min(room, 12))) lines.push(`    ${e.time} ${e.type.padEnd(7)} ${e.reason.padEnd(22)} ${e.object}: ${e.note}`);
      lines.push('', '(Ctrl-C stops everything)');
      const frame = lines.slice(0, rows - 1).map((l) => (l.length > cols ? l.slice(0, cols - 1) : l)).join('\x1b[K\n');
      if (frame !== last) opts.out.write(`\x1b[H${frame}\x1b[K\x1b[J`);
      last = frame;
    } else {
      const head = lines.join('\n');
      if (head !== last) opts.out.write(`${head}\n`);
      last = head;
      for (const e of events) {
        const key = `${e.time}|${e.reason}|${e.object}|${e.note}`;
        if (seenEvents.has(key)) continue;
        seenEvents.add(key);
        opts.out.write(`    ${e.time} ${e.type} ${e.reason} ${e.object}: ${e.note}\n`);
      }
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, readyAfter ? opts.refreshMs : Math.min(opts.refreshMs, 500));
      const check = setInterval(() => {
        if (stop) {
          clearTimeout(t);
          clearInterval(check);
          resolve();
        }
      }, 100);
      t.unref?.();
      setTimeout(() => clearInterval(check), opts.refreshMs + 10);
    });
  }
  ready.stop();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  opts.out.write('\nshutting down\n');
  return 0;
}
