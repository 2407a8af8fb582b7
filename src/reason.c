/* Clerk's reason strings and action texts in one table, and the bounded error value. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "reason.h"

/* Clerk's TokenVerificationErrorAction texts (@clerk/backend errors.ts, as
 * in 3.25.0, whose EnsureClerkJWT wording is newer than older SDK source's). */
#define ACT_CONTACT_SUPPORT  "Contact support@clerk.com"
#define ACT_ENSURE_CLERK_JWT "Make sure that this is a valid Clerk-generated JWT."
#define ACT_SET_JWT_KEY      "Set the CLERK_JWT_KEY environment variable."
#define ACT_KID_MISMATCH                                                                           \
    "Go to your Dashboard and validate your secret and public keys are correct. "                  \
    "Contact support@clerk.com if the issue persists."

typedef struct reason_entry {
    const char *str;
    const char *action; /* the action Clerk attaches where it raises this reason, or NULL */
} reason_entry;

/* Indexed by clerk_reason; designated initialisers keep it aligned with the enum. */
static const reason_entry reasons[CLERK_R__COUNT] = {
    [CLERK_R_NONE] = {"", NULL},
    [CLERK_R_TOKEN_EXPIRED] = {"token-expired", NULL},
    /* Clerk attaches EnsureClerkJWT to the category and typ errors; decode errors carry none
     * (handled in clerk_error_full_message). */
    [CLERK_R_TOKEN_INVALID] = {"token-invalid", ACT_ENSURE_CLERK_JWT},
    [CLERK_R_TOKEN_INVALID_ALGORITHM] = {"token-invalid-algorithm", ACT_ENSURE_CLERK_JWT},
    [CLERK_R_TOKEN_INVALID_AUTHORIZED_PARTIES] = {"token-invalid-authorized-parties", NULL},
    [CLERK_R_TOKEN_INVALID_SIGNATURE] = {"token-invalid-signature", NULL},
    [CLERK_R_TOKEN_NOT_ACTIVE_YET] = {"token-not-active-yet", NULL},
    [CLERK_R_TOKEN_IAT_IN_THE_FUTURE] = {"token-iat-in-the-future", NULL},
    [CLERK_R_TOKEN_VERIFICATION_FAILED] = {"token-verification-failed", ACT_ENSURE_CLERK_JWT},
    [CLERK_R_SECRET_KEY_INVALID] = {"secret-key-invalid", ACT_CONTACT_SUPPORT},
    [CLERK_R_JWK_LOCAL_MISSING] = {"jwk-local-missing", ACT_SET_JWT_KEY},
    [CLERK_R_JWK_REMOTE_FAILED_TO_LOAD] = {"jwk-remote-failed-to-load", ACT_CONTACT_SUPPORT},
    [CLERK_R_JWK_REMOTE_INVALID] = {"jwk-remote-invalid", ACT_CONTACT_SUPPORT},
    [CLERK_R_JWK_REMOTE_MISSING] = {"jwk-remote-missing", ACT_CONTACT_SUPPORT},
    [CLERK_R_JWK_FAILED_TO_RESOLVE] = {"jwk-failed-to-resolve", ACT_SET_JWT_KEY},
    [CLERK_R_JWK_KID_MISMATCH] = {"jwk-kid-mismatch", ACT_KID_MISMATCH},
    [CLERK_R_CLIENT_UAT_BUT_NO_SESSION_TOKEN] = {"client-uat-but-no-session-token", NULL},
    [CLERK_R_DEV_BROWSER_MISSING] = {"dev-browser-missing", NULL},
    [CLERK_R_DEV_BROWSER_SYNC] = {"dev-browser-sync", NULL},
    [CLERK_R_PRIMARY_RESPONDS_TO_SYNCING] = {"primary-responds-to-syncing", NULL},
    [CLERK_R_PRIMARY_DOMAIN_CROSS_ORIGIN_SYNC] = {"primary-domain-cross-origin-sync", NULL},
    [CLERK_R_SATELLITE_NEEDS_SYNCING] = {"satellite-needs-syncing", NULL},
    [CLERK_R_SESSION_TOKEN_AND_UAT_MISSING] = {"session-token-and-uat-missing", NULL},
    [CLERK_R_SESSION_TOKEN_MISSING] = {"session-token-missing", NULL},
    [CLERK_R_SESSION_TOKEN_EXPIRED_NO_REFRESH_COOKIE] =
        {"session-token-expired-refresh-non-eligible-no-refresh-cookie", NULL},
    [CLERK_R_SESSION_TOKEN_EXPIRED_NON_GET] = {"session-token-expired-refresh-non-eligible-non-get",
                                               NULL},
    [CLERK_R_SESSION_TOKEN_IAT_BEFORE_CLIENT_UAT] = {"session-token-iat-before-client-uat", NULL},
    [CLERK_R_SESSION_TOKEN_NBF] = {"session-token-nbf", NULL},
    [CLERK_R_SESSION_TOKEN_IAT_IN_THE_FUTURE] = {"session-token-iat-in-the-future", NULL},
    [CLERK_R_SESSION_TOKEN_BUT_NO_CLIENT_UAT] = {"session-token-but-no-client-uat", NULL},
    [CLERK_R_ACTIVE_ORGANIZATION_MISMATCH] = {"active-organization-mismatch", NULL},
    [CLERK_R_TOKEN_TYPE_MISMATCH] = {"token-type-mismatch", NULL},
    [CLERK_R_UNEXPECTED_ERROR] = {"unexpected-error", NULL},
    [CLERK_R_SESSION_PENDING] = {"session-pending", NULL},
    [CLERK_R_NO_TOKEN_IN_HEADER] = {"No token in header", NULL},
};

/* Clerk's decodeJwt raises token-invalid without an action; every decode message starts so. */
#define DECODE_MESSAGE_PREFIX "Invalid JWT form"

const char *clerk_reason_str(clerk_reason r)
{
    if ((unsigned)r >= CLERK_R__COUNT || reasons[r].str == NULL)
        return "";
    return reasons[r].str;
}

const char *clerk_reason_action(clerk_reason r)
{
    if ((unsigned)r >= CLERK_R__COUNT)
        return NULL;
    return reasons[r].action;
}

int clerk_reason_is_token_error(clerk_reason r)
{
    return r >= CLERK_R_TOKEN_EXPIRED && r <= CLERK_R_JWK_KID_MISMATCH;
}

int clerk_error_set(clerk_error *e, clerk_reason r, const char *fmt, ...)
{
    if (e == NULL)
        return -1;
    e->reason = r;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    if (n < 0)
        e->message[0] = '\0';
    return -1;
}

const char *clerk_error_full_message(const clerk_error *e, const char *carrier, char *buf,
                                     size_t buflen)
{
    if (buf == NULL || buflen == 0)
        return buf;
    buf[0] = '\0';
    if (e == NULL)
        return buf;
    const char *msg = e->message;
    const char *action = clerk_reason_action(e->reason);
    if (e->reason == CLERK_R_TOKEN_INVALID &&
        strncmp(msg, DECODE_MESSAGE_PREFIX, strlen(DECODE_MESSAGE_PREFIX)) == 0)
        action = NULL;
    /* Clerk joins the non-empty parts with one space; an unset carrier prints as JS would. */
    const char *sep = (msg[0] != '\0' && action != NULL) ? " " : "";
    snprintf(buf, buflen, "%s%s%s (reason=%s, token-carrier=%s)", msg, sep,
             action != NULL ? action : "", clerk_reason_str(e->reason),
             carrier != NULL ? carrier : "undefined");
    return buf;
}
