// Multi-domain conformance cases (imported by conformance.mjs): satellite domains (isSatellite,
// domain, signInUrl, satelliteAutoSync), proxyUrl (absolute and relative) and organization sync
// (organizationSyncOptions), each profile configured the same way on both sides: `httpd` lines
// go into the <Location>, `sdk` options into authenticateRequest. `files` are made under the
// profile's directory so that a signed-in request there can answer 200.

const SAT_DOMAIN = 'sat.example.org';
const PRIMARY_SIGN_IN = 'https://primary.example.com/sign-in';
const PROXY = 'https://proxy.example.org/__clerk';
const ORG2 = ['/md-org2/o/:slug?/x', '/md-org2/p/:slug-x', '/md-org2/:id/(.*)/end', '/md-org2/f.(.*)', '/md-org2/s/:slug'];
const ME2 = ['/md-org2/me(.*)', '/md-org2/o/x'];

// Built with the keys of conformance.mjs (PK_LIVE, PK_DEV, AZP): profile name -> settings.
export function multidomainProfiles({ PK_LIVE, PK_DEV, AZP }) {
  const base = (pk) => ({ pk, jwtKey: true, azp: [AZP], skew: null });
  const sat = (pk, extra = {}, sdk = {}) => ({
    ...base(pk),
    // ClerkUnauthAction 401: a signed-out page is answered 401 as the SDK's verdict is compared,
    // not sent to ClerkSignInURL (the module's own redirect, which the SDK leaves to the app).
    httpd: ['ClerkIsSatellite On', `ClerkDomain ${SAT_DOMAIN}`, `ClerkSignInURL ${PRIMARY_SIGN_IN}`, 'ClerkUnauthAction 401', ...(extra.httpd ?? [])],
    sdk: { isSatellite: true, domain: SAT_DOMAIN, signInUrl: PRIMARY_SIGN_IN, ...sdk },
  });
  const orgs = ['/md-org/orgs/:slug', '/md-org/orgs/:slug/(.*)', '/md-org/id/:id/(.*)'];
  const me = ['/md-org/me', '/md-org/me/(.*)'];
  return {
    'md-sat': sat(PK_LIVE),
    'md-sat-auto': sat(PK_LIVE, { httpd: ['ClerkSatelliteAutoSync On'] }, { satelliteAutoSync: true }),
    'md-sat-dev': sat(PK_DEV),
    'md-sat-dev-auto': sat(PK_DEV, { httpd: ['ClerkSatelliteAutoSync On'] }, { satelliteAutoSync: true }),
    'md-sat-proxy': {
      ...base(PK_LIVE),
      httpd: ['ClerkIsSatellite On', `ClerkProxyURL ${PROXY}`, `ClerkSignInURL ${PRIMARY_SIGN_IN}`, 'ClerkUnauthAction 401'],
      sdk: { isSatellite: true, proxyUrl: PROXY, signInUrl: PRIMARY_SIGN_IN },
    },
    'md-proxy-abs': { ...base(PK_LIVE), httpd: [`ClerkProxyURL ${PROXY}`], sdk: { proxyUrl: PROXY } },
    'md-proxy-rel': { ...base(PK_LIVE), httpd: ['ClerkProxyURL /__clerk'], sdk: { proxyUrl: '/__clerk' } },
    'md-proxy-dev': { ...base(PK_DEV), httpd: ['ClerkProxyURL /__clerk'], sdk: { proxyUrl: '/__clerk' } },
    'md-org': {
      ...base(PK_LIVE),
      httpd: [`ClerkOrganizationPatterns ${orgs.join(' ')}`, `ClerkPersonalAccountPatterns ${me.join(' ')}`],
      sdk: { organizationSyncOptions: { organizationPatterns: orgs, personalAccountPatterns: me } },
      files: ['orgs/acme/t.txt', 'orgs/beta/t.txt', 'id/org_1/t.txt', 'id/org_2/t.txt', 'me/t.txt'],
    },
    // Less common syntax, for the seeded random paths below; any path the patterns leave
    // signed in is served by FallbackResource.
    'md-org2': {
      ...base(PK_LIVE),
      httpd: [`ClerkOrganizationPatterns ${ORG2.join(' ')}`, `ClerkPersonalAccountPatterns ${ME2.join(' ')}`,
        'FallbackResource /md-org2/t.txt'],
      sdk: { organizationSyncOptions: { organizationPatterns: ORG2, personalAccountPatterns: ME2 } },
    },
  };
}

