/**
 * Loading a cluster file: YAML with positions → schema → config items → cross-field checks → the resolved
 * cluster (environment defaults < cluster configItems < pool configItems). Every problem is collected and
 * reported with `file:line:column path: what is wrong, got <value>`, never only the first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Document, isMap, isPair, isScalar, LineCounter, type Node, parseDocument } from 'yaml';
import { tryParseCidr } from '@kubeaws/runtime';
import type { z } from 'zod';
import {
  checkItemValue,
  closestName,
  type ConfigItem,
  type Environment,
  type ItemValue,
  loadRegistry,
  type Registry,
} from './items';
import { type ClusterFile, clusterFileSchema, FORMS, MAX_NODE_POOLS, type NodePoolFile } from './schema';

/** One problem (or warning) in a cluster file. */
export interface Diagnostic {
  severity: 'error' | 'warning';
  file: string;
  line: number;
  column: number;
  /** Path like `spec.nodePools[2].maxSize`. */
  path: string;
  message: string;
}

/** Formats a diagnostic as `file:line:column path: message` (warnings prefixed `warning: `). */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column} ${d.severity === 'warning' ? 'warning: ' : ''}${d.path}: ${d.message}`;
}

/** A resolved node pool. */
export interface ResolvedPool {
  name: string;
  role: 'master' | 'worker';
  capacity: 'on-demand' | 'spot';
  instanceTypes: string[];
  minSize: number;
  maxSize: number;
  /** AZs of the pool (all of the cluster's subnets unless the pool names a subset). */
  zones?: string[];
  labels: Record<string, string>;
  taints: { key: string; value?: string; effect: string }[];
  imageId: string;
  /** Every pool-scoped item resolved for this pool, plus the cluster-scoped ones. */
  items: Map<string, ItemValue>;
}

/** A validated cluster with every config item resolved. */
export interface ResolvedCluster {
  /** The cluster file as given on the command line. */
  file: string;
  name: string;
  environment: Environment;
  account: string;
  region: string;
  /** `aws:<account>:<region>:<name>`. */
  clusterId: string;
  hostedZone: string;
  hostedZoneId?: string;
  apiHostname: string;
  apiAllowedCidr: string;
  vpcId?: string;
  internetGatewayId?: string;
  /** AZ → public subnet; empty until discovered when the file gives none. */
  subnets: Record<string, string>;
  certificateArn?: string;
  imageId: string;
  images: { registry: string; tag: string };
  /** The release version: the root package.json version or `spec.images.tag`. */
  version: string;
  /** Cluster-scoped values of every item. */
  items: Map<string, ItemValue>;
  pools: ResolvedPool[];
  registry: Registry;
}

/** Result of {@link loadCluster}: the cluster when there are no errors, and every diagnostic. */
export interface LoadResult {
  cluster?: ResolvedCluster;
  diagnostics: Diagnostic[];
}

/** Thrown by {@link loadClusterOrThrow} with every error (exit code 2). */
export class ConfigInputError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
  }
}

type PathPart = string | number;

/** Formats a path as `spec.nodePools[2].maxSize`. */
export function formatPath(parts: readonly PathPart[]): string {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? p : `.${p}`;
  }
  return out || '(document)';
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  return JSON.stringify(value);
}

/** Locates YAML nodes by path and turns offsets into line:column. */
class Positions {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  private at(offset: number): { line: number; column: number } {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  /** Position of the value at `parts`; falls back to the nearest existing ancestor. */
  value(parts: readonly PathPart[]): { line: number; column: number } {
    for (let n = parts.length; n >= 0; n--) {
      const node = this.doc.getIn(parts.slice(0, n) as PathPart[], true) as Node | undefined;
      if (node && (node as { range?: number[] }).range) return this.at((node as { range: number[] }).range[0]);
      if (n === 0) break;
    }
    return { line: 1, column: 1 };
  }

  /** Position of the key `key` in the map at `parent`. */
  key(parent: readonly PathPart[], key: string): { line: number; column: number } {
    const map = parent.length === 0 ? this.doc.contents : this.doc.getIn(parent as PathPart[], true);
    if (isMap(map)) {
      for (const item of map.items) {
        if (isPair(item) && isScalar(item.key) && String(item.key.value) === key && item.key.range)
          return this.at(item.key.range[0]);
      }
    }
    return this.value(parent);
  }
}

interface Collector {
  error(parts: readonly PathPart[], message: string, at?: 'key'): void;
  warn(parts: readonly PathPart[], message: string): void;
}

function zodMessage(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'invalid_value':
      return `expected ${issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map(String).join(', ')}`}, got ${show(value)}`;
    case 'invalid_type':
      if (value === undefined)
        return `required (${issue.message.startsWith('expected ') ? issue.message : `expected ${issue.expected}`})`;
      return `${issue.message.startsWith('expected ') && !issue.message.startsWith('expected string, received') ? issue.message : `expected ${issue.expected}`}, got ${show(value)}`;
    default:
      return `${issue.message.startsWith('expected') ? issue.message : `expected ${issue.message}`}, got ${show(value)}`;
  }
}

