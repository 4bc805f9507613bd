/**
 * The configuration file (docs/authnz-webhook.md#authnz-config): YAML, validated against {@link CONFIG_SCHEMA} plus
 * the load-time checks JSON Schema cannot express, then normalised (defaults filled in, durations in
 * milliseconds). Errors read `<path>: <problem> (got <value>; expected <valid>)`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ExitError, parseDuration } from '@kubeaws/runtime';
import { parseDocument } from 'yaml';
import { MAPPABLE_ROLES, ROLES, type RoleMapping } from './roles.js';
import type { NodesConfig } from './node-token.js';
import { ALLOWED_ALGORITHMS, CONFIG_SCHEMA } from './schema.js';
import { type SchemaError, validateJsonSchema } from './json-schema.js';

/** An RBAC-shaped rule (`PolicyRule`): empty `resourceNames` = any name. */
export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/**
 * One OIDC issuer, normalised (docs/authnz-webhook.md#authnz-config, #authnz-token-validation). Durations in
 * milliseconds.
 */
export interface IssuerConfig {
  /** DNS label; used in uid (`<name>/<uid>`), `extra` and metrics. */
  name: string;
  /** Exact `iss` value. */
  issuer: string;
  /** JWKS URL; undefined = OIDC discovery at `<issuer>/.well-known/openid-configuration`. */
  jwksURL?: string;
  /** PEM bundle file for the IdP's TLS. */
  caFile?: string;
  audiences: string[];
  kubernetesAudiences: string[];
  algorithms: string[];
  /** Required `typ` header, or undefined. */
  typ?: string;
  maxTokenAgeMs: number;
  claims: {
    username: { claim: string; prefix: string };
    groups: { claim: string; prefix: string };
    uid: { claim: string };
  };
  keys: { refreshIntervalMs: number; staleIfErrorMs: number; refetchCooldownMs: number; fetchTimeoutMs: number };
  /** SHA-256 of this issuer's settings: key stores and cache entries survive reloads that keep it. */
  hash: string;
}

/** One tokeninfo endpoint (docs/authnz-webhook.md#authnz-config, #authnz-tokeninfo). */
export interface TokeninfoConfig {
  name: string;
  url: string;
  /** JWT-shaped tokens with this `iss` are sent here ("" = none). */
  issuer: string;
  /** Non-JWT tokens are sent here. */
  opaque: boolean;
  timeoutMs: number;
  caFile?: string;
  requiredScopes: string[];
  realms: Record<string, { usernamePrefix: string; groups: string[] }>;
  hash: string;
}

/** An `extraDenyRules` entry; `roles` lists the principals it applies to (`none` = no role). */
export interface ExtraDenyRule {
  name: string;
  roles: Array<'ReadOnly' | 'PowerUser' | 'Manual' | 'Emergency' | 'none'>;
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  /** Empty = every namespace and cluster scope. */
  namespaces: string[];
}

/** A `systemUsers` entry: an allow-list for one service principal. */
export interface SystemUser {
  user: string;
  rules: Array<Rule & { namespaces?: string[] }>;
}

/** The whole configuration, normalised. Durations in milliseconds. */
export interface AuthnzConfig {
  /** All protected namespaces: the built-in four plus `protectedNamespaces`. */
  protectedNamespaces: string[];
  authentication: {
    tokenMaxBytes: number;
    clockToleranceSeconds: number;
    cache: { ttlMs: number; negativeTtlMs: number; maxEntries: number };
    issuers: IssuerConfig[];
    tokeninfo: TokeninfoConfig[];
    /** Node authentication with `k8s-aws-v1.` tokens (docs/authnz-webhook.md#authnz-node-tokens); off when absent. */
    nodes?: NodesConfig;
  };
  roles: { mapping: RoleMapping[] };
  authorization: {
    roles: { ReadOnly: { allow: Rule[] }; PowerUser: { allow: Rule[] } };
    extraDenyRules: ExtraDenyRule[];
    systemUsers: SystemUser[];
  };
  emergencyAccess: {
    namespace: string;
    manual: {
      requesterGroups: string[];
      approverGroups: string[];
      defaultDurationMs: number;
      maxDurationMs: number;
      approvalTimeoutMs: number;
    };
    emergency: { requesterGroups: string[]; incidentPattern: string; defaultDurationMs: number; maxDurationMs: number };
    retentionMs: number;
  };
  logging: { decisions: 'privileged' | 'all' };
  /** SHA-256 of the file content ({@link configContentHash}). */
  contentHash: string;
}

