// The baseline servers of the authnz-webhook benchmark (bench/authnz-webhook.bench.mts), each a child process of
// its own, started as
//
//   node [the DaemonSet's NODE_OPTIONS] bench/authnz-webhook-baselines.mjs <mode> '<spec JSON>'
//
// and printing one line `{"port": N}` to stdout once it listens on 127.0.0.1. Plain JavaScript, so that the
// process loads no TypeScript (Node's type stripping alone adds about 17 MiB of RSS to a process, which the webhook's
// bundle does not pay either). Modes:
//
// - `bare`: a `node:http` server that parses the TokenReview, verifies its token with jose and answers;
// - `express`: the same with express and its JSON body parser, express's defaults otherwise: the "bare express +
//   jose endpoint (parse, verify, respond)" of docs/authnz-webhook.md#authnz-budgets;
// - `bare_sar`: a `node:http` server that parses the SubjectAccessReview and answers it from one fixed rule.
//
// The spec is `{ jwk, issuer }`: the issuer's public key and the `iss` the tokens carry; `bare_sar` ignores it. Each
// mode loads only what it uses (jose for the TokenReview baselines, express for `express`), so that a baseline's
// memory is its own.
import * as http from 'node:http';

/**
 * @typedef {{ jwk: import('jose').JWK, issuer: string }} Spec the issuer's public key and the `iss` of the tokens
 * @typedef {(spec: Spec) => Promise<http.Server>} MakeServer
 */

/** Idle keep-alive timeout of every baseline (ms), as the webhook's (KEEP_ALIVE_TIMEOUT_MS). */
const KEEP_ALIVE_TIMEOUT_MS = 125_000;

/**
 * The verification every TokenReview baseline does: RS256 only, issuer and audience checked.
 * @param {Spec} spec
 * @returns {Promise<(token: string) => Promise<import('jose').JWTVerifyResult>>}
 */
async function verifier(spec) {
  const jose = await import('jose');
  const keySet = jose.createLocalJWKSet({ keys: [spec.jwk] });
  return (token) => jose.jwtVerify(token, keySet, { algorithms: ['RS256'], issuer: spec.issuer, audience: 'kubernetes' });
}

/**
 * The TokenReview answer of an authenticated token.
 * @param {unknown} apiVersion
 * @param {import('jose').JWTPayload} payload
 */
function authenticated(apiVersion, payload) {
  return {
    apiVersion,
    kind: 'TokenReview',
    status: { authenticated: true, user: { username: `oidc:${payload.sub}`, groups: [] } },
  };
}

const UNAUTHENTICATED = { status: { authenticated: false } };

/** `bare`: node:http, the body collected from its chunks and parsed with JSON.parse. @type {MakeServer} */
async function bare(spec) {
  const verify = await verifier(spec);
  return http.createServer((req, res) => {
    /** @type {Buffer[]} */
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString());
        const { payload } = await verify(body.spec.token);
        const out = JSON.stringify(authenticated(body.apiVersion, payload));
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) }).end(out);
      } catch {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(UNAUTHENTICATED));
      }
    });
  });
}

/** `express`: one POST route behind express.json(), answered with res.json(). @type {MakeServer} */
async function expressServer(spec) {
  const verify = await verifier(spec);
  const { default: express } = await import('express');
  const app = express();
  app.use(express.json({ limit: '1mb' }));
  app.post('/authenticate', async (req, res) => {
    try {
      const { payload } = await verify(req.body.spec.token);
      res.json(authenticated(req.body.apiVersion, payload));
    } catch {
      res.json(UNAUTHENTICATED);
    }
  });
  return http.createServer(app);
}

/** `bare_sar`: parse, one fixed rule (allow in the user's own namespace), answer. @type {MakeServer} */
async function bareSar() {
  return http.createServer((req, res) => {
    /** @type {Buffer[]} */
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString());
        const spec = body.spec;
        const allowed = spec.resourceAttributes?.namespace === `team-${String(spec.user).slice(5)}`;
        const out = JSON.stringify({
          apiVersion: body.apiVersion,
          kind: 'SubjectAccessReview',
          status: { allowed, reason: allowed ? 'own namespace' : 'no rule' },
        });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) }).end(out);
      } catch {
        res.writeHead(400, { 'Content-Type': 'application/json' }).end('{}');
      }
    });
  });
}

/** @type {Record<string, MakeServer>} */
const servers = { bare, express: expressServer, bare_sar: bareSar };
const [mode, specText] = process.argv.slice(2);
const make = servers[mode ?? ''];
if (!make) {
  process.stderr.write(`usage: authnz-webhook-baselines.mjs ${Object.keys(servers).join('|')} '<spec JSON>'\n`);
  process.exit(2);
}
process.on('SIGINT', () => process.exit(0));
const server = await make(JSON.parse(specText ?? '{}'));
server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`${JSON.stringify({ port: /** @type {import('node:net').AddressInfo} */ (server.address()).port })}\n`),
);
