/**
 * Emergency access (docs/authnz-webhook.md#authnz-access): the `AccessRequest` object, the grant state machine and
 * the four-eyes rule, as pure functions of the object, the caller, the configuration and the time.
 *
 * Phases: Pending → Active (approve) | Rejected (reject) | Revoked (revoke) | Expired (approval timeout);
 * Active → Revoked | Expired (`expiresAt` passed). Emergency requests are Active at once. Expiry is
 * enforced at authentication by clock comparison ({@link activeGrantOf}); the leader's housekeeping
 * only records it.
 */
import { formatDuration as formatUnits, tryParseDuration } from '@kubeaws/runtime';
import type { AuthnzConfig } from './config.js';
import type { GrantRole, Role } from './roles.js';

/** API group/version of the CRD. */
export const ACCESS_API_VERSION = 'authnz.kubeaws.io/v1alpha1';
/** Phases of an AccessRequest. */
export type Phase = 'Pending' | 'Active' | 'Rejected' | 'Revoked' | 'Expired';

/** `spec` of an AccessRequest: immutable after creation. */
export interface AccessRequestSpec {
  type: GrantRole;
  /** Requester username and uid (from the token pipeline). */
  user: string;
  uid: string;
  reason: string;
  incident?: string;
  /** Requested duration, `<n>(s|m|h)`. */
  duration: string;
  /** RFC 3339. */
  requestedAt: string;
}

/** `status` of an AccessRequest, written through the status subresource. */
export interface AccessRequestStatus {
  phase?: Phase;
  approvedBy?: string;
  approvedByUid?: string;
  approvedAt?: string;
  expiresAt?: string;
  revokedBy?: string;
  revokedAt?: string;
  /** Who rejected, or what expired it. */
  message?: string;
}

/** The `AccessRequest` custom resource. */
export interface AccessRequest {
  apiVersion: string;
  kind: 'AccessRequest';
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    creationTimestamp?: string;
  };
  spec: AccessRequestSpec;
  status?: AccessRequestStatus;
}

/** The caller of the access API, authenticated by the token pipeline. */
export interface Caller {
  username: string;
  uid: string;
  /** IdP groups (prefixed). */
  groups: string[];
  /** Mapped role (not counting grants). */
  role?: Role;
}

