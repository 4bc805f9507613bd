/**
 * The emergency-access API against the real AccessRequest CRD on the real kube-apiserver
 * (docs/authnz-webhook.md#authnz-access, #authnz-access-storage, #authnz-four-eyes): two webhook
 * replicas under the shipped ServiceAccount and RBAC share the requests only through the cluster. Shows
 * the four-eyes flow end to end, and that approvals racing on one replica or on two yield exactly one
 * approval: kube-apiserver refuses the stale status write with 409 Conflict, the loser re-reads, finds
 * the request Active and answers 409.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { KubeClient } from '@kubeaws/runtime';
import { createLogger } from '@kubeaws/runtime';
import { type ClusterPki, generatePki, testKubeConfig } from '@kubeaws/testenv';
import type { KubeConfig } from '@kubernetes/client-node';
import type { AccessRepo } from '../src/access-api';
import type { AuthnzWebhook } from '../src/app';
import type { AccessRequest } from '../src/grants';
import {
  ACCESS_REQUESTS,
  accessEvents,
  adminClient,
  auditEvents,
  installAccessManifests,
  webhookKubeConfig,
} from './cluster';
import { TestIssuer, configYaml, makeKey, until } from './helpers';
import { type RunningWebhook, startWebhook } from './start';

/** A replica with its log lines. */
interface Replica {
  rc: RunningWebhook;
  app: AuthnzWebhook;
  lines: string[];
}

let dir: string;
let pki: ClusterPki;
let issuer: TestIssuer;
let admin: KubeClient;
let saKc: KubeConfig;
let a: Replica;
let b: Replica;
/** Distinguishes this run's people from earlier runs on a reused cluster. */
const run = Date.now().toString(36);

async function startReplica(identity: string): Promise<Replica> {
  const lines: string[] = [];
  const rc = await startWebhook(
    [
      `--config=${path.join(dir, 'config.yaml')}`,
      '--insecure-loopback-webhook',
      '--webhook-bind-address=127.0.0.1:0',
      '--access-api-bind-address=127.0.0.1:0',
      `--tls-cert-file=${path.join(dir, 'server.crt')}`,
      `--tls-private-key-file=${path.join(dir, 'server.key')}`,
      '--metrics-bind-address=0',
      '--health-probe-bind-address=127.0.0.1:0',
      `--max-request-bytes=${1 << 20}`,
      '--shutdown-delay=0s',
      '--leader-elect=true',
    ],
    {
      kubeConfig: saKc,
      identity,
      logger: createLogger({
        component: 'authnz-webhook',
        level: 'info',
        destination: { write: (s: string) => void lines.push(s) },
      }),
      config: { reloadIntervalMs: 3_600_000 },
    },
  );
  const app = rc.handle;
  await until(
    async () => (await fetch(`${app.addresses.health}/readyz`)).status === 200,
    `replica ${identity} ready (informer synced, issuer keys)`,
    60_000,
    200,
  );
  return { rc, app, lines };
}

beforeAll(async () => {
  const adminKc = testKubeConfig();
  admin = adminClient(adminKc);
  await installAccessManifests(admin);
  saKc = await webhookKubeConfig(adminKc);
  pki = await generatePki();
  issuer = await TestIssuer.start([await makeKey('access-1')]);
  dir = mkdtempSync(path.join(tmpdir(), 'authnz-access-'));
  writeFileSync(path.join(dir, 'server.crt'), pki.apiserver.cert);
  writeFileSync(path.join(dir, 'server.key'), pki.apiserver.key);
  writeFileSync(path.join(dir, 'config.yaml'), configYaml({ issuerUrl: issuer.url, jwksURL: issuer.jwksURL }));
  [a, b] = await Promise.all([startReplica(`access-a-${run}`), startReplica(`access-b-${run}`)]);
}, 180_000);

