/**
 * Cluster access from a kubeconfig or a pod's service account, without loading `@kubernetes/client-node`
 * at run time (that package's entry point costs about 80 MiB of RSS in every component process; see
 * docs/benchmarks.md, "Where the memory goes"). Reads what client-go's loading rules read
 * (k8s.io/client-go/tools/clientcmd, `ClientConfigLoadingRules` and `DirectClientConfig`):
 *
 * - files: `--kubeconfig`, else every file of `$KUBECONFIG` merged (for each named cluster, user and
 *   context the first file that defines it wins; the first `current-context` set wins), else
 *   `~/.kube/config`, else the pod's service account (`KUBERNETES_SERVICE_HOST`/`_PORT`, token and CA under
 *   `/var/run/secrets/kubernetes.io/serviceaccount`);
 * - cluster: `server`, `certificate-authority` / `-data`, `insecure-skip-tls-verify`, `tls-server-name`;
 * - user: `client-certificate` / `-data`, `client-key` / `-data`, `token`, `tokenFile` (re-read at most
 *   once a minute, as client-go does for rotating service-account tokens), `username` / `password`, and
 *   `exec` credential plugins (`client.authentication.k8s.io/v1` and `v1beta1`; the credential is cached
 *   until its `expirationTimestamp`);
 * - relative file paths are resolved against the directory of the kubeconfig that names them.
 *
 * Not supported, and refused with a {@link KubeconfigError} naming the field: `auth-provider` (removed from
 * kubectl in Kubernetes 1.26; use an exec plugin), `proxy-url`, `impersonate`.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import type * as https from 'node:https';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';

/**
 * What the runtime's {@link KubeClient} needs of cluster access: the current cluster's server URL and the
 * TLS options and credentials of each request. {@link Kubeconfig} implements it; client-node's
 * `KubeConfig` has the same shape, so a caller may hand one over.
 */
