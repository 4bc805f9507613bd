import { existsSync, readFileSync, rmSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { type BinaryPaths, ensureBinaries } from './binaries';
import {
  AUDIT_POLICY_YAML,
  type ClusterLayout,
  KWOK_NODE_ANNOTATION,
  apiserverFlags,
  clusterLayout,
  controllerManagerFlags,
  etcdFlags,
  kwokFlags,
  schedulerFlags,
  toFlags,
  type ExtraArgs,
} from './flags';
import { writeKubeconfig } from './kubeconfig';
import { packageDir } from './paths';
import { generatePki, pkiPaths, writePki } from './pki';
import { type ProcessSpec, isAlive, killNow, startProcess, stopProcess, tailFile } from './proc';
import { freePorts } from './wait';

/** The control-plane processes, in start order. */
export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
/** Name of one control-plane process. */
export type ComponentName = (typeof COMPONENTS)[number];

/** A started process as recorded in the state file. */
export interface ProcessRecord extends ProcessSpec {
  /** Process id (also its process-group id). */
  pid: number;
}

/**
 * Everything needed to control a running cluster from any process; written as JSON to
 * `<dataDir>/state.json` by {@link startCluster} and read by {@link attachCluster}.
 */
export interface ClusterState {
  version: 1;
  dataDir: string;
  /** Remove `dataDir` on stop. */
  removeDataDir: boolean;
  /** Process that started the cluster; when it dies, the reaper stops the cluster. */
  ownerPid: number;
  /** Reaper process id (0 when none). */
  reaperPid: number;
  /** `https://127.0.0.1:<port>`. */
  server: string;
  /** Admin kubeconfig (system:masters). */
  kubeconfigPath: string;
  auditLogPath: string;
  caCertPath: string;
  /** `http://127.0.0.1:<port>` of etcd's client API (gRPC gateway under `/v3/`). */
  etcdEndpoint: string;
  /** Number of fake nodes. */
  nodes: number;
  /** Admin client cert/key paths (for the readiness probe). */
  adminCertPath: string;
  adminKeyPath: string;
  processes: Record<ComponentName, ProcessRecord>;
}

/** Options for {@link startCluster}. */
export interface StartClusterOptions {
  /** Number of kwok fake Nodes to create and wait for (Ready). Default 3. */
  nodes?: number;
  /** Binaries to run; default: {@link ensureBinaries} (builds missing ones). */
  binaries?: BinaryPaths;
  /** Directory for all files; default a new `kubeaws-testenv-*` dir under the OS temp dir. */
  dataDir?: string;
  /** Keep `dataDir` after stop (logs, audit log). Default false, or true when `KUBEAWS_TESTENV_KEEP=1`. */
  keepDataDir?: boolean;
  /**
   * Extra kube-apiserver flags (`['--name=value']` or `{ name: value }`); a flag replaces the default of
   * the same name, `null` removes it. E.g. `{ 'enable-admission-plugins': 'ValidatingAdmissionWebhook' }`,
   * `{ 'authorization-config': file, 'authorization-mode': null }`.
   */
  apiserverExtraArgs?: ExtraArgs;
  /** Extra kube-controller-manager flags, as for `apiserverExtraArgs`. */
  controllerManagerExtraArgs?: ExtraArgs;
  /** Extra kube-scheduler flags, as for `apiserverExtraArgs`. */
  schedulerExtraArgs?: ExtraArgs;
  /** Extra kwok flags, as for `apiserverExtraArgs`. */
  kwokExtraArgs?: ExtraArgs;
  /** Labels added to every fake Node (on top of hostname/os/arch/zone/region/instance-type labels). */
  nodeLabels?: Record<string, string>;
  /** `topology.kubernetes.io/zone` values assigned round-robin to the nodes. Default us-east-1a/b/c. */
  zones?: string[];
  /** Capacity (= allocatable) of each fake Node. Default `{ cpu: '32', memory: '256Gi', pods: '110' }`. */
  nodeCapacity?: Record<string, string>;
  /** Deadline for the whole start, in milliseconds. Default 120 000. */
  timeoutMs?: number;
  /** Progress messages (one line each). */
  onProgress?: (line: string) => void;
  /**
   * Start a watchdog process that stops the cluster when the starting process dies without stopping it
   * (e.g. killed by SIGKILL). Default true.
   */
  reaper?: boolean;
}

/** A running local control plane. Obtained from {@link startCluster} or {@link attachCluster}. */
export interface Cluster {
  /** Admin kubeconfig file (client cert in system:masters, data embedded). */
  readonly kubeconfigPath: string;
  /** API server URL, `https://127.0.0.1:<port>`. */
  readonly server: string;
  /** Directory holding every file of the cluster; logs are in `<dataDir>/logs/<component>.log`. */
  readonly dataDir: string;
  /** kube-apiserver audit log: JSON lines, Metadata level for write verbs only. */
  readonly auditLogPath: string;
  /** PEM of the cluster CA. */
  readonly caCertPath: string;
  /** State file for {@link attachCluster}. */
  readonly statePath: string;
  /** etcd client URL (`http://127.0.0.1:<port>`). */
  readonly etcdEndpoint: string;
  /** Number of fake nodes the cluster was started with. */
  readonly nodes: number;
  /** A new KubeConfig loaded from `kubeconfigPath`. */
  kubeConfig(): KubeConfig;
  /** Log file of a component. */
  logPath(component: ComponentName): string;
  /**
   * Stops kube-apiserver (SIGTERM, SIGKILL after 2 s) and starts it again with the same flags on the
   * same port; resolves when `/readyz` answers 200. Works from any process (coordinated by a lock file).
   * @throws Error with the log tail when it does not become ready within 60 s.
   */
  restartApiserver(): Promise<void>;
  /**
   * Compacts etcd at its current revision through the gRPC gateway (`POST /v3/kv/txn` to record the
   * revision in `compact_rev_key` as kube-apiserver's compactor does, then `POST /v3/kv/compaction`,
   * physical). Afterwards etcd answers older revisions with "compacted", i.e. 410 Gone through the API:
   * at once for requests that reach etcd (e.g. a list with `resourceVersionMatch=Exact` once the watch cache
   * dropped its snapshots, within ~15 s); a watch from an old resourceVersion is still served from the
   * apiserver's watch cache while that version is in the cache's event window (as in a real cluster).
   * Call {@link Cluster.restartApiserver} afterwards to empty the watch cache: then every watch from a
   * resourceVersion before the compaction gets 410 Gone.
   * @returns the compacted revision.
   */
  compactEtcd(): Promise<number>;
  /** Stops all processes (SIGTERM, then SIGKILL after a deadline) and removes the data dir unless kept. Idempotent. */
  stop(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Error thrown when the cluster fails to start; `component` names the process blamed. */
export class ClusterStartError extends Error {
  readonly component: ComponentName | undefined;
  constructor(message: string, component?: ComponentName) {
    super(message);
    this.name = 'ClusterStartError';
    this.component = component;
  }
}

async function failWithLog(
  message: string,
  component: ComponentName,
  logFile: string,
): Promise<never> {
  const tail = await tailFile(logFile, 40);
  throw new ClusterStartError(`${message}\n--- last lines of ${logFile} ---\n${tail || '(empty)'}`, component);
}

/**
 * Polls `fn` until it returns a truthy value. Fails at once, with the dead process's log tail, when one of
 * `watch` exits; on timeout fails with the log tail of `blame`.
 */
async function pollReady<T>(
  description: string,
  fn: () => Promise<T | undefined | false>,
  watch: ProcessRecord[],
  blame: ProcessRecord,
  deadline: number,
  intervalMs = 100,
): Promise<T> {
  let lastError: unknown;
  for (;;) {
    for (const p of watch) {
      if (!isAlive(p.pid)) {
        await failWithLog(`${p.name} exited while waiting for ${description}`, p.name as ComponentName, p.logFile);
      }
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      // A single probe must not hang the start: each attempt gets at most 10 s.
      const v = await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('probe timed out after 10 s')), 10_000);
        }),
      ]);
      if (v) return v;
    } catch (err) {
      lastError = err;
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${(lastError as Error).message ?? String(lastError)})` : '';
      await failWithLog(`timed out waiting for ${description}${why}`, blame.name as ComponentName, blame.logFile);
    }
    await sleep(intervalMs);
  }
}

function httpsStatus(url: string, tls: { ca: string; cert: string; key: string }, timeoutMs = 5_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'GET', ...tls, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function apiserverReady(state: ClusterState): Promise<boolean> {
  const tls = {
    ca: await readFile(state.caCertPath, 'utf8'),
    cert: await readFile(state.adminCertPath, 'utf8'),
    key: await readFile(state.adminKeyPath, 'utf8'),
  };
  return (await httpsStatus(`${state.server}/readyz`, tls)) === 200;
}

async function etcdHealthy(endpoint: string): Promise<boolean> {
  const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(2_000) });
  const body = (await res.json()) as { health?: string };
  return res.ok && body.health === 'true';
}

async function etcdPost<T>(endpoint: string, api: string, body: unknown): Promise<T> {
  const res = await fetch(`${endpoint}/v3/${api}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`etcd ${api}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** Writes `state` atomically (temp file + rename). */
async function writeState(file: string, state: ClusterState): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n');
  await rename(tmp, file);
}

function readStateSync(file: string): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

/** Cross-process mutex: an exclusive `mkdir`; a lock older than `staleMs` is broken. */
async function withLock<T>(lockDir: string, fn: () => Promise<T>, staleMs = 120_000): Promise<T> {
  const deadline = Date.now() + staleMs + 10_000;
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        const s = await stat(lockDir);
        if (Date.now() - s.mtimeMs > staleMs) await rmdir(lockDir).catch(() => undefined);
      } catch {
        /* released meanwhile */
      }
      if (Date.now() > deadline) throw new Error(`could not acquire ${lockDir}`);
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    await rmdir(lockDir).catch(() => undefined);
  }
}

/**
 * Watchdog run as `node -e REAPER <ownerPid> <statePath>`: exits when the state file disappears (clean
 * stop); when the owner dies first, stops every process in the state file and removes the data dir.
 */
const REAPER_SOURCE = `
const fs = require('node:fs');
const [ownerPid, statePath] = process.argv.slice(1);
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
const kill = (pid, sig) => { try { process.kill(-pid, sig); } catch { try { process.kill(pid, sig); } catch {} } };
const tick = () => {
  if (!fs.existsSync(statePath)) process.exit(0);
  if (alive(Number(ownerPid))) return;
  let state;
  try { state = JSON.parse(fs.readFileSync(statePath, 'utf8')); } catch { process.exit(0); }
  const pids = Object.values(state.processes).map((p) => p.pid);
  for (const pid of pids) kill(pid, 'SIGTERM');
  setTimeout(() => {
    for (const pid of pids) kill(pid, 'SIGKILL');
    if (state.removeDataDir) { try { fs.rmSync(state.dataDir, { recursive: true, force: true }); } catch {} }
    process.exit(0);
  }, 5000);
  clearInterval(timer);
};
const timer = setInterval(tick, 1000);
`;

function startReaper(ownerPid: number, statePath: string, logFile: string): number {
  return startProcess({
    name: 'reaper',
    command: process.execPath,
    args: ['-e', REAPER_SOURCE, String(ownerPid), statePath],
    logFile,
  });
}

/** Process-exit hooks of clusters started by this process, keyed by state path. */
const exitHooks = new Map<string, () => void>();

function registerExitHook(statePath: string): void {
  const hook = (): void => {
    const state = readStateSync(statePath);
    if (!state) return;
    killNow(Object.values(state.processes).map((p) => p.pid));
    if (state.reaperPid) killNow([state.reaperPid]);
    if (state.removeDataDir) rmSync(state.dataDir, { recursive: true, force: true });
  };
  exitHooks.set(statePath, hook);
  process.on('exit', hook);
}

function unregisterExitHook(statePath: string): void {
  const hook = exitHooks.get(statePath);
  if (hook) process.off('exit', hook);
  exitHooks.delete(statePath);
}

class LocalCluster implements Cluster {
  readonly kubeconfigPath: string;
  readonly server: string;
  readonly dataDir: string;
  readonly auditLogPath: string;
  readonly caCertPath: string;
  readonly etcdEndpoint: string;
  readonly nodes: number;

  constructor(
    readonly statePath: string,
    initial: ClusterState,
  ) {
    this.kubeconfigPath = initial.kubeconfigPath;
    this.server = initial.server;
    this.dataDir = initial.dataDir;
    this.auditLogPath = initial.auditLogPath;
    this.caCertPath = initial.caCertPath;
    this.etcdEndpoint = initial.etcdEndpoint;
    this.nodes = initial.nodes;
  }

  private async state(): Promise<ClusterState> {
    try {
      return JSON.parse(await readFile(this.statePath, 'utf8')) as ClusterState;
    } catch (err) {
      throw new Error(`cluster state ${this.statePath} is not readable (cluster stopped?): ${(err as Error).message}`);
    }
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  logPath(component: ComponentName): string {
    return path.join(this.dataDir, 'logs', `${component}.log`);
  }

  async restartApiserver(): Promise<void> {
    await withLock(path.join(this.dataDir, 'apiserver-restart.lock'), async () => {
      const state = await this.state();
      const rec = state.processes['kube-apiserver'];
      // kube-apiserver's graceful shutdown can linger ~10 s on open connections; a restart does not need it.
      await stopProcess(rec.pid, 2_000);
      const pid = startProcess(rec);
      state.processes['kube-apiserver'] = { ...rec, pid };
      await writeState(this.statePath, state);
      await pollReady(
        'kube-apiserver /readyz after restart',
        () => apiserverReady(state),
        [state.processes['kube-apiserver']],
        state.processes['kube-apiserver'],
        Date.now() + 60_000,
      );
    });
  }

  async compactEtcd(): Promise<number> {
    // Same protocol as kube-apiserver's own compactor (k8s.io/apiserver/pkg/storage/etcd3/compact.go):
    // CAS-update "compact_rev_key" to the revision being compacted, then compact. kube-apiserver watches
    // that key, so its watch cache learns the compaction (the cacher polls it every 15 s).
    const key = Buffer.from('compact_rev_key').toString('base64');
    for (let attempt = 0; ; attempt++) {
      const current = await etcdPost<{ header: { revision: string }; kvs?: Array<{ version?: string }> }>(
        this.etcdEndpoint,
        'kv/range',
        { key },
      );
      const version = current.kvs?.[0]?.version ?? '0';
      const target = Number(current.header.revision) + 1; // the revision of the put below
      const txn = await etcdPost<{ header: { revision: string }; succeeded?: boolean }>(this.etcdEndpoint, 'kv/txn', {
        compare: [{ key, target: 'VERSION', result: 'EQUAL', version }],
        success: [{ request_put: { key, value: Buffer.from(String(target)).toString('base64') } }],
      });
      if (!txn.succeeded) {
        if (attempt >= 5) throw new Error('compactEtcd: compact_rev_key kept changing concurrently');
        continue;
      }
      const revision = Math.min(target, Number(txn.header.revision));
      try {
        await etcdPost(this.etcdEndpoint, 'kv/compaction', { revision: String(revision), physical: true });
      } catch (err) {
        // Compacting again at an already compacted revision is not an error for the caller.
        if (!/compacted/i.test((err as Error).message)) throw err;
      }
      return revision;
    }
  }

  async stop(): Promise<void> {
    const state = readStateSync(this.statePath);
    if (!state) return;
    const p: Partial<Record<ComponentName, ProcessRecord>> = state.processes;
    const stopOne = async (name: ComponentName, graceMs: number): Promise<void> => {
      const rec = p[name];
      if (rec) await stopProcess(rec.pid, graceMs);
    };
    await Promise.all([
      stopOne('kwok', 10_000),
      stopOne('kube-scheduler', 10_000),
      stopOne('kube-controller-manager', 10_000),
    ]);
    await stopOne('kube-apiserver', 3_000);
    await stopOne('etcd', 10_000);
    unregisterExitHook(this.statePath);
    if (state.removeDataDir) {
      await rm(state.dataDir, { recursive: true, force: true });
    } else {
      await rm(this.statePath, { force: true });
    }
    // The reaper exits by itself once the state file is gone.
  }
}

/**
 * Reconstructs a {@link Cluster} handle from a state file written by {@link startCluster}, in any
 * process (e.g. a jest worker attaching to the cluster started in globalSetup). The handle can restart
 * kube-apiserver, compact etcd and stop the cluster.
 * @param statePath default `process.env.KUBEAWS_TEST_STATE`.
 * @throws Error when no state path is given or the file is unreadable.
 */
export function attachCluster(statePath: string | undefined = process.env.KUBEAWS_TEST_STATE): Cluster {
  if (!statePath) {
    throw new Error('attachCluster: no state path given and KUBEAWS_TEST_STATE is not set (is the testenv globalSetup configured?)');
  }
  const state = readStateSync(statePath);
  if (!state) throw new Error(`attachCluster: cannot read cluster state ${statePath}`);
  return new LocalCluster(statePath, state);
}

function fakeNode(i: number, opts: StartClusterOptions): V1Node {
  const zones = opts.zones ?? ['us-east-1a', 'us-east-1b', 'us-east-1c'];
  const zone = zones[i % zones.length];
  const region = zone.replace(/[a-z]$/, '');
  const name = `kwok-node-${i}`;
  const capacity = opts.nodeCapacity ?? { cpu: '32', memory: '256Gi', pods: '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node.kubernetes.io/instance-type': 'kwok',
        'topology.kubernetes.io/zone': zone,
        'topology.kubernetes.io/region': region,
        type: 'kwok',
        ...opts.nodeLabels,
      },
    },
    spec: {},
    status: { capacity, allocatable: capacity },
  };
}

function isReady(node: V1Node): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Path of the kwok stage definitions shipped with this package. */
function kwokStagesPath(): string {
  const candidates = [path.join(__dirname, '..', 'assets', 'kwok-stages.yaml')];
  try {
    candidates.push(path.join(packageDir(), 'assets', 'kwok-stages.yaml'));
  } catch {
    /* no repo root */
  }
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`kwok-stages.yaml not found (looked in ${candidates.join(', ')})`);
  return found;
}

/**
 * Starts a real local control plane: etcd → kube-apiserver → kube-controller-manager, kube-scheduler and
 * the kwok controller, as detached child processes on free 127.0.0.1 ports, with a generated PKI, and
 * creates `nodes` kwok Nodes. Resolves when `/readyz` is 200, the `default` ServiceAccount exists in
 * `default` and all nodes are Ready. Writes `<dataDir>/state.json` for {@link attachCluster}.
 * Processes are stopped when the calling process exits (exit hook) or dies (reaper watchdog).
 * @throws ClusterStartError naming the failing component, with the last lines of its log.
 */
export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  const started = Date.now();
  const deadline = started + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const progress = (msg: string): void => opts.onProgress?.(`[testenv +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
  const nodeCount = opts.nodes ?? 3;
  const binaries = opts.binaries ?? (await ensureBinaries({ onProgress: opts.onProgress }));
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'kubeaws-testenv-')));
  await mkdir(dataDir, { recursive: true });
  const keep = opts.keepDataDir ?? process.env.KUBEAWS_TESTENV_KEEP === '1';

  const [etcdClient, etcdPeer, apiserver] = await freePorts(3);
  const layout: ClusterLayout = clusterLayout(dataDir, pkiPaths(path.join(dataDir, 'pki')), {
    etcdClient,
    etcdPeer,
    apiserver,
  });
  const server = `https://127.0.0.1:${apiserver}`;
  const pki = await generatePki();
  await writePki(pki, layout.pki.dir);
  await Promise.all([
    mkdir(path.dirname(layout.auditLogPath), { recursive: true }),
    mkdir(layout.kwokWorkDir, { recursive: true }),
    mkdir(layout.logDir, { recursive: true }),
  ]);
  await Promise.all([
    writeFile(layout.auditPolicyPath, AUDIT_POLICY_YAML),
    copyFile(kwokStagesPath(), layout.kwokConfigPath),
    writeKubeconfig(layout.kubeconfigs.admin, {
      server,
      caCert: pki.ca.cert,
      credentials: { clientCert: pki.admin.cert, clientKey: pki.admin.key },
    }),
    writeKubeconfig(layout.kubeconfigs.controllerManager, {
      server,
      caCert: pki.ca.cert,
      credentials: { clientCert: pki.controllerManager.cert, clientKey: pki.controllerManager.key },
    }),
    writeKubeconfig(layout.kubeconfigs.scheduler, {
      server,
      caCert: pki.ca.cert,
      credentials: { clientCert: pki.scheduler.cert, clientKey: pki.scheduler.key },
    }),
    writeKubeconfig(layout.kubeconfigs.kwok, {
      server,
      caCert: pki.ca.cert,
      credentials: { clientCert: pki.kwok.cert, clientKey: pki.kwok.key },
    }),
  ]);
  progress(`PKI and configs written to ${dataDir}`);

  const logFile = (name: string): string => path.join(layout.logDir, `${name}.log`);
  const specs: Record<ComponentName, ProcessSpec> = {
    etcd: { name: 'etcd', command: binaries.etcd, args: etcdFlags(layout), logFile: logFile('etcd') },
    'kube-apiserver': {
      name: 'kube-apiserver',
      command: binaries.kubeApiserver,
      args: apiserverFlags(layout, toFlags(opts.apiserverExtraArgs)),
      logFile: logFile('kube-apiserver'),
    },
    'kube-controller-manager': {
      name: 'kube-controller-manager',
      command: binaries.kubeControllerManager,
      args: controllerManagerFlags(layout, toFlags(opts.controllerManagerExtraArgs)),
      logFile: logFile('kube-controller-manager'),
    },
    'kube-scheduler': {
      name: 'kube-scheduler',
      command: binaries.kubeScheduler,
      args: schedulerFlags(layout, toFlags(opts.schedulerExtraArgs)),
      logFile: logFile('kube-scheduler'),
    },
    kwok: {
      name: 'kwok',
      command: binaries.kwok,
      args: kwokFlags(layout, toFlags(opts.kwokExtraArgs)),
      env: { KWOK_WORKDIR: layout.kwokWorkDir },
      logFile: logFile('kwok'),
    },
  };

  const statePath = path.join(dataDir, 'state.json');
  const state: ClusterState = {
    version: 1,
    dataDir,
    removeDataDir: !keep,
    ownerPid: process.pid,
    reaperPid: 0,
    server,
    kubeconfigPath: layout.kubeconfigs.admin,
    auditLogPath: layout.auditLogPath,
    caCertPath: layout.pki.caCert,
    etcdEndpoint: `http://127.0.0.1:${etcdClient}`,
    nodes: nodeCount,
    adminCertPath: layout.pki.adminCert,
    adminKeyPath: layout.pki.adminKey,
    processes: {} as Record<ComponentName, ProcessRecord>,
  };
  const cluster = new LocalCluster(statePath, state);
  const launch = async (name: ComponentName): Promise<ProcessRecord> => {
    const rec = { ...specs[name], pid: startProcess(specs[name]) };
    state.processes[name] = rec;
    await writeState(statePath, state);
    return rec;
  };

  registerExitHook(statePath);
  try {
    await writeState(statePath, state);
    if (opts.reaper ?? true) {
      state.reaperPid = startReaper(process.pid, statePath, logFile('reaper'));
    }
    const etcd = await launch('etcd');
    await pollReady('etcd /health', () => etcdHealthy(state.etcdEndpoint), [etcd], etcd, deadline);
    progress('etcd healthy');

    const api = await launch('kube-apiserver');
    await pollReady('kube-apiserver /readyz', () => apiserverReady(state), [etcd, api], api, deadline);
    progress('kube-apiserver ready');

    const kcm = await launch('kube-controller-manager');
    const sched = await launch('kube-scheduler');
    const kwok = await launch('kwok');
    const all = [etcd, api, kcm, sched, kwok];

    const kc = cluster.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    for (let i = 0; i < nodeCount; i++) {
      await core.createNode({ body: fakeNode(i, opts) });
    }
    progress(`${nodeCount} nodes created`);

    await pollReady(
      'ServiceAccount default/default',
      async () => !!(await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' })),
      all,
      kcm,
      deadline,
      200,
    );
    progress('default ServiceAccount exists');
    await pollReady(
      `${nodeCount} Ready kwok nodes`,
      async () => {
        const list = await core.listNode({ labelSelector: 'type=kwok' });
        return list.items.filter(isReady).length >= nodeCount;
      },
      all,
      kwok,
      deadline,
      200,
    );
    progress(`cluster ready: ${nodeCount} Ready nodes, kubeconfig ${layout.kubeconfigs.admin}`);
    return cluster;
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    if (!keep) await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}
