import { writeFileSync } from 'node:fs';
import { type Cluster, startCluster } from './cluster';
import { TEST_ENV } from './helpers';
import { startMoto } from './moto';

const USAGE = `Usage: testenv <command> [options]

Commands:
  up       Start a local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
           kwok) and keep it running until SIGINT/SIGTERM; prints the kubeconfig path.

Options for up:
  --nodes=N                 number of fake kwok nodes (default 3)
  --moto                    also start a moto server (AWS API mock) and print its endpoint
  --keep                    keep the data dir (logs, audit log) after shutdown
  --write-env=PATH          also write KEY=VALUE lines (KUBECONFIG, KUBEAWS_TEST_*) to PATH
  --apiserver-arg=--k=v     extra kube-apiserver flag (repeatable)
`;

/** Parsed `up` options. */
export interface UpOptions {
  nodes: number;
  moto: boolean;
  keep: boolean;
  envFile?: string;
  apiserverArgs: string[];
}

/**
 * Parses the CLI arguments after the command. Pure.
 * @throws Error on an unknown option or a bad value.
 */
export function parseUpArgs(args: string[]): UpOptions {
  const out: UpOptions = { nodes: 3, moto: false, keep: false, apiserverArgs: [] };
  for (const arg of args) {
    const [flag, ...rest] = arg.split('=');
    const value = rest.join('=');
    switch (flag) {
      case '--nodes':
        out.nodes = Number(value);
        if (!Number.isInteger(out.nodes) || out.nodes < 0) throw new Error(`bad --nodes value: ${value}`);
        break;
      case '--moto':
        out.moto = true;
        break;
      case '--keep':
        out.keep = true;
        break;
      case '--write-env':
        out.envFile = value;
        break;
      case '--apiserver-arg':
        out.apiserverArgs.push(value);
        break;
      default:
        throw new Error(`unknown option ${arg}`);
    }
  }
  return out;
}

async function up(opts: UpOptions): Promise<void> {
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  // A signal during startup exits at once; the exit hook of startCluster kills what was started.
  const abort = (): never => process.exit(130);
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  const started = Date.now();
  const cluster: Cluster = await startCluster({
    nodes: opts.nodes,
    keepDataDir: opts.keep,
    apiserverExtraArgs: opts.apiserverArgs,
    onProgress: log,
  });
  const moto = opts.moto ? await startMoto({ onProgress: log }) : undefined;
  const vars: Record<string, string> = {
    KUBECONFIG: cluster.kubeconfigPath,
    [TEST_ENV.kubeconfig]: cluster.kubeconfigPath,
    [TEST_ENV.state]: cluster.statePath,
    [TEST_ENV.auditLog]: cluster.auditLogPath,
    [TEST_ENV.server]: cluster.server,
    [TEST_ENV.caCert]: cluster.caCertPath,
    [TEST_ENV.dataDir]: cluster.dataDir,
    [TEST_ENV.etcdEndpoint]: cluster.etcdEndpoint,
    ...(moto ? { KUBEAWS_TEST_AWS_ENDPOINT: moto.endpoint } : {}),
  };
  if (opts.envFile) {
    writeFileSync(opts.envFile, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  }
  log(`[testenv] ready in ${((Date.now() - started) / 1000).toFixed(1)} s; Ctrl-C to stop`);
  for (const [k, v] of Object.entries(vars)) log(`  ${k}=${v}`);
  process.stdout.write(`${cluster.kubeconfigPath}\n`);

  process.off('SIGINT', abort);
  process.off('SIGTERM', abort);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log(`[testenv] ${sig}: stopping`);
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const keepAlive = setInterval(() => undefined, 60_000);
    process.once('exit', () => clearInterval(keepAlive));
  });
  await moto?.stop();
  await cluster.stop();
  log('[testenv] stopped');
}

/** CLI entry: `testenv up [options]`. Returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'up':
        await up(parseUpArgs(rest));
        return 0;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        process.stderr.write(`unknown command ${command}\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    process.stderr.write(`testenv: ${(err as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
