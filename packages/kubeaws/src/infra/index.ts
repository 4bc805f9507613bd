/**
 * kubeaws infra: the cluster config (registry, schema, loading and validation), the CloudFormation stack
 * builders, the node user data, the manifest overlay, rendering, and the AWS side (discovery, apply, delete,
 * diff).
 */
export * from './config/items';
export * from './config/schema';
export * from './config/load';
export * from './stacks/intrinsics';
export * from './stacks/common';
export * from './stacks/etcd';
export * from './stacks/cluster';
export * from './stacks/iam';
export * from './stacks/pool';
export * from './userdata';
export * from './manifests';
export * from './render';