// The cases; h holds conformance.mjs's helpers and values.
export function multidomainCases(h) {
  const { add, jwt, claims, DOC, pair, cookie, now, LIVE_HOST, DEV_HOST, ORIGIN } = h;
  const expired = () => jwt({ payload: claims({ exp: now - 60, iat: now - 120, nbf: now - 130 }) });
  const devTok = (over = {}) => jwt({ payload: claims({ iss: 'https://' + DEV_HOST, ...over }) });
  // A production satellite's tokens come from its own Frontend API, clerk.<domain>.
  const satTok = (over = {}) => jwt({ payload: claims({ iss: 'https://clerk.' + SAT_DOMAIN, ...over }) });
  const at = (profile) => (name, headers, extra = {}) => add(`${profile}: ${name}`, { profile, headers, ...extra });

  // ---- production satellite (tokens/request.ts: multi-domain sync, then the cookie rules)
  const sat = at('md-sat');
  sat('document, no cookies (auto sync off)', { ...DOC });
  sat('document, no cookies, __clerk_synced=false', { ...DOC }, { query: '?__clerk_synced=false' });
  sat('document, no cookies, __clerk_synced=true', { ...DOC }, { query: '?__clerk_synced=true' });
  sat('document, signed in', { ...DOC, ...pair(satTok(), now - 10) });
  sat('document, the primary\'s token in un-suffixed cookies (not this instance\'s)', { ...DOC, ...pair(jwt(), now - 10) });
  sat('document, signed in, __clerk_synced=false', { ...DOC, ...pair(satTok(), now - 10) }, { query: '?__clerk_synced=false&x=1' });
  sat('document, expired (handshake to clerk.<domain>)', { ...DOC, ...pair(satTok({ exp: now - 60, iat: now - 120, nbf: now - 130 }), now - 200) });
  sat('document, uat without session', { ...DOC, ...cookie(`__client_uat=${now - 10}`) });
  sat('document, cross-origin referer (no primary sync)', { ...DOC, ...pair(satTok(), now - 10), Referer: 'https://elsewhere.example.net/' });
  sat('iframe, no cookies, __clerk_synced=false', { 'Sec-Fetch-Dest': 'iframe' }, { query: '?__clerk_synced=false' });
  sat('html accept only, no cookies, __clerk_synced=false', { Accept: 'text/html' }, { query: '?__clerk_synced=false' });
  sat('API request, __clerk_synced=false', {}, { query: '?__clerk_synced=false' });
  sat('POST document, __clerk_synced=false', { ...DOC }, { query: '?__clerk_synced=false', method: 'POST' });
  sat('document, __clerk_synced=false, redirect count 2', { ...DOC, ...cookie('__clerk_redirect_count=2') }, { query: '?__clerk_synced=false' });
  sat('document, __clerk_synced=false, redirect count 3 (loop)', { ...DOC, ...cookie('__clerk_redirect_count=3') }, { query: '?__clerk_synced=false' });
  sat('header token', h.bearer(satTok()));
  const auto = at('md-sat-auto');
  auto('document, no cookies (auto sync on)', { ...DOC });
  auto('document, no cookies, __clerk_synced=true', { ...DOC }, { query: '?__clerk_synced=true' });
  auto('API request, no cookies', {});
  auto('document, signed in', { ...DOC, ...pair(satTok(), now - 10) });

  // ---- development satellite: the sync goes to the primary's sign-in URL
  const dsat = at('md-sat-dev');
  dsat('document, no cookies (auto sync off)', { ...DOC });
  dsat('document, dev browser only', { ...DOC, ...cookie('__clerk_db_jwt=dvb_1') });
  dsat('document, __clerk_synced=false (to the sign-in URL)', { ...DOC }, { query: '?__clerk_synced=false&x=a%20b' });
  dsat('document, signed in with dev browser', { ...DOC, ...cookie(`__session=${devTok()}; __client_uat=${now - 10}; __clerk_db_jwt=dvb_1`) });
  dsat('document, back from the primary (__clerk_synced=true, dev browser)', { ...DOC }, { query: '?__clerk_db_jwt=dvb_2&__clerk_synced=true' });
  dsat('document, __clerk_redirect_url on a satellite (no primary answer)', { ...DOC, ...cookie(`__session=${devTok()}; __client_uat=${now - 10}; __clerk_db_jwt=dvb_1`) },
    { query: '?__clerk_synced=true&__clerk_redirect_url=' + encodeURIComponent(ORIGIN + '/x') });
  const dauto = at('md-sat-dev-auto');
  dauto('document, no cookies (to the sign-in URL)', { ...DOC });
  dauto('document, no cookies, fragment-free query kept', { ...DOC }, { query: '?a=1&b=%2F' });

  // ---- satellite through a proxy (no domain)
  const sp = at('md-sat-proxy');
  sp('document, __clerk_synced=false (handshake through the proxy)', { ...DOC }, { query: '?__clerk_synced=false' });
  sp('document, signed in', { ...DOC, ...pair(jwt(), now - 10) });

  // ---- proxyUrl on a primary: handshakes and the known-referrer rule follow it
  const pa = at('md-proxy-abs');
  pa('document, uat without session', { ...DOC, ...cookie(`__client_uat=${now - 10}`) });
  pa('document, expired', { ...DOC, ...pair(expired(), now - 200) });
  pa('document, referer from the proxy host', { ...DOC, ...pair(jwt(), now - 10), Referer: 'https://proxy.example.org/sign-in' });
  pa('document, referer from the Frontend API host (no longer known)', { ...DOC, ...pair(jwt(), now - 10), Referer: 'https://' + LIVE_HOST + '/x' });
  pa('API request, expired', pair(expired(), now - 200));
  const pr = at('md-proxy-rel');
  pr('document, uat without session (proxy on this origin)', { ...DOC, ...cookie(`__client_uat=${now - 10}`) });
  pr('document, expired with a query', { ...DOC, ...pair(expired(), now - 200) }, { query: '?q=1' });
  pr('document, signed in', { ...DOC, ...pair(jwt(), now - 10) });
  const pd = at('md-proxy-dev');
  pd('document, no dev browser (handshake through the proxy)', { ...DOC, ...pair(devTok(), now - 10) });

  // ---- organization sync (tokens/request.ts handleMaybeOrganizationSyncHandshake)
  const org = (name, path, tokClaims, headers = DOC) => {
    const session = pair(jwt({ payload: claims(tokClaims) }), now - 10).Cookie;
    add(`md-org: ${name}`, { profile: 'md-org', path, headers: { ...headers, Cookie: headers.Cookie ? `${session}; ${headers.Cookie}` : session } });
  };
  const acme = { o: { id: 'org_1', slg: 'acme', rol: 'admin' } };
  org('slug of the active organization', 'orgs/acme/t.txt', acme);
  org('slug of another organization', 'orgs/beta/t.txt', acme);
  org('bare slug URL of another organization', 'orgs/beta', acme);
  org('id of the active organization', 'id/org_1/t.txt', acme);
  org('id of another organization', 'id/org_2/t.txt', acme);
  org('personal account with an active organization', 'me/t.txt', acme);
  org('personal account without one', 'me/t.txt', {});
  org('organization URL without an active organization', 'orgs/acme/t.txt', {});
  org('v1 claims, another slug', 'orgs/beta/t.txt', { v: undefined, org_id: 'org_1', org_slug: 'acme' });
  org('v1 claims, same slug', 'orgs/acme/t.txt', { v: undefined, org_id: 'org_1', org_slug: 'acme' });
  org('case of the literal text differs', 'ORGS/beta/t.txt', acme);
  org('API request for another organization', 'orgs/beta/t.txt', acme, { Accept: 'application/json' });
  org('another organization, redirect count 2', 'orgs/beta/t.txt', acme, { ...DOC, Cookie: '__clerk_redirect_count=2' });
  org('another organization, redirect count 3', 'orgs/beta/t.txt', acme, { ...DOC, Cookie: '__clerk_redirect_count=3' });
  org('unmatched path', 't.txt', acme);
  add('md-org: expired on an organization URL (handshake names it)', {
    profile: 'md-org', path: 'orgs/beta/t.txt', headers: { ...DOC, ...pair(expired(), now - 200) },
  });
  // Seeded random paths against md-org2's patterns (the same on every run): the module's
  // matcher and path-to-regexp must agree on which organization every one of them names.
  let seed = 20261206;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const SEGS = ['o', 'O', 'p', 's', 'x', 'X', 'me', 'ME', 'meh', 'f.a', 'f.', 'end', 'acme', 'beta', 'org_1',
    'a-x', 'a-x-x', '-x', '%61cme', 'p-x', ''];
  for (let i = 0; i < 40; i++) {
    const n = 1 + Math.floor(rnd() * 4);
    const segs = Array.from({ length: n }, () => SEGS[Math.floor(rnd() * SEGS.length)]);
    const path = segs.join('/') + (rnd() < 0.2 ? '/' : '');
    add(`md-org2: random path #${i} /${path}`, {
      profile: 'md-org2', path, headers: { ...DOC, ...pair(jwt({ payload: claims(acme) }), now - 10) },
    });
  }
  add('md-org: header token for another organization', {
    profile: 'md-org', path: 'orgs/beta/t.txt', headers: { ...DOC, ...h.bearer(jwt({ payload: claims(acme) })) },
  });
}
