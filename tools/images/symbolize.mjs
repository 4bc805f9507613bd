#!/usr/bin/env node
// Maps the positions in a stack trace of a component's bundle back to the TypeScript sources, with the source map
// the image ships beside the bundle (/app/main.mjs.map, also dist/packages/<component>/bundle/main.mjs.map).
// The images run `node` without --enable-source-maps: decoding the map costs every process 10-80 MiB of RSS
// (docs/images.md, "Stack traces"), so traces name positions in main.mjs and are resolved here, after the fact.
//
//   kubectl logs <pod> | node tools/images/symbolize.mjs dist/packages/<component>/bundle/main.mjs.map
//
// Every `main.mjs:<line>:<column>` in the input becomes `<source>:<line>:<column>` (the original position);
// everything else passes through unchanged. Exit 2 when the map cannot be read.
import * as fs from 'node:fs';
import { SourceMap } from 'node:module';

/**
 * Replaces each `main.mjs:<line>:<column>` (1-based, as V8 prints them) in `text` with the original position
 * from `map` (a node:module SourceMap); positions the map does not cover stay as they are.
 */
export function symbolize(text, map) {
  return text.replace(/([^\s()]*main\.mjs):(\d+):(\d+)/g, (whole, _file, line, column) => {
    const e = map.findEntry(Number(line) - 1, Number(column) - 1);
    if (!e || e.originalSource === undefined) return whole;
    const source = e.originalSource.replace(/^(\.\.\/)+/, '');
    return `${source}:${e.originalLine + 1}:${e.originalColumn + 1}`;
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  let map;
  try {
    map = new SourceMap(JSON.parse(fs.readFileSync(file, 'utf8')));
  } catch (err) {
    process.stderr.write(`usage: symbolize.mjs <main.mjs.map> < trace; cannot read ${JSON.stringify(file)}: ${err.message}\n`);
    process.exit(2);
  }
  process.stdout.write(symbolize(fs.readFileSync(0, 'utf8'), map));
}
