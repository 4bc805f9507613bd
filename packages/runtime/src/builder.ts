/**
 * Declaring what a controller reacts to, after controller-runtime's builder
 * (sigs.k8s.io/controller-runtime/pkg/builder): `for(primary)`, `owns(child)`,
 * `watches(source, mapFn)`, each with {@link Predicate}s, then `complete(reconcile)`.
 *
 * ```ts
 * mgr.builder('pdb')
 *   .for(deployments, { kind: 'Deployment', predicates: [generationChanged(), annotationChanged()] })
 *   .owns(pdbs)
 *   .watches(namespaces, (ns) => keysInNamespace(ns.metadata.name))
 *   .withOptions({ workers: 4 })
 *   .complete(reconcile);
 * ```
 */
import type { ApiError } from './errors.js';
import type { KubeObject } from './client.js';
import { objectKey } from './cache.js';
import { parseApiPath } from './client.js';
import type { Controller, ControllerOptions, Reconciler } from './controller.js';
import type { EventHandler } from './informer.js';
import { type LabelSelector, matchesLabels } from './labels.js';

/**
 * Filters informer events before they enqueue (controller-runtime's `predicate.Funcs`). A missing
 * function lets that event type through. Periodic resyncs reach `update` with `oldObj === newObj`.
 */
export interface Predicate<T extends KubeObject = KubeObject> {
  create?(obj: T): boolean;
  update?(oldObj: T, newObj: T): boolean;
  delete?(obj: T): boolean;
}

/** Anything a controller can watch: an {@link Informer} (its cache is the controller's read path). */
export interface Source<T extends KubeObject> {
  readonly name: string;
  addEventHandler(h: EventHandler<T>): () => void;
}

/**
 * What a map function learns about an event besides the object, after controller-runtime's typed
 * events: its type, the previous state of an update (`old`, the same object on a periodic resync),
 * and whether a create came with the informer's initial list (`initial`, controller-runtime's
 * `CreateEvent.IsInInitialList`; also true for objects replayed to a handler added later).
 */
export interface MapEvent<T extends KubeObject = KubeObject> {
  type: 'create' | 'update' | 'delete';
  old?: T;
  initial?: boolean;
}

/**
 * Maps an object of a watched source to the keys of the primary objects to reconcile. `obj` is the
 * created, the new (update) or the deleted object; `ev` tells which, see {@link MapEvent}.
 */
export type MapFunc<T extends KubeObject> = (obj: T, ev: MapEvent<T>) => Iterable<string>;

/**
 * Passes updates whose `metadata.generation` changed (spec changes; status-only updates and resyncs are
 * dropped). Creates and deletes pass. controller-runtime's `GenerationChangedPredicate`.
 */
export function generationChanged<T extends KubeObject>(): Predicate<T> {
  return { update: (o, n) => o.metadata?.generation !== n.metadata?.generation };
}

/**
 * Passes updates whose annotations changed: all of them, or only the given keys. Creates and deletes
 * pass. controller-runtime's `AnnotationChangedPredicate`.
 */
export function annotationChanged<T extends KubeObject>(...keys: string[]): Predicate<T> {
  return { update: (o, n) => !sameEntries(o.metadata?.annotations, n.metadata?.annotations, keys) };
}

/** Passes updates whose labels changed (all, or only the given keys). controller-runtime's `LabelChangedPredicate`. */
export function labelChanged<T extends KubeObject>(...keys: string[]): Predicate<T> {
  return { update: (o, n) => !sameEntries(o.metadata?.labels, n.metadata?.labels, keys) };
}

/** Passes updates whose `resourceVersion` changed: drops periodic resyncs. */
export function resourceVersionChanged<T extends KubeObject>(): Predicate<T> {
  return { update: (o, n) => o.metadata?.resourceVersion !== n.metadata?.resourceVersion };
}

/**
 * Passes objects whose labels match `selector` (`metav1.LabelSelector` semantics, see `labels.ts`); an
 * update passes when the old or the new object matches, so an object that stops matching is seen once
 * more. controller-runtime's `LabelSelectorPredicate`.
 */
export function labelSelector<T extends KubeObject>(selector: LabelSelector): Predicate<T> {
  const m = (o: T) => matchesLabels(selector, o.metadata?.labels ?? {});
  return { create: m, delete: m, update: (o, n) => m(o) || m(n) };
}

/** Passes an event when any of the predicates passes it. */
export function anyOf<T extends KubeObject>(...ps: Predicate<T>[]): Predicate<T> {
  return {
    create: (o) => ps.some((p) => p.create?.(o) ?? true),
    update: (o, n) => ps.some((p) => p.update?.(o, n) ?? true),
    delete: (o) => ps.some((p) => p.delete?.(o) ?? true),
  };
}

function sameEntries(
  a: Record<string, string> | undefined,
  b: Record<string, string> | undefined,
  keys: string[],
): boolean {
  const x = a ?? {};
  const y = b ?? {};
  const ks = keys.length ? keys : [...new Set([...Object.keys(x), ...Object.keys(y)])];
  return ks.every((k) => x[k] === y[k]);
}

function passes<T extends KubeObject>(
  ps: Predicate<T>[],
  ev: 'create' | 'update' | 'delete',
  o: T,
  n?: T,
): boolean {
  for (const p of ps) {
    const f = p[ev];
    if (f && !(ev === 'update' ? (f as Predicate<T>['update'])!(o, n!) : (f as (x: T) => boolean)(o))) return false;
  }
  return true;
}

/**
 * Connects a source to an existing controller, like controller-runtime's `Controller.Watch`: each
 * event that passes every predicate enqueues the keys `map` gives for it. For sources that appear
 * after `complete()`, e.g. the informer of a custom resource whose CRD was discovered at run time
 * (events of an informer stopped with `Manager.removeInformer` no longer arrive). Returns a function
 * that disconnects the source.
 */
