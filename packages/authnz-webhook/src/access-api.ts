/**
 * The emergency-access API (docs/authnz-webhook.md#authnz-listeners, #authnz-access, #authnz-access-errors): create,
 * list, read, approve, reject and revoke AccessRequests. Callers authenticate with a bearer token through the same
 * token pipeline as TokenReviews. Errors are Status JSON: 400 validation, 401 missing or invalid token, 403 not
 * eligible or self-approval, 404, 409 wrong state or duplicate, 429 over 10 mutating calls per user per minute,
 * 503 kube-apiserver unavailable. A 409 on write is re-read and re-checked, so two racing approvals
 * yield one approval.
 */
import type { Clock } from '@kubeaws/runtime';
import type { Authenticator } from './authenticator.js';
import type { AuthnzConfig } from './config.js';
import { tokenFingerprint, type DecisionLog } from './decision-log.js';
import { Unavailable } from './errors.js';
import {
  ACCESS_API_VERSION,
  AccessError,
  type AccessRequest,
  type AccessRequestStatus,
  type Caller,
  type CreateBody,
  phaseOf,
  planCreate,
  planDecision,
  planRevoke,
} from './grants.js';
import type { WebhookMetrics } from './metrics.js';
import { BadRequest, parseBody, statusBody } from './wire.js';

/** The write or read failed because the object changed (HTTP 409 from kube-apiserver). */
export class RepoConflict extends Error {
  override readonly name = 'RepoConflict';
}

/** kube-apiserver is unreachable or failing. */
export class RepoUnavailable extends Error {
  override readonly name = 'RepoUnavailable';
}

/** Storage of AccessRequests: the AccessRequest custom resource through kube-apiserver (`KubeAccessRepo`). */
export interface AccessRepo {
  /** Every known request (from the informer cache). */
  list(): AccessRequest[];
  /** A fresh read; undefined when absent. @throws RepoUnavailable */
  get(name: string): Promise<AccessRequest | undefined>;
  /** Creates (generateName). @throws RepoUnavailable */
  create(obj: AccessRequest): Promise<AccessRequest>;
  /** Writes `status` through the status subresource with `ar`'s resourceVersion. @throws RepoConflict, RepoUnavailable */
  updateStatus(ar: AccessRequest, status: AccessRequestStatus): Promise<AccessRequest>;
  /** Deletes. @throws RepoUnavailable */
  delete(name: string): Promise<void>;
}

/** Kubernetes Event emission for AccessRequests. */
export type EmitEvent = (ar: AccessRequest, type: 'Normal' | 'Warning', reason: string, note: string) => void;

/** An access API answer. */
export interface ApiAnswer {
  code: number;
  body: unknown;
}

/** Options of {@link AccessApi}. */
export interface AccessApiOptions {
  repo: AccessRepo;
  authenticator: Authenticator;
  config: () => AuthnzConfig;
  clock: Clock;
  log: DecisionLog;
  metrics?: WebhookMetrics;
  emit?: EmitEvent;
}

/** Mutating calls allowed per user per minute. */
export const MUTATIONS_PER_MINUTE = 10;

/** See the module docs. */
export class AccessApi {
  private readonly calls = new Map<string, number[]>();
  constructor(private readonly o: AccessApiOptions) {}

  private limited(user: string): boolean {
    const now = this.o.clock.now();
    const recent = (this.calls.get(user) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= MUTATIONS_PER_MINUTE) {
      this.calls.set(user, recent);
      return true;
    }
    recent.push(now);
    this.calls.set(user, recent);
    if (this.calls.size > 10_000)
      for (const [k, v] of this.calls) if (v.every((t) => now - t >= 60_000)) this.calls.delete(k);
    return false;
  }

  private async caller(authorization: string | undefined): Promise<{ caller: Caller; fp: string }> {
    const m = /^Bearer (\S+)$/i.exec(authorization ?? '');
    if (!m) throw new AccessError(401, 'missing bearer token: send Authorization: Bearer <token>');
    const token = m[1]!;
    let r;
    try {
      r = await this.o.authenticator.review(token, []);
    } catch (e) {
      if (e instanceof Unavailable) throw new AccessError(503, 'identity provider unavailable; retry');
      throw e;
    }
    if (!r.authenticated || !r.identity) throw new AccessError(401, `invalid token: ${r.error}`);
    return {
      caller: { username: r.identity.username, uid: r.identity.uid, groups: r.identity.groups, role: r.mappedRole },
      fp: tokenFingerprint(token),
    };
  }

  /**
   * Handles one request. `path` excludes the query; the body is the raw text (already size- and
   * content-type-checked by the server for POSTs).
   */
  async handle(req: {
    method: string;
    path: string;
    query: URLSearchParams;
    authorization?: string;
    body: string;
    clientIp: string;
  }): Promise<ApiAnswer> {
    try {
      return await this.route(req);
    } catch (e) {
      if (e instanceof AccessError) return { code: e.code, body: statusBody(e.code, e.message) };
      if (e instanceof BadRequest) return { code: 400, body: statusBody(400, e.message) };
      if (e instanceof RepoUnavailable)
        return { code: 503, body: statusBody(503, 'kube-apiserver unavailable; retry') };
      return { code: 503, body: statusBody(503, 'internal error; retry') };
    }
  }

