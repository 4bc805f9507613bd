/**
 * Discovery documents of a typical cluster (a subset of what kube-apiserver 1.36 serves, plus Zalando's RouteGroup
 * CRD), for unit tests that parse HPAs without an API server. Argo Rollouts are left out: `withRollouts` adds them.
 */
import { type ApiResourceListDoc, KindIndex } from '../src/kinds';

export const DISCOVERY: ApiResourceListDoc[] = [
  {
    groupVersion: 'v1',
    resources: [
      { name: 'pods', kind: 'Pod', namespaced: true },
      { name: 'pods/status', kind: 'Pod', namespaced: true },
      { name: 'services', kind: 'Service', namespaced: true },
      { name: 'endpoints', kind: 'Endpoints', namespaced: true },
      { name: 'namespaces', kind: 'Namespace', namespaced: false },
    ],
  },
  {
    groupVersion: 'apps/v1',
    resources: [
      { name: 'deployments', kind: 'Deployment', namespaced: true },
      { name: 'statefulsets', kind: 'StatefulSet', namespaced: true },
    ],
  },
  { groupVersion: 'networking.k8s.io/v1', resources: [{ name: 'ingresses', kind: 'Ingress', namespaced: true }] },
  { groupVersion: 'zalando.org/v1', resources: [{ name: 'routegroups', kind: 'RouteGroup', namespaced: true }] },
];

export const ROLLOUTS: ApiResourceListDoc = {
  groupVersion: 'argoproj.io/v1alpha1',
  resources: [{ name: 'rollouts', kind: 'Rollout', namespaced: true }],
};

/** The index of {@link DISCOVERY}. */
export const kinds = new KindIndex(DISCOVERY);
/** The index of {@link DISCOVERY} plus Argo Rollouts. */
export const kindsWithRollouts = new KindIndex([...DISCOVERY, ROLLOUTS]);
