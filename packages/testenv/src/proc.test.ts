import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { isAlive, startProcess, stopProcess, tailFile } from './proc';

describe('process control', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'proc-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('starts a detached process logging to a file and stops it', async () => {
    const logFile = path.join(dir, 'p.log');
    const pid = startProcess({ name: 'p', command: '/bin/sh', args: ['-c', 'echo hello; exec sleep 30'], logFile });
    expect(isAlive(pid)).toBe(true);
    const started = Date.now();
    while (!(await tailFile(logFile)).includes('hello') && Date.now() - started < 5_000) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await tailFile(logFile)).toBe('hello');
    await stopProcess(pid, 2_000);
    expect(isAlive(pid)).toBe(false);
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const pid = startProcess({
      name: 'stubborn',
      command: '/bin/sh',
      args: ['-c', 'trap "" TERM; while :; do sleep 0.05; done'],
      logFile: path.join(dir, 's.log'),
    });
    await new Promise((r) => setTimeout(r, 100));
    await stopProcess(pid, 200);
    expect(isAlive(pid)).toBe(false);
  });

  it('tails the last lines of a file', async () => {
    expect(await tailFile(path.join(dir, 'missing.log'))).toBe('');
  });
});
