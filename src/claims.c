/* Claim rules of Clerk's verifyJwt (assertions.ts), messages byte for byte, plus our stricter
 * rules (non-empty sub, integer times in range, optional exact issuer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "claims.h"

/* 9999-12-31T23:59:59Z: later times are refused (no real token expires after year 9999). */
#define CLERK_MAX_TIME_S INT64_C(253402300799)

/* Token-derived JSON quoted in a message is cut here so the configuration part still fits. */
#define QUOTE_MAX 128

/* JSON.stringify of a claim into buf, "undefined" when absent, cut at QUOTE_MAX bytes on a
 * UTF-8 boundary (messages end up in headers and logs; a broken sequence helps nobody). */
static const char *json_quote(const json_t *v, char *buf, size_t buflen)
{
    if (v == NULL) {
        snprintf(buf, buflen, "undefined");
        return buf;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL) {
        snprintf(buf, buflen, "undefined");
        return buf;
    }
    size_t len = strlen(s);
    size_t cap = buflen - 1 < QUOTE_MAX ? buflen - 1 : QUOTE_MAX;
    if (len > cap) {
        len = cap - 3;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
        snprintf(buf, buflen, "%.*s...", (int)len, s);
    } else {
        memcpy(buf, s, len + 1);
    }
    free(s);
    return buf;
}

/* JavaScript's Date.prototype.toUTCString: "Thu, 01 Jan 1970 00:00:00 GMT" (C locale names,
 * whatever the process locale is). */
static const char *utc_string(int64_t ms, char *buf, size_t buflen)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t s = ms / 1000;
    if (ms % 1000 < 0)
        s--;
    time_t t = (time_t)s;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, buflen, "Invalid Date");
        return buf;
    }
    snprintf(buf, buflen, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

static const char *string_or_null(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Time claims must be whole numbers (json_strict makes 1.7e9 an integer, as JS has it): Clerk
 * accepts any JS number, we refuse fractions and values outside [0, year 9999] (stricter;
 * Clerk never issues them; differences.h: non-integer-time-claims). */
static void take_time(const json_t *v, int *has, int64_t *out, int *bad)
{
    if (v == NULL)
        return;
    *has = 1;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x >= 0 && x <= CLERK_MAX_TIME_S) {
            *out = (int64_t)x;
            return;
        }
    }
    *bad = 1;
}

void clerk_claims_extract(const json_t *payload, clerk_claims *c)
{
    memset(c, 0, sizeof *c);
    if (!json_is_object(payload))
        return;
    c->payload = payload;
    const json_t *sub = json_object_get(payload, "sub");
    c->sub_present = sub != NULL;
    c->sub = string_or_null(sub);
    c->sid = string_or_null(json_object_get(payload, "sid"));
    c->azp = string_or_null(json_object_get(payload, "azp"));
    c->iss = string_or_null(json_object_get(payload, "iss"));
    c->sts = string_or_null(json_object_get(payload, "sts"));
    const json_t *aud = json_object_get(payload, "aud");
    if (json_is_string(aud) || json_is_array(aud))
        c->aud = aud;
    take_time(json_object_get(payload, "exp"), &c->has_exp, &c->exp, &c->bad_exp);
    take_time(json_object_get(payload, "nbf"), &c->has_nbf, &c->nbf, &c->bad_nbf);
    take_time(json_object_get(payload, "iat"), &c->has_iat, &c->iat, &c->bad_iat);
}

static const json_t *claim(const clerk_claims *c, const char *name)
{
    return c->payload != NULL ? json_object_get(c->payload, name) : NULL;
}

static int check_sub(const clerk_claims *c, clerk_error *err)
{
    char q[QUOTE_MAX + 1];
    if (c->sub == NULL)
        return clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED,
                               "Subject claim (sub) is required and must be a string. Received %s.",
                               json_quote(claim(c, "sub"), q, sizeof q));
    /* differences.h: empty-sub */
    /* Ours: an empty subject would make an empty REMOTE_USER; Clerk never issues one. */
    if (c->sub[0] == '\0')
        return clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED,
                               "Subject claim (sub) is required and must be a non-empty string. "
                               "Received \"\".");
    return 0;
}

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] != NULL && strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

/* The configured audiences as JSON.stringify prints the filtered list: ["a","b"]. */
static const char *audience_list_json(const clerk_verify_opts *o, char *buf, size_t buflen)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < o->n_aud; i++)
        if (o->aud[i] != NULL && o->aud[i][0] != '\0')
            json_array_append_new(arr, json_string(o->aud[i]));
    char *s = arr != NULL ? json_dumps(arr, JSON_COMPACT) : NULL;
    snprintf(buf, buflen, "%s", s != NULL ? s : "[]");
    free(s);
    json_decref(arr);
    return buf;
}

