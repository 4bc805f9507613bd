/**
 * The downscaler: a kube-downscaler compatible controller. Pure logic: value grammars, the zone
 * allow-list, schedule matching, annotations and scopes, the per-object decision and the plan at a chosen instant
 * ({@link planAt}). Wiring:
 * informers, evaluation Runnables, writes, Events and metrics ({@link Downscaler}), and the component
 * declaration {@link downscaler} (run it in-process with the runtime's `startComponent`). The container
 * entry point is `main.ts`.
 */
export * from './grammar';
export * from './zones';
export * from './tz';
export * from './match';
export * from './annotations';
export * from './settings';
export * from './workload';
export * from './decide';
export * from './plan';
export * from './metrics';
export * from './controller';
export * from './component';