/** The built-in protected namespaces (besides the emergency-access namespace); they cannot be removed. */
export const BUILTIN_PROTECTED = ['kube-system', 'kube-public', 'kube-node-lease'] as const;

/** Default role allow rules (docs/authnz-webhook.md#authnz-config). */
export const DEFAULT_ROLE_RULES: AuthnzConfig['authorization']['roles'] = {
  ReadOnly: { allow: [{ apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list', 'watch'] }] },
  PowerUser: {
    allow: [
      {
        apiGroups: ['*'],
        resources: ['*'],
        verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'],
      },
    ],
  },
};

/**
 * A configuration file that failed validation; `problems` holds one line per error. At start the process
 * exits 1 with `error: invalid configuration <file>` and one line per problem (an {@link ExitError},
 * docs/authnz-webhook.md#authnz-config); on reload it is logged and counted.
 */
export class ConfigFileError extends ExitError {
  override readonly name: string = 'ConfigFileError';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration ${file}\n${problems.join('\n')}`, 1);
  }
}

/**
 * Reads the configuration file as text (docs/authnz-webhook.md#authnz-config).
 * @throws ConfigFileError `(file): cannot read (got <errno code>; expected a readable YAML file)`.
 */
export function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigFileError(path, [
      `(file): cannot read (got ${(err as NodeJS.ErrnoException).code ?? 'error'}; expected a readable YAML file)`,
    ]);
  }
}

/**
 * Reads and parses the configuration file ({@link readConfigFile}, {@link parseConfig}).
 * @throws ConfigFileError for an unreadable or invalid file, listing every problem.
 */
export function loadConfigFile(path: string): AuthnzConfig {
  return parseConfig(readConfigFile(path), path);
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** `/a/b/0/c` → `a.b[0].c`. */
function jsonPointerToPath(p: string, extra?: string): string {
  let out = '';
  const parts = p.split('/').slice(1);
  if (extra !== undefined) parts.push(extra);
  for (const raw of parts) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out || '(root)';
}

function get(root: unknown, pointer: string): unknown {
  let cur: any = root;
  for (const raw of pointer.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

function formatSchemaError(e: SchemaError, doc: unknown): string {
  const value = get(doc, e.instancePath);
  const path = jsonPointerToPath(e.instancePath);
  const desc = (e.parentSchema as { description?: string } | undefined)?.description;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys((e.parentSchema as { properties?: object })?.properties ?? {});
      return `${jsonPointerToPath(e.instancePath, key)}: unknown key (got ${show(key)}; expected one of ${allowed.join(', ')})`;
    }
    case 'required': {
      const key = (e.params as { missingProperty: string }).missingProperty;
      return `${jsonPointerToPath(e.instancePath, key)}: required (got nothing; expected a value)`;
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      const same = allowed.length === ALLOWED_ALGORITHMS.length && allowed.every((a, i) => a === ALLOWED_ALGORITHMS[i]);
      return `${path}: ${show(value)} is not allowed (expected one of ${same ? ALLOWED_ALGORITHMS.join(', ') : allowed.join(', ')})`;
    }
    case 'const':
      return `${path}: ${show(value)} is not allowed (expected ${show((e.params as { allowedValue: unknown }).allowedValue)})`;
    case 'type':
      return `${path}: wrong type (got ${show(value)}; expected ${desc ?? `a value of type ${(e.params as { type: string }).type}`})`;
    case 'pattern':
      return `${path}: invalid value (got ${show(value)}; expected ${desc ?? `a string matching ${(e.params as { pattern: string }).pattern}`})`;
    case 'minimum':
    case 'maximum': {
      const s = e.parentSchema as { minimum?: number; maximum?: number };
      return `${path}: out of range (got ${show(value)}; expected ${s.minimum ?? '-∞'} to ${s.maximum ?? '∞'})`;
    }
    case 'minItems':
      return `${path}: too few items (got ${show(value)}; expected at least ${(e.params as { limit: number }).limit})`;
    case 'minLength':
      return `${path}: empty string (got ${show(value)}; expected a non-empty string)`;
    default:
      return `${path}: ${e.message ?? 'invalid'} (got ${show(value)}; expected a valid value)`;
  }
}

function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * Checks a URL is https, or http to a loopback host (docs/authnz-webhook.md#authnz-idp-fetch). Returns a problem text
 * or undefined.
 */
export function urlProblem(raw: string): string | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'not a URL';
  }
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && isLoopbackHost(u.hostname)) return undefined;
  return 'must use https (http only to a loopback host)';
}

function roleNamePrefixProblem(prefix: string): string | undefined {
  if (prefix.startsWith('system:')) return 'must not start with "system:"';
  const hit = ROLES.find((r) => prefix !== '' && r.startsWith(prefix));
  if (hit) return `must not be a prefix of the role name ${hit}`;
  return undefined;
}

/**
 * The load-time checks beyond types (docs/authnz-webhook.md#authnz-config-checks). Returns problem lines; `doc` already
 * passed the schema.
 */
export function validateSemantics(doc: any): string[] {
  const problems: string[] = [];
  const p = (path: string, problem: string, value: unknown, expected: string) =>
    problems.push(`${path}: ${problem} (got ${show(value)}; expected ${expected})`);
  const authn = doc.authentication ?? {};
  const issuers: any[] = authn.issuers ?? [];
  const seen = new Set<string>();
  issuers.forEach((iss, i) => {
    const base = `authentication.issuers[${i}]`;
    if (seen.has(iss.name)) p(`${base}.name`, 'duplicate issuer name', iss.name, 'a unique name');
    seen.add(iss.name);
    if (iss.jwksURL !== undefined && urlProblem(iss.jwksURL))
      p(`${base}.jwksURL`, urlProblem(iss.jwksURL)!, iss.jwksURL, 'https://… or http://127.0.0.1…');
    if (iss.jwksURL === undefined && urlProblem(iss.issuer))
      p(`${base}.issuer`, `discovery ${urlProblem(iss.issuer)}`, iss.issuer, 'https://… or set jwksURL');
    const up = iss.claims?.username?.prefix ?? `${iss.name}:`;
    const upProblem = roleNamePrefixProblem(up);
    if (upProblem) p(`${base}.claims.username.prefix`, upProblem, up, 'a prefix such as "oidc:"');
    const gp = iss.claims?.groups?.prefix ?? `${iss.name}:`;
    if (gp === '') p(`${base}.claims.groups.prefix`, 'must not be empty', gp, 'a prefix such as "oidc:"');
    else {
      const gpProblem = roleNamePrefixProblem(gp);
      if (gpProblem) p(`${base}.claims.groups.prefix`, gpProblem, gp, 'a prefix such as "oidc:"');
    }
    if (iss.maxTokenAge !== undefined && parseDuration(iss.maxTokenAge) === 0)
      p(`${base}.maxTokenAge`, 'must be positive', iss.maxTokenAge, 'a duration > 0, e.g. 24h');
  });
  const tis: any[] = authn.tokeninfo ?? [];
  const tiSeen = new Set<string>();
  let opaque = 0;
  tis.forEach((t, i) => {
    const base = `authentication.tokeninfo[${i}]`;
    if (tiSeen.has(t.name) || seen.has(t.name))
      p(`${base}.name`, 'duplicate name', t.name, 'a name unique among issuers and tokeninfo endpoints');
    tiSeen.add(t.name);
    if (t.opaque) opaque++;
    if (urlProblem(t.url)) p(`${base}.url`, urlProblem(t.url)!, t.url, 'https://… or http://127.0.0.1…');
    if (t.issuer && issuers.some((x) => x.issuer === t.issuer))
      p(`${base}.issuer`, 'also configured as an OIDC issuer', t.issuer, 'an issuer handled in one place only');
    for (const [realm, r] of Object.entries<any>(t.realms ?? {})) {
      const rb = `${base}.realms[${JSON.stringify(realm)}]`;
      if ((r.usernamePrefix ?? '').startsWith('system:'))
        p(`${rb}.usernamePrefix`, 'must not start with "system:"', r.usernamePrefix, 'a prefix such as "service:"');
      (r.groups ?? []).forEach((g: string, j: number) => {
        if (g.startsWith('system:') || (ROLES as readonly string[]).includes(g))
          p(`${rb}.groups[${j}]`, 'reserved group name', g, 'a group not starting with "system:" and not a role name');
      });
    }
  });
  if (opaque > 1)
    p('authentication.tokeninfo', 'more than one endpoint is opaque', opaque, 'at most one with opaque: true');
  (doc.roles?.mapping ?? []).forEach((m: any, i: number) => {
    const base = `roles.mapping[${i}]`;
    const kinds = ['group', 'allOf', 'user'].filter((k) => m[k] !== undefined);
    if (kinds.length !== 1) p(base, 'needs exactly one of group, allOf, user', kinds, 'one of group, allOf, user');
    if (m.role === 'Manual' || m.role === 'Emergency')
      p(
        `${base}.role`,
        `${m.role} comes only from emergency-access grants`,
        m.role,
        `one of ${MAPPABLE_ROLES.join(', ')}`,
      );
    else if (!(MAPPABLE_ROLES as readonly string[]).includes(m.role))
      p(`${base}.role`, 'unknown role', m.role, `one of ${MAPPABLE_ROLES.join(', ')}`);
  });
  const extraSeen = new Set<string>();
  (doc.authorization?.extraDenyRules ?? []).forEach((r: any, i: number) => {
    if (extraSeen.has(r.name)) p(`authorization.extraDenyRules[${i}].name`, 'duplicate name', r.name, 'a unique name');
    extraSeen.add(r.name);
  });
  (doc.authorization?.systemUsers ?? []).forEach((s: any, i: number) => {
    const base = `authorization.systemUsers[${i}]`;
    if (s.user.startsWith('system:'))
      p(`${base}.user`, 'system: users are never decided by the webhook', s.user, 'a service principal name');
    (s.rules ?? []).forEach((r: any, j: number) => {
      for (const v of r.verbs ?? [])
        if (v === '*' || v.startsWith('impersonate') || v === 'escalate' || v === 'bind')
          p(
            `${base}.rules[${j}].verbs`,
            `verb ${JSON.stringify(v)} is not allowed here`,
            r.verbs,
            'verbs other than *, impersonate, escalate, bind',
          );
      for (const res of r.resources ?? [])
        if (res === '*' || res === 'accessrequests' || res.startsWith('accessrequests/'))
          p(
            `${base}.rules[${j}].resources`,
            `resource ${JSON.stringify(res)} is not allowed here`,
            r.resources,
            'resources other than * and accessrequests',
          );
    });
  });
  const ea = doc.emergencyAccess ?? {};
  if (ea.emergency?.incidentPattern !== undefined) {
    try {
      new RegExp(ea.emergency.incidentPattern);
    } catch {
      p(
        'emergencyAccess.emergency.incidentPattern',
        'not a regular expression',
        ea.emergency.incidentPattern,
        'a valid regular expression',
      );
    }
  }
  for (const kind of ['manual', 'emergency'] as const) {
    const k = ea[kind];
    if (k?.defaultDuration && k?.maxDuration && parseDuration(k.defaultDuration) > parseDuration(k.maxDuration))
      p(
        `emergencyAccess.${kind}.defaultDuration`,
        'longer than maxDuration',
        k.defaultDuration,
        `at most ${k.maxDuration}`,
      );
  }
  return problems;
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/**
 * The content hash of configuration text (hex SHA-256 of its UTF-8 bytes), as {@link parseConfig} records it in
 * `contentHash`: equal hashes mean the file did not change (docs/authnz-webhook.md#authnz-reload).
 */
export function configContentHash(text: string): string {
  return sha256(text);
}

/** A duration of the file (the schema admits `<n>(ms|s|m|h)`, a subset of `parseDuration`'s grammar) in ms. */
function d(v: string | undefined, dflt: string): number {
  return parseDuration(v ?? dflt);
}

/** Fills in defaults and converts durations; `doc` must have passed the schema and semantic checks. */
export function normalizeConfig(doc: any, contentHash: string): AuthnzConfig {
  const authn = doc.authentication ?? {};
  const ea = doc.emergencyAccess ?? {};
  const accessNs = ea.namespace ?? 'kubeaws-access';
  const issuers: IssuerConfig[] = (authn.issuers ?? []).map((i: any) => {
    const n: Omit<IssuerConfig, 'hash'> = {
      name: i.name,
      issuer: i.issuer,
      jwksURL: i.jwksURL || undefined,
      caFile: i.caFile || undefined,
      audiences: [...i.audiences],
      kubernetesAudiences: [...(i.kubernetesAudiences ?? [])],
      algorithms: [...(i.algorithms ?? ['RS256'])],
      typ: i.typ || undefined,
      maxTokenAgeMs: d(i.maxTokenAge, '24h'),
      claims: {
        username: { claim: i.claims?.username?.claim ?? 'sub', prefix: i.claims?.username?.prefix ?? `${i.name}:` },
        groups: { claim: i.claims?.groups?.claim ?? 'groups', prefix: i.claims?.groups?.prefix ?? `${i.name}:` },
        uid: { claim: i.claims?.uid?.claim ?? 'sub' },
      },
      keys: {
        refreshIntervalMs: d(i.keys?.refreshInterval, '5m'),
        staleIfErrorMs: d(i.keys?.staleIfError, '24h'),
        refetchCooldownMs: d(i.keys?.refetchCooldown, '30s'),
        fetchTimeoutMs: d(i.keys?.fetchTimeout, '5s'),
      },
    };
    return { ...n, hash: sha256(JSON.stringify(n)) };
  });
  const tokeninfo: TokeninfoConfig[] = (authn.tokeninfo ?? []).map((t: any) => {
    const n: Omit<TokeninfoConfig, 'hash'> = {
      name: t.name,
      url: t.url,
      issuer: t.issuer ?? '',
      opaque: t.opaque ?? false,
      timeoutMs: d(t.timeout, '2s'),
      caFile: t.caFile || undefined,
      requiredScopes: [...(t.requiredScopes ?? [])],
      realms: Object.fromEntries(
        Object.entries<any>(t.realms ?? {}).map(([k, v]) => [
          k,
          { usernamePrefix: v.usernamePrefix ?? '', groups: [...(v.groups ?? [])] },
        ]),
      ),
    };
    return { ...n, hash: sha256(JSON.stringify(n)) };
  });
  const roles = doc.authorization?.roles ?? {};
  return {
    protectedNamespaces: [...new Set([...BUILTIN_PROTECTED, accessNs, ...(doc.protectedNamespaces ?? [])])],
    authentication: {
      tokenMaxBytes: authn.tokenMaxBytes ?? 16384,
      clockToleranceSeconds: authn.clockToleranceSeconds ?? 30,
      cache: {
        ttlMs: d(authn.cache?.ttl, '60s'),
        negativeTtlMs: d(authn.cache?.negativeTtl, '10s'),
        maxEntries: authn.cache?.maxEntries ?? 10000,
      },
      issuers,
      tokeninfo,
      ...(authn.nodes ? { nodes: normalizeNodes(authn.nodes) } : {}),
    },
    roles: { mapping: (doc.roles?.mapping ?? []).map((m: any) => ({ ...m })) },
    authorization: {
      roles: {
        ReadOnly: roles.ReadOnly ?? DEFAULT_ROLE_RULES.ReadOnly,
        PowerUser: roles.PowerUser ?? DEFAULT_ROLE_RULES.PowerUser,
      },
      extraDenyRules: (doc.authorization?.extraDenyRules ?? []).map((r: any) => ({
        name: r.name,
        roles: r.roles ?? ['ReadOnly', 'PowerUser', 'Manual', 'Emergency', 'none'],
        apiGroups: r.apiGroups,
        resources: r.resources,
        verbs: r.verbs,
        namespaces: r.namespaces ?? [],
      })),
      systemUsers: (doc.authorization?.systemUsers ?? []).map((s: any) => ({ user: s.user, rules: s.rules })),
    },
    emergencyAccess: {
      namespace: accessNs,
      manual: {
        requesterGroups: ea.manual?.requesterGroups ?? [],
        approverGroups: ea.manual?.approverGroups ?? [],
        defaultDurationMs: d(ea.manual?.defaultDuration, '2h'),
        maxDurationMs: d(ea.manual?.maxDuration, '8h'),
        approvalTimeoutMs: d(ea.manual?.approvalTimeout, '1h'),
      },
      emergency: {
        requesterGroups: ea.emergency?.requesterGroups ?? [],
        incidentPattern: ea.emergency?.incidentPattern ?? '^INC-[0-9]{1,10}$',
        defaultDurationMs: d(ea.emergency?.defaultDuration, '4h'),
        maxDurationMs: d(ea.emergency?.maxDuration, '12h'),
      },
      retentionMs: d(ea.retention, '720h'),
    },
    logging: { decisions: doc.logging?.decisions ?? 'privileged' },
    contentHash,
  };
}

/**
 * Parses and validates configuration text. `file` is used in the error only.
 * @throws ConfigFileError listing every problem (YAML syntax, schema, semantic checks).
 */
export function parseConfig(text: string, file = 'config.yaml'): AuthnzConfig {
  const docNode = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (docNode.errors.length) {
    throw new ConfigFileError(
      file,
      docNode.errors.map((e) => {
        const pos = e.linePos?.[0];
        return `${pos ? `line ${pos.line}:${pos.col}` : '(root)'}: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')} (got invalid YAML; expected a YAML document)`;
      }),
    );
  }
  const doc = docNode.toJS({ maxAliasCount: 100 });
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigFileError(file, [
      `(root): wrong type (got ${show(doc)}; expected a mapping with apiVersion and kind)`,
    ]);
  }
  const errors = validateJsonSchema(CONFIG_SCHEMA, doc);
  if (errors.length) {
    const seen = new Set<string>();
    const problems = errors
      .map((e) => formatSchemaError(e, doc))
      .filter((l) => (seen.has(l) ? false : (seen.add(l), true)));
    throw new ConfigFileError(file, problems);
  }
  const problems = validateSemantics(doc);
  if (problems.length) throw new ConfigFileError(file, problems);
  return normalizeConfig(doc, configContentHash(text));
}

function normalizeNodes(n: any): NodesConfig {
  const c: Omit<NodesConfig, 'hash'> = {
    clusterID: n.clusterID,
    workerRoleARN: n.workerRoleARN,
    regions: [...n.regions],
    tokenMaxBytes: n.tokenMaxBytes ?? 4096,
    timeoutMs: d(n.timeout, '5s'),
  };
  return { ...c, hash: sha256(JSON.stringify(c)) };
}

/** The smallest valid configuration (no issuers), for tests and defaults. */
export function defaultConfig(): AuthnzConfig {
  return parseConfig('apiVersion: authnz.kubeaws.io/v1alpha1\nkind: AuthnzConfiguration\n');
}