/* The token's aud counts as "non-empty" when Clerk's flattened, falsy-filtered list would be. */
static int aud_claim_nonempty(const json_t *aud)
{
    if (aud == NULL || json_is_null(aud) || json_is_false(aud))
        return 0;
    if (json_is_string(aud))
        return json_string_length(aud) > 0;
    if (json_is_integer(aud))
        return json_integer_value(aud) != 0;
    if (json_is_real(aud))
        return json_real_value(aud) != 0.0;
    if (json_is_array(aud)) {
        size_t i;
        const json_t *v;
        json_array_foreach(aud, i, v)
        {
            if (aud_claim_nonempty(v))
                return 1;
        }
        return 0;
    }
    return 1; /* true, objects */
}

/* Checked only when both the option and the claim are non-empty (Clerk). A string must be in
 * the list, an array must share an entry with it. Clerk's current code wraps aud in an array
 * before this test, so an array aud is never actually compared there; we follow the documented
 * rule (@clerk/backend jwt/assertions.ts assertAudienceClaim), and refuse an aud of any other type
 * (stricter; differences.h: aud-of-other-type). */
static int check_aud(const clerk_claims *c, const clerk_verify_opts *o, clerk_error *err)
{
    int have_option = 0;
    for (size_t i = 0; i < o->n_aud; i++)
        if (o->aud[i] != NULL && o->aud[i][0] != '\0')
            have_option = 1;
    if (!have_option) /* the common case: no look-up in the payload at all */
        return 0;
    const json_t *aud = claim(c, "aud");
    if (!aud_claim_nonempty(aud))
        return 0;
    char q[QUOTE_MAX + 1], list[256];
    if (json_is_string(aud)) {
        if (in_list(json_string_value(aud), o->aud, o->n_aud))
            return 0;
        return clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED,
                               "Invalid JWT audience claim (aud) %s. Is not included in \"%s\".",
                               json_quote(aud, q, sizeof q),
                               audience_list_json(o, list, sizeof list));
    }
    if (json_is_array(aud)) {
        size_t i;
        const json_t *v;
        json_array_foreach(aud, i, v)
        {
            if (json_is_string(v) && json_string_length(v) > 0 &&
                in_list(json_string_value(v), o->aud, o->n_aud))
                return 0;
        }
        return clerk_error_set(
            err, CLERK_R_TOKEN_VERIFICATION_FAILED,
            "Invalid JWT audience claim array (aud) %s. Is not included in \"%s\".",
            json_quote(aud, q, sizeof q), audience_list_json(o, list, sizeof list));
    }
    return clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED,
                           "Invalid JWT audience claim (aud) %s. Expected a string or an array "
                           "of strings.",
                           json_quote(aud, q, sizeof q));
}

/* Exact, case-sensitive match against the configured parties; once any is configured a
 * missing or empty azp fails (Clerk since @clerk/backend 3.11.1). */
static int check_azp(const clerk_claims *c, const clerk_verify_opts *o, clerk_error *err)
{
    if (o->n_azp == 0)
        return 0;
    if (c->azp != NULL && c->azp[0] != '\0' && in_list(c->azp, o->azp, o->n_azp))
        return 0;
    /* Clerk prints the list as JS stringifies an array: entries joined by ',' */
    char parties[256];
    size_t used = 0;
    parties[0] = '\0';
    for (size_t i = 0; i < o->n_azp && used < sizeof parties; i++) {
        int n = snprintf(parties + used, sizeof parties - used, "%s%s", i ? "," : "",
                         o->azp[i] != NULL ? o->azp[i] : "");
        if (n < 0)
            break;
        used += (size_t)n;
    }
    char q[QUOTE_MAX + 1];
    return clerk_error_set(err, CLERK_R_TOKEN_INVALID_AUTHORIZED_PARTIES,
                           "Invalid JWT Authorized party claim (azp) %s. Expected \"%s\".",
                           json_quote(claim(c, "azp"), q, sizeof q), parties);
}

static int bad_time(const clerk_claims *c, const char *name, const char *what, int missing,
                    clerk_error *err)
{
    char q[QUOTE_MAX + 1];
    const json_t *v = claim(c, name);
    if (missing || !json_is_number(v))
        return clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED,
                               "Invalid JWT %s claim (%s) %s. Expected number.", what, name,
                               json_quote(v, q, sizeof q));
    /* A number Clerk would take, refused by our integer-in-range rule. */
    return clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED,
                           "Invalid JWT %s claim (%s) %s. Expected an integer number of seconds "
                           "between 0 and 253402300799.",
                           what, name, json_quote(v, q, sizeof q));
}

