// Conformance with Clerk's own SDK: every request below is given to @clerk/backend's
// authenticateRequest (pinned in package-lock.json) and sent through a private httpd on
// 127.0.0.1 loading the built module, configured the same way (publishable key, key, authorized
// parties, clock skew). Verdicts are compared:
//   SDK signed-in            -> 200 and the same user (X-User from r->user)
//   SDK signed-out (reason)  -> 401, x-clerk-auth-status signed-out, the same x-clerk-auth-reason
//   SDK handshake (reason)   -> 307 with the same Location (the same redirect target and every
//                               query parameter, redirect_url included) and the same Set-Cookie
//                               names; a 401 is never the same outcome as a 307
// Authorization: for every `Require clerk-*` provider, hundreds of claim sets drawn from a fixed
// seed are verified by the SDK, and its toAuth().has({ role | permission | feature | plan |
// reverification }) (clerk-org: toAuth()'s orgId/orgSlug) must match httpd's 200/403 through the
// real provider. Reported on its own line: "authorization agreement N/M (...)".
// Every case is minted just before it is sent, so no time-relative case goes stale, and both
// sides decide it at one pinned "now": the SDK through Date.now, the module through the
// X-Test-Now-Ms request header, which only a test build honours (configure
// --enable-test-clock; run.sh builds that copy, never installed, never the CI build). The run
// first proves the module's pin is real (assertPinned), so the skew edges need no margin.
// Cases the module decides differently on purpose name an entry of differences.json; such a
// case must be a denial by the module (never an accept the SDK refuses). Nothing leaves the
// machine: keys are made here, the SDK's Backend API (JWKS) is a loopback server.
//
//   node conformance.mjs --builddir DIR --module TEST_CLOCK_SO [--verbose]
// Prints "agreement N/M" and "authorization agreement N/M" (M cases, N same verdict, the rest explained differences) and exits 1
// on any unexplained disagreement, on a "difference" that is an accept, or on a setup failure.
import { createClerkClient } from '@clerk/backend';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { multidomainCases, multidomainProfiles } from './multidomain_cases.mjs';

process.env.CLERK_TELEMETRY_DISABLED = '1'; // development instances would report to Clerk
const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const builddir = path.resolve(args.includes('--builddir') ? args[args.indexOf('--builddir') + 1] : '.');
const verbose = args.includes('--verbose');
const APACHE = '/usr/sbin/apache2';
const MODDIR = '/usr/lib/apache2/modules';
// A module built with --enable-test-clock (run.sh builds one in build-clock/).
const MODULE = path.resolve(args.includes('--module') ? args[args.indexOf('--module') + 1] : path.join(builddir, '.libs', 'mod_clerk_auth.so'));
const WORK = path.join(builddir, 'tests', 'conformance', 'work');

const LIVE_HOST = 'clerk.example.test';
const DEV_HOST = 'happy-hen-1.clerk.accounts.dev';
const AZP = 'https://app.example.test';
const SK = 'sk_live_' + 'c'.repeat(40);
const SK_BAD = 'sk_live_' + 'b'.repeat(40); // the Backend API answers clerk_key_invalid
const SK_DOWN = 'sk_live_' + 'd'.repeat(40); // the Backend API answers 500
const KID = 'ins_conformance';

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const pkFor = (host, live) =>
  (live ? 'pk_live_' : 'pk_test_') + Buffer.from(host + '$').toString('base64').replace(/=+$/, '');
const suffixOf = (pk) =>
  crypto.createHash('sha1').update(pk).digest('base64').replace(/\+/g, '-').replace(/\//g, '_').slice(0, 8);
const PK_LIVE = pkFor(LIVE_HOST, true);
const PK_DEV = pkFor(DEV_HOST, false);
const SFX = suffixOf(PK_LIVE);
const SFX_DEV = suffixOf(PK_DEV);

// ------------------------------------------------------------------------------------ keys
const main = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const PUB_PEM = main.publicKey.export({ type: 'spki', format: 'pem' });
const JWKS = JSON.stringify({
  keys: [{ ...main.publicKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' }],
});

// A compact JWT. header/payload objects, or raw JSON text; pad: keep base64 '=' padding.
function jwt({ header = {}, payload, rawHeader, rawPayload, key = main.privateKey, alg, pad = false, sig } = {}) {
  const h = rawHeader ?? JSON.stringify({ alg: 'RS256', kid: KID, typ: 'JWT', ...header });
  const p = rawPayload ?? JSON.stringify(payload ?? claims());
  const enc = (s) => {
    const e = Buffer.from(s).toString('base64url');
    return pad ? e + '='.repeat((4 - (e.length % 4)) % 4) : e;
  };
  const input = enc(h) + '.' + enc(p);
  if (sig !== undefined) return input + '.' + sig;
  const a = alg ?? JSON.parse(h).alg;
  let s;
  if (a === 'none') s = '';
  else if (a === 'HS256') s = b64url(crypto.createHmac('sha256', PUB_PEM).update(input).digest());
  else {
    const hash = { RS256: 'sha256', RS384: 'sha384', RS512: 'sha512', PS256: 'sha256' }[a];
    const opts = a === 'PS256' ? { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING } : key;
    s = b64url(crypto.sign(hash, Buffer.from(input), opts));
  }
  return input + '.' + s;
}

let userSeq = 0;
const NOW = () => Math.floor(Date.now() / 1000);
// Clerk-shaped v2 session claims; a value undefined drops the claim.
function claims(over = {}) {
  const now = NOW();
  const c = {
    azp: AZP, exp: now + 60, iat: now - 2, iss: 'https://' + LIVE_HOST, nbf: now - 12,
    sid: 'sess_' + crypto.randomBytes(6).toString('hex'),
    sub: 'user_' + String(++userSeq).padStart(4, '0') + crypto.randomBytes(3).toString('hex'), v: 2,
    ...over,
  };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c;
}

// ------------------------------------------------------------------ profiles (config pairs)
// Each profile is one <Location> for httpd and one set of SDK options.
const PROFILES = {
  pem: { pk: PK_LIVE, jwtKey: true, azp: [AZP], skew: null },
  'pem-any-azp': { pk: PK_LIVE, jwtKey: true, azp: [], skew: null },
  jwks: { pk: PK_LIVE, secretKey: SK, azp: [AZP], skew: null },
  'jwks-bad-sk': { pk: PK_LIVE, secretKey: SK_BAD, azp: [AZP], skew: null },
  'jwks-down': { pk: PK_LIVE, secretKey: SK_DOWN, azp: [AZP], skew: null },
  dev: { pk: PK_DEV, jwtKey: true, azp: [AZP], skew: null },
  skew0: { pk: PK_LIVE, jwtKey: true, azp: [AZP], skew: 0 },
  skew30: { pk: PK_LIVE, jwtKey: true, azp: [AZP], skew: 30 },
};

// ------------------------------------------------------- authorization: one Require a location
// [kind, httpd arguments, the SDK's question]. has() is asked exactly what the line asks; for
// clerk-org (no has() form) the SDK's answer is toAuth()'s orgId or orgSlug being the argument.
const lvl = (level, afterMinutes) => ({ level, afterMinutes });
const AUTHZ = [
  ['role', 'admin', { role: 'admin' }], ['role', 'org:admin', { role: 'org:admin' }],
  ['role', 'org:member', { role: 'org:member' }], ['role', 'basic_member', { role: 'basic_member' }],
  ['permission', 'org:billing:manage', { permission: 'org:billing:manage' }],
  ['permission', 'org:billing:read', { permission: 'org:billing:read' }],
  ['permission', 'org:dashboard:manage', { permission: 'org:dashboard:manage' }],
  ['permission', 'org:export:delete', { permission: 'org:export:delete' }],
  ['feature', 'export', { feature: 'export' }], ['feature', 'o:export', { feature: 'o:export' }],
  ['feature', 'u:export', { feature: 'u:export' }], ['feature', 'org:dashboard', { feature: 'org:dashboard' }],
  ['feature', 'user:sso', { feature: 'user:sso' }], ['feature', 'organization:billing', { feature: 'organization:billing' }],
  ['feature', 'sso', { feature: 'sso' }],
  ['plan', 'pro', { plan: 'pro' }], ['plan', 'o:pro', { plan: 'o:pro' }], ['plan', 'u:free', { plan: 'u:free' }],
  ['plan', 'org:team', { plan: 'org:team' }], ['plan', 'user:pro', { plan: 'user:pro' }],
  ['reverified', 'strict_mfa', { reverification: 'strict_mfa' }], ['reverified', 'strict', { reverification: 'strict' }],
  ['reverified', 'moderate', { reverification: 'moderate' }], ['reverified', 'lax', { reverification: 'lax' }],
  ['reverified', '30 first_factor', { reverification: lvl('first_factor', 30) }],
  ['reverified', '30 second_factor', { reverification: lvl('second_factor', 30) }],
  ['reverified', '30 multi_factor', { reverification: lvl('multi_factor', 30) }],
  ['reverified', '10', { reverification: lvl('second_factor', 10) }],
  ['org', 'org_1', { org: 'org_1' }], ['org', 'acme', { org: 'acme' }],
];
Object.assign(PROFILES, multidomainProfiles({ PK_LIVE, PK_DEV, AZP }));
AUTHZ.forEach(([kind, arg, q], i) => {
  PROFILES[`az${i}`] = { pk: PK_LIVE, jwtKey: true, azp: [AZP], skew: null, require: `clerk-${kind} ${arg}`, has: q };
});

// ------------------------------------------------------------------- loopback Backend API
let bapiFetches = 0;
const NONCES = new Map(); // handshake nonce -> Set-Cookie directives the Backend API returns
const bapi = http.createServer((req, res) => {
  const auth = req.headers.authorization || '';
  bapiFetches++;
  if (req.url.startsWith('/v1/clients/handshake_payload') && auth === 'Bearer ' + SK) {
    const nonce = new URL(req.url, 'http://x').searchParams.get('nonce');
    const directives = NONCES.get(nonce);
    if (directives) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'handshake_payload', directives }));
    else res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"resource_not_found"}]}');
  } else if (!req.url.startsWith('/v1/jwks')) {
    res.writeHead(404).end();
  } else if (auth === 'Bearer ' + SK) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JWKS);
  } else if (auth === 'Bearer ' + SK_DOWN) {
    res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"code":"internal"}]}');
  } else {
    res.writeHead(401, { 'content-type': 'application/json' }).end(
      JSON.stringify({ errors: [{ code: 'clerk_key_invalid', message: 'Secret key is invalid', long_message: 'Secret key is invalid' }] }));
  }
});
await new Promise((r) => bapi.listen(0, '127.0.0.1', r));
const BAPI_URL = 'http://127.0.0.1:' + bapi.address().port;

