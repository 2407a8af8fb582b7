// Machine tokens in conformance (issue 22): API keys (ak_), M2M tokens (mt_ and JWTs whose sub
// starts mch_) and OAuth access tokens (oat_ and at+jwt JWTs), accepted per ClerkAcceptsToken as
// @clerk/backend's authenticateRequest(req, { acceptsToken }) accepts them (tokens/request.ts,
// tokens/machine.ts, tokens/verify.ts, jwt/verifyMachineJwt.ts, tokens/authObjects.ts).
//
// conformance.mjs owns the httpd, the SDK client and the loopback Backend API; this file adds
//   - the machine endpoints of that Backend API (POST /api_keys/verify, /m2m_tokens/verify,
//     /oauth_applications/access_tokens/verify: no /v1, as the SDK builds them with
//     skipApiVersionInUrl), answering as Clerk's Backend API does: the APIKey / M2MToken /
//     IdPOAuthAccessToken JSON of api/resources/JSON.ts, 404 {"errors": [...]} for a token it
//     does not know, has revoked or has seen expire, 401 clerk_key_invalid for a wrong secret key;
//   - profiles: one <Location> with ClerkAcceptsToken (and ClerkAudience, ClerkSecretKey) per
//     acceptsToken setting, the SDK given the same options and apiUrl;
//   - the cases: every token kind under every setting (single, list, 'any', the default), token
//     formats, mismatches (a machine token where only sessions are accepted and the reverse, a
//     machine token in the __session cookie) and Backend API failures;
//   - the comparison: the verdict as conformance.mjs compares it (status, x-clerk-auth-status,
//     x-clerk-auth-reason, Location), and for a signed-in machine token REMOTE_USER = the auth
//     object's subject, CLERK_TOKEN_TYPE = its tokenType, and CLERK_USER_ID / CLERK_ORG_ID /
//     CLERK_MACHINE_ID / CLERK_CLIENT_ID = its userId / orgId / machineId / clientId.
// Printed as "machine agreement N/M"; an unexplained disagreement fails the run.

import crypto from 'node:crypto';

export const MSK = 'ak_' + 'm'.repeat(40); // a machine secret key (the SDK's machineSecretKey)
const AUD = 'https://api.example.test';
const CAT_M2M = 'cl_B7d4PD333AAA';
const CAT_SESSION = 'cl_B7d4PD111AAA';

// ------------------------------------------------------------------ the Backend API's store
// token text -> { kind, record (the JSON Clerk answers), state, behaviour }. Every case issues
// its own tokens, so no verdict cached by the module from one case can decide another.
const store = new Map();
export const machineCalls = { api_key: 0, m2m_token: 0, oauth_token: 0, refused_secret: 0 };
const rnd = (n = 12) => crypto.randomBytes(n).toString('hex');
let seq = 0;

// Issue an opaque token. kind: api_key | m2m_token | oauth_token. over: record fields;
// state: 'ok' | 'revoked' | 'expired' (both answered 404, as verify() documents: "If the API key
// is invalid, revoked, or expired, the method will throw an error"); behaviour: a broken answer.
function issue(kind, { over = {}, state = 'ok', behaviour, text } = {}) {
  const prefix = { api_key: 'ak_', m2m_token: 'mt_', oauth_token: 'oat_' }[kind];
  const token = text ?? prefix + rnd(16);
  const nowMs = Date.now();
  const common = {
    revoked: state === 'revoked', revocation_reason: state === 'revoked' ? 'compromised' : null,
    expired: state === 'expired', expiration: state === 'expired' ? nowMs - 60000 : nowMs + 3600000,
    created_at: nowMs - 60000, updated_at: nowMs - 60000,
  };
  const n = String(++seq).padStart(4, '0');
  let record;
  if (kind === 'api_key') {
    record = { object: 'api_key', id: 'ak_id_' + n + rnd(4), type: 'api_key', name: 'conformance key ' + n,
      subject: 'user_ak' + n + rnd(3), scopes: ['read:orders', 'write:orders'], claims: { tier: 'gold' },
      created_by: null, description: null, last_used_at: null, ...common };
  } else if (kind === 'm2m_token') {
    record = { object: 'machine_to_machine_token', id: 'mt_id_' + n + rnd(4), subject: 'mch_' + n + rnd(4),
      scopes: ['mch_peer' + n], claims: null, ...common };
  } else {
    record = { object: 'clerk_idp_oauth_access_token', id: 'oat_id_' + n + rnd(4), client_id: 'client_' + n + rnd(4),
      type: 'oauth_token', subject: 'user_oa' + n + rnd(3), scopes: ['profile', 'email'], ...common };
  }
  store.set(token, { kind, record: { ...record, ...over }, state, behaviour });
  return token;
}

