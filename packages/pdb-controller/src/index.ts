/**
 * The pdb-controller. Pure logic: value grammars, settings, selector evaluation, naming, the
 * normalised workload view, the decisions (`decide.ts`) and the event-to-key rules (`triggers.ts`).
 * Wiring on the runtime framework: the component ({@link pdbController}, `component.ts`), its setup
 * (`setup.ts`), caches, watches (`handlers.ts`), reconcile, writes, reports and the Rollout
 * discovery. The container entry point is `main.ts`.
 */
export * from './grammar';
export * from './config';
export * from './workload';
export * from './ownership';
export * from './selectors';
export * from './naming';
export * from './desired';
export * from './decide';
export * from './keys';
export * from './triggers';
export * from './transform';
export * from './metrics';
export * from './flags';
export * from './caches';
export * from './handlers';
export * from './report';
export * from './writes';
export * from './reconcile';
export * from './rollouts';
export * from './setup';
export * from './component';