// ------------------------------------------------------------------------------------ httpd
function freePort() {
  return new Promise((resolve) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}
const PORT = await freePort();
const ORIGIN = 'http://127.0.0.1:' + PORT;

function httpdConf() {
  const mods = ['mpm_event', 'authn_core', 'authz_core', 'authz_user', 'mime', 'headers', 'socache_shmcb', 'dir'];
  const locs = Object.entries(PROFILES).map(([name, p]) => {
    const lines = [`<Location /${name}/>`, '    AuthType Clerk', '    AuthName conformance',
      `    ClerkPublishableKey ${p.pk}`];
    // As the SDK: a secret key always (it asks for nonce handshakes); the PEM, when set, wins.
    if (p.jwtKey) lines.push(`    ClerkJWTKey "file:${WORK}/pub.pem"`);
    lines.push(`    ClerkSecretKey ${p.secretKey ?? SK}`);
    if (p.azp.length) lines.push(`    ClerkAuthorizedParties ${p.azp.join(' ')}`);
    if (p.skew !== null) lines.push(`    ClerkClockSkew ${p.skew}`);
    for (const l of p.httpd ?? []) lines.push('    ' + l);
    // x-clerk-auth-message on every denial, to compare with the SDK's message text.
    lines.push('    ClerkDebugHeaders On');
    lines.push(`    Require ${p.require ?? 'valid-user'}`, '    Header always set X-User "expr=%{REMOTE_USER}"', '</Location>');
    return lines.join('\n');
  });
  return `ServerRoot "${WORK}"
ServerName 127.0.0.1
Listen 127.0.0.1:${PORT}
PidFile "${WORK}/run/httpd.pid"
DefaultRuntimeDir "${WORK}/run"
Mutex file:${WORK}/run default
${mods.map((m) => `LoadModule ${m}_module ${MODDIR}/mod_${m}.so`).join('\n')}
LoadModule clerk_auth_module ${MODULE}
User www-data
Group www-data
ErrorLog "${WORK}/logs/error.log"
LogLevel warn clerk_auth:info
TypesConfig /etc/mime.types
Timeout 20
KeepAliveTimeout 2
StartServers 1
ServerLimit 2
ThreadsPerChild 8
MaxRequestWorkers 16
# Oversized tokens must reach the module (ClerkMaxTokenSize decides).
LimitRequestFieldSize 65536
ClerkAPIURL ${BAPI_URL}
ClerkJWKSMinRefresh 1
ClerkFetchTimeout 2 5
DocumentRoot "${WORK}/htdocs"
<Directory "${WORK}/htdocs">
    AllowOverride None
    Require all granted
</Directory>
${locs.join('\n')}
`;
}

function ctl(...a) {
  return spawnSync(APACHE, ['-f', path.join(WORK, 'httpd.conf'), ...a], { encoding: 'utf8', timeout: 30000 });
}
function pidOf() {
  try { return parseInt(fs.readFileSync(path.join(WORK, 'run', 'httpd.pid'), 'utf8'), 10); } catch { return 0; }
}
function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}
async function stopHttpd() {
  const pid = pidOf();
  ctl('-k', 'stop');
  for (let i = 0; pid && alive(pid) && i < 150; i++) await new Promise((r) => setTimeout(r, 100));
  if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
}

