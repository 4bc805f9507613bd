/**
 * The static-egress-controller: validation (`validate.ts`), the pure decisions (`decide.ts`), EC2 access
 * (`ec2.ts`), the reconcile (`reconcile.ts`) and the component declaration (`component.ts`). The
 * container entry point is `main.ts`. User reference: docs/static-egress-controller.md.
 */
export * from './validate';
export * from './decide';
export * from './metrics';
export * from './flags';
export * from './ec2';
export * from './reconcile';
export * from './component';