function getIn(obj: unknown, parts: readonly PathPart[]): unknown {
  let cur = obj;
  for (const p of parts) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

function allowedKeys(schemaAt: readonly PathPart[]): string[] {
  // The object shape at a path (numbers step into arrays), for "allowed fields" hints.
  let s: any = clusterFileSchema;
  for (const p of schemaAt) {
    if (typeof p === 'number') s = s?.def?.element ?? s?._zod?.def?.element;
    else s = s?.shape?.[p];
    while (s && (s.def?.type === 'optional' || s.def?.type === 'nullable')) s = s.def.innerType;
  }
  return s?.shape ? Object.keys(s.shape) : [];
}

/** Options of {@link loadCluster}. */
export interface LoadOptions {
  /** Name used in messages (default: the path as given). */
  displayName?: string;
  /** `infra/config-defaults.yaml`; default from the repository root. */
  defaultsFile?: string;
  /** The release version (default: the root package.json version). */
  version?: string;
  /** Repository root (default: found from this file). */
  root?: string;
}

/** The repository root: the nearest ancestor of `from` holding `nx.json`. */
export function findRepoRoot(from: string = __dirname): string {
  let dir = from;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'nx.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no nx.json above ${from}: run kubeaws from the kubeaws repository`);
    dir = up;
  }
}

const registryCache = new Map<string, Registry>();

/** The registry of `infra/config-defaults.yaml` (cached per file). */
export function defaultRegistry(file?: string): Registry {
  const f = file ?? path.join(findRepoRoot(), 'infra', 'config-defaults.yaml');
  let r = registryCache.get(f);
  if (!r) {
    r = loadRegistry(f);
    registryCache.set(f, r);
  }
  return r;
}

/** Loads a cluster file from disk: see {@link loadClusterText}. */
export function loadCluster(file: string, opts: LoadOptions = {}): LoadResult {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const name = opts.displayName ?? file;
    return {
      diagnostics: [
        { severity: 'error', file: name, line: 1, column: 1, path: '(file)', message: (err as Error).message },
      ],
    };
  }
  return loadClusterText(text, { ...opts, displayName: opts.displayName ?? file });
}

/** Like {@link loadCluster} but throws {@link ConfigInputError} on any error; warnings are returned. */
export function loadClusterOrThrow(
  file: string,
  opts: LoadOptions = {},
): { cluster: ResolvedCluster; warnings: Diagnostic[] } {
  const r = loadCluster(file, opts);
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 || !r.cluster) throw new ConfigInputError(errors);
  return { cluster: r.cluster, warnings: r.diagnostics };
}

/**
 * Validates a cluster file's text: YAML syntax, the schema, every config item (unknown names with a
 * closest-match suggestion, pool items that are not pool-scoped, values of the wrong type) and the cross-field
 * rules; returns the resolved cluster when there is no error. Pure apart from reading the registry.
 */