/** An access API refusal: HTTP status and message (Status JSON). */
export class AccessError extends Error {
  override readonly name = 'AccessError';
  constructor(
    readonly code: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 503,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Parses a grant duration into ms: `parseDuration` of `@kubeaws/runtime` (`2h`, `90m`, `1h30m`), at least
 * 1s and whole seconds, so that {@link formatDuration} writes it exactly. Undefined when invalid.
 */
export function parseGrantDuration(s: string): number | undefined {
  const r = tryParseDuration(s, { min: 1000 });
  return r.ok && r.value % 1000 === 0 ? r.value : undefined;
}

/**
 * Formats ms, rounded up to whole seconds, as one term in the largest exact unit (`2h`, `90m`, `20s`): the
 * `<n>(s|m|h)` form of `spec.duration` in the AccessRequest CRD.
 */
export function formatDuration(ms: number): string {
  return formatUnits(Math.ceil(ms / 1000) * 1000, { singleUnit: true });
}

/** The phase of a request; no status yet counts as Pending. */
export function phaseOf(ar: AccessRequest): Phase {
  return ar.status?.phase ?? 'Pending';
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** True when the request is Active and `now < expiresAt` (docs/authnz-webhook.md#authnz-grant-effect). */
export function isActiveGrant(ar: AccessRequest, nowMs: number): boolean {
  if (phaseOf(ar) !== 'Active' || !ar.status?.expiresAt) return false;
  const exp = Date.parse(ar.status.expiresAt);
  return Number.isFinite(exp) && nowMs < exp;
}

/** The highest active grant among a user's requests (Emergency above Manual), or undefined. */
export function activeGrantOf(
  requests: Iterable<AccessRequest>,
  username: string,
  uid: string,
  nowMs: number,
): AccessRequest | undefined {
  let best: AccessRequest | undefined;
  for (const ar of requests) {
    if (ar.spec.user !== username) continue;
    if (ar.spec.uid && uid && ar.spec.uid !== uid) continue;
    if (!isActiveGrant(ar, nowMs)) continue;
    if (!best || (ar.spec.type === 'Emergency' && best.spec.type === 'Manual')) best = ar;
  }
  return best;
}

/** What the authenticator asks about grants. */
export interface GrantSource {
  /** The user's active grant, or undefined. Never calls kube-apiserver. */
  activeGrant(username: string, uid: string, nowMs: number): AccessRequest | undefined;
  /** True once the AccessRequest informer has synced; before that no grant role is issued. */
  synced(): boolean;
}

/** A {@link GrantSource} over a fixed list (tests, and clusters without emergency access). */
export class StaticGrants implements GrantSource {
  constructor(
    public requests: AccessRequest[] = [],
    private readonly isSynced = true,
  ) {}
  activeGrant(username: string, uid: string, nowMs: number): AccessRequest | undefined {
    return activeGrantOf(this.requests, username, uid, nowMs);
  }
  synced(): boolean {
    return this.isSynced;
  }
}

const inAny = (groups: readonly string[], allowed: readonly string[]) => allowed.some((g) => groups.includes(g));

/** The body of `POST /access/v1/requests`. */
export interface CreateBody {
  type?: unknown;
  reason?: unknown;
  incident?: unknown;
  duration?: unknown;
}

/**
 * Validates a new request (docs/authnz-webhook.md#authnz-access-request) and builds the object to create
 * plus the status to write right after.
 * @param existing the caller's requests (to find duplicates)
 * @throws AccessError 400 (validation, naming the field), 403 (not eligible), 409 (duplicate).
 */
export function planCreate(
  body: CreateBody,
  caller: Caller,
  cfg: AuthnzConfig['emergencyAccess'],
  existing: readonly AccessRequest[],
  nowMs: number,
): { object: AccessRequest; status: AccessRequestStatus } {
  if (body.type !== 'Manual' && body.type !== 'Emergency')
    throw new AccessError(400, `type: expected "Manual" or "Emergency", got ${JSON.stringify(body.type) ?? 'nothing'}`);
  const type = body.type;
  const kind = type === 'Manual' ? cfg.manual : cfg.emergency;
  if (typeof body.reason !== 'string' || body.reason.trim().length < 10 || body.reason.length > 1000)
    throw new AccessError(
      400,
      `reason: expected a string of 10 to 1000 characters, got ${typeof body.reason === 'string' ? `${body.reason.length} characters` : typeof body.reason}`,
    );
  let durationMs = kind.defaultDurationMs;
  if (body.duration !== undefined) {
    const ms = typeof body.duration === 'string' ? parseGrantDuration(body.duration) : undefined;
    if (ms === undefined)
      throw new AccessError(
        400,
        `duration: expected a duration such as "2h", "90m" or "30s", got ${JSON.stringify(body.duration)}`,
      );
    if (ms > kind.maxDurationMs)
      throw new AccessError(
        400,
        `duration: ${body.duration} is longer than the maximum ${formatDuration(kind.maxDurationMs)} for ${type}`,
      );
    durationMs = ms;
  }
  let incident: string | undefined;
  if (type === 'Emergency') {
    if (typeof body.incident !== 'string' || !new RegExp(cfg.emergency.incidentPattern).test(body.incident))
      throw new AccessError(
        400,
        `incident: expected an incident reference matching ${cfg.emergency.incidentPattern}, got ${JSON.stringify(body.incident) ?? 'nothing'}`,
      );
    incident = body.incident;
  } else if (body.incident !== undefined) {
    if (typeof body.incident !== 'string' || body.incident.length > 100)
      throw new AccessError(400, 'incident: expected a string of at most 100 characters');
    incident = body.incident;
  }
  if (!inAny(caller.groups, kind.requesterGroups))
    throw new AccessError(
      403,
      `${caller.username} may not request ${type} access: membership in one of [${kind.requesterGroups.join(', ')}] is needed`,
    );
  const dup = existing.find(
    (ar) =>
      ar.spec.user === caller.username &&
      ar.spec.type === type &&
      (phaseOf(ar) === 'Pending' || (phaseOf(ar) === 'Active' && isActiveGrant(ar, nowMs))),
  );
  if (dup)
    throw new AccessError(409, `${caller.username} already has a ${phaseOf(dup)} ${type} request ${dup.metadata.name}`);
  const object: AccessRequest = {
    apiVersion: ACCESS_API_VERSION,
    kind: 'AccessRequest',
    metadata: { generateName: `${type.toLowerCase()}-`, namespace: cfg.namespace },
    spec: {
      type,
      user: caller.username,
      uid: caller.uid,
      reason: body.reason,
      ...(incident !== undefined ? { incident } : {}),
      duration: formatDuration(durationMs),
      requestedAt: iso(nowMs),
    },
  };
  const status: AccessRequestStatus =
    type === 'Emergency'
      ? { phase: 'Active', approvedAt: iso(nowMs), expiresAt: iso(nowMs + durationMs), message: `incident ${incident}` }
      : { phase: 'Pending' };
  return { object, status };
}

function samePerson(ar: AccessRequest, caller: Caller): boolean {
  return ar.spec.user === caller.username || (ar.spec.uid !== '' && ar.spec.uid === caller.uid);
}

/**
 * Approve or reject a Manual request (docs/authnz-webhook.md#authnz-four-eyes): the caller must be in `approverGroups`
 * and must not be the requester (neither username nor uid); the request must be Pending (and within `approvalTimeout`
 * to approve).
 * @throws AccessError 403 (not eligible, self-approval), 409 (wrong state).
 */
export function planDecision(
  action: 'approve' | 'reject',
  ar: AccessRequest,
  caller: Caller,
  cfg: AuthnzConfig['emergencyAccess'],
  nowMs: number,
): AccessRequestStatus {
  if (ar.spec.type !== 'Manual')
    throw new AccessError(
      409,
      `${ar.metadata.name} is an ${ar.spec.type} request; only Manual requests are approved or rejected`,
    );
  if (!inAny(caller.groups, cfg.manual.approverGroups))
    throw new AccessError(
      403,
      `${caller.username} may not ${action} requests: membership in one of [${cfg.manual.approverGroups.join(', ')}] is needed`,
    );
  if (samePerson(ar, caller)) throw new AccessError(403, 'approver must be a different person than the requester');
  const phase = phaseOf(ar);
  if (phase !== 'Pending') throw new AccessError(409, `${ar.metadata.name} is ${phase}, not Pending`);
  if (action === 'reject')
    return {
      ...ar.status,
      phase: 'Rejected',
      revokedBy: caller.username,
      revokedAt: iso(nowMs),
      message: `rejected by ${caller.username}`,
    };
  const requested = Date.parse(ar.spec.requestedAt);
  if (!(nowMs - requested <= cfg.manual.approvalTimeoutMs))
    throw new AccessError(
      409,
      `${ar.metadata.name} waited longer than the approval timeout ${formatDuration(cfg.manual.approvalTimeoutMs)}; request again`,
    );
  const dur = parseGrantDuration(ar.spec.duration) ?? cfg.manual.defaultDurationMs;
  return {
    phase: 'Active',
    approvedBy: caller.username,
    approvedByUid: caller.uid,
    approvedAt: iso(nowMs),
    expiresAt: iso(nowMs + dur),
  };
}

/**
 * Revoke (docs/authnz-webhook.md#authnz-access-revoke): by the requester, an approver-eligible user or an
 * Administrator; Pending or Active.
 * @throws AccessError 403, 409.
 */
export function planRevoke(
  ar: AccessRequest,
  caller: Caller,
  cfg: AuthnzConfig['emergencyAccess'],
  nowMs: number,
): AccessRequestStatus {
  const allowed =
    samePerson(ar, caller) || inAny(caller.groups, cfg.manual.approverGroups) || caller.role === 'Administrator';
  if (!allowed)
    throw new AccessError(
      403,
      `${caller.username} may not revoke ${ar.metadata.name}: only the requester, an approver or an Administrator may`,
    );
  const phase = phaseOf(ar);
  if (phase !== 'Pending' && phase !== 'Active')
    throw new AccessError(409, `${ar.metadata.name} is ${phase}, not Pending or Active`);
  return { ...ar.status, phase: 'Revoked', revokedBy: caller.username, revokedAt: iso(nowMs) };
}

/** What the leader does with one request at `now` (docs/authnz-webhook.md#authnz-access-expiry). */
export type Housekeeping =
  | { action: 'expire'; status: AccessRequestStatus; why: string }
  | { action: 'activate'; status: AccessRequestStatus }
  | { action: 'delete' }
  | undefined;

/** The housekeeping step for one request. Pure. */
export function planHousekeeping(ar: AccessRequest, cfg: AuthnzConfig['emergencyAccess'], nowMs: number): Housekeeping {
  const phase = phaseOf(ar);
  const requested = Date.parse(ar.spec.requestedAt);
  if (ar.spec.type === 'Emergency' && !ar.status?.phase) {
    // Created, but the status write was lost (restart): Emergency grants are Active from the request time.
    const dur = parseGrantDuration(ar.spec.duration) ?? cfg.emergency.defaultDurationMs;
    return {
      action: 'activate',
      status: {
        phase: 'Active',
        approvedAt: iso(requested),
        expiresAt: iso(requested + dur),
        message: `incident ${ar.spec.incident}`,
      },
    };
  }
  if (phase === 'Pending' && nowMs - requested > cfg.manual.approvalTimeoutMs)
    return {
      action: 'expire',
      status: { ...ar.status, phase: 'Expired', message: 'not approved within the approval timeout' },
      why: 'approval timeout',
    };
  if (phase === 'Active' && ar.status?.expiresAt && nowMs >= Date.parse(ar.status.expiresAt))
    return {
      action: 'expire',
      status: { ...ar.status, phase: 'Expired', message: 'grant expired' },
      why: 'grant expired',
    };
  if (phase === 'Rejected' || phase === 'Revoked' || phase === 'Expired') {
    const last = Math.max(
      requested,
      ...[ar.status?.revokedAt, ar.status?.expiresAt, ar.status?.approvedAt].filter(Boolean).map((t) => Date.parse(t!)),
    );
    if (nowMs - last > cfg.retentionMs) return { action: 'delete' };
  }
  return undefined;
}
