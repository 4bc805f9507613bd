import { Writable } from 'node:stream';
import { createLogger } from './logging';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, dest };
}

describe('createLogger', () => {
  it('writes JSON lines with time, level, msg and component', () => {
    const { lines, dest } = capture();
    const log = createLogger({ component: 'pdb-controller', level: 'info', destination: dest });
    log.child({ key: 'Deployment/ns/web' }).info({ action: 'create' }, 'created PDB');
    log.debug('hidden');
    expect(lines).toHaveLength(1);
    const l = lines[0]!;
    expect(l).toMatchObject({
      level: 'info',
      msg: 'created PDB',
      component: 'pdb-controller',
      key: 'Deployment/ns/web',
      action: 'create',
    });
    expect(typeof l.time).toBe('string');
    expect(new Date(l.time as string).toISOString()).toBe(l.time);
  });

  it('honours the level and serialises errors', () => {
    const { lines, dest } = capture();
    const log = createLogger({ component: 'c', level: 'debug', destination: dest });
    log.debug('shown');
    log.error({ err: new Error('boom') }, 'failed');
    expect(lines.map((l) => l.level)).toEqual(['debug', 'error']);
    expect(lines[1]!.err).toMatchObject({ type: 'Error', message: 'boom' });
  });
});