async function startHttpd() {
  if (pidOf() && alive(pidOf())) {
    const cmd = fs.readFileSync(`/proc/${pidOf()}/cmdline`, 'utf8');
    if (cmd.includes(path.join(WORK, 'httpd.conf'))) await stopHttpd();
  }
  fs.rmSync(WORK, { recursive: true, force: true });
  for (const d of ['run', 'logs', 'htdocs']) fs.mkdirSync(path.join(WORK, d), { recursive: true });
  for (const name of Object.keys(PROFILES)) {
    fs.mkdirSync(path.join(WORK, 'htdocs', name), { recursive: true });
    fs.writeFileSync(path.join(WORK, 'htdocs', name, 't.txt'), 'ok\n');
    for (const f of PROFILES[name].files ?? []) {
      fs.mkdirSync(path.dirname(path.join(WORK, 'htdocs', name, f)), { recursive: true });
      fs.writeFileSync(path.join(WORK, 'htdocs', name, f), 'ok\n');
    }
  }
  fs.writeFileSync(path.join(WORK, 'pub.pem'), PUB_PEM);
  fs.writeFileSync(path.join(WORK, 'httpd.conf'), httpdConf());
  for (const d of [WORK, ...fs.readdirSync(WORK, { recursive: true }).map((f) => path.join(WORK, f))]) {
    fs.chmodSync(d, fs.statSync(d).isDirectory() ? 0o755 : 0o644);
  }
  const r = ctl('-k', 'start');
  if (r.status !== 0) throw new Error('httpd failed to start: ' + r.stdout + r.stderr);
  for (let i = 0; i < 150; i++) {
    try {
      await send({ profile: 'pem', headers: {} });
      return;
    } catch {
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  throw new Error('httpd did not come up');
}

// --------------------------------------------------------------------------- the two sides
const urlOf = (c) => `${ORIGIN}/${c.profile}/${c.path ?? 't.txt'}${c.query ?? ''}`;
const headersOf = (c) => ({ Host: `127.0.0.1:${PORT}`, Accept: 'application/json', ...c.headers });

// Raw node:http so no header is added or normalised on the way to httpd.
function send(c) {
  return new Promise((resolve, reject) => {
    const u = new URL(urlOf(c));
    // The module's "now" for this request (honoured by a --enable-test-clock build only).
    const headers = c.nowMs !== undefined ? { ...headersOf(c), 'X-Test-Now-Ms': String(c.nowMs) } : headersOf(c);
    const req = http.request({ host: '127.0.0.1', port: PORT, path: u.pathname + u.search, method: c.method ?? 'GET',
      headers, agent: false, timeout: 20000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({
        status: res.statusCode,
        user: res.headers['x-user'] || '',
        authStatus: res.headers['x-clerk-auth-status'] || '',
        reason: res.headers['x-clerk-auth-reason'] || '',
        message: res.headers['x-clerk-auth-message'] || '',
        location: res.headers.location || '',
        setCookies: res.headers['set-cookie'] || [],
      }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const clients = {};
async function sdk(c) {
  const p = PROFILES[c.profile];
  const opts = { publishableKey: p.pk, secretKey: p.secretKey ?? SK, apiUrl: BAPI_URL, telemetry: { disabled: true } };
  if (p.jwtKey) opts.jwtKey = PUB_PEM;
  const key = c.profile;
  clients[key] ??= createClerkClient(opts);
  const req = new Request(urlOf(c), { method: c.method ?? 'GET', headers: headersOf(c) });
  const ro = { ...opts };
  if (p.azp.length) ro.authorizedParties = p.azp;
  if (p.skew !== null) ro.clockSkewInMs = p.skew * 1000;
  Object.assign(ro, p.sdk ?? {});
  const saved = [console.log, console.warn, console.error];
  console.log = console.warn = console.error = () => {};
  let st;
  const realNow = Date.now;
  // The SDK decides at the case's pinned millisecond, the one send() gives the module (Date.now
  // is the clock @clerk/backend's verifyJwt reads).
  if (c.nowMs !== undefined) Date.now = () => c.nowMs;
  try {
    st = await clients[key].authenticateRequest(req, ro);
  } finally {
    Date.now = realNow;
    [console.log, console.warn, console.error] = saved;
  }
  let auth = null, granted = null;
  try {
    auth = st.toAuth();
    if (p.has && auth?.userId) {
      // No has() form: an active organization (orgId set, as has({ role }) requires) whose id
      // or slug is the argument.
      granted = p.has.org !== undefined ? !!auth.orgId && (auth.orgId === p.has.org || auth.orgSlug === p.has.org) : auth.has(p.has);
    }
  } catch (err) {
    // The SDK throws on some malformed claims (a fea entry without a colon): the request has
    // no answer there, so only a denial by the module can be the same outcome.
    granted = 'throws: ' + String(err.message ?? err).slice(0, 80);
  }
  return {
    granted,
    status: st.status, reason: st.reason ?? '', message: st.message ?? '', userId: auth?.userId ?? '',
    sessionStatus: auth?.sessionStatus ?? null, location: st.headers?.get('location') ?? '',
    setCookies: st.headers?.getSetCookie?.() ?? [],
  };
}

// What the module must answer for the SDK's verdict. A Location (a handshake, or a resolved
// development handshake going back to the clean URL) is a 307 there whatever the state.
function expected(s) {
  let e;
  if (s.status === 'signed-in' && s.userId) e = { status: 200, user: s.userId };
  else if (s.status === 'signed-in') e = { status: 401, authStatus: 'signed-out', reason: 'session-pending' };
  else if (s.status === 'signed-out') e = { status: 401, authStatus: 'signed-out', reason: s.reason };
  else e = { status: 307, authStatus: 'handshake', reason: s.reason, location: s.location };
  // A resolved development handshake is signed in and still goes back to the clean URL: the
  // module may already name the user on that 307.
  if (s.location) e = { ...e, status: 307, location: s.location, user: s.userId };
  e.setCookies = s.setCookies;
  return e;
}

// A Location as what it asks for: the target without its query, and the query's parameters
// (redirect_url among them) as a sorted list, so only the order of parameters may differ.
function locationParts(loc) {
  try {
    const u = new URL(loc, ORIGIN);
    const q = [...u.searchParams.entries()].map(([k, v]) => k + '=' + v).sort();
    return JSON.stringify([u.origin + u.pathname, q]);
  } catch {
    return 'unparsable ' + loc;
  }
}
const cookieNames = (list) => JSON.stringify(list.map((c) => c.split('=')[0].trim()).sort());

function agrees(e, m) {
  // Set-Cookie (the redirect counter, a resolved handshake's directives): the same list.
  const sameCookies = JSON.stringify(m.setCookies) === JSON.stringify(e.setCookies);
  if (e.status === 200) return m.status === 200 && m.user === e.user && sameCookies;
  if (m.user && m.user !== e.user) return false;
  if (e.status === 307) {
    return m.status === 307 && locationParts(m.location) === locationParts(e.location) &&
      cookieNames(m.setCookies) === cookieNames(e.setCookies);
  }
  return !m.user && m.status === e.status && m.authStatus === e.authStatus && m.reason === e.reason && sameCookies;
}

// ------------------------------------------------------------------------------------ cases
const DOC = { 'Sec-Fetch-Dest': 'document', Accept: 'text/html' };
const bearer = (t) => ({ Authorization: 'Bearer ' + t });
const cookie = (s) => ({ Cookie: s });
const pair = (t, uat, sfx = '') => cookie(`__session${sfx}=${t}; __client_uat${sfx}=${uat}`);

function cases() {
  const now = NOW();
  const L = [];
  L.now = now; // the second every case here is minted for (main pins both sides to it)
  const add = (name, c) => L.push({ name, ...c });
  const hdr = (name, t, extra = {}) => add(name, { profile: 'pem', headers: bearer(t), ...extra });

  // ---- header path: verification rules (tokens/verify.ts verifyToken)
  hdr('header valid', jwt());
  hdr('header valid v1 claims with org', jwt({ payload: claims({ v: undefined, org_id: 'org_1', org_role: 'admin' }) }));
  hdr('header no kid (PEM ignores kid)', jwt({ header: { kid: undefined } }));
  hdr('header no typ', jwt({ header: { typ: undefined } }));
  hdr('header typ JOSE', jwt({ header: { typ: 'JOSE' } }));
  hdr('header typ at+jwt', jwt({ header: { typ: 'at+jwt' } }));
  hdr('header cat M2M', jwt({ header: { cat: 'cl_B7d4PD333AAA' } }));
  hdr('header cat template', jwt({ header: { cat: 'cl_B7d4PD222AAA' } }));
  hdr('header cat session', jwt({ header: { cat: 'cl_B7d4PD111AAA' } }));
  hdr('header cat ignore', jwt({ header: { cat: 'cl_I7d4PD111III' } }));
  hdr('header machine sub mch_', jwt({ payload: claims({ sub: 'mch_123' }) }));
  hdr('header expired', jwt({ payload: claims({ exp: now - 60, iat: now - 120, nbf: now - 130 }) }));
  hdr('header expired POST', jwt({ payload: claims({ exp: now - 60, iat: now - 120, nbf: now - 130 }) }), { method: 'POST' });
  hdr('header exp inside skew', jwt({ payload: claims({ exp: now - 2 }) }));
  hdr('header exp just past skew', jwt({ payload: claims({ exp: now - 8 }) }));
  hdr('header nbf inside skew', jwt({ payload: claims({ nbf: now + 2 }) }));
  hdr('header nbf past skew', jwt({ payload: claims({ nbf: now + 9 }) }));
  hdr('header iat inside skew', jwt({ payload: claims({ iat: now + 2 }) }));
  hdr('header iat past skew', jwt({ payload: claims({ iat: now + 9 }) }));
  hdr('header no nbf no iat', jwt({ payload: claims({ nbf: undefined, iat: undefined }) }));
  hdr('header wrong azp', jwt({ payload: claims({ azp: 'https://evil.example.test' }) }));
  hdr('header azp with slash', jwt({ payload: claims({ azp: AZP + '/' }) }));
  hdr('header missing azp', jwt({ payload: claims({ azp: undefined }) }));
  add('header missing azp, no authorized parties', { profile: 'pem-any-azp', headers: bearer(jwt({ payload: claims({ azp: undefined }) })) });
  add('header any azp, no authorized parties', { profile: 'pem-any-azp', headers: bearer(jwt({ payload: claims({ azp: 'https://x.test' }) })) });
  hdr('header forged signature', jwt({ key: other.privateKey }));
  hdr('header signature of another token', jwt({ sig: jwt().split('.')[2] }));
  hdr('header empty signature', jwt({ sig: '' }));
  hdr('header alg RS384', jwt({ header: { alg: 'RS384' } }), { difference: 'rs384-rs512-not-allowed-by-default' });
  hdr('header alg RS512', jwt({ header: { alg: 'RS512' } }), { difference: 'rs384-rs512-not-allowed-by-default' });
  hdr('header alg PS256', jwt({ header: { alg: 'PS256' } }));
  hdr('header alg HS256 keyed with the PEM', jwt({ header: { alg: 'HS256' } }));
  hdr('header alg none', jwt({ header: { alg: 'none' } }));
  hdr('header alg missing', jwt({ header: { alg: undefined }, alg: 'RS256' }));
  hdr('header sub number', jwt({ payload: claims({ sub: 42 }) }));
  hdr('header sub missing', jwt({ payload: claims({ sub: undefined }) }));
  hdr('header exp string', jwt({ payload: claims({ exp: String(now + 60) }) }));
  hdr('header exp missing', jwt({ payload: claims({ exp: undefined }) }));
  hdr('header nbf string', jwt({ payload: claims({ nbf: 'soon' }) }));
  hdr('header aud present (no audience configured)', jwt({ payload: claims({ aud: 'https://api.example.test' }) }));
  hdr('header foreign iss (no iss check)', jwt({ payload: claims({ iss: 'https://clerk.other.test' }) }));
  hdr('header pending session', jwt({ payload: claims({ sts: 'pending' }) }));
  hdr('header active session sts', jwt({ payload: claims({ sts: 'active' }) }));
  hdr('header garbage', 'not-a-token');
  hdr('header two segments', 'abc.def');
  hdr('header four segments', jwt() + '.x');
  hdr('header payload not JSON', b64url('{"alg":"RS256"}') + '.' + b64url('nope') + '.' + b64url('sig'));
  hdr('header payload JSON array', jwt({ rawPayload: '[1,2]' }), { difference: 'payload-not-an-object' });
  hdr('header payload JSON string', jwt({ rawPayload: '"user_1"' }), { difference: 'payload-not-an-object' });
  hdr('header bad base64url chars', jwt().replace(/^(.)/, '*'));
  // Deliberate differences (differences.json): Clerk never issues these.
  hdr('header empty sub', jwt({ payload: claims({ sub: '' }) }), { difference: 'empty-sub' });
  hdr('header duplicate payload keys', jwt({ rawPayload: JSON.stringify(claims()).replace('{', '{"sub":"user_shadow",') }), { difference: 'duplicate-json-keys' });
  hdr('header duplicate header keys', jwt({ rawHeader: `{"alg":"RS256","alg":"RS256","kid":"${KID}","typ":"JWT"}` }), { difference: 'duplicate-json-keys' });
  {
    let c = claims();
    while (JSON.stringify(c).length % 3 === 0) c = claims(); // so the payload segment needs '='
    hdr('header padded base64url', jwt({ payload: c, pad: true }), { difference: 'padded-base64url' });
  }
  hdr('header crit', jwt({ header: { crit: ['exp'] } }), { difference: 'crit-header' });
  hdr('header over ClerkMaxTokenSize', jwt({ payload: claims({ pad: 'x'.repeat(13000) }) }), { difference: 'over-max-token-size' });
  hdr('header fractional exp', jwt({ payload: claims({ exp: now + 60.5 }) }), { difference: 'non-integer-time-claims' });
  hdr('header exp beyond year 9999', jwt({ payload: claims({ exp: 253402300800 + 10 }) }), { difference: 'non-integer-time-claims' });
  // Numbers as JSON.parse reads them: a 30-digit claim, and exp in exponent notation.
  hdr('header integer beyond 64 bits in a claim', jwt({ rawPayload: JSON.stringify(claims()).replace('{', '{"big":123456789012345678901234567890,') }));
  {
    const c = claims();
    hdr('header exp in exponent notation', jwt({ rawPayload: JSON.stringify(c).replace(`"exp":${c.exp}`, `"exp":${c.exp / 10}e1`) }));
  }
  hdr('header NUL escape in a claim', jwt({ payload: claims({ nick: 'a\u0000b' }) }), { difference: 'nul-in-json-string' });
  hdr('header number beyond a double', jwt({ rawPayload: JSON.stringify(claims()).replace('{', '{"huge":1e400,') }), { difference: 'number-beyond-double' });

  // ---- Authorization forms (tokens/authenticateContext.ts parseAuthorizationHeader)
  const v = jwt();
  add('authorization lower-case bearer', { profile: 'pem', headers: { Authorization: 'bearer ' + v } });
  add('authorization Basic', { profile: 'pem', headers: { Authorization: 'Basic dXNlcjpwYXNz' } });
  add('authorization raw token', { profile: 'pem', headers: { Authorization: jwt() } });
  add('authorization trailing words', { profile: 'pem', headers: { Authorization: 'Bearer ' + jwt() + ' extra' } });
  add('authorization two spaces', { profile: 'pem', headers: { Authorization: 'Bearer  ' + jwt() } });
  add('authorization Bearer alone', { profile: 'pem', headers: { Authorization: 'Bearer' } });
  add('authorization Basic falls back to cookie', { profile: 'pem', headers: { Authorization: 'Basic eDp5', ...pair(jwt(), now - 10) } });
  add('header wins over cookie', { profile: 'pem', headers: { ...bearer(jwt()), ...pair(jwt(), now - 10) } });
  add('no credentials', { profile: 'pem', headers: {} });

  // ---- cookie path (tokens/request.ts authenticateRequestWithTokenInCookie)
  const ck = (name, h, extra = {}) => add(name, { profile: 'pem', headers: h, ...extra });
  ck('cookie valid', pair(jwt(), now - 10));
  ck('cookie uat equal to iat', pair(jwt({ payload: claims({ iat: now - 10 }) }), now - 10));
  ck('cookie iat before uat', pair(jwt({ payload: claims({ iat: now - 20 }) }), now - 10));
  ck('cookie session without uat', cookie('__session=' + jwt()));
  ck('cookie uat 0 with session', pair(jwt(), 0));
  ck('cookie uat not a number', pair(jwt(), 'abc'));
  ck('cookie uat only', cookie('__client_uat=' + (now - 10)));
  ck('cookie uat 0 only', cookie('__client_uat=0'));
  ck('cookie empty session', cookie('__session=; __client_uat=0'));
  ck('cookie expired', pair(jwt({ payload: claims({ exp: now - 60, iat: now - 120, nbf: now - 130 }) }), now - 200));
  ck('cookie garbage token', pair('garbage', now - 10));
  ck('cookie wrong azp', pair(jwt({ payload: claims({ azp: 'https://evil.example.test' }) }), now - 10));
  ck('cookie missing azp', pair(jwt({ payload: claims({ azp: undefined }) }), now - 10));
  ck('cookie forged', pair(jwt({ key: other.privateKey }), now - 10));
  ck('cookie machine token', pair(jwt({ header: { typ: 'at+jwt' } }), now - 10));
  ck('cookie pending', pair(jwt({ payload: claims({ sts: 'pending' }) }), now - 10));
  ck('cookie quoted value', cookie(`__session="${jwt()}"; __client_uat=${now - 10}`));
  ck('cookie duplicate session, first wins', cookie(`__session=${jwt()}; __session=garbage; __client_uat=${now - 10}`));
  ck('cookie duplicate session, first bad', cookie(`__session=garbage; __session=${jwt()}; __client_uat=${now - 10}`));
  ck('cookie percent-encoded uat', cookie(`__session=${jwt()}; __client_uat=%31${String(now - 10).slice(1)}`));
  // Suffixed cookies (tokens/authenticateContext.ts usesSuffixedCookies).
  const iss = 'https://' + LIVE_HOST;
  ck('suffixed pair', pair(jwt(), now - 10, '_' + SFX));
  ck('suffixed pair with foreign-suffix pair', cookie(`__session_AAAAAAAA=garbage; __client_uat_AAAAAAAA=1; __session_${SFX}=${jwt()}; __client_uat_${SFX}=${now - 10}`));
  {
    const a = jwt({ payload: claims({ iat: now - 3 }) }), b = jwt({ payload: claims({ iat: now - 5 }) });
    ck('both pairs, unsuffixed newer iat', cookie(`__session=${a}; __client_uat=${now - 20}; __session_${SFX}=${b}; __client_uat_${SFX}=${now - 20}`));
    ck('both pairs, suffixed newer iat', cookie(`__session=${b}; __client_uat=${now - 20}; __session_${SFX}=${a}; __client_uat_${SFX}=${now - 20}`));
    ck('suffixed uat 0, unsuffixed uat set', cookie(`__session=${a}; __client_uat=${now - 20}; __session_${SFX}=${b}; __client_uat_${SFX}=0`));
    ck('suffixed session without suffixed uat', cookie(`__session=${a}; __client_uat=${now - 20}; __session_${SFX}=${b}`));
    ck('unsuffixed session without iss', cookie(`__session=${jwt({ payload: claims({ iss: undefined }) })}; __client_uat=${now - 20}; __session_${SFX}=${b}; __client_uat_${SFX}=${now - 20}`));
    ck('unsuffixed session from another instance', cookie(`__session=${jwt({ payload: claims({ iss: 'https://clerk.other.test' }), key: other.privateKey })}; __client_uat=${now - 20}; __session_${SFX}=${b}; __client_uat_${SFX}=${now - 20}`));
    ck('unsuffixed from another instance, no suffixed', cookie(`__session=${jwt({ payload: claims({ iss: 'https://clerk.other.test' }) })}; __client_uat=${now - 20}`));
    ck('iss with http scheme matches instance', cookie(`__session=${jwt({ payload: claims({ iss: 'http://' + LIVE_HOST }) })}; __client_uat=${now - 20}; __session_${SFX}=${b}; __client_uat_${SFX}=${now - 20}`));
    void iss;
  }

  // ---- document requests: handshake eligibility and loop stop (tokens/request.ts handleMaybeHandshakeStatus)
  const doc = (name, h, extra = {}) => add(name, { profile: 'pem', headers: { ...DOC, ...h }, ...extra });
  const expired = () => jwt({ payload: claims({ exp: now - 60, iat: now - 120, nbf: now - 130 }) });
  doc('document valid cookie', pair(jwt(), now - 10));
  doc('document no credentials', {});
  doc('document expired cookie', pair(expired(), now - 200));
  doc('document expired header', bearer(expired()));
  doc('document nbf future header', bearer(jwt({ payload: claims({ nbf: now + 30 }) })));
  doc('document session without uat', cookie('__session=' + jwt()));
  doc('document uat without session', cookie('__client_uat=' + (now - 10)));
  doc('document iat before uat', pair(jwt({ payload: claims({ iat: now - 20 }) }), now - 10));
  doc('document forged cookie (no handshake)', pair(jwt({ key: other.privateKey }), now - 10));
  doc('document expired, redirect count 2', { Cookie: `__session=${expired()}; __client_uat=${now - 200}; __clerk_redirect_count=2` });
  doc('document expired, redirect count 3', { Cookie: `__session=${expired()}; __client_uat=${now - 200}; __clerk_redirect_count=3` });
  for (const n of ['3.0', '+3', '3e0', '0x3', '0.5', '-1', '2.5', '1e-7', '3x', ''])
    doc(`document expired, redirect count ${JSON.stringify(n)}`, { Cookie: `__session=${expired()}; __client_uat=${now - 200}; __clerk_redirect_count=${n}` });
  doc('document expired, redirect count 4', { Cookie: `__session=${expired()}; __client_uat=${now - 200}; __clerk_redirect_count=4` }, { difference: 'redirect-count-over-3' });
  doc('document expired with query', pair(expired(), now - 200), { query: '?a=1&b=two%20words' });
  doc('document expired with plain query', pair(expired(), now - 200), { query: '?page=2&sort=name' });
  doc('document expired with slash and tilde in query', pair(expired(), now - 200), { query: '?next=/a/b&x=~y' });
  doc('document expired with dev-browser query (stripped)', pair(expired(), now - 200), { query: '?__clerk_db_jwt=x&keep=1' });
  doc('iframe expired cookie', { ...pair(expired(), now - 200), 'Sec-Fetch-Dest': 'iframe' });
  add('html accept, no sec-fetch-dest, expired', { profile: 'pem', headers: { Accept: 'text/html,application/xhtml+xml', ...pair(expired(), now - 200) } });
  add('html accept with sec-fetch-dest empty, expired', { profile: 'pem', headers: { Accept: 'text/html', 'Sec-Fetch-Dest': 'empty', ...pair(expired(), now - 200) } });
  add('POST document expired', { profile: 'pem', method: 'POST', headers: { ...DOC, ...pair(expired(), now - 200) } });
  doc('document cross-origin referer', { ...pair(jwt(), now - 10), Referer: 'https://satellite.example.org/page' });
  for (const ref of ['android-app://com.example.app/', 'file:///tmp/page.html', 'ws://127.0.0.1/x', 'not a url', 'ftp:///x', 'ws:', 'foo:bar'])
    doc(`document referer ${ref}`, { ...pair(jwt(), now - 10), Referer: ref });
  doc('document same-origin referer', { ...pair(jwt(), now - 10), Referer: ORIGIN + '/elsewhere' });
  doc('document referer from FAPI host', { ...pair(jwt(), now - 10), Referer: 'https://' + LIVE_HOST + '/x' });
  doc('document referer from accounts portal', { ...pair(jwt(), now - 10), Referer: 'https://accounts.example.test/sign-in' });
  doc('document cross-origin referer, redirect count 1', { Cookie: `__session=${jwt()}; __client_uat=${now - 10}; __clerk_redirect_count=1`, Referer: 'https://satellite.example.org/' });
  add('non-document cross-origin referer', { profile: 'pem', headers: { ...pair(jwt(), now - 10), Referer: 'https://satellite.example.org/' } });

  // ---- returning handshakes (tokens/handshake.ts resolveHandshake): the payload as a JWT or through a nonce
  const devTok = (over = {}) => jwt({ payload: claims({ iss: 'https://' + DEV_HOST, ...over }) });
  const hsJwt = (directives, key = main.privateKey) => jwt({ payload: { handshake: directives }, key });
  const hsFor = (t) => [`__session=${t}; Path=/; SameSite=Lax; Secure`, `__client_uat=${now - 2}; Path=/; Max-Age=315360000; SameSite=Lax; Secure`];
  const hsClear = ['__session=; Path=/; Max-Age=0; SameSite=Lax; Secure', '__client_uat=0; Path=/; Max-Age=315360000; SameSite=Lax; Secure'];
  doc('handshake JWT cookie signs in', { Cookie: `__clerk_handshake=${hsJwt(hsFor(jwt()))}` });
  doc('handshake JWT cookie, signed out by Clerk', { Cookie: `__clerk_handshake=${hsJwt(hsClear)}` });
  doc('handshake JWT cookie, suffixed session directive', { Cookie: `__clerk_handshake=${hsJwt([`__session_${SFX}=${jwt()}; Path=/`, `__client_uat_${SFX}=${now - 2}; Path=/`])}` });
  doc('handshake JWT forged, falls through', { Cookie: `__clerk_handshake=${hsJwt(hsFor(jwt()), other.privateKey)}; __session=${jwt()}; __client_uat=${now - 10}` });
  doc('handshake JWT with expired session, falls through', { Cookie: `__clerk_handshake=${hsJwt(hsFor(expired()))}` });
  NONCES.set('nonce-in', hsFor(jwt()));
  NONCES.set('nonce-out', hsClear);
  doc('handshake nonce query signs in', {}, { query: '?__clerk_handshake_nonce=nonce-in' });
  doc('handshake nonce cookie signs in', { Cookie: '__clerk_handshake_nonce=nonce-in' });
  doc('handshake nonce, signed out by Clerk', {}, { query: '?__clerk_handshake_nonce=nonce-out' });
  doc('handshake nonce unknown to the Backend API', { Cookie: `__session=${jwt()}; __client_uat=${now - 10}` }, { query: '?__clerk_handshake_nonce=nonce-unknown' });
  add('handshake JWT on a non-document request', { profile: 'pem', headers: { Cookie: `__clerk_handshake=${hsJwt(hsFor(jwt()))}` } });
  // The nonce guard (docs/design.md#nonce-guard): a nonce is exchanged only where a handshake can
  // complete, its shape is checked first, and a failed nonce cookie is deleted.
  add('handshake nonce on a non-document request', { profile: 'pem', headers: { Cookie: '__clerk_handshake_nonce=nonce-in' }, difference: 'nonce-document-only' });
  add('handshake nonce on a POST document request', { profile: 'pem', method: 'POST', headers: { ...DOC, Cookie: '__clerk_handshake_nonce=nonce-in' }, difference: 'nonce-document-only' });
  doc('handshake nonce of a malformed shape', {}, { query: '?__clerk_handshake_nonce=' + encodeURIComponent('bad nonce<>') });
  doc('handshake nonce cookie unknown to the Backend API (cookie deleted)', { Cookie: '__clerk_handshake_nonce=nonce-unknown-cookie' }, { difference: 'nonce-guard' });
  {
    const devHs = (directives) => jwt({ payload: { handshake: directives } });
    const d = (t) => [`__session=${t}; Path=/`, `__client_uat=${now - 2}; Path=/`, '__clerk_db_jwt=dvb_9; Path=/'];
    add('dev handshake JWT query: back to the clean URL', { profile: 'dev', headers: { ...DOC }, query: `?keep=1&__clerk_handshake=${devHs(d(devTok()))}&__clerk_help=1` });
    add('dev handshake JWT query, signed out', { profile: 'dev', headers: { ...DOC }, query: `?__clerk_handshake=${devHs(hsClear)}` });
    add('dev handshake JWT, session expired an hour ago (skew retry)', { profile: 'dev', headers: { ...DOC }, query: `?__clerk_handshake=${devHs(d(devTok({ exp: now - 3600, iat: now - 3700, nbf: now - 3710 })))}`, difference: 'dev-skew-retry' });
  }

  // ---- development instance (pk_test_, tokens/request.ts authenticateRequestWithTokenInCookie)
  const dev = (name, h, extra = {}) => add(name, { profile: 'dev', headers: h, ...extra });
  dev('dev header valid', bearer(devTok()));
  dev('dev cookie without dev browser', pair(devTok(), now - 10));
  dev('dev cookie with dev browser cookie', { Cookie: `__session=${devTok()}; __client_uat=${now - 10}; __clerk_db_jwt=dvb_1` });
  dev('dev suffixed cookies with suffixed dev browser', { Cookie: `__session_${SFX_DEV}=${devTok()}; __client_uat_${SFX_DEV}=${now - 10}; __clerk_db_jwt_${SFX_DEV}=dvb_1` });
  dev('dev dev-browser query', { Cookie: `__session=${devTok()}; __client_uat=${now - 10}; __clerk_db_jwt=dvb_1` }, { query: '?__clerk_db_jwt=dvb_2' });
  dev('dev document without dev browser', { ...DOC, ...pair(devTok(), now - 10) });
  dev('dev document dev-browser query', { ...DOC, Cookie: `__clerk_db_jwt=dvb_1` }, { query: '?__clerk_db_jwt=dvb_2' });
  dev('dev no credentials with dev browser', cookie('__clerk_db_jwt=dvb_1'));
  dev('dev primary answers a satellite sync', { ...DOC, Cookie: `__session=${devTok()}; __client_uat=${now - 10}; __clerk_db_jwt=dvb_1` }, { query: '?__clerk_redirect_url=' + encodeURIComponent('https://sat.example.org/page'), difference: 'dev-redirect-origin' });
  dev('dev primary answers a sync to an authorized party', { ...DOC, Cookie: `__session=${devTok()}; __client_uat=${now - 10}; __clerk_db_jwt=dvb_1` }, { query: '?__clerk_redirect_url=' + encodeURIComponent(AZP + '/page?x=1') });
  dev('dev primary answers a sync to its own origin', { ...DOC, Cookie: `__session=${devTok()}; __client_uat=${now - 10}; __clerk_db_jwt=dvb_1` }, { query: '?__clerk_redirect_url=' + encodeURIComponent(ORIGIN + '/page') });
  dev('dev primary answers a satellite sync (API)', { Cookie: `__session=${devTok()}; __client_uat=${now - 10}; __clerk_db_jwt=dvb_1` }, { query: '?__clerk_redirect_url=' + encodeURIComponent('https://sat.example.org/page') });
  dev('dev expired suffixed, unsuffixed uat 0', { Cookie: `__session=${devTok()}; __client_uat=0; __session_${SFX_DEV}=${devTok({ exp: now - 60, iat: now - 120, nbf: now - 130 })}; __client_uat_${SFX_DEV}=${now - 200}; __clerk_db_jwt=dvb_1` });

  // ---- skew edges (exp*1000 <= now - skew is expired; nbf/iat*1000 > now + skew too early, as
  // assertExpirationClaim / assertActivationClaim / assertIssuedAtClaim in @clerk/backend's
  // jwt/assertions): each claim exactly at the skew, one second inside, one second outside,
  // decided by both sides at the same pinned millisecond, the start of the mint second, so the
  // exact edge (equality) is really tested; and two cases 1 ms from an edge.
  const sk = (profile, name, over, ms = 0) => add(name, { profile, build: () => {
    const t = NOW();
    return { now: t, nowMs: t * 1000 + ms, headers: bearer(jwt({ payload: claims(over(t)) })) };
  } });
  for (const [profile, S] of [['skew0', 0], ['pem', 5], ['skew30', 30]]) {
    const n = (what) => `skew ${S}${profile === 'pem' ? ' (default)' : ''}: ${what}`;
    sk(profile, n('exp exactly skew ago'), (t) => ({ exp: t - S }));
    sk(profile, n('exp 1 s inside skew'), (t) => ({ exp: t - S + 1 }));
    sk(profile, n('exp 1 s past skew'), (t) => ({ exp: t - S - 1 }));
    sk(profile, n('nbf exactly skew ahead'), (t) => ({ nbf: t + S }));
    sk(profile, n('nbf 1 s inside skew'), (t) => ({ nbf: t + S - 1 }));
    sk(profile, n('nbf 1 s past skew'), (t) => ({ nbf: t + S + 1 }));
    sk(profile, n('iat exactly skew ahead'), (t) => ({ iat: t + S }));
    sk(profile, n('iat 1 s inside skew'), (t) => ({ iat: t + S - 1 }));
    sk(profile, n('iat 1 s past skew'), (t) => ({ iat: t + S + 1 }));
  }
  sk('skew0', 'skew 0: exp 1 s ahead, 1 ms before it', (t) => ({ exp: t + 1 }), 999);
  sk('skew0', 'skew 0: nbf 1 s ahead, 1 ms before it', (t) => ({ nbf: t + 1 }), 999);

  // ---- keys from the Backend API JWKS (tokens/keys.ts loadClerkJWKFromRemote)
  const jw = (name, profile, t) => add(name, { profile, headers: bearer(t) });
  jw('jwks valid', 'jwks', jwt());
  jw('jwks unknown kid', 'jwks', jwt({ header: { kid: 'ins_other' }, key: other.privateKey }));
  jw('jwks no kid', 'jwks', jwt({ header: { kid: undefined } }));
  jw('jwks forged with known kid', 'jwks', jwt({ key: other.privateKey }));
  add('jwks alg RS384', { profile: 'jwks', headers: bearer(jwt({ header: { alg: 'RS384' } })), difference: 'rs384-rs512-not-allowed-by-default' });
  jw('jwks expired', 'jwks', jwt({ payload: claims({ exp: now - 60, iat: now - 120, nbf: now - 130 }) }));
  jw('jwks invalid secret key', 'jwks-bad-sk', jwt());
  jw('jwks Backend API down', 'jwks-down', jwt());
  add('jwks cookie valid', { profile: 'jwks', headers: pair(jwt(), now - 10) });
  multidomainCases({ add, jwt, claims, DOC, pair, cookie, bearer, now, LIVE_HOST, DEV_HOST, ORIGIN });
  return L;
}

// ------------------------------------------------------------- authorization claim sets
// A small seeded PRNG (mulberry32): the same seed gives the same claim sets on every run, so a
// disagreement can be replayed (--authz-seed N picks another set).
const AUTHZ_SEED = args.includes('--authz-seed') ? Number(args[args.indexOf('--authz-seed') + 1]) : 20261206;
const AUTHZ_SETS = 250; // claim sets; each is asked 3 questions
function mulberry32(a) {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const FEATURES = ['dashboard', 'billing', 'export', 'sso'];
const PERMS = ['manage', 'read', 'delete'];
const AGES = [-1, 0, 5, 9, 10, 11, 29, 30, 31, 59, 60, 61, 1439, 1440, 1441];

// One claim set (without the time claims, added when the case is minted): v1 or v2
// organization claims or a personal account, fea/pla lists, o.per/o.fpm masks, fva ages, and
// now and then a missing or malformed claim.
function authzClaims(rnd) {
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const some = (a, pr = 0.5) => a.filter(() => rnd() < pr);
  const c = {};
  const v2 = rnd() < 0.65;
  const personal = rnd() < 0.2;
  if (v2) {
    c.v = 2;
    if (!personal) {
      const o = { id: pick(['org_1', 'org_2']), slg: pick(['acme', 'other', undefined]) };
      const rol = pick(['admin', 'member', 'basic_member', '', undefined, 'org:admin']);
      if (rol !== undefined) o.rol = rol;
      const per = some(PERMS, 0.6);
      if (per.length || rnd() < 0.2) o.per = per.join(',');
      const masks = FEATURES.map(() => String(Math.floor(rnd() * 8)));
      if (rnd() < 0.15) masks[Math.floor(rnd() * masks.length)] = pick(['1z', '-1', ' 3', '', '0x3', '1.0', '99999999999999999999']);
      if (rnd() < 0.9) o.fpm = masks.slice(0, 1 + Math.floor(rnd() * masks.length)).join(',');
      c.o = rnd() < 0.05 ? pick(['org_1', 42, null, []]) : o;
    }
  } else if (!personal) {
    c.org_id = pick(['org_1', 'org_2', undefined]);
    c.org_slug = pick(['acme', 'other', undefined]);
    c.org_role = pick(['admin', 'org:admin', 'org:member', 'org:basic_member', '', 42, undefined]);
    const perms = some(FEATURES.flatMap((f) => PERMS.map((x) => `org:${f}:${x}`)), 0.2);
    c.org_permissions = rnd() < 0.1 ? pick(['org:billing:manage', null, {}]) : perms;
  }
  if (rnd() < 0.8) {
    const ents = some(FEATURES, 0.5).map((f) => `${pick(['o', 'u', 'ou', 'uo', 'o', 'u'])}:${f}`);
    if (rnd() < 0.12) ents.push(pick(['export', 'x:export', 'o:', 'org:billing', ' o:sso ']));
    c.fea = ents.join(',');
  }
  if (rnd() < 0.7) {
    const ents = some(['u:free', 'u:pro', 'o:pro', 'o:team', 'ou:team'], 0.4);
    if (rnd() < 0.08) ents.push(pick(['pro', 'user:pro', 'o:']));
    c.pla = ents.join(',');
  }
  const f = rnd();
  if (f < 0.7) c.fva = [pick(AGES), pick(AGES)];
  else if (f < 0.8) c.fva = pick([[1.5, 3], [-2, 5], ['5', 5], [5], [5, 5, 5], 'x', null, [0.5, -1], [29.9, -1]]);
  return c;
}

// Where a disagreement is one of differences.json's authorization entries: a predicate on the
// claim set and the question asked.
const AUTHZ_DIFFERENCES = {
  'fea-scope-without-o-names-no-feature': (c) => typeof c.fea === 'string' && c.fea.split(',').some((e) => !/^\s*(o|u|ou|uo):[^\s,]+\s*$/.test(e)),
  'fpm-mask-digits-only': (c) => c.o && typeof c.o.fpm === 'string' && c.o.fpm.split(',').some((m) => !/^\d+$/.test(m.trim())),
  'fva-integers-only': (c) => Array.isArray(c.fva) && c.fva.some((x) => typeof x === 'number' && !Number.isInteger(x)),
};

function authzCases() {
  const rnd = mulberry32(AUTHZ_SEED);
  const names = Object.keys(PROFILES).filter((n) => PROFILES[n].require);
  const L = [];
  const mint = (over) => () => ({ headers: bearer(jwt({ payload: claims(over) })) });
  for (let i = 0; i < AUTHZ_SETS; i++) {
    const over = authzClaims(rnd);
    // claims() fills what is not given: undefined must drop v for v1 claim sets.
    if (over.v === undefined) over.v = undefined;
    for (let q = 0; q < 3; q++) {
      const profile = names[Math.floor(rnd() * names.length)];
      L.push({ name: `authz #${i}.${q} ${PROFILES[profile].require}`, profile, claims: over, build: mint(over) });
    }
  }
  // Each listed authorization difference, shown side by side with a claim set that needs it.
  const side = (name, profile, over, difference) =>
    L.push({ name: `authz difference ${name}`, profile, claims: over, build: mint(over), difference, side: true });
  const az = (req) => Object.keys(PROFILES).find((n) => PROFILES[n].require === req);
  // Claims on which toAuth() throws (v2 with an organization, a fea element without ':'): no
  // has() answer, so every provider must deny, also those that do not read fea.
  for (const req of ['clerk-role admin', 'clerk-org org_1', 'clerk-plan pro', 'clerk-reverified lax']) {
    const over = { v: 2, fea: 'o:sso,export', pla: 'o:pro', fva: [1, 1], o: { id: 'org_1', slg: 'acme', rol: 'admin' } };
    L.push({ name: `authz SDK throws on fea, ${req}`, profile: az(req), claims: over, build: mint(over) });
  }
  side('fea entry without a scope', az('clerk-permission org:billing:manage'),
    { v: 2, fea: 'o:dashboard,billing', o: { id: 'org_1', rol: 'admin', per: 'manage', fpm: '1,1' } }, 'fea-scope-without-o-names-no-feature');
  side('fea entry with an unknown scope', az('clerk-feature export'),
    { v: 2, fea: 'x:export,o:sso', o: { id: 'org_1', rol: 'admin' } }, 'fea-scope-without-o-names-no-feature');
  side('o.fpm mask 1z', az('clerk-permission org:billing:manage'),
    { v: 2, fea: 'o:billing', o: { id: 'org_1', rol: 'admin', per: 'manage', fpm: '1z' } }, 'fpm-mask-digits-only');
  side('o.fpm mask -1', az('clerk-permission org:billing:manage'),
    { v: 2, fea: 'o:billing', o: { id: 'org_1', rol: 'admin', per: 'manage,read', fpm: '-1' } }, 'fpm-mask-digits-only');
  side('fva fractional age', az('clerk-reverified strict'),
    { v: 2, fva: [9.5, -1] }, 'fva-integers-only');
  side('fva fractional second factor', az('clerk-reverified 30 second_factor'),
    { v: 2, fva: [5, 29.9] }, 'fva-integers-only');
  return L;
}

// Where the module's x-clerk-auth-message text differs from the SDK's on purpose (an id of
// differences.json): the SDK's text turned into the module's by the one stated change.
const MESSAGE_DIFFERENCES = {
  // The module names only the algorithms it accepts (RS256 unless ClerkAllowedAlgorithms).
  'rs384-rs512-not-allowed-by-default': (sdk, mod) => sdk.replace('Supported: RS256,RS384,RS512.', 'Supported: RS256.') === mod,
  'token-invalid-message-names-the-segment': (sdk, mod) => ['header', 'payload', 'signature'].some(
    (seg) => sdk.replace('The header, payload, or signature could not be decoded.', `The ${seg} could not be decoded.`) === mod),
};

// ------------------------------------------------------------------------------------- main
const differences = JSON.parse(fs.readFileSync(path.join(HERE, 'differences.json'), 'utf8'));

// What the module must answer to an authorization case: the SDK's verdict first (signed-out
// stays 401), then has() = 200 and no grant = 403; an SDK that throws has no answer to match
// but a denial.
function authzAgrees(s, m) {
  if (typeof s.granted === 'string') return m.status === 401 || m.status === 403;
  if (!(s.status === 'signed-in' && s.userId)) return agrees(expected(s), m);
  if (s.granted === true) return m.status === 200 && m.user === s.userId;
  if (s.granted === false) return m.status === 403;
  return m.status === 401 || m.status === 403;
}

const line = (c, s, m) => `${c.name} [${c.profile}]: SDK ${s.status}${s.reason ? ' ' + s.reason : ''}${s.userId ? ' ' + s.userId : ''}` +
  `${s.granted !== null ? ' has()=' + s.granted : ''}${s.location ? ' -> ' + s.location : ''}; module ${m.status} ${m.authStatus || '-'} ${m.reason || '-'} ${m.user || '-'}` +
  `${m.location ? ' -> ' + m.location : ''}${c.claims ? ' claims ' + JSON.stringify(c.claims) : ''}`;

// The pin is real: one token (exp one second after the pinned second, skew 0) is accepted at
// the pin, expired one second later and accepted again at +999 ms. A module that reads its own
// clock cannot answer 200, 401, 200; without this the skew edges above would prove nothing.
async function assertPinned() {
  const t = NOW();
  const c = { profile: 'skew0', headers: bearer(jwt({ payload: claims({ exp: t + 1 }) })) };
  const got = [];
  for (const ms of [t * 1000, (t + 1) * 1000, t * 1000 + 999]) got.push((await send({ ...c, nowMs: ms })).status);
  if (got.join(',') !== '200,401,200') {
    throw new Error(`${MODULE} does not take "now" from X-Test-Now-Ms (200,401,200 expected, got ${got.join(',')}): ` +
      'conformance needs a module built with configure --enable-test-clock, as tests/conformance/run.sh builds it');
  }
  console.log('test clock: pinned (exp = pin + 1 s, skew 0: 200 at the pin, 401 at +1 s, 200 at +999 ms)');
}

let failed = false;
try {
  await startHttpd();
  await assertPinned();
  // The hand-written list is made again whenever it is more than 2 s old (same names, fresh
  // tokens), and a case with build() is minted right before it is sent: no case goes stale.
  let list = cases(), builtAt = Date.now();
  const names = list.map((c) => c.name).join('\n');
  let agree = 0, explained = 0, msgCases = 0;
  const bad = [], msgBad = [], msgKnown = {};
  const reasons = new Set();
  for (let i = 0; i < list.length; i++) {
    if (Date.now() - builtAt > 2000) {
      list = cases();
      builtAt = Date.now();
      if (list.map((c) => c.name).join('\n') !== names) throw new Error('cases() is not deterministic');
    }
    const c = list[i].build ? { now: NOW(), ...list[i], ...list[i].build() } : { now: list.now, ...list[i] };
    c.nowMs ??= c.now * 1000 + 500;
    const s = await sdk(c);
    const m = await send(c);
    const e = expected(s);
    if (s.reason) reasons.add(s.reason);
    let same = agrees(e, m);
    // The message: the SDK's own text is the expectation (x-clerk-auth-message, debug headers
    // on), never the module's constants.
    if (same && !c.difference && s.status === 'signed-out' && s.message) {
      msgCases++;
      // "Current date: <UTC>" is each side's clock when it decided: the one part of a message
      // that may differ by a second without either being wrong.
      const clockless = (t) => t.replace(/Current date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT/g, 'Current date: (now)');
      if (clockless(m.message) !== clockless(s.message)) {
        const why = Object.keys(MESSAGE_DIFFERENCES).find((id) => MESSAGE_DIFFERENCES[id](s.message, m.message));
        const text = `${c.name}: SDK ${JSON.stringify(s.message)}; module ${JSON.stringify(m.message)}`;
        if (why && differences.differences.some((d) => d.id === why)) (msgKnown[why] ??= []).push(c.name);
        else {
          msgBad.push(text);
          same = false;
        }
      }
    }
    const text = line(c, s, m);
    if (verbose || c.difference) console.log((same ? 'same   ' : c.difference ? `known (${c.difference}) ` : 'DIFF   ') + text.slice(0, 300));
    if (c.difference) {
      const d = differences.differences.find((x) => x.id === c.difference);
      if (!d) {
        bad.push(`${text}\n    names unknown difference ${c.difference}`);
      } else if (m.status === 200 || m.user) {
        bad.push(`${text}\n    difference ${c.difference} must be a denial by the module, it accepted`);
      } else if (same) {
        agree++;
      } else if (s.status === 'signed-in' || s.status === 'handshake' || s.status === 'signed-out') {
        explained++;
      }
      continue;
    }
    if (same) agree++;
    else bad.push(text);
  }

  // Authorization: has() against Require clerk-*.
  const az = authzCases();
  let azAgree = 0, azExplained = 0;
  const azBad = [], azKnown = {}, azKinds = {};
  for (const c0 of az) {
    const c = { now: NOW(), ...c0, ...c0.build() };
    c.nowMs = c.now * 1000 + 500;
    const s = await sdk(c);
    const m = await send(c);
    const same = authzAgrees(s, m);
    const kind = PROFILES[c.profile].require.split(' ')[0];
    azKinds[kind] ??= [0, 0];
    azKinds[kind][1]++;
    const text = line(c, s, m);
    // A difference must be a denial by the module, and the claim set must be one it covers.
    const diff = c.difference ?? (!same ? Object.keys(AUTHZ_DIFFERENCES).find((id) => AUTHZ_DIFFERENCES[id](c.claims)) : undefined);
    if (c.side) console.log(`side by side (${c.difference}): ${same ? 'same' : 'differs'}: ${text.slice(0, 400)}`);
    if (same) {
      azAgree++;
      azKinds[kind][0]++;
    } else if (diff && m.status !== 200) {
      azExplained++;
      (azKnown[diff] ??= []).push(c.name);
    } else {
      azBad.push(text + (diff ? `\n    difference ${diff} must be a denial by the module` : ''));
    }
  }

  console.log(`SDK @clerk/backend ${JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules/@clerk/backend/package.json'))).version}; ` +
    `reasons seen: ${[...reasons].sort().join(', ')}`);
  console.log(`Backend API (JWKS) requests: ${bapiFetches}`);
  for (const b of bad) console.log('DISAGREEMENT: ' + b);
  for (const b of msgBad) console.log('MESSAGE DIFFERS: ' + b);
  for (const [id, cs] of Object.entries(msgKnown)) console.log(`message difference ${id}: ${cs.length} cases (${cs.join('; ')})`);
  const msgKnownN = Object.values(msgKnown).reduce((a, l) => a + l.length, 0);
  console.log(`messages: ${msgCases - msgBad.length - msgKnownN}/${msgCases} signed-out cases with the SDK's message text byte for byte ` +
    `(${msgKnownN} listed message differences, ${msgBad.length} unexplained, counted as disagreements)`);
  for (const b of azBad) console.log('AUTHZ DISAGREEMENT: ' + b);
  console.log(`authorization by provider (agreeing/cases): ${Object.entries(azKinds).map(([k, [a, n]]) => `${k} ${a}/${n}`).join(', ')}`);
  for (const [id, cs] of Object.entries(azKnown)) console.log(`authorization difference ${id}: ${cs.length} cases (${cs.slice(0, 4).join('; ')}${cs.length > 4 ? '; ...' : ''})`);
  console.log(`agreement ${agree}/${list.length} (${explained} deliberate differences, ${bad.length} unexplained)`);
  console.log(`authorization agreement ${azAgree}/${az.length} (${azExplained} deliberate differences, ${azBad.length} unexplained; seed ${AUTHZ_SEED})`);
  failed = bad.length > 0 || agree + explained !== list.length || azBad.length > 0 || azAgree + azExplained !== az.length;
} catch (err) {
  console.log('conformance setup failed: ' + (err.stack || err));
  failed = true;
} finally {
  await stopHttpd();
  bapi.close();
}
process.exit(failed ? 1 : 0);
