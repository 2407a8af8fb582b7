/* Reasons a request is signed out or sent to a handshake, as Clerk's SDK names them
 * (@clerk/backend errors.ts, tokens/authStatus.ts), plus a bounded error value the core passes
 * around. */
#ifndef CLERK_REASON_H
#define CLERK_REASON_H

#include <stddef.h>

typedef enum clerk_reason {
    CLERK_R_NONE = 0,
    /* TokenVerificationErrorReason */
    CLERK_R_TOKEN_EXPIRED,
    CLERK_R_TOKEN_INVALID,
    CLERK_R_TOKEN_INVALID_ALGORITHM,
    CLERK_R_TOKEN_INVALID_AUTHORIZED_PARTIES,
    CLERK_R_TOKEN_INVALID_SIGNATURE,
    CLERK_R_TOKEN_NOT_ACTIVE_YET,
    CLERK_R_TOKEN_IAT_IN_THE_FUTURE,
    CLERK_R_TOKEN_VERIFICATION_FAILED,
    CLERK_R_SECRET_KEY_INVALID,
    CLERK_R_JWK_LOCAL_MISSING,
    CLERK_R_JWK_REMOTE_FAILED_TO_LOAD,
    CLERK_R_JWK_REMOTE_INVALID,
    CLERK_R_JWK_REMOTE_MISSING,
    CLERK_R_JWK_FAILED_TO_RESOLVE,
    CLERK_R_JWK_KID_MISMATCH,
    /* AuthErrorReason */
    CLERK_R_CLIENT_UAT_BUT_NO_SESSION_TOKEN,
    CLERK_R_DEV_BROWSER_MISSING,
    CLERK_R_DEV_BROWSER_SYNC,
    CLERK_R_PRIMARY_RESPONDS_TO_SYNCING,
    CLERK_R_PRIMARY_DOMAIN_CROSS_ORIGIN_SYNC,
    CLERK_R_SATELLITE_NEEDS_SYNCING,
    CLERK_R_SESSION_TOKEN_AND_UAT_MISSING,
    CLERK_R_SESSION_TOKEN_MISSING,
    CLERK_R_SESSION_TOKEN_EXPIRED_NO_REFRESH_COOKIE, /* ...-refresh-non-eligible-no-refresh-cookie
                                                      */
    CLERK_R_SESSION_TOKEN_EXPIRED_NON_GET,           /* ...-refresh-non-eligible-non-get */
    CLERK_R_SESSION_TOKEN_IAT_BEFORE_CLIENT_UAT,
    CLERK_R_SESSION_TOKEN_NBF,
    CLERK_R_SESSION_TOKEN_IAT_IN_THE_FUTURE,
    CLERK_R_SESSION_TOKEN_BUT_NO_CLIENT_UAT,
    CLERK_R_ACTIVE_ORGANIZATION_MISMATCH,
    CLERK_R_TOKEN_TYPE_MISMATCH,
    CLERK_R_UNEXPECTED_ERROR,
    /* Ours (not Clerk's): a verified token whose session is pending, refused by default. */
    CLERK_R_SESSION_PENDING,
    /* Clerk's reason, literally, for a single machine acceptsToken and no Authorization token
     * (tokens/request.ts). */
    CLERK_R_NO_TOKEN_IN_HEADER,
    CLERK_R__COUNT
} clerk_reason;

/* Size of clerk_error.message: long enough for Clerk's longest message with a date pair. */
#define CLERK_ERROR_MESSAGE_MAX 512

/* A failure: a reason and a human message that never contains a token or a key. */
typedef struct clerk_error {
    clerk_reason reason;
    char message[CLERK_ERROR_MESSAGE_MAX];
} clerk_error;

/* Clerk's exact reason string for r ("token-expired", ...); "" for CLERK_R_NONE, never NULL. */
const char *clerk_reason_str(clerk_reason r);

/* Clerk's action text for a token-verification reason (e.g. "Contact support@clerk.com"), or
 * NULL when Clerk attaches none. */
const char *clerk_reason_action(clerk_reason r);

/* 1 when r is a TokenVerificationErrorReason (token-*, jwk-*, secret-key-invalid), else 0. */
int clerk_reason_is_token_error(clerk_reason r);

/* Sets e->reason and formats e->message (printf-style, truncated to fit); returns -1 so callers
 * can `return clerk_error_set(...)`. e may be NULL. */
int clerk_error_set(clerk_error *e, clerk_reason r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats Clerk's full message for a token error into buf: "<message> <action> (reason=<r>,
 * token-carrier=<carrier>)"; returns buf. carrier is "header" or "cookie". */
const char *clerk_error_full_message(const clerk_error *e, const char *carrier, char *buf,
                                     size_t buflen);

#endif
