/**
 * Sums the samples of a Prometheus text exposition (format 0.0.4) that match a selector.
 *
 * `selector` is a metric name, optionally with label matchers in braces, e.g.
 * `kubeaws_pdb_controller_pdb_writes_total{operation="create",result="success"}`: every sample of that name
 * whose labels include all given pairs is added. Returns 0 when nothing matches.
 * Source: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */
export function sumSamples(text: string, selector: string): number {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$/.exec(selector.trim());
  if (!m) throw new Error(`invalid metric selector ${JSON.stringify(selector)}: expected name or name{label="value",...}`);
  const [, name, matchers] = m;
  const wanted = parseLabels(matchers ?? '');
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const s = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!s || s[1] !== name) continue;
    const labels = parseLabels(s[2] ?? '');
    if (Object.entries(wanted).every(([k, v]) => labels[k] === v)) sum += Number(s[3]);
  }
  return sum;
}

function parseLabels(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(body); m; m = re.exec(body)) out[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  return out;
}
