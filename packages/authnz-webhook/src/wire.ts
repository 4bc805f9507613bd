/**
 * The wire contract (docs/authnz-webhook.md#authnz-wire, #authnz-http, #authnz-body-limits): parsing and validating
 * TokenReview and SubjectAccessReview bodies, and building responses and Status JSON. Only known fields are copied into
 * typed objects; unknown fields are ignored; `__proto__`, `constructor` and `prototype` never reach a
 * merge. Kubernetes webhook docs: https://kubernetes.io/docs/reference/access-authn-authz/webhook/ and
 * https://kubernetes.io/docs/reference/access-authn-authz/authentication/#webhook-token-authentication.
 */
import type { Decision, NonResourceAttributes, ResourceAttributes, SarInput } from './authorize.js';

/** Maximum JSON nesting depth of a request body (docs/authnz-webhook.md#authnz-body-limits). */
export const MAX_JSON_DEPTH = 32;
/** Accepted TokenReview versions. */
export const TOKENREVIEW_VERSIONS = ['authentication.k8s.io/v1', 'authentication.k8s.io/v1beta1'] as const;
/** Accepted SubjectAccessReview versions. */
export const SAR_VERSIONS = ['authorization.k8s.io/v1', 'authorization.k8s.io/v1beta1'] as const;

/** A 4xx answer with a Status JSON message. */
export class BadRequest extends Error {
  override readonly name = 'BadRequest';
}

/** The `metav1.Status` body of an error answer. */
export interface StatusBody {
  apiVersion: 'v1';
  kind: 'Status';
  status: 'Failure';
  code: number;
  reason: string;
  message: string;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  429: 'TooManyRequests',
  503: 'ServiceUnavailable',
};

/** Builds a Status JSON body (docs/authnz-webhook.md#authnz-http). */
export function statusBody(code: number, message: string): StatusBody {
  return {
    apiVersion: 'v1',
    kind: 'Status',
    status: 'Failure',
    code,
    reason: REASONS[code] ?? 'InternalError',
    message,
  };
}

/**
 * Returns the maximum nesting depth of JSON text, scanning iteratively (strings and escapes honoured),
 * stopping early once `limit` is exceeded.
 */
export function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/**
 * True when `text` holds at most `limit` opening brackets (`{` or `[`, inside strings too), so that its nesting
 * depth cannot exceed `limit`: a native substring search, far cheaper than {@link jsonDepth}'s scan for the usual
 * small, shallow review bodies.
 */
export function fewOpeningBrackets(text: string, limit = MAX_JSON_DEPTH): boolean {
  let n = 0;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (++n > limit) return false;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) if (++n > limit) return false;
  return true;
}

