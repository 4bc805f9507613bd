/**
 * Steady state against the real kube-apiserver and moto behind the recording proxy
 * (docs/static-egress-controller.md#seg-aws): once everything is applied, each resync makes only the discovery
 * calls, one of each kind (five in routes mode, six with the prefix list: its entries are read only when its
 * version changed), and no mutating call.
 */
import { waitFor } from '@kubeaws/testenv';
import { type Call, isMutating } from './proxy';
import { createVpc, useEgressEnv } from './support';

jest.setTimeout(180_000);

const env = useEgressEnv();
const { ns, start, stop, putCm, statusDoc } = env;

const ROUTES_MODE = ['DescribeAddresses', 'DescribeNatGateways', 'DescribeRouteTables', 'DescribeSubnets', 'DescribeVpcs'];

/**
 * The calls of each complete reconcile (every reconcile starts with DescribeVpcs) recorded from `since` on, once
 * `count` complete ones exist.
 */
async function reconciles(since: number, count: number): Promise<Call[][]> {
  return waitFor(
    () => {
      const windows: Call[][] = [];
      for (const c of env.proxy.calls.slice(since)) {
        if (c.action === 'DescribeVpcs') windows.push([]);
        windows.at(-1)?.push(c);
      }
      // the last window may still be running
      return windows.length > count ? windows.slice(0, count) : undefined;
    },
    { timeoutMs: 30_000, description: `${count} complete reconciles` },
  );
}

/** Waits for a reconcile started at or after `since` without mutating calls; returns the proxy position after it. */
async function steady(since: number): Promise<number> {
  return waitFor(
    () => {
      const calls = env.proxy.calls;
      const starts = calls.flatMap((c, i) => (c.action === 'DescribeVpcs' && i >= since ? [i] : []));
      for (let k = 0; k + 1 < starts.length; k++) {
        if (!calls.slice(starts[k], starts[k + 1]).some((c) => isMutating(c.action))) return starts[k + 1];
      }
      return undefined;
    },
    { timeoutMs: 60_000, description: 'a reconcile without mutating calls' },
  );
}

describe('steady state (kube-apiserver + moto)', () => {
  it.each<[string, 'routes' | 'prefix-list', string[]]>([
    ['routes', 'routes', ROUTES_MODE],
    ['prefix-list', 'prefix-list', [...ROUTES_MODE, 'DescribeManagedPrefixLists']],
  ])('%s mode: each resync makes only its discovery calls, none twice, and nothing mutating', async (_name, mode, expected) => {
    const cluster = `steady-${mode}`;
    const vpc = await createVpc(env.ec2, cluster, mode === 'routes' ? '10.31.0.0/16' : '10.32.0.0/16');
    const n = await ns('seg-st');
    await putCm(n, 'p', { a: '203.0.113.0/24', b: '198.51.100.0/24' });
    const rc = await start(cluster, vpc, n, { mode, prefixListMaxEntries: 10 });
    await waitFor(
      async () => {
        const cidrs = (await statusDoc(n))?.cidrs;
        return cidrs?.['203.0.113.0/24']?.state === 'Applied' && cidrs['198.51.100.0/24']?.state === 'Applied';
      },
      { timeoutMs: 60_000, description: 'both CIDRs applied' },
    );
    const windows = await reconciles(await steady(env.proxy.calls.length), 3);
    await stop(rc);
    for (const w of windows) {
      expect(w.filter((c) => isMutating(c.action))).toEqual([]);
      expect(w.map((c) => c.action).sort()).toEqual([...expected].sort());
    }
  });
});
