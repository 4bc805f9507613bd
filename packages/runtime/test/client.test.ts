import { getEventListeners } from 'node:events';
import { serviceAccountKubeConfig, testKubeConfig } from '@kubeaws/testenv';
import { ApiError, type KubeObject, type PolicyRule, classifyError, rbacAllows, resourcePath } from '../src';
import { adminClient, metricValue, namespace, waitFor } from './support';

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

describe('KubeClient against kube-apiserver', () => {
  let ns: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ ns, cleanup } = await namespace('rt-client')));
  afterAll(() => cleanup());

  const cmPath = (name?: string) =>
    resourcePath({
      group: '',
      version: 'v1',
      resource: 'configmaps',
      namespace: ns,
      name,
    });

  it('creates, gets, merge-patches, applies and deletes with preconditions; classifies errors', async () => {
    const { client, metrics } = adminClient();
    const created = await client.create<ConfigMap>(cmPath(), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'a' },
      data: { x: '1' },
    });
    expect(created.metadata?.uid).toBeTruthy();

    const dup = await client.create(cmPath(), { metadata: { name: 'a' } }).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(ApiError);
    expect(dup).toMatchObject({ statusCode: 409, reason: 'AlreadyExists' });
    expect(classifyError(dup).class).toBe('conflict');

    const missing = await client.get(cmPath('nope')).catch((e: unknown) => e);
    expect(missing).toMatchObject({ statusCode: 404, reason: 'NotFound' });
    expect((missing as ApiError).message).toMatch(/"nope" not found/);

    const invalid = await client.create(cmPath(), { metadata: { name: 'Not_A_Valid_Name' } }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ statusCode: 422, reason: 'Invalid' });
    expect(classifyError(invalid).class).toBe('invalid');

    const patched = await client.mergePatch<ConfigMap>(cmPath('a'), {
      data: { y: '2' },
      metadata: { resourceVersion: created.metadata!.resourceVersion },
    });
    expect(patched.data).toEqual({ x: '1', y: '2' });
    const stale = await client
      .mergePatch(cmPath('a'), {
        data: { z: '3' },
        metadata: { resourceVersion: created.metadata!.resourceVersion },
      })
      .catch((e: unknown) => e);
    expect(stale).toMatchObject({ statusCode: 409, reason: 'Conflict' });

    const applied = await client.apply<ConfigMap>(cmPath('b'), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'b', namespace: ns },
      data: { k: 'v' },
    });
    expect(applied.data).toEqual({ k: 'v' });
    const fields = (applied.metadata?.managedFields ?? []) as Array<{
      manager: string;
      operation: string;
    }>;
    expect(fields.some((f) => f.manager === 'kubeaws-runtime-it' && f.operation === 'Apply')).toBe(true);

    const dryRun = await client.create<ConfigMap>(cmPath(), { metadata: { name: 'dry' } }, { dryRun: true });
    expect(dryRun.metadata?.name).toBe('dry');
    await expect(client.get(cmPath('dry'))).rejects.toMatchObject({
      statusCode: 404,
    });

    const wrongUid = await client
      .delete(cmPath('a'), {
        preconditions: { uid: '00000000-0000-0000-0000-000000000000' },
      })
      .catch((e: unknown) => e);
    expect(wrongUid).toMatchObject({ statusCode: 409 });
    await client.delete(cmPath('a'), {
      preconditions: {
        uid: created.metadata!.uid,
        resourceVersion: patched.metadata!.resourceVersion,
      },
    });
    await expect(client.get(cmPath('a'))).rejects.toMatchObject({
      statusCode: 404,
    });

    expect(
      await metricValue(metrics, 'api_requests_total', {
        verb: 'create',
        group: '',
        resource: 'configmaps',
        code: '409',
      }),
    ).toBe(1);
    expect(
      await metricValue(metrics, 'api_requests_total', {
        verb: 'get',
        resource: 'configmaps',
        code: '404',
      }),
    ).toBe(3);
    expect(
      await metricValue(metrics, 'api_requests_total', {
        verb: 'patch',
        resource: 'configmaps',
        code: '200',
      }),
    ).toBe(1);
    expect(
      await metricValue(metrics, 'api_requests_total', {
        verb: 'patch',
        resource: 'configmaps',
        code: '201',
      }),
    ).toBe(1); // apply created b
    expect(
      await metricValue(metrics, 'api_requests_total', {
        verb: 'delete',
        resource: 'configmaps',
        code: '200',
      }),
    ).toBe(1);
    expect(client.accesses()).toEqual(
      expect.arrayContaining([
        { verb: 'create', group: '', resource: 'configmaps', namespace: ns },
        {
          verb: 'get',
          group: '',
          resource: 'configmaps',
          namespace: ns,
          name: 'nope',
        },
        {
          verb: 'patch',
          group: '',
          resource: 'configmaps',
          namespace: ns,
          name: 'a',
        },
        {
          verb: 'delete',
          group: '',
          resource: 'configmaps',
          namespace: ns,
          name: 'a',
        },
      ]),
    );
  });

  it('classifies writes into a terminating namespace as NamespaceTerminating', async () => {
    const { client } = adminClient();
    const { ns: doomed } = await namespace('rt-terminating');
    const path = resourcePath({
      group: '',
      version: 'v1',
      resource: 'configmaps',
      namespace: doomed,
    });
    await client.create(path, {
      metadata: { name: 'held', finalizers: ['kubeaws.io/test-hold'] },
    });
    await client.delete(
      resourcePath({
        group: '',
        version: 'v1',
        resource: 'namespaces',
        name: doomed,
      }),
    );
    const err = await waitFor(
      async () => {
        try {
          await client.create(path, { metadata: { generateName: 'x-' } });
          return false;
        } catch (e) {
          return (e as ApiError).statusCode === 403 ? e : false;
        }
      },
      {
        timeoutMs: 30_000,
        description: 'a create in the terminating namespace to be refused',
      },
    );
    expect(err).toMatchObject({
      statusCode: 403,
      reason: 'NamespaceTerminating',
    });
    expect(classifyError(err).class).toBe('namespace_terminating');
    await client.mergePatch(`${path}/held`, { metadata: { finalizers: null } });
  });

  it('records accesses that a ServiceAccount with exactly the matching RBAC can make', async () => {
    const admin = adminClient();
    const rules: PolicyRule[] = [
      {
        apiGroups: [''],
        resources: ['configmaps'],
        verbs: ['list', 'watch', 'create'],
      },
      {
        apiGroups: [''],
        resources: ['configmaps'],
        verbs: ['get', 'patch'],
        resourceNames: ['owned'],
      },
    ];
    const rbac = (resource: string) =>
      resourcePath({
        group: 'rbac.authorization.k8s.io',
        version: 'v1',
        resource,
        namespace: ns,
      });
    await admin.client.create(
      resourcePath({
        group: '',
        version: 'v1',
        resource: 'serviceaccounts',
        namespace: ns,
      }),
      { metadata: { name: 'limited' } },
    );
    await admin.client.create(rbac('roles'), {
      metadata: { name: 'limited' },
      rules,
    });
    await admin.client.create(rbac('rolebindings'), {
      metadata: { name: 'limited' },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'Role',
        name: 'limited',
      },
      subjects: [{ kind: 'ServiceAccount', name: 'limited', namespace: ns }],
    });
    const saKc = await serviceAccountKubeConfig(testKubeConfig(), ns, 'limited');
    const { client } = adminClient('runtime-sa', saKc);
    await waitFor(() => client.list(cmPath()).then(() => true), {
      timeoutMs: 20_000,
      description: 'RBAC to take effect',
    });
    await client.create(cmPath(), { metadata: { name: 'owned' } });
    await client.get(cmPath('owned'));
    await client.mergePatch(cmPath('owned'), { data: { a: 'b' } });
    const denied = await client.get(cmPath('kube-root-ca.crt')).catch((e: unknown) => e);
    expect(denied).toMatchObject({ statusCode: 403 });
    const accesses = client.accesses();
    const allowed = accesses.filter((a) => rbacAllows(rules, a));
    const refused = accesses.filter((a) => !rbacAllows(rules, a));
    expect(allowed.map((a) => a.verb).sort()).toEqual(['create', 'get', 'list', 'patch']);
    expect(refused).toEqual([
      {
        verb: 'get',
        group: '',
        resource: 'configmaps',
        namespace: ns,
        name: 'kube-root-ca.crt',
      },
    ]);
  });

  it('keeps no listener on a long-lived signal once its requests are done (the response is not retained)', async () => {
    const { client } = adminClient();
    const ac = new AbortController();
    const path = cmPath();
    await client.create(path, { metadata: { name: 'signal-a' } });
    await client.create(path, { metadata: { name: 'signal-b' } });
    // As an informer lists: every page with the loop's signal, which lives as long as the informer.
    let cont: string | undefined;
    let pages = 0;
    do {
      const page = await client.list(path, { limit: 1, continue: cont, signal: ac.signal });
      cont = page.metadata?.continue || undefined;
      pages++;
    } while (cont);
    await client.get(cmPath('signal-a'), { signal: ac.signal });
    expect(pages).toBeGreaterThanOrEqual(2);
    await waitFor(() => getEventListeners(ac.signal, 'abort').length === 0, {
      timeoutMs: 5000,
      description: 'no abort listener left on the signal',
    });
    // A request in flight still ends when the signal aborts.
    const inFlight = client.list(path, { signal: ac.signal }).catch((e: unknown) => e);
    ac.abort();
    expect(await inFlight).toMatchObject({ statusCode: 0 });
  });

  it('reports a transport failure as ApiError with statusCode 0 (class network)', async () => {
    const kc = testKubeConfig();
    const cluster = kc.getCurrentCluster()!;
    const { KubeConfig } = await import('@kubernetes/client-node');
    const bad = new KubeConfig();
    bad.loadFromOptions({
      clusters: [{ ...cluster, server: 'https://127.0.0.1:1' }],
      users: [kc.getCurrentUser()!],
      contexts: [{ name: 'c', cluster: cluster.name, user: kc.getCurrentUser()!.name }],
      currentContext: 'c',
    });
    const { client } = adminClient('runtime-bad', bad);
    const err = await client.get('/api/v1/namespaces/default').catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 0, reason: 'NetworkError' });
    expect(classifyError(err).class).toBe('network');
  });
});