const json = (res, status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
const notFound = (res, what) =>
  json(res, 404, { errors: [{ message: what + ' not found', long_message: what + ' not found', code: 'resource_not_found' }] });

const ENDPOINTS = {
  '/api_keys/verify': { kind: 'api_key', field: 'secret', what: 'API key' },
  '/m2m_tokens/verify': { kind: 'm2m_token', field: 'token', what: 'Machine token' },
  '/oauth_applications/access_tokens/verify': { kind: 'oauth_token', field: 'access_token', what: 'OAuth token' },
};

// The machine endpoints. Returns false for any other request (conformance.mjs answers those).
export function machineBapi(req, res, { SK, SK_DOWN }) {
  const path = req.url.split('?')[0];
  const ep = ENDPOINTS[path];
  if (!ep) return false;
  const chunks = [];
  let size = 0;
  req.on('data', (d) => {
    size += d.length;
    if (size <= 1 << 20) chunks.push(d);
  });
  req.on('end', () => {
    machineCalls[ep.kind]++;
    const auth = req.headers.authorization || '';
    const keys = ep.kind === 'm2m_token' ? ['Bearer ' + SK, 'Bearer ' + MSK] : ['Bearer ' + SK];
    if (req.method !== 'POST') return json(res, 405, { errors: [{ message: 'method not allowed', code: 'method_not_allowed' }] });
    if (auth === 'Bearer ' + SK_DOWN) return json(res, 500, { errors: [{ message: 'internal', code: 'internal_clerk_error' }] });
    if (!keys.includes(auth)) {
      machineCalls.refused_secret++;
      return json(res, 401, { errors: [{ message: 'Secret key is invalid', long_message: 'Secret key is invalid', code: 'clerk_key_invalid' }] });
    }
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return json(res, 400, { errors: [{ message: 'malformed request body', code: 'form_param_format_invalid' }] });
    }
    const t = body && typeof body[ep.field] === 'string' ? store.get(body[ep.field]) : undefined;
    if (!t || t.kind !== ep.kind) return notFound(res, ep.what);
    switch (t.behaviour) {
      case 'status-400': return json(res, 400, { errors: [{ message: 'bad request', code: 'form_param_invalid' }] });
      case 'status-401': return json(res, 401, { errors: [{ message: 'Secret key is invalid', code: 'clerk_key_invalid' }] });
      case 'status-429': return json(res, 429, { errors: [{ message: 'Too many requests', code: 'too_many_requests' }] });
      case 'status-503': return json(res, 503, { errors: [{ message: 'unavailable', code: 'service_unavailable' }] });
      case 'garbage-json': return res.writeHead(200, { 'content-type': 'application/json' }).end('{"object": "api_key", "subject": ');
      case 'text-plain': return res.writeHead(200, { 'content-type': 'text/plain' }).end(JSON.stringify(t.record));
      case 'answer-200': return json(res, 200, t.record); // whatever the record says (revoked, expired, no subject)
      default:
    }
    if (t.state !== 'ok') return notFound(res, ep.what);
    return json(res, 200, t.record);
  });
  return true;
}

