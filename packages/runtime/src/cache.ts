import type { KubeObject } from './client.js';

/** Computes the index values of an object (like client-go's `cache.IndexFunc`); may return several. */
export type IndexFunc<T> = (obj: T) => string[];

/** Name of the built-in index over `metadata.namespace` ("" for cluster-scoped objects). */
export const NAMESPACE_INDEX = 'byNamespace';

/**
 * Cache key of an object, as client-go's `MetaNamespaceKeyFunc`: `<namespace>/<name>`, or `<name>`
 * for cluster-scoped objects.
 */
export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

/** Splits a cache key into namespace ("" when cluster-scoped) and name. */
export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** Read-only view of an informer's cache (client-go `cache.Indexer` reads). */
export interface ReadonlyStore<T extends KubeObject> {
  /** Object by cache key (`ns/name` or `name`). */
  get(key: string): T | undefined;
  /** Object by namespace ("" for cluster-scoped) and name. */
  getByName(namespace: string, name: string): T | undefined;
  /** All objects (a fresh array). */
  list(): T[];
  /** All cache keys. */
  keys(): string[];
  /** Number of objects. */
  readonly size: number;
  /** Objects whose index `indexName` contains `value`; throws for unknown index names. */
  byIndex(indexName: string, value: string): T[];
  /** Objects in a namespace (the built-in {@link NAMESPACE_INDEX}). */
  byNamespace(namespace: string): T[];
  /** Distinct values currently present in an index. */
  indexValues(indexName: string): string[];
}

/**
 * Thread-free equivalent of client-go's `threadSafeStore`: objects keyed by {@link objectKey}, with
 * secondary indexes kept up to date on every write. The {@link NAMESPACE_INDEX} index is built in.
 */
export class Store<T extends KubeObject> implements ReadonlyStore<T> {
  private items = new Map<string, T>();
  private indexers = new Map<string, IndexFunc<T>>();
  private indices = new Map<string, Map<string, Set<string>>>();

  /** @param indexers custom indexes, by name; may not redefine {@link NAMESPACE_INDEX}. */
  constructor(indexers: Record<string, IndexFunc<T>> = {}) {
    this.indexers.set(NAMESPACE_INDEX, (o) => [o.metadata?.namespace ?? '']);
    for (const [name, fn] of Object.entries(indexers)) {
      if (name === NAMESPACE_INDEX) throw new Error(`index ${NAMESPACE_INDEX} is built in`);
      this.indexers.set(name, fn);
    }
    for (const name of this.indexers.keys()) this.indices.set(name, new Map());
  }

  get size(): number {
    return this.items.size;
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  getByName(namespace: string, name: string): T | undefined {
    return this.items.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  byIndex(indexName: string, value: string): T[] {
    const idx = this.indices.get(indexName);
    if (!idx) throw new Error(`unknown index ${JSON.stringify(indexName)}`);
    const keys = idx.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) {
      const o = this.items.get(k);
      if (o) out.push(o);
    }
    return out;
  }

  byNamespace(namespace: string): T[] {
    return this.byIndex(NAMESPACE_INDEX, namespace);
  }

  indexValues(indexName: string): string[] {
    const idx = this.indices.get(indexName);
    if (!idx) throw new Error(`unknown index ${JSON.stringify(indexName)}`);
    return [...idx.keys()];
  }

  /** Inserts or replaces an object; returns the previous one. */
  upsert(obj: T): T | undefined {
    const key = objectKey(obj);
    const old = this.items.get(key);
    if (old) this.unindex(key, old);
    this.items.set(key, obj);
    this.index(key, obj);
    return old;
  }

  /** Removes an object by key; returns it. */
  delete(key: string): T | undefined {
    const old = this.items.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.items.delete(key);
    return old;
  }

  private index(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name)!;
      for (const v of safeIndex(fn, obj)) {
        let s = idx.get(v);
        if (!s) idx.set(v, (s = new Set()));
        s.add(key);
      }
    }
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name)!;
      for (const v of safeIndex(fn, obj)) {
        const s = idx.get(v);
        if (!s) continue;
        s.delete(key);
        if (s.size === 0) idx.delete(v);
      }
    }
  }
}

function safeIndex<T>(fn: IndexFunc<T>, obj: T): string[] {
  try {
    return fn(obj) ?? [];
  } catch {
    return [];
  }
}
