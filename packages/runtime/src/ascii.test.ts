/**
 * The runtime's sources are ASCII. Every component bundle inlines them, and a single character above U+00FF
 * anywhere in a bundle (a regular expression or a comment the bundler keeps) makes V8 hold the bundle's whole
 * source as a two-byte string: twice its size for the life of the process (docs/benchmarks.md#where-the-memory-goes).
 * Non-ASCII characters in code are written as escapes (`\u00b5`).
 */
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';

const files = readdirSync(__dirname).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));

describe('runtime sources', () => {
  it('are found', () => expect(files).toContain('units.ts'));

  it.each(files)('%s holds only ASCII characters', (file) => {
    const lines = readFileSync(path.join(__dirname, file), 'utf8').split('\n');
    const offending = lines.flatMap((line, i) => {
      const chars = line.match(/[^\x00-\x7f]/g);
      return chars ? [`${file}:${i + 1}: ${chars.map((c) => `U+${c.codePointAt(0)!.toString(16).padStart(4, '0')}`).join(' ')}`] : [];
    });
    expect(offending).toEqual([]);
  });
});
