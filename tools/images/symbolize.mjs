#!/usr/bin/env node
// Maps the positions in a stack trace of a component's bundle back to the TypeScript sources, with the source map
// the image ships beside the bundle (/app/main.mjs.map, also dist/packages/<component>/bundle/main.mjs.map).
// The images run `node` without --enable-source-maps: decoding the map costs every process 10-80 MiB of RSS
// (docs/images.md, "Stack traces"), so traces name positions in main.mjs and are resolved here, after the fact.
//
//   kubectl logs <pod> | node tools/images/symbolize.mjs dist/packages/<component>/bundle/main.mjs.map
//
// Every `main.mjs:<line>:<column>` in the input becomes `<source>:<line>:<column>` (the original position), and so
// does a position in any other file of the bundle (a chunk loaded with `import()`, tools/images/bundle.mjs) through the
// `.map` beside it; everything else passes through unchanged. Exit 2 when the given map cannot be read.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SourceMap } from 'node:module';

/**
 * Replaces each `<file>.mjs:<line>:<column>` (1-based, as V8 prints them) in `text` with the original position from
 * the source map `maps(<file>.mjs)` gives (a node:module SourceMap, or undefined for a file without one); `maps` may
 * also be a single SourceMap, which then serves `main.mjs` only. Positions no map covers stay as they are.
 */
export function symbolize(text, maps) {
  const mapOf = typeof maps === 'function' ? maps : (name) => (name === 'main.mjs' ? maps : undefined);
  return text.replace(/([^\s()]*?)([\w.-]+\.mjs):(\d+):(\d+)/g, (whole, _dir, name, line, column) => {
    const e = mapOf(name)?.findEntry(Number(line) - 1, Number(column) - 1);
    if (!e || e.originalSource === undefined) return whole;
    const source = e.originalSource.replace(/^(\.\.\/)+/, '');
    return `${source}:${e.originalLine + 1}:${e.originalColumn + 1}`;
  });
}

/** Source maps of the bundle's files, read once each from `dir` (`<file>.mjs.map`); undefined when absent. */
function bundleMaps(dir) {
  const cache = new Map();
  return (name) => {
    if (!cache.has(name)) {
      let map;
      try {
        map = new SourceMap(JSON.parse(fs.readFileSync(path.join(dir, `${name}.map`), 'utf8')));
      } catch {
        map = undefined;
      }
      cache.set(name, map);
    }
    return cache.get(name);
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  try {
    new SourceMap(JSON.parse(fs.readFileSync(file, 'utf8')));
  } catch (err) {
    process.stderr.write(`usage: symbolize.mjs <main.mjs.map> < trace; cannot read ${JSON.stringify(file)}: ${err.message}\n`);
    process.exit(2);
  }
  process.stdout.write(symbolize(fs.readFileSync(0, 'utf8'), bundleMaps(path.dirname(file))));
}
