/**
 * The metrics-adapter APIService preflight of `kubeaws apply` (docs/infra.md#infra-apply,
 * docs/metrics-adapter.md#ma-preflight): before any stack or manifest change, the APIServices the rendered manifests
 * would install are read from the cluster, and apply refuses (exit 2) when another adapter or the kube-apiserver
 * itself owns one, unless `--allow-apiservice-takeover`. The ownership rule and the verdict are the metrics-adapter's
 * own (`apiServiceOwnership`, `preflightVerdict`); nothing here writes an APIService.
 */
import type { KubeConfig } from '@kubernetes/client-node';
// eslint-disable-next-line @nx/enforce-module-boundaries -- apply reuses the metrics-adapter's own ownership rule and verdict (docs/metrics-adapter.md#ma-preflight)
import {
  type ApiServiceObject,
  apiServiceOwnership,
  OUR_APISERVICES,
  type PreflightVerdict,
  preflightVerdict,
} from '@kubeaws/metrics-adapter';
import { ApiError, KubeClient } from '@kubeaws/runtime';
import type { KubeObject } from '../infra/manifests';

/** One of the metrics-adapter's APIServices in a render: its name, the manifest file, the Service it points at. */
export interface RenderedApiService {
  /** e.g. `v1beta1.external.metrics.k8s.io`. */
  name: string;
  /** File of manifests/metrics-adapter that ships it (`apiservice-custom.yaml` or `apiservice-external.yaml`). */
  file: string;
  /** `namespace/name` of the Service the rendered APIService points at (our Service). */
  service: string;
}

/**
 * The metrics-adapter's APIServices ({@link OUR_APISERVICES}) among rendered objects, in that order; empty when the
 * render installs none (the metrics-adapter or its APIService files left out). Pure.
 */
export function renderedApiServices(objects: readonly KubeObject[]): RenderedApiService[] {
  const out: RenderedApiService[] = [];
  for (const a of OUR_APISERVICES) {
    const obj = objects.find((o) => o.kind === 'APIService' && o.metadata.name === a.name) as
      | (KubeObject & ApiServiceObject)
      | undefined;
    if (!obj) continue;
    const svc = obj.spec?.service;
    out.push({ name: a.name, file: a.file, service: `${svc?.namespace ?? ''}/${svc?.name ?? ''}` });
  }
  return out;
}

/** Reads one APIService by name; undefined when it does not exist. */
export type ReadApiService = (name: string) => Promise<ApiServiceObject | undefined>;

/**
 * The preflight over the rendered APIServices: each is read with `read` and its ownership judged against the Service
 * the render points it at; the verdict lists `<name> <state>` per APIService and a problem per `foreign` or `local`
 * one (naming the owner and the manifest file), code 2 unless `allowTakeover`. Undefined (nothing read) when the
 * render installs no APIService of the metrics-adapter. Rule: docs/metrics-adapter.md#ma-preflight.
 * @throws what `read` throws (the API cannot be read).
 */
export async function apiServicePreflight(
  objects: readonly KubeObject[],
  read: ReadApiService,
  allowTakeover: boolean,
): Promise<PreflightVerdict | undefined> {
  const rendered = renderedApiServices(objects);
  if (rendered.length === 0) return undefined;
  const found = [];
  for (const r of rendered)
    found.push({ name: r.name, file: r.file, ownership: apiServiceOwnership(await read(r.name), r.service) });
  return preflightVerdict(found, allowTakeover);
}

/** A {@link ReadApiService} against a cluster: GET `apiregistration.k8s.io/v1` APIServices, 404 → undefined. */
export function clusterApiServiceReader(kubeConfig: KubeConfig): ReadApiService {
  const client = new KubeClient({ kubeConfig, component: 'kubeaws' });
  return async (name) => {
    try {
      return await client.get<ApiServiceObject>(`/apis/apiregistration.k8s.io/v1/apiservices/${name}`);
    } catch (e) {
      if (e instanceof ApiError && e.statusCode === 404) return undefined;
      throw e;
    }
  };
}

/**
 * The lines `kubeaws apply` prints for a verdict: `metrics-adapter preflight: <name> <state>` on stdout, and per
 * problem `error: …` (refused) or `warning (--allow-apiservice-takeover): …` on stderr.
 */
export function verdictOutput(v: PreflightVerdict): { out: string[]; err: string[] } {
  return {
    out: v.lines.map((l) => `metrics-adapter preflight: ${l}`),
    err: v.problems.map((p) => `${v.code === 2 ? 'error' : 'warning (--allow-apiservice-takeover)'}: ${p}`),
  };
}