export function loadClusterText(text: string, opts: LoadOptions = {}): LoadResult {
  const file = opts.displayName ?? 'cluster.yaml';
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const diagnostics: Diagnostic[] = [];
  const pos = new Positions(doc, lines);
  const c: Collector = {
    error: (parts, message, at) => {
      const p = at === 'key' ? pos.key(parts.slice(0, -1), String(parts[parts.length - 1])) : pos.value(parts);
      diagnostics.push({ severity: 'error', file, ...p, path: formatPath(parts), message });
    },
    warn: (parts, message) =>
      diagnostics.push({ severity: 'warning', file, ...pos.value(parts), path: formatPath(parts), message }),
  };
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const p = lines.linePos(e.pos[0]);
      diagnostics.push({
        severity: 'error',
        file,
        line: p.line,
        column: p.col,
        path: '(yaml)',
        message: e.message.split('\n')[0],
      });
    }
    return { diagnostics };
  }
  const data = doc.toJS() as unknown;
  const registry = defaultRegistry(opts.defaultsFile);

  // 1. Schema.
  const parsed = clusterFileSchema.safeParse(data);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const parts = issue.path as PathPart[];
      if (issue.code === 'unrecognized_keys') {
        const allowed = allowedKeys(parts);
        for (const key of issue.keys) {
          const near = closestName(key, allowed);
          c.error(
            [...parts, key],
            `unknown field${near ? ` (did you mean ${near}?)` : ''}; allowed: ${allowed.join(', ')}`,
            'key',
          );
        }
        continue;
      }
      c.error(parts, zodMessage(issue, getIn(data, parts)));
    }
  }

  // 2. Config items and cross-field rules, as far as the structure allows.
  const spec = (data as { spec?: Record<string, unknown> } | null)?.spec;
  const environment: Environment = spec?.environment === 'production' ? 'production' : 'test';
  const clusterItems = new Map<string, ItemValue>();
  for (const item of registry.values()) clusterItems.set(item.name, item[environment]);
  checkItems(c, registry, spec?.configItems, ['spec', 'configItems'], 'cluster', clusterItems);

  const rawPools = Array.isArray(spec?.nodePools) ? (spec!.nodePools as Record<string, unknown>[]) : [];
  const poolItems: Map<string, ItemValue>[] = rawPools.map((p, i) => {
    const items = new Map(clusterItems);
    checkItems(
      c,
      registry,
      p && typeof p === 'object' ? p.configItems : undefined,
      ['spec', 'nodePools', i, 'configItems'],
      'pool',
      items,
    );
    return items;
  });

  // 3. Cross-field rules run on whatever parts are well-formed, so one run reports every problem.
  const configured = spec?.configItems && typeof spec.configItems === 'object' ? Object.keys(spec.configItems) : [];
  crossFieldChecks(c, loosely(data), clusterItems, configured);
  diagnostics.sort((a, b) => a.line - b.line || a.column - b.column);
  if (!parsed.success || diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  const f: ClusterFile = parsed.data;

  const version = f.spec.images.tag ?? opts.version ?? rootVersion(opts.root);
  const cluster: ResolvedCluster = {
    file,
    name: f.metadata.name,
    environment: f.spec.environment,
    account: f.spec.account,
    region: f.spec.region,
    clusterId: `aws:${f.spec.account}:${f.spec.region}:${f.metadata.name}`,
    hostedZone: f.spec.hostedZone,
    hostedZoneId: f.spec.hostedZoneId,
    apiHostname: f.spec.apiHostname,
    apiAllowedCidr: f.spec.apiAllowedCidr ?? '0.0.0.0/0',
    vpcId: f.spec.vpcId,
    internetGatewayId: f.spec.internetGatewayId,
    subnets: { ...(f.spec.subnets ?? {}) },
    certificateArn: f.spec.certificateArn ?? undefined,
    imageId: f.spec.imageId,
    images: { registry: f.spec.images.registry.replace(/\/+$/, ''), tag: version },
    version,
    items: clusterItems,
    pools: f.spec.nodePools.map((p, i) => resolvePool(p, poolItems[i], f.spec.imageId)),
    registry,
  };
  return { cluster, diagnostics };
}

