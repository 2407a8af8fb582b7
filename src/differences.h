/* The one list, in code, of where mod_clerk_auth deliberately answers differently from
 * Clerk's backend SDK (spec §2). Every item is a stricter denial of input Clerk never issues;
 * none accepts what the SDK refuses. The README ("Deliberate differences") lists the same
 * items for operators, and tests/conformance/differences.json pins them against the SDK
 * itself. The code implementing an item carries its tag in a comment, so
 * `grep -rn 'differences.h:' src` finds every site.
 *
 *   empty-sub        claims.c   an empty `sub` is token-verification-failed (REMOTE_USER would
 *                               be empty)
 *   duplicate-keys   json_strict.c  duplicate JSON keys in header or payload: token-invalid
 *                               (parser differentials)
 *   padded-b64url    b64url.c   '=' padding, '+' and '/' refused: token-invalid
 *   crit             token.c    a `crit` header, and alg/kid/typ/cat that are not strings:
 *                               token-invalid
 *   max-token-size   jwt.c      tokens over ClerkMaxTokenSize (default 16 KiB) refused before
 *                               any parsing: token-invalid
 *   time-claims      claims.c   exp/nbf/iat must be whole numbers in [0, year 9999] (1.7e9
 *                               counts): fractions, negatives and huge values are
 *                               token-verification-failed
 *   nul-in-json      json_strict.c  a \u0000 escape in any header or payload string is
 *                               token-invalid (C strings would cut the value there)
 *   number-range     json_strict.c  a number beyond a double (1e400, JS Infinity) is
 *                               token-invalid
 *   aud-type         claims.c   with ClerkAudience set, an `aud` that is neither a string nor
 *                               an array fails
 *   redirect-count   request_state.c  the handshake loop stops at a redirect count of 3 or
 *                               more, or one that cannot grow (-1e300); the SDK stops only at
 *                               exactly 3
 *   org-features     auth.c     v2 `fea`/`o.fpm`: features named only by scopes o/ou/uo,
 *                               masks only all-digit; otherwise no permission
 *   fva              auth.c     `fva` counts only when both ages are integers -1 or >= 0
 *   nonce-document-only  request_state.c  a handshake nonce is exchanged only on a GET
 *                               document request; elsewhere the cookie rules decide (the SDK
 *                               exchanges it on any request)
 *   nonce-guard      request_state.c, nonce_guard.c  a nonce of the wrong shape, one that
 *                               failed recently, or one over the per-process bounds is a failed
 *                               exchange without a Backend API call; a failed nonce cookie is
 *                               deleted (host-only and parent domains)
 *   dev-redirect-origin  request_state.c  a development __clerk_redirect_url is followed only
 *                               to the request's origin or a ClerkAuthorizedParties origin;
 *                               otherwise signed-out primary-responds-to-syncing (the SDK
 *                               follows any URL with the dev-browser token)
 *   dev-skew-retry   request_state.c  the development 24-hour clock-skew retry of a handshake
 *                               session token only names the clock problem; it never signs in
 *   rsa-exponent     jwk.c      RSA keys with a public exponent other than 65537 are not
 *                               loaded unless ClerkAllowRSAExponent lists it (Clerk issues
 *                               65537 only; small exponents have a history of forgery bugs)
 *
 * Not differences but choices where the SDK has no equivalent (documented in the README):
 * ClerkIssuer, pending sessions refused by default (reason session-pending), forwarded headers
 * trusted only with ClerkTrustForwardedHeaders On, no satellites / refresh / org sync. */
#ifndef CLERK_DIFFERENCES_H
#define CLERK_DIFFERENCES_H
#endif
