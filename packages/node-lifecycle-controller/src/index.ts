/**
 * The node-lifecycle-controller (docs/node-lifecycle-controller.md): pure decisions (`decide.ts`), views
 * of cached objects, AWS calls, the node reconciler, the SQS consumer, the ASG sync, and the component.
 * The container entry point is `main.ts`.
 */
export * from './decide';
export * from './views';
export * from './config';
export * from './metrics';
export * from './aws';
export * from './reconcile';
export * from './sqs';
export * from './rolling';
export * from './setup';
export * from './component';
