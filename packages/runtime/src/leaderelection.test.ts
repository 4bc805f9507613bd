import { decideLease, defaultIdentity, microTime } from './leaderelection';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

describe('decideLease (client-go tryAcquireOrRenew)', () => {
  const base = { identity: 'me', leaseDurationMs: 15_000 };

  it('creates a missing lease', () => {
    const d = decideLease({
      ...base,
      current: undefined,
      nowMs: T0,
      observedAtMs: T0,
    });
    expect(d).toEqual({
      action: 'create',
      spec: {
        holderIdentity: 'me',
        leaseDurationSeconds: 15,
        acquireTime: microTime(T0),
        renewTime: microTime(T0),
        leaseTransitions: 0,
      },
    });
  });

  it('renews its own lease keeping acquireTime and transitions', () => {
    const d = decideLease({
      ...base,
      current: {
        holderIdentity: 'me',
        leaseDurationSeconds: 15,
        acquireTime: 'A',
        renewTime: 'R',
        leaseTransitions: 4,
      },
      nowMs: T0,
      observedAtMs: T0 - 100_000,
    });
    expect(d).toEqual({
      action: 'renew',
      spec: {
        holderIdentity: 'me',
        leaseDurationSeconds: 15,
        acquireTime: 'A',
        renewTime: microTime(T0),
        leaseTransitions: 4,
      },
    });
  });

  it('waits while another holder is within its lease duration of our observation', () => {
    const current = {
      holderIdentity: 'other',
      leaseDurationSeconds: 15,
      renewTime: microTime(T0 - 3_600_000),
      leaseTransitions: 1,
    };
    // renewTime is an hour old by our clock, but we only observed this record 14.999 s ago: clock skew must not matter
    expect(decideLease({ ...base, current, nowMs: T0 + 14_999, observedAtMs: T0 })).toEqual({
      action: 'wait',
      holder: 'other',
      expiresAtMs: T0 + 15_000,
    });
  });

  it('takes over an expired lease and counts the transition (boundary inclusive)', () => {
    const current = {
      holderIdentity: 'other',
      leaseDurationSeconds: 15,
      leaseTransitions: 1,
    };
    const d = decideLease({
      ...base,
      current,
      nowMs: T0 + 15_000,
      observedAtMs: T0,
    });
    expect(d.action).toBe('acquire');
    if (d.action !== 'wait')
      expect(d.spec).toMatchObject({
        holderIdentity: 'me',
        leaseTransitions: 2,
        acquireTime: microTime(T0 + 15_000),
      });
  });

  it('uses the record’s own leaseDurationSeconds (a released lease says 1 s)', () => {
    const current = { holderIdentity: 'other', leaseDurationSeconds: 1 };
    expect(decideLease({ ...base, current, nowMs: T0 + 999, observedAtMs: T0 }).action).toBe('wait');
    expect(decideLease({ ...base, current, nowMs: T0 + 1000, observedAtMs: T0 }).action).toBe('acquire');
  });

  it('acquires a released lease (empty holder) at once', () => {
    const d = decideLease({
      ...base,
      current: {
        holderIdentity: '',
        leaseDurationSeconds: 1,
        leaseTransitions: 3,
      },
      nowMs: T0,
      observedAtMs: T0,
    });
    expect(d.action).toBe('acquire');
    if (d.action !== 'wait') expect(d.spec.leaseTransitions).toBe(4);
  });
});

describe('microTime / defaultIdentity', () => {
  it('formats MicroTime with six fractional digits', () => {
    expect(microTime(Date.UTC(2025, 2, 1, 10, 0, 0, 123))).toBe('2025-03-01T10:00:00.123000Z');
  });
  it('prefers POD_NAME, else hostname_uuid', () => {
    expect(defaultIdentity({ POD_NAME: 'pod-1' })).toBe('pod-1');
    expect(defaultIdentity({})).toMatch(/^.+_[0-9a-f-]{36}$/);
  });
});