function rootVersion(root?: string): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(root ?? findRepoRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function resolvePool(p: NodePoolFile, items: Map<string, ItemValue>, imageId: string): ResolvedPool {
  const masters = items.get('master_node_count') as number;
  return {
    name: p.name,
    role: p.role,
    capacity: p.capacity ?? 'on-demand',
    instanceTypes: p.instanceTypes,
    minSize: p.role === 'master' ? masters : (p.minSize ?? 0),
    maxSize: p.role === 'master' ? masters : (p.maxSize as number),
    zones: p.zones,
    labels: p.labels ?? {},
    taints: p.taints ?? [],
    imageId: p.imageId ?? imageId,
    items,
  };
}

function checkItems(
  c: Collector,
  registry: Registry,
  raw: unknown,
  at: PathPart[],
  level: 'cluster' | 'pool',
  into: Map<string, ItemValue>,
): void {
  if (raw === undefined || raw === null) return;
  if (typeof raw !== 'object' || Array.isArray(raw)) return; // reported by the schema
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const item: ConfigItem | undefined = registry.get(name);
    if (!item) {
      const near = closestName(name, registry.keys());
      c.error([...at, name], `unknown config item${near ? ` (did you mean ${near}?)` : ''}`, 'key');
      continue;
    }
    if (level === 'pool' && item.scope !== 'pool') {
      c.error(
        [...at, name],
        `${name} is cluster-scoped: set it in spec.configItems; pool-scoped items: ${[...registry.values()]
          .filter((i) => i.scope === 'pool')
          .map((i) => i.name)
          .join(', ')}`,
        'key',
      );
      continue;
    }
    const r = checkItemValue(item, value);
    if (!r.ok) c.error([...at, name], `expected ${r.expected}, got ${show(value)}`);
    else into.set(name, r.value);
  }
}

function sameLabelsAndTaints(a: NodePoolFile, b: NodePoolFile): boolean {
  const norm = (p: NodePoolFile): string =>
    JSON.stringify([
      Object.entries(p.labels ?? {}).sort(),
      (p.taints ?? []).map((t) => `${t.key}=${t.value ?? ''}:${t.effect}`).sort(),
    ]);
  return norm(a) === norm(b);
}

/** The parts of a cluster file that have the right shape (others dropped), for the cross-field rules. */
function loosely(data: unknown): ClusterFile {
  const obj = (v: unknown): Record<string, unknown> =>
    v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const root = obj(data);
  const spec = obj(root.spec);
  const pools = Array.isArray(spec.nodePools) ? spec.nodePools : [];
  const strings = (v: unknown): string[] =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  return {
    metadata: { name: str(obj(root.metadata).name) ?? '' },
    spec: {
      region: str(spec.region) ?? '',
      hostedZone: str(spec.hostedZone) ?? '',
      apiHostname: str(spec.apiHostname) ?? '',
      apiAllowedCidr: str(spec.apiAllowedCidr),
      subnets: Object.fromEntries(Object.entries(obj(spec.subnets)).filter(([, v]) => typeof v === 'string')) as Record<
        string,
        string
      >,
      nodePools: pools.map((raw) => {
        const p = obj(raw);
        return {
          name: str(p.name) ?? '',
          role: p.role === 'master' ? 'master' : 'worker',
          capacity: p.capacity === 'spot' ? 'spot' : p.capacity === 'on-demand' ? 'on-demand' : undefined,
          instanceTypes: strings(p.instanceTypes),
          minSize: typeof p.minSize === 'number' ? p.minSize : undefined,
          maxSize: typeof p.maxSize === 'number' ? p.maxSize : p.maxSize === undefined ? undefined : -1,
          zones: Array.isArray(p.zones) ? strings(p.zones) : undefined,
          labels: obj(p.labels) as Record<string, string>,
          taints: Array.isArray(p.taints)
            ? (p.taints.filter((t) => t && typeof t === 'object') as NodePoolFile['taints'])
            : undefined,
        };
      }),
    },
  } as unknown as ClusterFile;
}

