/* The one list, in code, of where mod_clerk_auth deliberately answers differently from
 * Clerk's backend SDK (docs/design.md#deliberate-differences). Every item is a stricter denial of
 * input Clerk never issues; none accepts what the SDK refuses. tests/conformance/differences.json
 * is the source of the list and pins it against the SDK itself; this comment and the README
 * ("Deliberate differences from Clerk's SDK") carry exactly its ids (tests/e2e/test_02_docs.py
 * checks all three). The code implementing an item carries its tag in a comment, so `grep -rn
 * 'differences.h:' src` finds every site.
 *
 *   <id>  (<file> implementing it): what the module does
 *
 *   empty-sub  (claims.c): an empty `sub` is token-verification-failed (REMOTE_USER would be
 *       empty)
 *   duplicate-json-keys  (json_strict.c): duplicate JSON keys in header or payload:
 *       token-invalid (parser differentials)
 *   padded-base64url  (b64url.c): '=' padding, '+' and '/' refused: token-invalid
 *   crit-header  (token.c): a `crit` header, and alg/kid/typ/cat that are not strings:
 *       token-invalid
 *   over-max-token-size  (jwt.c): tokens over ClerkMaxTokenSize (default 16 KiB) refused before
 *       any parsing: token-invalid
 *   redirect-count-over-3  (request_state.c): the handshake loop stops at a redirect count of 3
 *       or more, or one that cannot grow (-1e300); the SDK stops only at exactly 3
 *   non-integer-time-claims  (claims.c): exp/nbf/iat must be whole numbers in [0, year 9999]
 *       (1.7e9 counts): fractions, negatives and huge values are token-verification-failed
 *   nul-in-json-string  (json_strict.c): a \u0000 escape in any header or payload string is
 *       token-invalid (C strings would cut the value there)
 *   number-beyond-double  (json_strict.c): a number beyond a double (1e400, JS Infinity) is
 *       token-invalid
 *   rs384-rs512-not-allowed-by-default  (token.c): only RS256 unless ClerkAllowedAlgorithms
 *       lists more: token-invalid-algorithm where the SDK fails later with
 *       token-verification-failed (same denial, another reason)
 *   token-invalid-message-names-the-segment  (jwt.c): the token-invalid message names the
 *       segment that does not decode (header, payload or signature); same denial
 *   payload-not-an-object  (jwt.c): header and payload must be JSON objects: token-invalid where
 *       the SDK fails the sub check (same denial, another reason)
 *   aud-of-other-type  (claims.c): with ClerkAudience set, an `aud` that is neither a string nor
 *       an array of strings fails (the SDK lets it pass)
 *   fea-scope-without-o-names-no-feature  (auth.c): a v2 `fea` entry names a feature only with
 *       scope o, ou or uo and a name; otherwise no permission
 *   fpm-mask-digits-only  (auth.c): an `o.fpm` mask counts only when all digits after trimming
 *   fva-integers-only  (auth.c): `fva` counts only when both ages are integers -1 or >= 0
 *   nonce-document-only  (request_state.c): a handshake nonce is exchanged only on a GET
 *       document request; elsewhere the cookie rules decide (the SDK exchanges it on any
 *       request)
 *   nonce-guard  (request_state.c, nonce_guard.c): a nonce of the wrong shape, one that failed
 *       recently, or one over the per-process bounds is a failed exchange without a Backend API
 *       call; a failed nonce cookie is deleted (host-only and parent domains)
 *   dev-redirect-origin  (request_state.c): a development __clerk_redirect_url is followed only
 *       to the request's origin or a ClerkAuthorizedParties origin; otherwise signed-out
 *       primary-responds-to-syncing (the SDK follows any URL with the dev-browser token)
 *   dev-skew-retry  (request_state.c): the development 24-hour clock-skew retry of a handshake
 *       session token only names the clock problem; it never signs in
 *   rsa-exponent-other-than-65537  (jwk.c): RSA keys with a public exponent other than 65537
 *       are not loaded unless ClerkAllowRSAExponent lists it (Clerk issues 65537 only; small
 *       exponents have a history of forgery bugs)
 *   machine-revoked-expired-refused  (machine_token.c): a Backend API answer saying revoked or
 *       expired, or with an expiration at or before now, is token-invalid
 *   machine-answer-checked  (machine_token.c, httpd_machine.c): a verify answer that is not
 *       application/json, not one strict bounded object, or lacks well-formed id, subject,
 *       scopes (name, client_id) is unexpected-error
 *   machine-token-refused-unsent  (machine_token.c): a machine token over 4096 bytes or with
 *       anything but printable ASCII without spaces is token-invalid, never sent
 *
 * Not differences but choices where the SDK has no equivalent (documented in the README):
 * ClerkIssuer, pending sessions refused by default (reason session-pending), forwarded headers
 * trusted only with ClerkTrustForwardedHeaders On, no satellites / refresh / org sync. */
#ifndef CLERK_DIFFERENCES_H
#define CLERK_DIFFERENCES_H
#endif
