import { formatMilli, formatQuantity, milliValue } from './quantity';

describe('formatQuantity (docs/metrics-adapter.md#ma-quantity)', () => {
  it.each([
    [0, '0'],
    [-0, '0'],
    [0.5, '500m'],
    [1.5, '1500m'],
    [2, '2'],
    [12.5, '12500m'],
    [1000, '1k'],
    [1500, '1500'],
    [2.5e6, '2500k'],
    [3e9, '3G'],
    [-0.25, '-250m'],
    [0.0004, '0'],
    [1.005, '1005m'],
    [1e-7, '0'],
    [5e15, '5P'],
  ])('%p → %s', (v, q) => expect(formatQuantity(v)).toBe(q));

  it.each([NaN, Infinity, -Infinity, 1e17, -1e17])('refuses %p', (v) => expect(formatQuantity(v)).toBeUndefined());

  it('matches a BigInt reference on random values', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const v = Number(((rnd() - 0.5) * 10 ** Math.floor(rnd() * 12)).toFixed(Math.floor(rnd() * 6)));
      const [int, frac = ''] = String(Math.abs(v)).split('.');
      if (String(v).includes('e')) continue;
      const ref = BigInt(int + (frac + '000').slice(0, 3)) * (v < 0 ? -1n : 1n);
      expect(milliValue(v)).toBe(ref === 0n ? 0n : ref);
      const q = formatMilli(ref);
      expect(q).toBe(formatQuantity(v));
    }
  });
});