function crossFieldChecks(c: Collector, f: ClusterFile, items: Map<string, ItemValue>, configured: string[]): void {
  const s = f.spec;
  if (s.apiHostname && s.hostedZone && s.apiHostname !== s.hostedZone && !s.apiHostname.endsWith(`.${s.hostedZone}`)) {
    c.error(['spec', 'apiHostname'], `must be inside the hosted zone ${s.hostedZone}, got ${show(s.apiHostname)}`);
  }
  if (s.apiAllowedCidr !== undefined) {
    const r = tryParseCidr(s.apiAllowedCidr, { family: 'ipv4' });
    // a block with host bits set gets the canonical network named
    if (!r.ok)
      c.error(
        ['spec', 'apiAllowedCidr'],
        `expected ${FORMS.cidr}${r.error.canonical ? ` (${r.error.message})` : ''}, got ${show(s.apiAllowedCidr)}`,
      );
    else if (r.value.prefixLength > 0)
      c.warn(
        ['spec', 'apiAllowedCidr'],
        `restricts the API load balancer, which also serves the service-account issuer https://${s.apiHostname || '<apiHostname>'}: AWS STS fetches its discovery document and signing keys from the internet to verify pod tokens, so IRSA roles cannot be assumed unless AWS can reach it (the security groups let nodes reach kube-apiserver on the masters regardless of this CIDR), got ${show(s.apiAllowedCidr)}`,
      );
  }
  const zones = Object.keys(s.subnets ?? {});
  for (const az of zones) {
    if (s.region && !az.startsWith(s.region))
      c.error(['spec', 'subnets', az], `zone ${az} is not in region ${s.region}`, 'key');
  }
  const subnetIds = Object.values(s.subnets ?? {});
  if (new Set(subnetIds).size !== subnetIds.length)
    c.error(['spec', 'subnets'], `expected one distinct subnet per zone, got ${show(s.subnets)}`);

  const pools = s.nodePools;
  if (pools.length > MAX_NODE_POOLS)
    c.error(['spec', 'nodePools'], `at most ${MAX_NODE_POOLS} node pools, got ${pools.length}`);
  const masters = pools.map((p, i) => ({ p, i })).filter((x) => x.p.role === 'master');
  if (masters.length !== 1) {
    c.error(
      ['spec', 'nodePools'],
      `expected exactly one pool with role master, got ${masters.length} (${show(masters.map((m) => m.p.name))})`,
    );
  }
  if (!pools.some((p) => p.role === 'worker'))
    c.error(['spec', 'nodePools'], 'expected at least one worker pool, got none');
  const seen = new Map<string, number>();
  pools.forEach((p, i) => {
    const at = ['spec', 'nodePools', i];
    if (p.name && seen.has(p.name))
      c.error([...at, 'name'], `duplicate pool name (also spec.nodePools[${seen.get(p.name)}]), got ${show(p.name)}`);
    seen.set(p.name, i);
    const capacity = p.capacity ?? 'on-demand';
    if (p.role === 'master') {
      if (capacity !== 'on-demand')
        c.error([...at, 'capacity'], `master pools must be on-demand, got ${show(p.capacity)}`);
      if (p.minSize !== undefined)
        c.error(
          [...at, 'minSize'],
          `master pools are sized by config item master_node_count; remove minSize, got ${show(p.minSize)}`,
        );
      if (p.maxSize !== undefined)
        c.error(
          [...at, 'maxSize'],
          `master pools are sized by config item master_node_count; remove maxSize, got ${show(p.maxSize)}`,
        );
      if ((p.taints ?? []).length > 0 || Object.keys(p.labels ?? {}).length > 0) {
        c.error(
          [...at, p.taints ? 'taints' : 'labels'],
          'master pools get the control-plane label and taint; remove labels and taints',
        );
      }
    } else {
      if (p.maxSize === undefined)
        c.error([...at, 'maxSize'], 'required for worker pools (an integer ≥ 0), got nothing');
      else if (p.maxSize >= 0 && (p.minSize ?? 0) > p.maxSize)
        c.error([...at, 'minSize'], `must be ≤ maxSize (${p.maxSize}), got ${p.minSize}`);
    }
    for (const key of Object.keys(p.labels ?? {})) {
      if (!kubeletMaySetLabel(key))
        c.error(
          [...at, 'labels', key],
          `the kubelet cannot set label ${key} on its node (NodeRestriction reserves kubernetes.io and k8s.io labels except ${KUBELET_LABEL_NAMESPACES.map((n) => `${n}/*`).join(', ')} and the well-known ones); use another prefix such as node.kubernetes.io/ or example.org/`,
          'key',
        );
    }
    if (capacity === 'spot' && p.instanceTypes.length < 2) {
      c.error([...at, 'instanceTypes'], `spot pools need at least 2 instance types, got ${show(p.instanceTypes)}`);
    }
    if (new Set(p.instanceTypes).size !== p.instanceTypes.length)
      c.error([...at, 'instanceTypes'], `duplicate instance types, got ${show(p.instanceTypes)}`);
    if (p.zones && zones.length > 0) {
      p.zones.forEach((z, j) => {
        if (!zones.includes(z))
          c.error([...at, 'zones', j], `zone ${z} has no subnet in spec.subnets (${zones.join(', ')})`);
      });
    }
    if (capacity === 'spot') {
      const fallback = pools.find(
        (o) => o.role === 'worker' && (o.capacity ?? 'on-demand') === 'on-demand' && sameLabelsAndTaints(o, p),
      );
      if (!fallback)
        c.warn([...at], `spot pool ${p.name} has no on-demand fallback pool with the same labels and taints`);
    }
  });

  const count = items.get('etcd_instance_count') as number;
  if (count % 2 === 0)
    c.error(['spec', 'configItems', 'etcd_instance_count'], `expected an odd member count, got ${count}`);
  const retention = items.get('etcd_backup_retention') as number;
  if (retention % 86400 !== 0)
    c.error(['spec', 'configItems', 'etcd_backup_retention'], `expected whole days like 7d, got ${retention}s`);

  checkEipAllocationIds(c, zones, items);

  if (items.get('static_egress_enabled') === true) {
    const cidrs = items.get('static_egress_nat_cidrs') as string[] | null;
    const at = ['spec', 'configItems', 'static_egress_nat_cidrs'];
    // A value given but invalid is reported by its item check; "required" only when none is given.
    if (!cidrs && !configured.includes('static_egress_nat_cidrs')) {
      c.error(
        ['spec', 'configItems'],
        `static_egress_nat_cidrs is required when static_egress_enabled is true: one free /28 per zone${zones.length ? ` (${zones.length}: ${zones.join(', ')})` : ''}`,
      );
    } else if (cidrs) {
      cidrs.forEach((cidr, j) => {
        const r = tryParseCidr(cidr, { family: 'ipv4' });
        if (r.ok && r.value.prefixLength !== 28) c.error([...at, j], `expected a /28, got ${show(cidr)}`);
      });
      if (zones.length > 0 && cidrs.length !== zones.length) {
        c.error(at, `expected one /28 per zone (${zones.length}: ${zones.join(', ')}), got ${cidrs.length}`);
      }
      if (new Set(cidrs).size !== cidrs.length) c.error(at, `expected distinct CIDRs, got ${show(cidrs)}`);
    }
  }
}

/**
 * Parses `static_egress_eip_allocation_ids` (`az=eipalloc-…` entries, the item's pattern already checked) into
 * AZ → allocation ID, in the order given. The controller takes the same form as `--eip-allocation-ids`
 * (docs/static-egress-controller.md#seg-flags).
 */
export function eipAllocationIds(items: Map<string, ItemValue>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of (items.get('static_egress_eip_allocation_ids') as string[] | null) ?? []) {
    const eq = entry.indexOf('=');
    out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

function eipEntryProblems(entries: string[], zones: string[]): { index: number; message: string }[] {
  const problems: { index: number; message: string }[] = [];
  const seenAz = new Map<string, number>();
  const seenId = new Map<string, number>();
  entries.forEach((entry, j) => {
    const [az, id] = entry.split('=');
    if (zones.length > 0 && !zones.includes(az))
      problems.push({ index: j, message: `zone ${az} is not a zone of the cluster (${zones.join(', ')}), got ${show(entry)}` });
    if (seenAz.has(az))
      problems.push({ index: j, message: `expected at most one Elastic IP per zone (${az} also at [${seenAz.get(az)}]), got ${show(entry)}` });
    if (seenId.has(id))
      problems.push({ index: j, message: `expected distinct allocation IDs (${id} also at [${seenId.get(id)}]), got ${show(entry)}` });
    seenAz.set(az, j);
    seenId.set(id, j);
  });
  return problems;
}

function checkEipAllocationIds(c: Collector, zones: string[], items: Map<string, ItemValue>): void {
  const entries = (items.get('static_egress_eip_allocation_ids') as string[] | null) ?? [];
  if (entries.length === 0) return;
  const at = ['spec', 'configItems', 'static_egress_eip_allocation_ids'];
  if (items.get('static_egress_enabled') !== true)
    c.warn(at, 'has no effect: static_egress_enabled is false, so no static-egress-controller is deployed');
  for (const p of eipEntryProblems(entries, zones)) c.error([...at, p.index], p.message);
}

/** Label keys the kubelet may set on its own Node in the reserved namespaces (upstream `kubeletLabels`). */
const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname',
  'kubernetes.io/arch',
  'kubernetes.io/os',
  'beta.kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/instance-type',
  'node.kubernetes.io/instance-type',
  'failure-domain.beta.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'topology.kubernetes.io/zone',
]);
/** Label namespaces (and their subdomains) the kubelet may use (upstream `kubeletLabelNamespaces`). */
export const KUBELET_LABEL_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io'] as const;

/**
 * Whether the kubelet may set a label on its own Node (`--node-labels`; the NodeRestriction admission plugin refuses
 * the others, kubernetes/kubernetes#85503): any key outside the `kubernetes.io` and `k8s.io` namespaces, and inside
 * them only the well-known keys and `node.kubernetes.io/*`, `kubelet.kubernetes.io/*`. So
 * `node.kubernetes.io/role=master` is allowed and `node-role.kubernetes.io/control-plane` is not. Rule of upstream
 * kubernetes pkg/kubelet/apis/well_known_labels.go (`IsKubeletLabel`) and the kubelet's `--node-labels` check.
 */
export function kubeletMaySetLabel(key: string): boolean {
  if (KUBELET_LABELS.has(key)) return true;
  const slash = key.indexOf('/');
  if (slash < 0) return true;
  const ns = key.slice(0, slash);
  const within = (n: string): boolean => ns === n || ns.endsWith(`.${n}`);
  if (KUBELET_LABEL_NAMESPACES.some(within)) return true;
  return !within('kubernetes.io') && !within('k8s.io');
}

/** Values that `render --offline` needs but discovery would otherwise find, as paths; empty when complete. */
export function missingForOffline(cluster: ResolvedCluster): string[] {
  const missing: string[] = [];
  if (!cluster.vpcId) missing.push('spec.vpcId');
  if (Object.keys(cluster.subnets).length === 0) missing.push('spec.subnets');
  if (!cluster.hostedZoneId) missing.push('spec.hostedZoneId');
  if (!cluster.certificateArn) missing.push('spec.certificateArn');
  if (cluster.items.get('static_egress_enabled') === true && !cluster.internetGatewayId)
    missing.push('spec.internetGatewayId');
  return missing;
}

/** The cluster's AZs in order, and for each pool its AZs and subnets. */
export function poolSubnets(cluster: ResolvedCluster, pool: ResolvedPool): string[] {
  const zones = pool.zones ?? Object.keys(cluster.subnets).sort();
  return zones.map((z) => cluster.subnets[z]);
}

/** Cross-checks that depend on discovered subnets (called after discovery). */
export function checkDiscovered(cluster: ResolvedCluster): string[] {
  const zones = Object.keys(cluster.subnets);
  const problems: string[] = [];
  const cidrs = cluster.items.get('static_egress_nat_cidrs') as string[] | null;
  if (cluster.items.get('static_egress_enabled') === true && cidrs && cidrs.length !== zones.length) {
    problems.push(
      `${cluster.file}: spec.configItems.static_egress_nat_cidrs: expected one /28 per zone (${zones.join(', ')}), got ${cidrs.length}`,
    );
  }
  for (const p of eipEntryProblems((cluster.items.get('static_egress_eip_allocation_ids') as string[] | null) ?? [], zones))
    problems.push(`${cluster.file}: spec.configItems.static_egress_eip_allocation_ids[${p.index}]: ${p.message}`);
  for (const p of cluster.pools) {
    for (const z of p.zones ?? [])
      if (!zones.includes(z))
        problems.push(`${cluster.file}: pool ${p.name}: zone ${z} has no public subnet (${zones.join(', ')})`);
  }
  return problems;
}