  private async route(req: {
    method: string;
    path: string;
    query: URLSearchParams;
    authorization?: string;
    body: string;
    clientIp: string;
  }): Promise<ApiAnswer> {
    const parts = req.path.split('/').filter(Boolean); // access v1 requests [name] [action]
    const { caller, fp } = await this.caller(req.authorization);
    const cfg = this.o.config().emergencyAccess;
    const now = this.o.clock.now();
    if (parts.length === 3) {
      if (req.method === 'GET') {
        const q = req.query;
        const items = this.o.repo
          .list()
          .filter(
            (ar) =>
              (!q.get('user') || ar.spec.user === q.get('user')) &&
              (!q.get('type') || ar.spec.type === q.get('type')) &&
              (!q.get('state') || phaseOf(ar) === q.get('state')),
          )
          .sort((a, b) => (a.spec.requestedAt < b.spec.requestedAt ? -1 : 1));
        return { code: 200, body: { apiVersion: ACCESS_API_VERSION, kind: 'AccessRequestList', items } };
      }
      // POST: create
      if (this.limited(caller.username))
        throw new AccessError(
          429,
          `more than ${MUTATIONS_PER_MINUTE} changes per minute by ${caller.username}; wait a minute`,
        );
      const body = parseBody(req.body) as CreateBody;
      const mine = this.o.repo.list().filter((ar) => ar.spec.user === caller.username);
      const plan = planCreate(body, caller, cfg, mine, now);
      const created = await this.o.repo.create(plan.object);
      const withStatus = await this.writeStatus(created, () => plan.status);
      const type = withStatus.spec.type;
      this.o.metrics?.accessRequests.inc({ type, action: 'requested' });
      this.audit('access.requested', withStatus, caller, req.clientIp, fp);
      this.o.emit?.(
        withStatus,
        'Normal',
        'AccessRequested',
        `${caller.username} requested ${type} access for ${withStatus.spec.duration}: ${withStatus.spec.reason}`,
      );
      if (type === 'Emergency') {
        this.o.metrics?.accessRequests.inc({ type, action: 'approved' });
        this.audit('access.approved', withStatus, caller, req.clientIp, fp);
        this.o.emit?.(
          withStatus,
          'Warning',
          'EmergencyAccessGranted',
          `${caller.username} holds Emergency access until ${withStatus.status?.expiresAt} for incident ${withStatus.spec.incident}`,
        );
      }
      return { code: 201, body: withStatus };
    }
    const name = parts[3]!;
    if (parts.length === 4) {
      const ar = await this.o.repo.get(name);
      if (!ar) throw new AccessError(404, `access request ${name} not found`);
      return { code: 200, body: ar };
    }
    const action = parts[4] as 'approve' | 'reject' | 'revoke';
    if (this.limited(caller.username))
      throw new AccessError(
        429,
        `more than ${MUTATIONS_PER_MINUTE} changes per minute by ${caller.username}; wait a minute`,
      );
    const ar = await this.o.repo.get(name);
    if (!ar) throw new AccessError(404, `access request ${name} not found`);
    const plan = (cur: AccessRequest): AccessRequestStatus =>
      action === 'revoke'
        ? planRevoke(cur, caller, cfg, this.o.clock.now())
        : planDecision(action, cur, caller, cfg, this.o.clock.now());
    const updated = await this.writeStatus(ar, plan);
    const actionName = action === 'approve' ? 'approved' : action === 'reject' ? 'rejected' : 'revoked';
    this.o.metrics?.accessRequests.inc({ type: updated.spec.type, action: actionName });
    this.audit(`access.${actionName}`, updated, caller, req.clientIp, fp);
    const reason = action === 'approve' ? 'AccessApproved' : action === 'reject' ? 'AccessRejected' : 'AccessRevoked';
    this.o.emit?.(
      updated,
      'Normal',
      reason,
      `${caller.username} ${actionName} ${updated.spec.type} access of ${updated.spec.user}${updated.status?.expiresAt && action === 'approve' ? ` until ${updated.status.expiresAt}` : ''}`,
    );
    return { code: 200, body: updated };
  }

  /** Writes a status computed from the current object; on 409 re-reads and re-plans (at most 5 times). */
  private async writeStatus(
    ar: AccessRequest,
    plan: (cur: AccessRequest) => AccessRequestStatus,
  ): Promise<AccessRequest> {
    let cur = ar;
    for (let i = 0; ; i++) {
      const status = plan(cur);
      try {
        return await this.o.repo.updateStatus(cur, status);
      } catch (e) {
        if (!(e instanceof RepoConflict) || i >= 4) {
          if (e instanceof RepoConflict) throw new AccessError(409, `${ar.metadata.name} changed concurrently; retry`);
          throw e;
        }
        const fresh = await this.o.repo.get(ar.metadata.name!);
        if (!fresh) throw new AccessError(404, `access request ${ar.metadata.name} not found`);
        cur = fresh;
      }
    }
  }

  private audit(event: string, ar: AccessRequest, actor: Caller, clientIp: string, fp: string): void {
    this.o.log.audit(event, {
      request: ar.metadata.name,
      type: ar.spec.type,
      requester: { username: ar.spec.user, uid: ar.spec.uid },
      actor: { username: actor.username, uid: actor.uid },
      approver: ar.status?.approvedBy ? { username: ar.status.approvedBy, uid: ar.status.approvedByUid } : undefined,
      reason: ar.spec.reason,
      incident: ar.spec.incident,
      phase: ar.status?.phase,
      expiresAt: ar.status?.expiresAt,
      clientIp,
      token_sha256: fp,
    });
  }
}