// ---------------------------------------------------------------------------------- profiles
// accepts: ClerkAcceptsToken's arguments; the SDK gets the same as acceptsToken (one value as a
// string, several as an array, 'any' as 'any').
export function machineProfiles({ PK_LIVE, SK, SK_BAD, SK_DOWN, AZP }) {
  const P = {};
  const mk = (name, accepts, extra = {}) => {
    const acceptsToken = accepts === null ? undefined : accepts.length === 1 ? accepts[0] : accepts;
    const conf = [];
    if (accepts !== null) conf.push(`ClerkAcceptsToken ${[accepts].flat().join(' ')}`);
    if (extra.audience) conf.push(`ClerkAudience ${extra.audience}`);
    if (extra.machineSecretKey) conf.push(`ClerkMachineSecretKey ${extra.machineSecretKey}`);
    for (const [h, v] of [['X-Token-Type', 'CLERK_TOKEN_TYPE'], ['X-Clerk-User', 'CLERK_USER_ID'], ['X-Clerk-Org', 'CLERK_ORG_ID'],
      ['X-Machine-Id', 'CLERK_MACHINE_ID'], ['X-Client-Id', 'CLERK_CLIENT_ID']]) {
      conf.push(`Header always set ${h} "expr=%{reqenv:${v}}"`);
    }
    const sdkOpts = {};
    if (acceptsToken !== undefined) sdkOpts.acceptsToken = acceptsToken;
    if (extra.audience) sdkOpts.audience = extra.audience;
    if (extra.machineSecretKey) sdkOpts.machineSecretKey = extra.machineSecretKey;
    P[name] = { pk: PK_LIVE, jwtKey: extra.jwtKey ?? true, secretKey: extra.secretKey, azp: [AZP], skew: null, conf, sdkOpts,
      machine: true, require: extra.require, has: extra.has };
  };
  mk('mt-default', null); // no ClerkAcceptsToken: session tokens only, as the SDK's default
  mk('mt-session', ['session_token']);
  mk('mt-api', ['api_key']);
  mk('mt-m2m', ['m2m_token']);
  mk('mt-oauth', ['oauth_token']);
  mk('mt-list', ['session_token', 'api_key']);
  mk('mt-machines', ['api_key', 'm2m_token', 'oauth_token']);
  mk('mt-any', ['any']);
  mk('mt-any-jwks', ['any'], { jwtKey: false, secretKey: SK }); // machine JWTs against the Backend API's JWKS
  mk('mt-aud', ['any'], { audience: AUD });
  mk('mt-bad-sk', ['any'], { secretKey: SK_BAD });
  mk('mt-down', ['any'], { secretKey: SK_DOWN });
  // A machine secret key (ClerkMachineSecretKey / machineSecretKey) verifies M2M tokens; with a
  // refused instance secret key beside it, only a verification with the machine key can pass.
  mk('mt-m2m-msk', ['m2m_token'], { secretKey: SK_BAD, machineSecretKey: MSK });
  mk('mt-any-msk', ['any'], { machineSecretKey: MSK });
  // The SDK's machine has() is always false: clerk-role answers 403 to a signed-in machine.
  mk('mt-role', ['any'], { require: 'clerk-role admin', has: { role: 'admin' } });
  return P;
}