/** JSON type name for messages: string, number, boolean, null, array, object, nothing. */
export function typeName(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * Parses a request body: at most {@link MAX_JSON_DEPTH} deep, valid JSON, an object.
 * @throws BadRequest naming the problem.
 */
export function parseBody(text: string): Record<string, unknown> {
  if (!fewOpeningBrackets(text) && jsonDepth(text) > MAX_JSON_DEPTH)
    throw new BadRequest(`body: JSON nesting deeper than ${MAX_JSON_DEPTH} levels`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new BadRequest(`body: not valid JSON (${(e as Error).message.split('\n')[0]}); expected a JSON object`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new BadRequest(`body: expected a JSON object, got ${typeName(v)}`);
  return v as Record<string, unknown>;
}

/**
 * Every name the parsers read from a request body. The parsers read a field by its literal name (`spec.user`), which V8
 * compiles for the few shapes review bodies have; a helper taking the name as an argument made every such read a
 * generic (megamorphic) property lookup. `JSON.parse` gives every object `Object.prototype` as its prototype, so such a
 * read returns the object's own field, or nothing, unless `Object.prototype` carries the name:
 * {@link assertPrototypeClean} refuses to parse a body then.
 */
export const BODY_FIELD_NAMES = [
  'kind',
  'apiVersion',
  'spec',
  'token',
  'audiences',
  'resourceAttributes',
  'nonResourceAttributes',
  'groups',
  'group',
  'extra',
  'user',
  'uid',
  'namespace',
  'verb',
  'version',
  'resource',
  'subresource',
  'name',
  'path',
] as const;

const PROTO = Object.prototype as Record<string, unknown>;

/**
 * Throws when `Object.prototype` carries one of {@link BODY_FIELD_NAMES} (prototype pollution: code in the process
 * added it), so that an inherited value never stands in for a field the request left out. Each name is read literally:
 * V8 compiles the check to almost nothing while the prototype is unchanged.
 * @throws Error (not {@link BadRequest}: the request is fine, the process is not; answered 503) naming the field.
 */
function assertPrototypeClean(): void {
  if (
    PROTO.kind !== undefined ||
    PROTO.apiVersion !== undefined ||
    PROTO.spec !== undefined ||
    PROTO.token !== undefined ||
    PROTO.audiences !== undefined ||
    PROTO.resourceAttributes !== undefined ||
    PROTO.nonResourceAttributes !== undefined ||
    PROTO.groups !== undefined ||
    PROTO.group !== undefined ||
    PROTO.extra !== undefined ||
    PROTO.user !== undefined ||
    PROTO.uid !== undefined ||
    PROTO.namespace !== undefined ||
    PROTO.verb !== undefined ||
    PROTO.version !== undefined ||
    PROTO.resource !== undefined ||
    PROTO.subresource !== undefined ||
    PROTO.name !== undefined ||
    PROTO.path !== undefined
  ) {
    const k = BODY_FIELD_NAMES.find((n) => PROTO[n] !== undefined);
    throw new Error(
      `Object.prototype carries "${k}", a field of review bodies: code in this process modified the built-in objects (prototype pollution); request bodies are not read while it does: restart the webhook`,
    );
  }
}

function checkEnvelope(body: Record<string, unknown>, kind: string, versions: readonly string[], path: string): string {
  const k = body.kind;
  if (k !== kind)
    throw new BadRequest(
      `kind: expected "${kind}" for ${path}, got ${k === undefined ? 'nothing' : JSON.stringify(k)}`,
    );
  const v = body.apiVersion;
  const i = typeof v === 'string' ? versions.indexOf(v) : -1;
  if (i < 0)
    throw new BadRequest(
      `apiVersion: ${v === undefined ? 'missing' : JSON.stringify(v)} is not supported; expected one of ${versions.join(', ')}`,
    );
  // the constant, not the string of the body: quotedVersion's comparisons with the constants then match at once
  return versions[i]!;
}

function specOf(body: Record<string, unknown>): Record<string, unknown> {
  const spec = body.spec;
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec))
    throw new BadRequest(`spec: expected object, got ${typeName(spec)}`);
  return spec as Record<string, unknown>;
}

/** `v`, the field `k` under `path`, as a string; `''` when absent or null. @throws BadRequest for another type. */
function optString(v: unknown, k: string, path: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new BadRequest(`${path}.${k}: expected string, got ${typeName(v)}`);
  return v;
}

/** A copy of `v`, the field `k` under `path`, as strings; `[]` when absent or null. @throws BadRequest otherwise. */
function optStringArray(v: unknown, k: string, path: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new BadRequest(`${path}.${k}: expected array of strings, got ${typeName(v)}`);
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (typeof x !== 'string') throw new BadRequest(`${path}.${k}[${i}]: expected string, got ${typeName(x)}`);
  }
  return v.slice() as string[];
}

/** A validated TokenReview request. */
export interface TokenReviewRequest {
  apiVersion: string;
  token: string;
  audiences: string[];
}

/**
 * Validates a TokenReview body (docs/authnz-webhook.md#authnz-wire).
 * @throws BadRequest (wrong kind or apiVersion, missing spec, `spec.token` not a string, …).
 */
export function parseTokenReview(body: Record<string, unknown>, path = '/authenticate'): TokenReviewRequest {
  assertPrototypeClean();
  const apiVersion = checkEnvelope(body, 'TokenReview', TOKENREVIEW_VERSIONS, path);
  const spec = specOf(body);
  const token = spec.token;
  if (typeof token !== 'string') throw new BadRequest(`spec.token: expected string, got ${typeName(token)}`);
  return { apiVersion, token, audiences: optStringArray(spec.audiences, 'audiences', 'spec') };
}

/** A validated SubjectAccessReview request. */
export interface SarRequest {
  apiVersion: string;
  input: SarInput;
}

/** `extra` of a SAR without one: shared, so frozen. */
const NO_EXTRA: Record<string, string[]> = Object.freeze(Object.create(null));

function isPresent(v: unknown): boolean {
  return v !== undefined && v !== null;
}

/**
 * Validates a SubjectAccessReview body (docs/authnz-webhook.md#authnz-wire): exactly one of the attribute sets; groups
 * under `groups` or `group` (not both); `extra` as a map of string arrays.
 * @throws BadRequest naming the field.
 */
