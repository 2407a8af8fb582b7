/* Fuzz target: what turns client-chosen text into header text or decides on a client's header
 * name: the reserved-header matcher the scrub uses, the challenge's quoted-string body and
 * whole WWW-Authenticate value, and the header-value sanitiser. Input: '\n'-separated header
 * name, realm, message. */
#include <string.h>
#include <apr_strings.h>
#include "fuzz_common.h"
#include "export.h"
#include "header_text.h"

/* A quoted-string body ends no quoted-string early: every '"' is escaped, no control byte, no
 * trailing lone backslash. */
static void check_quoted_body(const char *q)
{
    size_t n = strlen(q);
    if (n > 2 * CLERK_HEADER_TEXT_MAX)
        __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)q[i];
        if (c < 0x20 || c == 0x7f || c == '"')
            __builtin_trap();
        if (c == '\\') {
            if (i + 1 == n)
                __builtin_trap();
            i++; /* the escaped byte: any visible one, '"' included */
            if ((unsigned char)q[i] < 0x20 || q[i] == 0x7f)
                __builtin_trap();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *f[3];
    fuzz_fields(p, data, size, f, 3);

    if (f[0] != NULL) {
        int reserved = clerk_export_is_reserved_header(f[0]);
        /* case, '-' and '_' never change the answer */
        char *alt = apr_pstrdup(p, f[0]);
        for (char *c = alt; *c; c++) {
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 'a' + 'A');
            else if (*c == '-')
                *c = '_';
        }
        if (clerk_export_is_reserved_header(alt) != reserved)
            __builtin_trap();
        if (reserved != 0 && reserved != 1)
            __builtin_trap();
    }
    if (f[1] != NULL) {
        check_quoted_body(clerk_quoted_string_body(p, f[1]));
        const char *ch = clerk_bearer_challenge(p, f[1], f[2]);
        if (strncmp(ch, "Bearer realm=\"", 14) != 0 || ch[strlen(ch) - 1] != '"')
            __builtin_trap();
    }
    if (f[2] != NULL) {
        const char *s = clerk_header_safe(p, f[2]);
        size_t n = strlen(s);
        if (n > CLERK_HEADER_TEXT_MAX)
            __builtin_trap();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                __builtin_trap();
    }
    apr_pool_destroy(p);
    return 0;
}
