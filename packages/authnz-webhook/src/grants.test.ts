import { configYaml } from '../test/helpers';
import { parseConfig } from './config';
import {
  AccessError,
  type AccessRequest,
  type Caller,
  activeGrantOf,
  planCreate,
  planDecision,
  planHousekeeping,
  planRevoke,
} from './grants';

const cfg = parseConfig(configYaml()).emergencyAccess;
const T0 = Date.UTC(2026, 0, 1, 12);
const alice: Caller = { username: 'oidc:alice', uid: 'corp/alice', groups: ['oidc:oncall'] };
const bob: Caller = { username: 'oidc:bob', uid: 'corp/bob', groups: ['oidc:oncall'] };
const eve: Caller = { username: 'oidc:eve', uid: 'corp/eve', groups: ['oidc:team-a'] };

function created(body: Record<string, unknown>, caller = alice, now = T0): AccessRequest {
  const p = planCreate(body, caller, cfg, [], now);
  return {
    ...p.object,
    metadata: { name: 'manual-1', namespace: 'kubeaws-access', resourceVersion: '1' },
    status: p.status,
  };
}

function code(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof AccessError) return e.code;
    throw e;
  }
  return undefined;
}

describe('emergency access state machine (AUTHNZ-ACCESS, AUTHNZ-FOUR-EYES)', () => {
  it('a Manual request is Pending with the default duration', () => {
    const ar = created({ type: 'Manual', reason: 'debugging the payment outage' });
    expect(ar.spec).toMatchObject({
      type: 'Manual',
      user: 'oidc:alice',
      uid: 'corp/alice',
      duration: '2h',
      requestedAt: '2026-01-01T12:00:00Z',
    });
    expect(ar.status).toEqual({ phase: 'Pending' });
    expect(ar.metadata.name).toBe('manual-1');
  });

  it('an Emergency request is Active at once and needs a matching incident', () => {
    const p = planCreate(
      { type: 'Emergency', reason: 'production is down for everyone', incident: 'INC-42' },
      alice,
      cfg,
      [],
      T0,
    );
    expect(p.status).toMatchObject({ phase: 'Active', expiresAt: '2026-01-01T16:00:00Z' });
    expect(
      code(() =>
        planCreate({ type: 'Emergency', reason: 'production is down', incident: 'JIRA-1' }, alice, cfg, [], T0),
      ),
    ).toBe(400);
  });

  it.each([
    [{ type: 'Admin', reason: 'x'.repeat(20) }, 400],
    [{ type: 'Manual', reason: 'short' }, 400],
    [{ type: 'Manual', reason: 'x'.repeat(1001) }, 400],
    [{ type: 'Manual', reason: 'x'.repeat(20), duration: '9h' }, 400],
    [{ type: 'Manual', reason: 'x'.repeat(20), duration: 'forever' }, 400],
  ])('validates %j', (body, want) => {
    expect(code(() => planCreate(body, alice, cfg, [], T0))).toBe(want);
  });

  it('requesters must be in requesterGroups; duplicates are 409', () => {
    expect(code(() => planCreate({ type: 'Manual', reason: 'x'.repeat(20) }, eve, cfg, [], T0))).toBe(403);
    const first = created({ type: 'Manual', reason: 'x'.repeat(20) });
    expect(code(() => planCreate({ type: 'Manual', reason: 'x'.repeat(20) }, alice, cfg, [first], T0))).toBe(409);
  });

  it('four eyes: the requester can never approve, by username or by uid', () => {
    const ar = created({ type: 'Manual', reason: 'x'.repeat(20) });
    expect(code(() => planDecision('approve', ar, alice, cfg, T0))).toBe(403);
    expect(code(() => planDecision('approve', ar, { ...bob, uid: 'corp/alice' }, cfg, T0))).toBe(403);
    expect(code(() => planDecision('approve', ar, eve, cfg, T0))).toBe(403);
    try {
      planDecision('approve', ar, alice, cfg, T0);
    } catch (e) {
      expect((e as Error).message).toBe('approver must be a different person than the requester');
    }
  });

  it('approval makes the grant Active with expiresAt = now + duration; a second approval is 409', () => {
    const ar = created({ type: 'Manual', reason: 'x'.repeat(20), duration: '30m' });
    const st = planDecision('approve', ar, bob, cfg, T0 + 60_000);
    expect(st).toMatchObject({
      phase: 'Active',
      approvedBy: 'oidc:bob',
      approvedByUid: 'corp/bob',
      expiresAt: '2026-01-01T12:31:00Z',
    });
    const active = { ...ar, status: st };
    expect(code(() => planDecision('approve', active, bob, cfg, T0))).toBe(409);
    expect(activeGrantOf([active], 'oidc:alice', 'corp/alice', T0 + 30 * 60_000)).toBe(active);
    expect(activeGrantOf([active], 'oidc:alice', 'corp/alice', T0 + 31 * 60_000)).toBeUndefined();
    expect(activeGrantOf([active], 'oidc:alice', 'corp/other', T0 + 60_000)).toBeUndefined();
  });

  it('approval after the approval timeout is 409; reject and revoke rules', () => {
    const ar = created({ type: 'Manual', reason: 'x'.repeat(20) });
    expect(code(() => planDecision('approve', ar, bob, cfg, T0 + 3_600_001))).toBe(409);
    expect(planDecision('reject', ar, bob, cfg, T0).phase).toBe('Rejected');
    expect(code(() => planRevoke(ar, eve, cfg, T0))).toBe(403);
    expect(planRevoke(ar, alice, cfg, T0).phase).toBe('Revoked');
    expect(planRevoke(ar, { ...eve, role: 'Administrator' }, cfg, T0).phase).toBe('Revoked');
    expect(code(() => planRevoke({ ...ar, status: { phase: 'Expired' } }, alice, cfg, T0))).toBe(409);
  });

  it('housekeeping expires, activates lost Emergency statuses and deletes after retention', () => {
    const ar = created({ type: 'Manual', reason: 'x'.repeat(20) });
    expect(planHousekeeping(ar, cfg, T0 + 1000)).toBeUndefined();
    expect(planHousekeeping(ar, cfg, T0 + 3_600_001)).toMatchObject({ action: 'expire', status: { phase: 'Expired' } });
    const active = { ...ar, status: planDecision('approve', ar, bob, cfg, T0) };
    expect(planHousekeeping(active, cfg, T0 + 7_200_000)).toMatchObject({ action: 'expire' });
    const expired = { ...active, status: { ...active.status, phase: 'Expired' as const } };
    expect(planHousekeeping(expired, cfg, T0 + 7_200_000 + 720 * 3_600_000 + 1)).toEqual({ action: 'delete' });
    const lost = {
      ...planCreate({ type: 'Emergency', reason: 'production is down', incident: 'INC-1' }, alice, cfg, [], T0).object,
      metadata: { name: 'e' },
    };
    expect(planHousekeeping(lost as AccessRequest, cfg, T0 + 5000)).toMatchObject({
      action: 'activate',
      status: { phase: 'Active', expiresAt: '2026-01-01T16:00:00Z' },
    });
  });
});
