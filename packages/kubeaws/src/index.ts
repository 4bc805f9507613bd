export { up, type UpOptions } from './up';
export { COMPONENTS, type ComponentSpec, repoRoot } from './components';
export { applyObjects, readObjects, FIELD_MANAGER } from './apply';
export { sumSamples } from './prometheus';