export function watchSource<T extends KubeObject>(
  controller: Pick<Controller, 'enqueue'>,
  source: Source<T>,
  map: MapFunc<T>,
  o: { predicates?: Predicate<T>[] } = {},
): () => void {
  const ps = o.predicates ?? [];
  const enqueue = (obj: T, ev: MapEvent<T>) => {
    for (const k of map(obj, ev)) controller.enqueue(k);
  };
  return source.addEventHandler({
    onAdd: (obj, initial) => passes(ps, 'create', obj) && enqueue(obj, { type: 'create', initial }),
    onUpdate: (old, obj) => passes(ps, 'update', old, obj) && enqueue(obj, { type: 'update', old }),
    onDelete: (obj) => passes(ps, 'delete', obj) && enqueue(obj, { type: 'delete' }),
  });
}

/** The part of a Manager the builder needs (see `Manager.builder`). */
export interface ControllerFactory {
  controller(opts: Omit<ControllerOptions, 'clock' | 'logger' | 'metrics'>): Controller;
}

/** Options of {@link ControllerBuilder.withOptions}: everything of {@link ControllerOptions} but name and reconcile. */
export type BuilderOptions = Omit<ControllerOptions, 'name' | 'reconcile' | 'clock' | 'logger' | 'metrics'>;

interface Watch {
  source: Source<KubeObject>;
  map: MapFunc<KubeObject>;
  predicates: Predicate<KubeObject>[];
}

/**
 * Builds a {@link Controller} whose work queue is fed by the declared sources. Keys are cache keys of
 * the primary objects (`namespace/name`, or `name` when cluster-scoped) unless `watches` map functions
 * produce other keys. A 404 counts as "primary gone" (key done) only when it names an object of the
 * `for()` resource with the key's namespace and name; any other 404 is retried with backoff.
 */
export class ControllerBuilder {
  private primary?: { source: Source<KubeObject>; kind?: string; resource?: string };
  private readonly watchesList: Watch[] = [];
  private readonly ownedList: Array<{ source: Source<KubeObject>; predicates: Predicate<KubeObject>[] }> = [];
  private opts: BuilderOptions = {};

  constructor(
    private readonly factory: ControllerFactory,
    private readonly name: string,
  ) {}

  /**
   * The primary resource: each of its events enqueues the object's own key. `kind` is what `owns()`
   * matches in children's `ownerReferences`.
   */
  for<T extends KubeObject>(source: Source<T>, o: { kind?: string; predicates?: Predicate<T>[] } = {}): this {
    if (this.primary) throw new Error(`controller ${this.name}: for() may be called once`);
    const path = (source as unknown as { path?: string }).path;
    this.primary = {
      source: source as unknown as Source<KubeObject>,
      kind: o.kind,
      resource: path ? parseApiPath(path).resource : undefined,
    };
    this.watchesList.push({
      source: source as unknown as Source<KubeObject>,
      map: (obj) => [objectKey(obj)],
      predicates: (o.predicates ?? []) as Predicate<KubeObject>[],
    });
    return this;
  }

  /**
   * A child resource: each event of an object whose controlling `ownerReference` has the primary's
   * `kind` enqueues the owner's key (`namespace/ownerName`).
   */
  owns<T extends KubeObject>(source: Source<T>, o: { predicates?: Predicate<T>[] } = {}): this {
    this.ownedList.push({
      source: source as unknown as Source<KubeObject>,
      predicates: (o.predicates ?? []) as Predicate<KubeObject>[],
    });
    return this;
  }

  /** Any other source: `map(obj)` gives the keys to enqueue for each of its (passing) events. */
  watches<T extends KubeObject>(source: Source<T>, map: MapFunc<T>, o: { predicates?: Predicate<T>[] } = {}): this {
    this.watchesList.push({
      source: source as unknown as Source<KubeObject>,
      map: map as MapFunc<KubeObject>,
      predicates: (o.predicates ?? []) as Predicate<KubeObject>[],
    });
    return this;
  }

  /** Workers, rate limiter and hooks of the controller. */
  withOptions(o: BuilderOptions): this {
    this.opts = { ...this.opts, ...o };
    return this;
  }

  /** Creates the controller on the manager and connects every declared source to its queue. */
  complete(reconcile: Reconciler): Controller {
    const primary = this.primary;
    if (this.ownedList.length && !primary?.kind)
      throw new Error(`controller ${this.name}: owns() needs for(source, { kind }) to match ownerReferences`);
    const isPrimaryNotFound =
      this.opts.isPrimaryNotFound ??
      (primary?.resource
        ? (key: string, err: ApiError) => {
            if (!err.path) return true;
            const ref = parseApiPath(err.path);
            const i = key.lastIndexOf('/');
            const ns = i >= 0 ? key.slice(0, i) : undefined;
            const name = i >= 0 ? key.slice(i + 1) : key;
            return ref.resource === primary.resource && ref.name === name && (ref.namespace || undefined) === ns;
          }
        : undefined);
    const c = this.factory.controller({ ...this.opts, name: this.name, reconcile, isPrimaryNotFound });
    const connect = (w: Watch) => watchSource(c, w.source, w.map, { predicates: w.predicates });
    for (const w of this.watchesList) connect(w);
    for (const o of this.ownedList) {
      const kind = primary!.kind!;
      connect({
        source: o.source,
        predicates: o.predicates,
        map: (obj) => {
          const ref = obj.metadata?.ownerReferences?.find((r) => r.controller && r.kind === kind);
          if (!ref) return [];
          const ns = obj.metadata?.namespace;
          return [ns ? `${ns}/${ref.name}` : ref.name];
        },
      });
    }
    return c;
  }
}
