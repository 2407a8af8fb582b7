/* Strict JSON for hostile input. jansson parses recursively, so nesting is measured first by a
 * linear scan and deep documents never reach it; duplicate keys are refused because two parsers
 * that pick different duplicates would see different claims. */
#include "json_strict.h"

#include <math.h>
#include <stdio.h>

/* 0 when buf has no raw NUL byte and no nesting deeper than max_depth outside strings. The
 * scan need not validate JSON (jansson does); it only has to bound what jansson will see. */
static int prescan(const char *buf, size_t len, int max_depth, clerk_error *err)
{
    int depth = 0, in_string = 0, escaped = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (c == '\0') {
            if (err)
                clerk_error_set(err, CLERK_R_NONE, "NUL byte in JSON");
            return -1;
        }
        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (c == '\\')
                escaped = 1;
            else if (c == '"')
                in_string = 0;
            continue;
        }
        if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                if (err)
                    clerk_error_set(err, CLERK_R_NONE, "JSON nested deeper than %d", max_depth);
                return -1;
            }
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

/* JavaScript has one number type: 1700000000.0 and 1.7e9 are the integer 1700000000 there, and
 * 9007199254740993 is 9007199254740992. Each number is made what JSON.parse gives, so every
 * reader (time claims, export, Require clerk-claim) sees what the SDK sees, whichever parse
 * jansson took. Depth is bounded by the prescan. */
/* The number JSON.parse would give for x, as a new jansson value when it differs in kind: whole
 * reals up to 2^53 become integers, integers beyond 2^53 become the rounded real JS holds
 * (one rounding from the exact value, as JS's own parse). NULL when x stays as it is. */
static json_t *as_javascript_number(const json_t *x)
{
    if (json_is_real(x)) {
        double d = json_real_value(x);
        return d == floor(d) && fabs(d) <= 0x1p53 ? json_integer((json_int_t)d) : NULL;
    }
    if (json_is_integer(x)) {
        json_int_t i = json_integer_value(x);
        return i > (json_int_t)1 << 53 || i < -((json_int_t)1 << 53) ? json_real((double)i) : NULL;
    }
    return NULL;
}

static void integers_as_javascript(json_t *v)
{
    json_t *n;
    if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
            json_t *x = json_object_iter_value(it);
            if ((n = as_javascript_number(x)))
                json_object_iter_set_new(v, it, n);
            else
                integers_as_javascript(x);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *x = json_array_get(v, i);
            if ((n = as_javascript_number(x)))
                json_array_set_new(v, i, n);
            else
                integers_as_javascript(x);
        }
    }
}

json_t *clerk_json_parse_object(const char *buf, size_t len, int max_depth, clerk_error *err)
{
    if (err)
        clerk_error_set(err, CLERK_R_NONE, "%s", "");
    if (buf == NULL) {
        if (err)
            clerk_error_set(err, CLERK_R_NONE, "no JSON");
        return NULL;
    }
    if (prescan(buf, len, max_depth, err) != 0)
        return NULL;

    /* jansson's own text quotes the input near the error: keep it out of messages that may be
     * logged, and say only what kind of problem it was. Without JSON_ALLOW_NUL, "\u0000" in a
     * string is refused too. */
    json_error_t jerr;
    /* differences.h: duplicate-json-keys, nul-in-json-string, number-beyond-double */
    json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL && json_error_code(&jerr) == json_error_numeric_overflow)
        /* An integer beyond 64 bits is an ordinary (rounded) number to JSON.parse. */
        v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
    if (v == NULL) {
        if (err) {
            switch (json_error_code(&jerr)) {
            case json_error_duplicate_key:
                clerk_error_set(err, CLERK_R_NONE, "duplicate key in JSON object");
                break;
            case json_error_numeric_overflow:
                clerk_error_set(err, CLERK_R_NONE, "number out of range in JSON");
                break;
            case json_error_null_character:
            case json_error_null_byte_in_key:
                clerk_error_set(err, CLERK_R_NONE, "NUL character in JSON string");
                break;
            default:
                clerk_error_set(err, CLERK_R_NONE, "not valid JSON");
            }
        }
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        if (err)
            clerk_error_set(err, CLERK_R_NONE, "JSON is not an object");
        return NULL;
    }
    integers_as_javascript(v);
    return v;
}
