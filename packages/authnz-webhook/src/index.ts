/**
 * @kubeaws/authnz-webhook: kube-apiserver webhook token authentication (TokenReview) and authorization
 * (SubjectAccessReview) with the platform role model, the deny overlay and four-eyes emergency access.
 */
export * from './access-api.js';
export * from './access-store.js';
export * from './app.js';
export * from './authenticator.js';
export * from './authorize.js';
export * from './cluster-access.js';
export * from './component.js';
export * from './config.js';
export * from './decision-log.js';
export * from './errors.js';
export * from './fetch.js';
export * from './flags.js';
export * from './grants.js';
export * from './jwt.js';
export * from './keystore.js';
export * from './metrics.js';
export * from './roles.js';
export * from './schema.js';
export * from './server.js';
export * from './settings.js';
export * from './token-cache.js';
export * from './tokeninfo.js';
export * from './wire.js';
