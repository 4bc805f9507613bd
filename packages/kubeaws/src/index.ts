export { up, type UpOptions } from './up';
export { COMPONENTS, type ComponentSpec, repoRoot } from './components';
export { applyObjects, readObjects, FIELD_MANAGER } from './apply';
export { sumSamples } from './prometheus';
export * from './infra/index';
export * from './infra/aws/discovery';
export * from './infra/aws/stacks';
export * from './commands/infra';