static int check_times(const clerk_claims *c, const clerk_verify_opts *o, clerk_error *err)
{
    char d1[40], d2[40];
    if (!c->has_exp || c->bad_exp)
        return bad_time(c, "exp", "expiry date", !c->has_exp, err);
    if (c->exp * 1000 <= o->now_ms - o->skew_ms)
        return clerk_error_set(
            err, CLERK_R_TOKEN_EXPIRED, "JWT is expired. Expiry date: %s, Current date: %s.",
            utc_string(c->exp * 1000, d1, sizeof d1), utc_string(o->now_ms, d2, sizeof d2));
    if (c->has_nbf) {
        if (c->bad_nbf)
            return bad_time(c, "nbf", "not before date", 0, err);
        if (c->nbf * 1000 > o->now_ms + o->skew_ms)
            return clerk_error_set(err, CLERK_R_TOKEN_NOT_ACTIVE_YET,
                                   "JWT cannot be used prior to not before date claim (nbf). Not "
                                   "before date: %s; Current date: %s;",
                                   utc_string(c->nbf * 1000, d1, sizeof d1),
                                   utc_string(o->now_ms, d2, sizeof d2));
    }
    if (c->has_iat) {
        if (c->bad_iat)
            return bad_time(c, "iat", "issued at date", 0, err);
        if (c->iat * 1000 > o->now_ms + o->skew_ms)
            return clerk_error_set(err, CLERK_R_TOKEN_IAT_IN_THE_FUTURE,
                                   "JWT issued at date claim (iat) is in the future. Issued at "
                                   "date: %s; Current date: %s;",
                                   utc_string(c->iat * 1000, d1, sizeof d1),
                                   utc_string(o->now_ms, d2, sizeof d2));
    }
    return 0;
}

/* Ours (ClerkIssuer): Clerk checks no iss. Reported as token-verification-failed, the reason
 * Clerk uses for a claim that does not match configured expectations (aud); the message names
 * the rule and the expected value, not the token's claim. */
static int check_iss(const clerk_claims *c, const clerk_verify_opts *o, clerk_error *err)
{
    if (o->issuer == NULL)
        return 0;
    if (c->iss != NULL && strcmp(c->iss, o->issuer) == 0)
        return 0;
    return clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED,
                           "Invalid JWT issuer claim (iss). Expected exactly \"%.200s\" "
                           "(ClerkIssuer).",
                           o->issuer);
}

int clerk_claims_check(const clerk_claims *c, const clerk_verify_opts *o, clerk_error *err)
{
    if (check_sub(c, err) || check_aud(c, o, err) || check_azp(c, o, err) ||
        check_times(c, o, err) || check_iss(c, o, err))
        return -1;
    return 0;
}

int clerk_claims_user_path_ok(const char *path)
{
    if (path == NULL || *path == '\0')
        return 0;
    int parts = 1;
    for (const char *c = path; *c; c++) {
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return 0;
        if (*c == '.') {
            if (c == path || c[1] == '\0' || c[1] == '.')
                return 0;
            parts++;
        }
    }
    return parts <= CLERK_USER_CLAIM_MAX_PARTS;
}

/* The member of payload at a dotted path, walking nested objects; NULL when absent. */
static const json_t *claim_at_path(const json_t *payload, const char *path)
{
    const json_t *v = json_object_get(payload, path);
    if (v != NULL || strchr(path, '.') == NULL)
        return v;
    char part[256];
    const json_t *at = payload;
    const char *c = path;
    for (int n = 0; n < CLERK_USER_CLAIM_MAX_PARTS; n++) {
        size_t len = strcspn(c, ".");
        if (len == 0 || len >= sizeof part || !json_is_object(at))
            return NULL;
        memcpy(part, c, len);
        part[len] = '\0';
        at = json_object_get(at, part);
        if (at == NULL)
            return NULL;
        if (c[len] == '\0')
            return at;
        c += len + 1;
    }
    return NULL;
}

clerk_user_claim_result clerk_claims_user(const json_t *payload, const char *path, char *buf,
                                          size_t buflen, const char **user)
{
    *user = NULL;
    const json_t *v = json_is_object(payload) && path ? claim_at_path(payload, path) : NULL;
    const char *s;
    if (v == NULL)
        return CLERK_USER_CLAIM_MISSING;
    if (json_is_string(v)) {
        s = json_string_value(v);
    } else if (json_is_integer(v)) {
        snprintf(buf, buflen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = buf;
    } else {
        return CLERK_USER_CLAIM_WRONG_TYPE;
    }
    if (*s == '\0')
        return CLERK_USER_CLAIM_EMPTY;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return CLERK_USER_CLAIM_CONTROL;
    *user = s;
    return CLERK_USER_CLAIM_OK;
}

const char *clerk_user_claim_problem(clerk_user_claim_result r)
{
    switch (r) {
    case CLERK_USER_CLAIM_OK:
        return "is usable";
    case CLERK_USER_CLAIM_MISSING:
        return "is missing";
    case CLERK_USER_CLAIM_WRONG_TYPE:
        return "is neither a string nor an integer";
    case CLERK_USER_CLAIM_EMPTY:
        return "is empty";
    default:
        return "holds a control character";
    }
}