// ------------------------------------------------------------------------------------- cases
// ctx: { jwt, claims, otherKey, NOW, LIVE_HOST } from conformance.mjs.
export function machineCases(ctx) {
  const { jwt, claims, otherKey, NOW } = ctx;
  const L = [];
  const bearer = (t) => ({ Authorization: 'Bearer ' + t });
  const add = (name, profile, build, extra = {}) => L.push({ name: 'machine ' + name, profile, build, ...extra });

  // Clerk-shaped machine JWTs, minted when the case is sent.
  const m2mJwt = ({ header = {}, over = {}, key } = {}) => {
    const now = NOW();
    const p = { iss: 'https://' + ctx.LIVE_HOST, sub: 'mch_' + rnd(6), exp: now + 60, iat: now - 2, nbf: now - 12,
      jti: 'mt_' + rnd(8), scopes: 'mch_peer_a mch_peer_b', ...over };
    for (const k of Object.keys(p)) if (p[k] === undefined) delete p[k];
    return jwt({ header: { cat: CAT_M2M, ...header }, payload: p, key });
  };
  const oauthJwt = ({ header = {}, over = {}, key } = {}) => {
    const now = NOW();
    const p = { iss: 'https://' + ctx.LIVE_HOST, sub: 'user_oj' + rnd(4), exp: now + 60, iat: now - 2, nbf: now - 12,
      jti: 'oat_' + rnd(8), client_id: 'client_' + rnd(4), scope: 'profile email', ...over };
    for (const k of Object.keys(p)) if (p[k] === undefined) delete p[k];
    return jwt({ header: { typ: 'at+jwt', ...header }, payload: p, key });
  };
  const session = (over = {}) => jwt({ payload: claims(over) });

  const KINDS = {
    'api key (user)': () => issue('api_key'),
    'api key (organization)': () => issue('api_key', { over: { subject: 'org_ak' + rnd(3) } }),
    'm2m opaque': () => issue('m2m_token'),
    'm2m JWT': () => m2mJwt(),
    'oauth opaque': () => issue('oauth_token'),
    'oauth JWT': () => oauthJwt(),
    'session token': () => session(),
  };
  const PROFILES = ['mt-default', 'mt-session', 'mt-api', 'mt-m2m', 'mt-oauth', 'mt-list', 'mt-machines', 'mt-any'];
  // ---- every kind under every acceptsToken setting (the mismatch matrix)
  for (const [kind, mint] of Object.entries(KINDS)) {
    for (const profile of PROFILES) add(`${kind} in Authorization`, profile, () => ({ headers: bearer(mint()) }));
  }
  add('api key, machine JWTs through the JWKS', 'mt-any-jwks', () => ({ headers: bearer(issue('api_key')) }));
  add('m2m JWT through the JWKS', 'mt-any-jwks', () => ({ headers: bearer(m2mJwt()) }));
  add('oauth JWT through the JWKS', 'mt-any-jwks', () => ({ headers: bearer(oauthJwt()) }));
  add('m2m JWT, unknown kid, through the JWKS', 'mt-any-jwks', () => ({ headers: bearer(m2mJwt({ header: { kid: 'ins_other' }, key: otherKey })) }));

  // ---- no token in the header; tokens in the __session cookie
  const now = () => NOW();
  const pair = (t) => ({ Cookie: `__session=${t}; __client_uat=${now() - 10}` });
  for (const profile of ['mt-api', 'mt-machines', 'mt-list', 'mt-any', 'mt-default']) {
    add('no credentials', profile, () => ({ headers: {} }));
    add('session cookie', profile, () => ({ headers: pair(session()) }));
    add('api key in the __session cookie', profile, () => ({ headers: pair(issue('api_key')) }));
    add('m2m JWT in the __session cookie', profile, () => ({ headers: pair(m2mJwt()) }));
    add('oauth JWT in the __session cookie', profile, () => ({ headers: pair(oauthJwt()) }));
  }
  const DOC = { 'Sec-Fetch-Dest': 'document', Accept: 'text/html' };
  const expiredSession = () => session({ exp: now() - 60, iat: now() - 120, nbf: now() - 130 });
  for (const profile of ['mt-api', 'mt-list', 'mt-any']) {
    add('document, expired session cookie', profile, () => ({ headers: { ...DOC, ...pair(expiredSession()) } }));
  }
  add('api key in Authorization and a session cookie', 'mt-list', () => ({ headers: { ...bearer(issue('api_key')), ...pair(session()) } }));
  add('api key without the Bearer scheme', 'mt-any', () => ({ headers: { Authorization: issue('api_key') } }));
  add('api key with a lower-case bearer scheme', 'mt-any', () => ({ headers: { Authorization: 'bearer ' + issue('api_key') } }));

  // ---- formats
  for (const profile of ['mt-any', 'mt-api']) {
    add('garbage after ak_', profile, () => ({ headers: bearer('ak_%%%<>!!{}') }));
    add('ak_ alone', profile, () => ({ headers: bearer('ak_') }));
    add('wrong prefix ak-', profile, () => ({ headers: bearer('ak-' + rnd(16)) }));
    add('wrong prefix AK_', profile, () => ({ headers: bearer('AK_' + rnd(16)) }));
    add('secret key as a token', profile, () => ({ headers: bearer('sk_live_' + rnd(20)) }));
    add('unknown api key', profile, () => ({ headers: bearer('ak_' + rnd(16)) }));
    add('revoked api key', profile, () => ({ headers: bearer(issue('api_key', { state: 'revoked' })) }));
    add('expired api key', profile, () => ({ headers: bearer(issue('api_key', { state: 'expired' })) }));
    add('10 KiB unknown api key', profile, () => ({ headers: bearer('ak_' + 'A'.repeat(10 * 1024)) }));
  }
  add('10 KiB api key the Backend API knows', 'mt-api', () => ({ headers: bearer(issue('api_key', { text: 'ak_' + rnd(5 * 1024) })) }),
    { difference: 'machine-token-refused-unsent' });
  for (const [kind, profile, prefix] of [['m2m_token', 'mt-m2m', 'mt_'], ['oauth_token', 'mt-oauth', 'oat_']]) {
    for (const p of ['mt-any', profile]) {
      add(`garbage after ${prefix}`, p, () => ({ headers: bearer(prefix + '%%%<>!!{}') }));
      add(`unknown ${prefix} token`, p, () => ({ headers: bearer(prefix + rnd(16)) }));
      add(`revoked ${prefix} token`, p, () => ({ headers: bearer(issue(kind, { state: 'revoked' })) }));
      add(`expired ${prefix} token`, p, () => ({ headers: bearer(issue(kind, { state: 'expired' })) }));
      add(`10 KiB unknown ${prefix} token`, p, () => ({ headers: bearer(prefix + 'A'.repeat(10 * 1024)) }));
    }
  }
  add('an api key presented to the m2m endpoint prefix (mt_ + a known api key)', 'mt-any',
    () => ({ headers: bearer('mt_' + issue('api_key').slice(3)) }));

  // ---- machine JWTs: claims (jwt/verifyMachineJwt.ts: the instance's key, no azp check)
  for (const profile of ['mt-any', 'mt-m2m']) {
    add('m2m JWT expired', profile, () => ({ headers: bearer(m2mJwt({ over: { exp: now() - 60, iat: now() - 120, nbf: now() - 130 } })) }));
    add('m2m JWT forged', profile, () => ({ headers: bearer(m2mJwt({ key: otherKey })) }));
    add('m2m JWT without cat', profile, () => ({ headers: bearer(m2mJwt({ header: { cat: undefined } })) }));
    add('m2m JWT with the session cat', profile, () => ({ headers: bearer(m2mJwt({ header: { cat: CAT_SESSION } })) }));
    add('m2m JWT typ JOSE', profile, () => ({ headers: bearer(m2mJwt({ header: { typ: 'JOSE' } })) }));
    add('m2m JWT with a foreign azp', profile, () => ({ headers: bearer(m2mJwt({ over: { azp: 'https://evil.example.test' } })) }));
    add('m2m JWT nbf ahead', profile, () => ({ headers: bearer(m2mJwt({ over: { nbf: now() + 60 } })) }));
  }
  for (const profile of ['mt-any', 'mt-oauth']) {
    add('oauth JWT expired', profile, () => ({ headers: bearer(oauthJwt({ over: { exp: now() - 60, iat: now() - 120, nbf: now() - 130 } })) }));
    add('oauth JWT forged', profile, () => ({ headers: bearer(oauthJwt({ key: otherKey })) }));
    add('oauth JWT typ application/at+jwt', profile, () => ({ headers: bearer(oauthJwt({ header: { typ: 'application/at+jwt' } })) }));
    add('oauth JWT with scp list', profile, () => ({ headers: bearer(oauthJwt({ over: { scope: undefined, scp: ['a', 'b'] } })) }));
    add('oauth JWT with a foreign azp', profile, () => ({ headers: bearer(oauthJwt({ over: { azp: 'https://evil.example.test' } })) }));
    add('oauth JWT with the M2M cat', profile, () => ({ headers: bearer(oauthJwt({ header: { cat: CAT_M2M } })) }));
  }
  add('session token with the M2M cat', 'mt-any', () => ({ headers: bearer(jwt({ header: { cat: CAT_M2M }, payload: claims() })) }));
  add('session token with the M2M cat', 'mt-list', () => ({ headers: bearer(jwt({ header: { cat: CAT_M2M }, payload: claims() })) }));
  add('session token typ at+jwt', 'mt-session', () => ({ headers: bearer(jwt({ header: { typ: 'at+jwt' }, payload: claims() })) }));
  add('JWT with sub mch_ and typ at+jwt', 'mt-oauth', () => ({ headers: bearer(oauthJwt({ over: { sub: 'mch_' + rnd(4) } })) }));
  add('JWT with sub mch_ and typ at+jwt', 'mt-m2m', () => ({ headers: bearer(oauthJwt({ over: { sub: 'mch_' + rnd(4) } })) }));

  // ---- audience (ClerkAudience / the SDK's audience): OAuth tokens need an aud that matches
  add('oauth JWT aud matches', 'mt-aud', () => ({ headers: bearer(oauthJwt({ over: { aud: AUD } })) }));
  add('oauth JWT aud list matches', 'mt-aud', () => ({ headers: bearer(oauthJwt({ over: { aud: ['https://x.test', AUD] } })) }));
  add('oauth JWT aud other', 'mt-aud', () => ({ headers: bearer(oauthJwt({ over: { aud: 'https://other.example.test' } })) }));
  add('oauth JWT without aud', 'mt-aud', () => ({ headers: bearer(oauthJwt()) }));
  add('oauth opaque aud matches', 'mt-aud', () => ({ headers: bearer(issue('oauth_token', { over: { aud: [AUD] } })) }));
  add('oauth opaque aud other', 'mt-aud', () => ({ headers: bearer(issue('oauth_token', { over: { aud: ['https://other.example.test'] } })) }));
  add('oauth opaque without aud', 'mt-aud', () => ({ headers: bearer(issue('oauth_token')) }));
  add('m2m JWT aud other', 'mt-aud', () => ({ headers: bearer(m2mJwt({ over: { aud: ['https://other.example.test'] } })) }));
  add('m2m JWT without aud', 'mt-aud', () => ({ headers: bearer(m2mJwt()) }));
  add('api key under an audience', 'mt-aud', () => ({ headers: bearer(issue('api_key')) }));

  // ---- Backend API failures
  for (const kind of ['api_key', 'm2m_token', 'oauth_token']) {
    add(`${kind}, secret key refused (401)`, 'mt-bad-sk', () => ({ headers: bearer(issue(kind)) }));
    add(`${kind}, Backend API 500`, 'mt-down', () => ({ headers: bearer(issue(kind)) }));
    for (const b of ['status-400', 'status-401', 'status-429', 'status-503', 'garbage-json']) {
      add(`${kind}, Backend API answers ${b}`, 'mt-any', () => ({ headers: bearer(issue(kind, { behaviour: b })) }));
    }
  }
  add('m2m JWT with the Backend API refusing the secret key (local keys decide)', 'mt-bad-sk', () => ({ headers: bearer(m2mJwt()) }));
  for (const profile of ['mt-m2m-msk', 'mt-any-msk']) {
    add('m2m opaque, machine secret key', profile, () => ({ headers: bearer(issue('m2m_token')) }));
    add('revoked m2m opaque, machine secret key', profile, () => ({ headers: bearer(issue('m2m_token', { state: 'revoked' })) }));
    add('api key, machine secret key set', profile, () => ({ headers: bearer(issue('api_key')) }));
    add('m2m JWT, machine secret key set', profile, () => ({ headers: bearer(m2mJwt()) }));
  }
  // The SDK takes any 200 answer as the token's record; the module also checks what it says
  // (differences.json: machine-revoked-expired-refused, machine-answer-checked).
  const DIFF = 'machine-revoked-expired-refused';
  const DIFF_ANSWER = 'machine-answer-checked';
  add('api key, 200 answer says revoked', 'mt-any', () => ({ headers: bearer(issue('api_key', { state: 'revoked', behaviour: 'answer-200' })) }), { difference: DIFF });
  add('api key, 200 answer says expired', 'mt-any', () => ({ headers: bearer(issue('api_key', { state: 'expired', behaviour: 'answer-200' })) }), { difference: DIFF });
  add('m2m token, 200 answer says revoked', 'mt-any', () => ({ headers: bearer(issue('m2m_token', { state: 'revoked', behaviour: 'answer-200' })) }), { difference: DIFF });
  add('oauth token, 200 answer says expired', 'mt-any', () => ({ headers: bearer(issue('oauth_token', { state: 'expired', behaviour: 'answer-200' })) }), { difference: DIFF });
  add('api key, 200 answer with a text/plain body', 'mt-any', () => ({ headers: bearer(issue('api_key', { behaviour: 'text-plain' })) }), { difference: DIFF_ANSWER });
  add('api key, 200 answer without a subject', 'mt-any', () => ({ headers: bearer(issue('api_key', { over: { subject: undefined }, behaviour: 'answer-200' })) }), { difference: DIFF_ANSWER });

  // ---- Require clerk-role: a signed-in machine is denied (has() is always false), 403 not 401
  add('api key under Require clerk-role', 'mt-role', () => ({ headers: bearer(issue('api_key')) }));
  add('m2m JWT under Require clerk-role', 'mt-role', () => ({ headers: bearer(m2mJwt()) }));
  add('oauth opaque under Require clerk-role', 'mt-role', () => ({ headers: bearer(issue('oauth_token')) }));
  return L;
}

