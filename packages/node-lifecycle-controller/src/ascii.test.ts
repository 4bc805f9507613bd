/**
 * The controller's sources are ASCII. A single character above U+00FF anywhere in the bundle (a comment the bundler
 * keeps, such as a trailing comment in an object literal) makes V8 hold the bundle's whole source as a two-byte
 * string: twice its size (about 3 MiB more) for the life of the process (docs/benchmarks.md#where-the-memory-goes).
 * Non-ASCII characters in code are written as escapes (`\u2192`).
 */
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';

const files = readdirSync(__dirname).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));

describe('node-lifecycle-controller sources', () => {
  it('are found', () => expect(files).toContain('decide.ts'));

  it.each(files)('%s holds only ASCII characters', (file) => {
    const lines = readFileSync(path.join(__dirname, file), 'utf8').split('\n');
    const offending = lines.flatMap((line, i) => {
      const chars = line.match(/[^\x00-\x7f]/g);
      return chars ? [`${file}:${i + 1}: ${chars.map((c) => `U+${c.codePointAt(0)!.toString(16).padStart(4, '0')}`).join(' ')}`] : [];
    });
    expect(offending).toEqual([]);
  });
});