export interface ClusterConfig {
  /** The current context's cluster, or null when there is none. */
  getCurrentCluster(): { name: string; server: string } | null;
  /** Name of the current context ("" when none). */
  getCurrentContext(): string;
  /** Sets `ca`, `cert`, `key`, `rejectUnauthorized`, `servername` and the `Authorization` header on `opts`. */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

/** A kubeconfig that cannot be used; the message names the file, the entry and the field. */
export class KubeconfigError extends Error {
  override readonly name: string = 'KubeconfigError';
}

/** Where a pod's service-account credentials are mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** client-go re-reads a token file at most this often (`cachingTokenSource`, 1 minute). */
const TOKEN_FILE_REFRESH_MS = 60_000;

interface ExecConfig {
  command: string;
  args?: string[];
  env?: Array<{ name: string; value: string }>;
  apiVersion?: string;
}

interface Cluster {
  name: string;
  server: string;
  ca?: Buffer;
  insecure: boolean;
  tlsServerName?: string;
}

interface User {
  name: string;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  exec?: ExecConfig;
  /** Directory the exec command's relative path is resolved against. */
  dir: string;
}

type Named<T> = { name: string } & { [k: string]: T };

/** One parsed kubeconfig file, fields as written. */
interface RawKubeconfig {
  clusters?: Array<Named<Record<string, unknown>>>;
  users?: Array<Named<Record<string, unknown>>>;
  contexts?: Array<Named<Record<string, unknown>>>;
  'current-context'?: string;
}

function readRaw(file: string): RawKubeconfig {
  const text = fs.readFileSync(file, 'utf8');
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new KubeconfigError(`${file}: not YAML: ${(err as Error).message.split('\n')[0]!.replace(/:$/, '')}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new KubeconfigError(`${file}: not a kubeconfig (expected a mapping)`);
  return doc as RawKubeconfig;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The bytes of `<field>-data` (base64) or of the file `<field>` (relative to `dir`). */
function material(entry: Record<string, unknown>, field: string, dir: string, where: string): Buffer | undefined {
  const data = str(entry[`${field}-data`]);
  if (data) return Buffer.from(data, 'base64');
  const file = str(entry[field]);
  if (!file) return undefined;
  const abs = path.resolve(dir, file);
  try {
    return fs.readFileSync(abs);
  } catch (err) {
    throw new KubeconfigError(`${where}: ${field} ${abs}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** See the module docs. Build with {@link Kubeconfig.fromFiles}, {@link Kubeconfig.inCluster} or {@link loadDefaultKubeconfig}. */
export class Kubeconfig implements ClusterConfig {
  private tokenFromFile?: { token: string; readAt: number };
  private execCredential?: { token?: string; cert?: Buffer; key?: Buffer; expiresAt: number };
  private execInFlight?: Promise<void>;

  private constructor(
    private readonly context: string,
    private readonly cluster: Cluster | null,
    private readonly user: User,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Loads and merges kubeconfig files (client-go merge rules, see the module docs) and resolves the
   * current context. `opts.context` overrides `current-context`; `opts.now` is the clock (ms since the
   * epoch) that token-file refreshes and exec-credential expiry are measured with (default `Date.now`).
   * @throws KubeconfigError for a file that is not a kubeconfig, a current context naming an unknown
   *   cluster or user, unreadable certificate files, or an unsupported field; a Node error (ENOENT, EACCES,
   *   EISDIR) for a file that cannot be read
   */
  static fromFiles(files: string[], opts: { context?: string; now?: () => number } = {}): Kubeconfig {
    const clusters = new Map<string, { entry: Record<string, unknown>; dir: string; file: string }>();
    const users = new Map<string, { entry: Record<string, unknown>; dir: string; file: string }>();
    const contexts = new Map<string, { entry: Record<string, unknown>; file: string }>();
    let current: string | undefined;
    for (const file of files) {
      const raw = readRaw(file);
      const dir = path.dirname(path.resolve(file));
      for (const c of raw.clusters ?? [])
        if (c?.name && !clusters.has(c.name)) clusters.set(c.name, { entry: (c.cluster as Record<string, unknown>) ?? {}, dir, file });
      for (const u of raw.users ?? [])
        if (u?.name && !users.has(u.name)) users.set(u.name, { entry: (u.user as Record<string, unknown>) ?? {}, dir, file });
      for (const c of raw.contexts ?? [])
        if (c?.name && !contexts.has(c.name)) contexts.set(c.name, { entry: (c.context as Record<string, unknown>) ?? {}, file });
      current ??= str(raw['current-context']);
    }
    const name = opts.context ?? current ?? '';
    const ctx = contexts.get(name);
    const where = files.join(path.delimiter);
    if (!ctx) return new Kubeconfig(name, null, { name: '', dir: '.' }, opts.now);
    const clusterName = str(ctx.entry.cluster) ?? '';
    const c = clusters.get(clusterName);
    if (!c) throw new KubeconfigError(`${where}: context ${JSON.stringify(name)} names cluster ${JSON.stringify(clusterName)}, which is not defined`);
    const cw = `${c.file}: cluster ${JSON.stringify(clusterName)}`;
    for (const field of ['proxy-url'])
      if (c.entry[field] !== undefined) throw new KubeconfigError(`${cw}: ${field} is not supported`);
    const server = str(c.entry.server);
    if (!server) throw new KubeconfigError(`${cw}: server is empty`);
    const cluster: Cluster = {
      name: clusterName,
      server,
      ca: material(c.entry, 'certificate-authority', c.dir, cw),
      insecure: c.entry['insecure-skip-tls-verify'] === true,
      tlsServerName: str(c.entry['tls-server-name']),
    };
    const userName = str(ctx.entry.user) ?? '';
    const u = users.get(userName);
    if (userName && !u) throw new KubeconfigError(`${where}: context ${JSON.stringify(name)} names user ${JSON.stringify(userName)}, which is not defined`);
    const user: User = { name: userName, dir: u?.dir ?? '.' };
    if (u) {
      const uw = `${u.file}: user ${JSON.stringify(userName)}`;
      if (u.entry['auth-provider'] !== undefined)
        throw new KubeconfigError(`${uw}: auth-provider is not supported (removed from kubectl in Kubernetes 1.26); use an exec credential plugin`);
      for (const field of ['as', 'as-groups', 'as-uid', 'as-user-extra'])
        if (u.entry[field] !== undefined) throw new KubeconfigError(`${uw}: impersonation (${field}) is not supported`);
      user.cert = material(u.entry, 'client-certificate', u.dir, uw);
      user.key = material(u.entry, 'client-key', u.dir, uw);
      user.token = str(u.entry.token);
      const tf = str(u.entry.tokenFile);
      user.tokenFile = tf ? path.resolve(u.dir, tf) : undefined;
      user.username = str(u.entry.username);
      user.password = str(u.entry.password);
      const exec = u.entry.exec as ExecConfig | undefined;
      if (exec) {
        if (!str(exec.command)) throw new KubeconfigError(`${uw}: exec.command is empty`);
        user.exec = exec;
      }
    }
    return new Kubeconfig(name, cluster, user, opts.now);
  }

  /**
   * The pod's own service account (client-go `rest.InClusterConfig`): server from
   * `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT`, the mounted CA and the token file (re-read as it
   * rotates).
   * @throws KubeconfigError when the variables are unset or the CA cannot be read
   */
  static inCluster(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): Kubeconfig {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT;
    if (!host || !port) throw new KubeconfigError('in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set');
    const h = host.includes(':') ? `[${host}]` : host;
    let ca: Buffer;
    try {
      ca = fs.readFileSync(path.join(dir, 'ca.crt'));
    } catch (err) {
      throw new KubeconfigError(`in-cluster: ${path.join(dir, 'ca.crt')}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return new Kubeconfig(
      'in-cluster',
      { name: 'in-cluster', server: `https://${h}:${port}`, ca, insecure: false },
      { name: 'in-cluster', tokenFile: path.join(dir, 'token'), dir },
    );
  }

  getCurrentCluster(): { name: string; server: string } | null {
    return this.cluster ? { name: this.cluster.name, server: this.cluster.server } : null;
  }

  getCurrentContext(): string {
    return this.context;
  }

  /**
   * Sets TLS options and credentials on `opts` (see the module docs). An exec plugin runs when no
   * unexpired credential is cached.
   * @throws KubeconfigError when a token file cannot be read or an exec plugin fails
   */
  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const c = this.cluster;
    if (c) {
      if (c.ca) opts.ca = c.ca;
      if (c.insecure) opts.rejectUnauthorized = false;
      if (c.tlsServerName) opts.servername = c.tlsServerName;
    }
    const u = this.user;
    if (u.cert) opts.cert = u.cert;
    if (u.key) opts.key = u.key;
    const headers = (opts.headers ??= {}) as Record<string, string>;
    let token = u.token;
    if (!token && u.tokenFile) token = this.readTokenFile(u.tokenFile);
    if (!token && u.exec) {
      const cred = await this.execCredentials(u.exec);
      token = cred.token;
      if (cred.cert) opts.cert = cred.cert;
      if (cred.key) opts.key = cred.key;
    }
    if (token) headers.Authorization = `Bearer ${token}`;
    else if (u.username !== undefined && u.password !== undefined)
      headers.Authorization = `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}`;
  }

  private readTokenFile(file: string): string {
    const t = this.now();
    if (this.tokenFromFile && t - this.tokenFromFile.readAt < TOKEN_FILE_REFRESH_MS) return this.tokenFromFile.token;
    try {
      const token = fs.readFileSync(file, 'utf8').trim();
      this.tokenFromFile = { token, readAt: t };
      return token;
    } catch (err) {
      // A token that was read before stays in use while the file is briefly missing (atomic rotation).
      if (this.tokenFromFile) return this.tokenFromFile.token;
      throw new KubeconfigError(`user ${JSON.stringify(this.user.name)}: tokenFile ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  private async execCredentials(exec: ExecConfig): Promise<{ token?: string; cert?: Buffer; key?: Buffer }> {
    const cached = this.execCredential;
    if (cached && cached.expiresAt > this.now()) return cached;
    this.execInFlight ??= this.runExec(exec).finally(() => (this.execInFlight = undefined));
    await this.execInFlight;
    return this.execCredential!;
  }

  private async runExec(exec: ExecConfig): Promise<void> {
    const apiVersion = exec.apiVersion ?? 'client.authentication.k8s.io/v1';
    const command = exec.command.includes(path.sep) ? path.resolve(this.user.dir, exec.command) : exec.command;
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const e of exec.env ?? []) env[e.name] = e.value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify({ apiVersion, kind: 'ExecCredential', spec: { interactive: false } });
    const where = `user ${JSON.stringify(this.user.name)}: exec ${command}`;
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(command, exec.args ?? [], { env, timeout: 60_000, maxBuffer: 1 << 20 }, (err, out, errOut) =>
        err
          ? reject(new KubeconfigError(`${where}: ${err.message.split('\n')[0]}${errOut ? `: ${String(errOut).trim().slice(0, 500)}` : ''}`))
          : resolve(String(out)),
      ),
    );
    let status: { token?: string; clientCertificateData?: string; clientKeyData?: string; expirationTimestamp?: string };
    try {
      status = (JSON.parse(stdout) as { status?: typeof status }).status ?? {};
    } catch {
      throw new KubeconfigError(`${where}: output is not an ExecCredential (JSON)`);
    }
    if (!status.token && !(status.clientCertificateData && status.clientKeyData))
      throw new KubeconfigError(`${where}: ExecCredential has neither status.token nor status.clientCertificateData and clientKeyData`);
    const expires = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : Number.POSITIVE_INFINITY;
    this.execCredential = {
      token: status.token,
      cert: status.clientCertificateData ? Buffer.from(status.clientCertificateData) : undefined,
      key: status.clientKeyData ? Buffer.from(status.clientKeyData) : undefined,
      expiresAt: Number.isNaN(expires) ? Number.POSITIVE_INFINITY : expires,
    };
  }
}

/**
 * client-go's default loading rules: the files of `$KUBECONFIG` (merged), else `~/.kube/config`, else the
 * pod's service account. Undefined when none applies.
 * @throws what {@link Kubeconfig.fromFiles} and {@link Kubeconfig.inCluster} throw
 */
export function loadDefaultKubeconfig(env: NodeJS.ProcessEnv = process.env): Kubeconfig | undefined {
  if (env.KUBECONFIG) return Kubeconfig.fromFiles(env.KUBECONFIG.split(path.delimiter).filter((f) => f));
  const home = env.HOME;
  if (home && fs.existsSync(path.join(home, '.kube', 'config'))) return Kubeconfig.fromFiles([path.join(home, '.kube', 'config')]);
  if (env.KUBERNETES_SERVICE_HOST) return Kubeconfig.inCluster(env);
  return undefined;
}
