/* Response header text built from values a client may have chosen. */
#include <string.h>
#include <apr_strings.h>
#include "header_text.h"

const char *clerk_quoted_string_body(apr_pool_t *p, const char *s)
{
    size_t n = strnlen(s, CLERK_HEADER_TEXT_MAX);
    char *out = apr_palloc(p, 2 * n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || (c == '\\' && i + 1 == n))
            *o++ = '\\';
        else if (c == '\\') {
            *o++ = (char)c;
            c = (unsigned char)s[++i];
        }
        *o++ = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    *o = '\0';
    return out;
}

const char *clerk_bearer_challenge(apr_pool_t *p, const char *realm, const char *error_description)
{
    const char *body = clerk_quoted_string_body(p, realm ? realm : "");
    if (!error_description)
        return apr_pstrcat(p, "Bearer realm=\"", body, "\"", NULL);
    return apr_pstrcat(p, "Bearer realm=\"", body,
                       "\", error=\"invalid_token\", error_description=\"",
                       clerk_quoted_string_body(p, error_description), "\"", NULL);
}

const char *clerk_header_safe(apr_pool_t *p, const char *s)
{
    char *out = apr_pstrmemdup(p, s, strnlen(s, CLERK_HEADER_TEXT_MAX));
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
            *c = ' ';
    return out;
}