afterAll(async () => {
  await Promise.all([a?.rc.stop(), b?.rc.stop()]);
  await issuer?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** Calls the access API of a replica. */
function call(
  r: Replica,
  method: string,
  p: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `https://127.0.0.1:${r.app.addresses.access!.port}${p}`,
      {
        method,
        ca: pki.ca.cert,
        headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A TokenReview on a replica's webhook listener; returns `status.user` (undefined when not authenticated). */
async function reviewedUser(r: Replica, token: string): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${r.app.addresses.webhook.port}/authenticate`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }),
  });
  return ((await res.json()) as any).status.user;
}

/** Audit lines (`"audit":true`) of a replica, parsed. */
const auditLines = (r: Replica) => r.lines.filter((l) => l.includes('"audit":true')).map((l) => JSON.parse(l));

/** Tokens of this run's people: requesters and approvers are all on call. */
async function person(name: string, groups: string[] = ['oncall']): Promise<{ username: string; token: string }> {
  const sub = `${name}-${run}`;
  return { username: `oidc:${sub}`, token: await issuer.sign({ sub, groups }) };
}

async function createManual(r: Replica, token: string): Promise<string> {
  const created = await call(r, 'POST', '/access/v1/requests', token, {
    type: 'Manual',
    reason: 'restart the stuck payment worker',
    duration: '30m',
  });
  expect(created.status).toBe(201);
  return created.body.metadata.name as string;
}

const stored = (name: string) => admin.get<AccessRequest>(`${ACCESS_REQUESTS}/${name}`);

describe('access API on the AccessRequest CRD', () => {
  it('request, self-approval refused, approval by a second person, grant visible in TokenReview on every replica, double approval 409', async () => {
    const alice = await person('alice', ['oncall', 'k8s-readonly']);
    const bob = await person('bob');
    const eve = await person('eve', ['team-a']);
    expect(
      (await call(a, 'POST', '/access/v1/requests', undefined, { type: 'Manual', reason: 'x'.repeat(20) })).status,
    ).toBe(401);
    expect(
      (await call(a, 'POST', '/access/v1/requests', eve.token, { type: 'Manual', reason: 'debugging the outage' }))
        .status,
    ).toBe(403);
    const created = await call(a, 'POST', '/access/v1/requests', alice.token, {
      type: 'Manual',
      reason: 'debugging the outage',
      duration: '30m',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      kind: 'AccessRequest',
      spec: { type: 'Manual', user: alice.username, duration: '30m' },
      status: { phase: 'Pending' },
    });
    const name = created.body.metadata.name as string;
    expect(name).toMatch(/^manual-/);
    // stored as the custom resource, status through the status subresource
    expect(await stored(name)).toMatchObject({
      apiVersion: 'authnz.kubeaws.io/v1alpha1',
      kind: 'AccessRequest',
      metadata: { namespace: 'kubeaws-access', uid: expect.any(String) },
      spec: { user: alice.username },
      status: { phase: 'Pending' },
    });
    // duplicates are found in the informer cache
    await until(
      () => a.app.repo!.list().some((ar) => ar.metadata.name === name),
      'replica a sees the request',
      15_000,
      100,
    );
    expect(
      (await call(a, 'POST', '/access/v1/requests', alice.token, { type: 'Manual', reason: 'debugging the outage' }))
        .status,
    ).toBe(409);
    const self = await call(a, 'POST', `/access/v1/requests/${name}/approve`, alice.token);
    expect(self.status).toBe(403);
    expect(self.body.message).toBe('approver must be a different person than the requester');
    const [a1, a2] = await Promise.all([
      call(a, 'POST', `/access/v1/requests/${name}/approve`, bob.token),
      call(a, 'POST', `/access/v1/requests/${name}/approve`, bob.token),
    ]);
    expect([a1.status, a2.status].sort()).toEqual([200, 409]);
    const approved = a1.status === 200 ? a1 : a2;
    expect(approved.body.status).toMatchObject({ phase: 'Active', approvedBy: bob.username });
    expect((await stored(name)).status).toMatchObject({ phase: 'Active', approvedBy: bob.username });
    // both replicas issue the grant: b never saw the API call, only the object in the cluster
    for (const r of [a, b]) {
      const user = await until(
        async () => {
          const u = await reviewedUser(r, alice.token);
          return u?.groups[0] === 'Manual' ? u : undefined;
        },
        'the Manual grant in TokenReview',
        15_000,
        100,
      );
      expect(user.extra['kubeaws.io/access-request']).toEqual([name]);
    }
    const list = await until(
      async () => {
        const l = await call(a, 'GET', `/access/v1/requests?user=${alice.username}&state=Active`, bob.token);
        return l.body.items.length ? l : undefined;
      },
      'the Active request in the list',
      15_000,
      100,
    );
    expect(list.body.items.map((i: any) => i.metadata.name)).toEqual([name]);
    expect((await call(a, 'POST', `/access/v1/requests/${name}/revoke`, eve.token)).status).toBe(403);
    expect((await call(a, 'POST', `/access/v1/requests/${name}/revoke`, alice.token)).body.status.phase).toBe(
      'Revoked',
    );
    expect((await stored(name)).status?.phase).toBe('Revoked');
    for (const r of [a, b])
      await until(
        async () => (await reviewedUser(r, alice.token))?.groups[0] === 'ReadOnly',
        'the grant gone',
        15_000,
        100,
      );
    expect((await call(a, 'GET', '/access/v1/requests/nope', bob.token)).status).toBe(404);
    expect((await call(a, 'DELETE', `/access/v1/requests/${name}`, bob.token)).status).toBe(405);
    const events = auditLines(a)
      .filter((l) => l.request === name)
      .map((l) => l.event);
    expect(events).toEqual(
      expect.arrayContaining(['access.requested', 'access.approved', 'access.revoked', 'access.role_issued']),
    );
    expect(events.filter((e) => e === 'access.approved')).toHaveLength(1);
  }, 120_000);

  it('two approvers at the same moment: kube-apiserver refuses the stale write with 409, one approval is recorded', async () => {
    const requester = await person('dana');
    const approvers = [await person('bob'), await person('carol')];
    const name = await createManual(a, requester.token);
    // Hold both status writes until both approvals have read the request at the same resourceVersion,
    // so that both writes reach kube-apiserver with it.
    const repo = a.app.repo as AccessRepo;
    const write = repo.updateStatus.bind(repo);
    const writes: Array<{ resourceVersion?: string; outcome: string }> = [];
    let arrived = 0;
    let releaseGate!: () => void;
    const gate = new Promise<void>((r) => (releaseGate = r));
    const gateDeadline = setTimeout(releaseGate, 15_000);
    repo.updateStatus = async (ar, status) => {
      if (ar.metadata.name === name && status.phase === 'Active' && ++arrived <= 2) {
        if (arrived === 2) releaseGate();
        await gate;
      }
      try {
        const updated = await write(ar, status);
        writes.push({ resourceVersion: ar.metadata.resourceVersion, outcome: 'ok' });
        return updated;
      } catch (e) {
        writes.push({ resourceVersion: ar.metadata.resourceVersion, outcome: (e as Error).name });
        throw e;
      }
    };
    let answers: Array<{ status: number; body: any }>;
    try {
      answers = await Promise.all(
        approvers.map((p) => call(a, 'POST', `/access/v1/requests/${name}/approve`, p.token)),
      );
    } finally {
      clearTimeout(gateDeadline);
      delete (repo as Partial<Pick<AccessRepo, 'updateStatus'>>).updateStatus; // back to the prototype's method
    }
    expect(arrived).toBe(2);
    // both writes carried the same resourceVersion; kube-apiserver accepted one and refused the other
    expect(writes.map((w) => w.outcome).sort()).toEqual(['RepoConflict', 'ok']);
    expect(writes[0]!.resourceVersion).toBe(writes[1]!.resourceVersion);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    const winner = approvers[answers.findIndex((r) => r.status === 200)]!;
    const loser = answers.find((r) => r.status === 409)!;
    expect(loser.body).toMatchObject({ kind: 'Status', code: 409, message: `${name} is Active, not Pending` });
    expect((await stored(name)).status).toMatchObject({ phase: 'Active', approvedBy: winner.username });
    // kube-apiserver's own audit log: the Pending status written at creation, then one approval 200, one 409
    const uri = `${ACCESS_REQUESTS}/${name}/status`;
    const codes = await until(() => {
      const updates = auditEvents(uri).filter((e) => e.verb === 'update');
      return updates.length >= 3 ? updates.map((e) => e.responseStatus?.code) : undefined;
    }, 'the status updates in the kube-apiserver audit log');
    expect(codes).toHaveLength(3);
    expect(codes[0]).toBe(200);
    expect(codes.slice(1).sort()).toEqual([200, 409]);
    // the webhook's audit log and the Events: one approval, by the winner
    const approvals = auditLines(a).filter((l) => l.event === 'access.approved' && l.request === name);
    expect(approvals).toEqual([
      expect.objectContaining({ actor: expect.objectContaining({ username: winner.username }) }),
    ]);
    const approvedEvents = await until(
      async () => {
        const ev = (await accessEvents(admin, name)).filter((e) => e.reason === 'AccessApproved');
        return ev.length ? ev : undefined;
      },
      'the AccessApproved Event',
      15_000,
      250,
    );
    expect(approvedEvents).toHaveLength(1);
    expect(approvedEvents[0].note).toContain(`${winner.username} approved Manual access of ${requester.username}`);
  }, 60_000);

  it('two approvers on two replicas at the same moment: exactly one approval per request', async () => {
    for (let round = 0; round < 3; round++) {
      const requester = await person(`requester${round}`);
      const approvers = [await person('bob'), await person('carol')];
      const name = await createManual(a, requester.token);
      const answers = await Promise.all([
        call(a, 'POST', `/access/v1/requests/${name}/approve`, approvers[0]!.token),
        call(b, 'POST', `/access/v1/requests/${name}/approve`, approvers[1]!.token),
      ]);
      expect({ round, codes: answers.map((r) => r.status).sort() }).toEqual({ round, codes: [200, 409] });
      const winner = approvers[answers.findIndex((r) => r.status === 200)]!;
      expect((await stored(name)).status).toMatchObject({ phase: 'Active', approvedBy: winner.username });
      const approvals = [...auditLines(a), ...auditLines(b)].filter(
        (l) => l.event === 'access.approved' && l.request === name,
      );
      expect(approvals).toEqual([
        expect.objectContaining({ actor: expect.objectContaining({ username: winner.username }) }),
      ]);
    }
  }, 90_000);
});
