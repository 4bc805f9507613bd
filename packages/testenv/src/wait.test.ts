import { WaitTimeoutError, freePorts, waitFor } from './wait';

describe('waitFor', () => {
  it('returns the first truthy value', async () => {
    let n = 0;
    await expect(waitFor(() => (++n >= 3 ? `done ${n}` : undefined), { intervalMs: 1 })).resolves.toBe('done 3');
  });

  it('treats thrown errors as not yet', async () => {
    let n = 0;
    const v = await waitFor(
      () => {
        if (++n < 2) throw new Error('boom');
        return n;
      },
      { intervalMs: 1 },
    );
    expect(v).toBe(2);
  });

  it('names the description and the last value on timeout', async () => {
    const err = await waitFor((): false => false, { timeoutMs: 50, intervalMs: 10, description: 'pods' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as Error).message).toMatch(/waiting for pods; last value: false/);
  });

  it('names the last error on timeout', async () => {
    const err = await waitFor(
      () => {
        throw new Error('not found');
      },
      { timeoutMs: 30, intervalMs: 5, description: 'thing' },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/waiting for thing; last error: Error: not found/);
  });

  it('does not wait past the deadline for a hanging attempt', async () => {
    const started = Date.now();
    await expect(
      waitFor(() => new Promise<boolean>(() => undefined), { timeoutMs: 50, description: 'hang' }),
    ).rejects.toThrow(/hang/);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('freePorts', () => {
  it('returns distinct loopback ports', async () => {
    const ports = await freePorts(3);
    expect(new Set(ports).size).toBe(3);
    for (const p of ports) expect(p).toBeGreaterThan(0);
  });
});