export function parseSar(body: Record<string, unknown>, path = '/authorize'): SarRequest {
  assertPrototypeClean();
  const apiVersion = checkEnvelope(body, 'SubjectAccessReview', SAR_VERSIONS, path);
  const spec = specOf(body);
  const ra = spec.resourceAttributes;
  const nra = spec.nonResourceAttributes;
  if (isPresent(ra) && isPresent(nra))
    throw new BadRequest('spec: expected exactly one of resourceAttributes and nonResourceAttributes, got both');
  if (!isPresent(ra) && !isPresent(nra))
    throw new BadRequest('spec: expected exactly one of resourceAttributes and nonResourceAttributes, got neither');
  const hasGroups = spec.groups !== undefined;
  const hasGroup = spec.group !== undefined;
  if (hasGroups && hasGroup) throw new BadRequest('spec: expected either groups (v1) or group (v1beta1), got both');
  const groups = hasGroup ? optStringArray(spec.group, 'group', 'spec') : optStringArray(spec.groups, 'groups', 'spec');
  const extraRaw = spec.extra;
  let extra: Record<string, string[]> = NO_EXTRA;
  if (isPresent(extraRaw)) {
    extra = Object.create(null);
    if (typeof extraRaw !== 'object' || Array.isArray(extraRaw))
      throw new BadRequest(`spec.extra: expected object of string arrays, got ${typeName(extraRaw)}`);
    for (const k of Object.keys(extraRaw as object)) {
      extra[k] = optStringArray((extraRaw as Record<string, unknown>)[k], k, 'spec.extra');
    }
  }
  const input: SarInput = {
    user: optString(spec.user, 'user', 'spec'),
    groups,
    uid: optString(spec.uid, 'uid', 'spec'),
    extra,
  };
  if (isPresent(ra)) {
    if (typeof ra !== 'object' || Array.isArray(ra))
      throw new BadRequest(`spec.resourceAttributes: expected object, got ${typeName(ra)}`);
    const r = ra as Record<string, unknown>;
    const p = 'spec.resourceAttributes';
    const attrs: ResourceAttributes = {
      namespace: optString(r.namespace, 'namespace', p),
      verb: optString(r.verb, 'verb', p),
      group: optString(r.group, 'group', p),
      version: optString(r.version, 'version', p),
      resource: optString(r.resource, 'resource', p),
      subresource: optString(r.subresource, 'subresource', p),
      name: optString(r.name, 'name', p),
    };
    input.resource = attrs;
  } else {
    if (typeof nra !== 'object' || Array.isArray(nra))
      throw new BadRequest(`spec.nonResourceAttributes: expected object, got ${typeName(nra)}`);
    const n = nra as Record<string, unknown>;
    const p = 'spec.nonResourceAttributes';
    const attrs: NonResourceAttributes = { path: optString(n.path, 'path', p), verb: optString(n.verb, 'verb', p) };
    input.nonResource = attrs;
  }
  return { apiVersion, input };
}

/**
 * The JSON text of the answer to a SubjectAccessReview: what `JSON.stringify` writes for `{apiVersion, kind:
 * "SubjectAccessReview", status}`, with `status` `{allowed: true, reason}` for allow, `{allowed: false, denied: true,
 * reason}` for deny and `{allowed: false, reason}` for no opinion (docs/authnz-webhook.md#authnz-wire). Put together
 * from the JSON text of each string: V8's fast `JSON.stringify` of an object gives up on a string built at run time
 * (a reason is) and serializes the whole object again on its slow path, which took three times as long for this answer
 * (docs/benchmarks.md, authnz-webhook).
 */
export function sarAnswerText(apiVersion: string, d: Pick<Decision, 'decision' | 'reason'>): string {
  const status =
    d.decision === 'allow'
      ? '{"allowed":true,"reason":'
      : d.decision === 'deny'
        ? '{"allowed":false,"denied":true,"reason":'
        : '{"allowed":false,"reason":';
  return `{"apiVersion":${quotedVersion(apiVersion)},"kind":"SubjectAccessReview","status":${status}${JSON.stringify(d.reason)}}}`;
}

const [SAR_V1, SAR_V1BETA1] = SAR_VERSIONS;
const QUOTED_SAR_V1 = JSON.stringify(SAR_V1);
const QUOTED_SAR_V1BETA1 = JSON.stringify(SAR_V1BETA1);

/**
 * The JSON text of a SubjectAccessReview's `apiVersion`: the supported versions quoted once at load, any other string
 * by `JSON.stringify`, whose call costs about 640 instructions for such a string, almost all of it the call's own
 * (docs/benchmarks.md, "authnz-webhook: the SubjectAccessReview's cost by part, and simulated caches").
 */
function quotedVersion(v: string): string {
  return v === SAR_V1 ? QUOTED_SAR_V1 : v === SAR_V1BETA1 ? QUOTED_SAR_V1BETA1 : JSON.stringify(v);
}

/** Checks a `Content-Type` header: `application/json`, parameters allowed. */
export function isJsonContentType(ct: string | undefined): boolean {
  if (!ct) return false;
  if (ct === 'application/json') return true;
  return ct.split(';')[0]!.trim().toLowerCase() === 'application/json';
}
