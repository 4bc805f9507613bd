/** The cluster files: PKI, keys, encryption configuration and kubeconfigs in the files bucket. */
export * from './layout';
export * from './pki';
export * from './plan';
export * from './generate';
export * from './store';
