/**
 * Deciding what happens to each cluster file (docs/infra.md#infra-cluster-files): items whose objects all
 * exist are reused, items without any object are created, nothing is regenerated unless named in `rotate`.
 * A reused certificate that expires soon, no longer matches its profile (SANs, subject), is not signed by the
 * current CA or does not match its key is reported, not replaced. Pure: the caller reads the bucket.
 */
import { parse } from 'yaml';
import { EXPIRY_WARNING_DAYS, type FileItem, itemObjects } from './layout';
import { type CertFacts, type CertProfile, certFacts, keyMatches, publicKeyOf, signedBy } from './pki';

/** What happens to an item. */
export type FileAction = 'create' | 'reuse' | 'update' | 'rotate';

/** The decision for one item. */
export interface ItemPlan {
  id: string;
  action: FileAction;
  /** Its object keys. */
  objects: string[];
  /** Findings on a reused item (expiry, profile drift), each a sentence naming the item. */
  warnings: string[];
}

/** The decision for every item, and the errors that stop any write. */
export interface FilesPlan {
  items: ItemPlan[];
  /** Inconsistent state that only an explicit `--rotate <id>` resolves; nothing is written while any exists. */
  errors: string[];
}

/** Inputs of {@link planClusterFiles}. */
export interface PlanInput {
  items: FileItem[];
  /** Object key → content of every object that exists in the bucket. */
  existing: ReadonlyMap<string, string>;
  /** Items to regenerate even though they exist (`--rotate`). */
  rotate?: ReadonlySet<string>;
  now: Date;
}

function sameSet(a: string[] = [], b: string[] = []): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Differences between a certificate and its profile, as `field: has X, wants Y` phrases. */
export function profileDrift(f: CertFacts, p: CertProfile): string[] {
  const out: string[] = [];
  const show = (v: string[]) => (v.length ? v.join(',') : '(none)');
  if (f.cn !== p.cn) out.push(`CN is ${f.cn}, wants ${p.cn}`);
  if (!sameSet(f.o, p.o)) out.push(`O is ${show(f.o)}, wants ${show(p.o ?? [])}`);
  if (!sameSet(f.dns, p.dns)) out.push(`DNS SANs are ${show(f.dns)}, want ${show(p.dns ?? [])}`);
  if (!sameSet(f.ips, p.ips)) out.push(`IP SANs are ${show(f.ips)}, want ${show(p.ips ?? [])}`);
  return out;
}

/** The client certificate and key embedded in a kubeconfig, or undefined. */
export function kubeconfigClientCert(text: string): { cert: string; key: string } | undefined {
  try {
    const user = (parse(text) as { users?: { user?: Record<string, string> }[] }).users?.[0]?.user;
    const cert = user?.['client-certificate-data'];
    const key = user?.['client-key-data'];
    if (!cert || !key) return undefined;
    return { cert: Buffer.from(cert, 'base64').toString(), key: Buffer.from(key, 'base64').toString() };
  } catch {
    return undefined;
  }
}

function checkLeaf(
  id: string,
  pair: { cert: string; key: string },
  profile: CertProfile,
  caCert: string | undefined,
  now: Date,
  warnings: string[],
): void {
  let f: CertFacts;
  try {
    f = certFacts(pair.cert);
  } catch {
    warnings.push(`${id}: the stored certificate does not parse; rotate it with --rotate ${id}`);
    return;
  }
  const days = Math.floor((f.notAfter.getTime() - now.getTime()) / 86_400_000);
  if (days < EXPIRY_WARNING_DAYS)
    warnings.push(
      `${id}: ${days < 0 ? 'expired' : 'expires'} ${f.notAfter.toISOString()} (${days} days); rotate it with --rotate ${id}`,
    );
  const drift = profileDrift(f, profile);
  if (drift.length > 0) warnings.push(`${id}: ${drift.join('; ')}; rotate it with --rotate ${id}`);
  if (caCert && !signedBy(pair.cert, caCert))
    warnings.push(`${id}: not signed by the current CA; rotate it with --rotate ${id}`);
  if (!keyMatches(pair.cert, pair.key)) warnings.push(`${id}: the key does not match the certificate; rotate it with --rotate ${id}`);
}