// What the SDK's auth object says about a machine (null fields as '').
export function machineView(st, auth) {
  if (!auth || !st || st.tokenType === 'session_token' || !st.tokenType) return null;
  const s = (v) => (typeof v === 'string' ? v : '');
  return {
    tokenType: s(auth.tokenType), subject: s(auth.subject), userId: s(auth.userId), orgId: s(auth.orgId),
    machineId: s(auth.machineId), clientId: s(auth.clientId),
  };
}

// Run the cases: { agree, explained, bad, total, known }.
export async function runMachineCases({ ctx, send, sdk, expected, agrees, authzAgrees, line, differences, PROFILES, verbose }) {
  const list = machineCases(ctx);
  let agree = 0, explained = 0;
  const bad = [], known = {};
  const tally = {};
  // x-clerk-auth-message against the SDK's message, for signed-out verdicts both agree on:
  // reported, not counted as disagreements (the verdict is what the comparison pins).
  const messages = { same: 0, total: 0, differ: [] };
  for (const c0 of list) {
    const c = { now: ctx.NOW(), ...c0, ...c0.build() };
    c.nowMs = c.now * 1000 + 500;
    const s = await sdk(c);
    const m = await send(c);
    const p = PROFILES[c.profile];
    let same, why = '';
    if (p.require && s.status === 'signed-in') {
      same = authzAgrees(s, m);
    } else {
      same = agrees(expected(s), m);
    }
    // Under a Require line the answer is 200/403 (authzAgrees); elsewhere a signed-in machine's
    // identity is compared too.
    if (same && s.status === 'signed-in' && !p.require) {
      const mv = s.machine;
      if (mv) {
        // A machine: the type and the identifiers of its auth object, as the module exports them.
        const pairs = [['CLERK_TOKEN_TYPE', mv.tokenType, m.tokenType], ['CLERK_USER_ID', mv.userId, m.clerkUser],
          ['CLERK_ORG_ID', mv.orgId, m.clerkOrg], ['CLERK_MACHINE_ID', mv.machineId, m.machineId],
          ['CLERK_CLIENT_ID', mv.clientId, m.clientId]];
        const off = pairs.filter(([, a, b]) => (a || '') !== (b || ''));
        if (off.length) {
          same = false;
          why = off.map(([n, a, b]) => `${n} SDK ${JSON.stringify(a)} module ${JSON.stringify(b)}`).join(', ');
        }
      } else if (m.tokenType && m.tokenType !== 'session_token') {
        same = false;
        why = `CLERK_TOKEN_TYPE ${JSON.stringify(m.tokenType)} for a session token`;
      }
    }
    if (same && !c.difference && s.status === 'signed-out' && s.message) {
      messages.total++;
      if (m.message === s.message) messages.same++;
      else messages.differ.push(`${c.name} [${c.profile}]: SDK ${JSON.stringify(s.message)}; module ${JSON.stringify(m.message)}`);
    }
    const kind = s.machine ? s.machine.tokenType : s.tokenType || 'null (list mismatch)';
    tally[kind] ??= [0, 0];
    tally[kind][1]++;
    const text = line(c, s, m) + ` (SDK tokenType ${s.tokenType ?? 'null'}; module type ${m.tokenType || '-'})` + (why ? `\n    ${why}` : '');
    if (verbose || c.difference) console.log((same ? 'same   ' : c.difference ? `known (${c.difference}) ` : 'DIFF   ') + text.slice(0, 400));
    if (c.difference) {
      const d = differences.differences.find((x) => x.id === c.difference);
      if (!d) bad.push(`${text}\n    names unknown difference ${c.difference}`);
      else if (m.status === 200 || m.user) bad.push(`${text}\n    difference ${c.difference} must be a denial by the module, it accepted`);
      else if (same) agree++;
      else {
        explained++;
        (known[c.difference] ??= []).push(c.name);
      }
      continue;
    }
    if (same) {
      agree++;
      tally[kind][0]++;
    } else bad.push(text);
  }
  return { agree, explained, bad, total: list.length, known, tally, messages };
}
