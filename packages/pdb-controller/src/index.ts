/**
 * The pdb-controller. Pure logic: value grammars, settings, selector evaluation, naming, the
 * normalised workload view and the per-workload decision. Wiring: informers, work queue, writes,
 * Events and metrics ({@link PdbController}), and {@link startPdbController} to run it in-process.
 * The container entry point is `main.ts`.
 */
export * from './grammar';
export * from './config';
export * from './workload';
export * from './ownership';
export * from './selectors';
export * from './naming';
export * from './desired';
export * from './decide';
export * from './triggers';
export * from './transform';
export * from './metrics';
export * from './controller';
export * from './flags';
export * from './start';