/**
 * Decides create / reuse / update / rotate for every item. CA copies and static files are derived, so
 * they are created or updated whenever they differ; secrets are created only when none of their objects
 * exist. An item with some objects but not all is an error (nothing is written) unless it is rotated.
 */
export function planClusterFiles(input: PlanInput): FilesPlan {
  const { existing, now } = input;
  const rotate = input.rotate ?? new Set<string>();
  const errors: string[] = [];
  const unknown = [...rotate].filter((r) => !input.items.some((i) => i.id === r));
  for (const r of unknown)
    errors.push(`--rotate ${r}: no such item; expected one of ${input.items.map((i) => i.id).join(', ')}`);
  const caCert = new Map<string, string | undefined>();
  const items = input.items.map((item): ItemPlan => {
    const objects = itemObjects(item);
    const warnings: string[] = [];
    const plan = (action: FileAction): ItemPlan => ({ id: item.id, action, objects, warnings });
    if (item.kind === 'static')
      return plan(!existing.has(item.object) ? 'create' : existing.get(item.object) === item.content ? 'reuse' : 'update');
    const primary = item.kind === 'ca' ? [item.cert, item.key] : objects;
    const present = primary.filter((k) => existing.has(k));
    if (rotate.has(item.id)) {
      if (item.kind === 'ca') caCert.set(item.id, undefined);
      return plan('rotate');
    }
    if (present.length === 0) {
      if (item.kind === 'ca') caCert.set(item.id, undefined);
      return plan('create');
    }
    if (present.length < primary.length) {
      const missing = primary.filter((k) => !existing.has(k));
      errors.push(
        `${item.id}: ${present.join(', ')} exist${present.length === 1 ? 's' : ''} but ${missing.join(', ')} ${missing.length === 1 ? 'does' : 'do'} not; regenerate it with --rotate ${item.id}`,
      );
      return plan('reuse');
    }
    switch (item.kind) {
      case 'ca': {
        const cert = existing.get(item.cert)!;
        caCert.set(item.id, cert);
        checkLeaf(item.id, { cert, key: existing.get(item.key)! }, { cn: item.cn, usages: [] }, undefined, now, warnings);
        const copiesDiffer = item.copies.some(
          (c) => existing.get(c.key) !== existing.get(c.of === 'cert' ? item.cert : item.key),
        );
        return plan(copiesDiffer ? 'update' : 'reuse');
      }
      case 'cert': {
        const pair = { cert: existing.get(item.cert)!, key: existing.get(item.key)! };
        checkLeaf(item.id, pair, item.profile, caCert.get(item.ca), now, warnings);
        return plan('reuse');
      }
      case 'kubeconfig': {
        const pair = kubeconfigClientCert(existing.get(item.object)!);
        if (!pair) warnings.push(`${item.id}: no client certificate in ${item.object}; rotate it with --rotate ${item.id}`);
        else checkLeaf(item.id, pair, item.profile, caCert.get(item.ca), now, warnings);
        return plan('reuse');
      }
      case 'service-account': {
        let ok = false;
        try {
          ok = publicKeyOf(existing.get(item.key)!) === existing.get(item.pub);
        } catch {
          ok = false;
        }
        if (!ok) warnings.push(`${item.id}: ${item.pub} is not the public key of ${item.key}; rotate it with --rotate ${item.id}`);
        return plan('reuse');
      }
      case 'encryption':
        return plan('reuse');
    }
  });
  // A CA that is created or rotated invalidates the leaves it signed that are kept.
  for (const p of items) {
    const item = input.items.find((i) => i.id === p.id)!;
    if ((item.kind === 'cert' || item.kind === 'kubeconfig') && p.action === 'reuse' && caCert.get(item.ca) === undefined)
      errors.push(`${item.id}: its CA ${item.ca} is ${rotate.has(item.ca) ? 'rotated' : 'missing'}; rotate it too with --rotate ${item.id}`);
  }
  return { items, errors };
}
