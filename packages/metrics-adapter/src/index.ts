/** @kubeaws/metrics-adapter: the component, its grammar and its pure parts (docs/metrics-adapter.md). */
export { metricsAdapter } from './component';
export { type AdapterConfig, type AdapterHandle, setupAdapter, sqsEndpointHost } from './setup';
export * from './grammar';
export { KindIndex, type KindResolver, type ResolvedKind, type ApiResourceListDoc } from './kinds';
export * from './preflight';
export { IAM_ACTIONS } from './collectors';
export { formatQuantity, formatMilli, milliValue } from './quantity';
export { parseSelector, canonicalRequirements, canonicalSelector, matchesRequirements, SelectorError } from './selector';
export { Registry, CollectError, sourceKey, type ServeResult, type ServedItem, type SourceResult } from './registry';
export { createApiHandler, status, customList, externalList, CUSTOM, EXTERNAL } from './api';
export { AuthorizationCache, authenticate, authConfigFromConfigMap, type AuthConfig, type UserInfo } from './auth';
