#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { registerInfraCommands } from './commands/infra';
import { COMPONENTS } from './components';
import { up } from './up';

function positiveInt(flag: string) {
  return (value: string): number => {
    if (!/^[1-9][0-9]*$/.test(value))
      throw new InvalidArgumentError(`${flag}: ${JSON.stringify(value)} is not a positive integer`);
    return Number(value);
  };
}

const program = new Command('kubeaws').description(
  'kubeaws: controllers and webhooks that run a fleet of Kubernetes clusters on AWS',
);
program.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

program
  .command('up')
  .description(
    'run the platform: a local cluster (or --kubeconfig), every component, the demo workloads and a live status',
  )
  .option('--kubeconfig <file>', 'run against an existing cluster instead of starting a local one')
  .option('--no-examples', 'do not apply the demo workloads of examples/')
  .option('--nodes <n>', 'fake nodes of the local cluster', positiveInt('--nodes'), 3)
  .option('--components <names>', `comma-separated subset of: ${COMPONENTS.map((c) => c.name).join(', ')}`, '')
  .option('--refresh <seconds>', 'status refresh interval', positiveInt('--refresh'), 2)
  .action(async (o: { kubeconfig?: string; examples: boolean; nodes: number; components: string; refresh: number }) => {
    const components = o.components ? o.components.split(',').map((s) => s.trim()) : [];
    const unknown = components.filter((c) => !COMPONENTS.some((k) => k.name === c));
    if (unknown.length > 0) {
      process.stderr.write(
        `--components: unknown ${unknown.join(', ')}; expected a subset of ${COMPONENTS.map((c) => c.name).join(', ')}\n`,
      );
      process.exit(2);
    }
    const code = await up({ ...o, components, refreshMs: o.refresh * 1000, out: process.stdout });
    process.exit(code);
  });

registerInfraCommands(program);

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`kubeaws: ${err.message}\n`);
  process.exit(1);
});
