/* JavaScript number text both ways, for values the SDK reads or prints with JS semantics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "js_number.h"
#include "url.h"

/* Bytes of the JavaScript white space or line terminator that s[0..avail) starts with, or 0:
 * what Number() trims, Unicode spaces (U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
 * U+205F, U+3000, U+FEFF) included, in UTF-8 (a percent-decoded cookie) and a lone 0xA0 byte
 * (JavaScript reads a raw header byte as the code point of that value). */
static size_t js_space(const unsigned char *s, size_t avail)
{
    if (avail >= 1 && (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')))
        return 1;
    if (avail >= 2 && s[0] == 0xc2 && s[1] == 0xa0)
        return 2;
    if (avail >= 1 && s[0] == 0xa0)
        return 1;
    if (avail < 3)
        return 0;
    unsigned c = (unsigned)s[0] << 16 | (unsigned)s[1] << 8 | s[2];
    if (c == 0xe19a80 || (c >= 0xe28080 && c <= 0xe2808a) || c == 0xe280a8 || c == 0xe280a9 ||
        c == 0xe280af || c == 0xe2819f || c == 0xe38080 || c == 0xefbbbf)
        return 3;
    return 0;
}

/* 1 when s[0..n) ends with JavaScript white space; its length in *len. */
static int ends_with_js_space(const unsigned char *s, size_t n, size_t *len)
{
    for (size_t k = 3; k >= 1; k--) /* the longest first: 0xA0 may end a UTF-8 sequence */
        if (k <= n && js_space(s + n - k, k) == k) {
            *len = k;
            return 1;
        }
    return 0;
}

/* JavaScript Number(s), NaN where JS gives NaN: trimmed of JS white space; "" is 0; 0x/0o/0b
 * integers (unsigned); [+-]Infinity; otherwise a signed decimal with optional fraction and
 * exponent, and nothing after it. The syntax is checked here because strtod also takes hex
 * floats, "inf" and "nan", which Number() does not; the whole string is read, however long. */
double clerk_js_number(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str), k;
    while ((k = js_space(s, n)) > 0) {
        s += k;
        n -= k;
    }
    while (ends_with_js_space(s, n, &k))
        n -= k;
    if (!n)
        return 0;
    if (n > 2 && s[0] == '0' && strchr("xXoObB", s[1])) {
        int base = (s[1] == 'x' || s[1] == 'X') ? 16 : (s[1] == 'o' || s[1] == 'O') ? 8 : 2;
        double v = 0;
        for (size_t i = 2; i < n; i++) {
            int d = clerk_hex_digit((char)s[i]);
            if (d < 0 || d >= base)
                return NAN;
            v = v * base + d;
        }
        return v;
    }
    size_t i = 0;
    int neg = 0;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
    }
    if (n - i == 8 && memcmp(s + i, "Infinity", 8) == 0)
        return neg ? -INFINITY : INFINITY;
    size_t digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (!digits)
        return NAN;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t exp = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, exp++;
        if (!exp)
            return NAN;
    }
    if (i != n)
        return NAN;
    /* s[0..n) is a plain decimal followed by white space or the end, where strtod stops. */
    return strtod((const char *)s, NULL);
}

/* JavaScript Number.parseInt(s) || 0: leading white space (as Number() trims it), a sign, then
 * decimal digits up to the first other character; no digits is 0. Clamped far beyond any real
 * timestamp. */
int64_t clerk_js_parse_int(const char *s)
{
    if (!s)
        return 0;
    for (size_t k; (k = js_space((const unsigned char *)s, strlen(s))) > 0;)
        s += k;
    int neg = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    int64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        if (v < (INT64_C(1) << 52))
            v = v * 10 + (*s - '0');
    return neg ? -v : v;
}

/* JavaScript's Number::toString for a finite double: the shortest digits that read back as d,
 * in plain notation for decimal exponents from -6 to 20, else as d.ddde+N. */
void clerk_js_number_text(double d, char *out, size_t outlen)
{
    if (d == 0) {
        snprintf(out, outlen, "0");
        return;
    }
    int neg = d < 0;
    if (neg)
        d = -d;
    char sci[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof(sci), "%.*e", prec - 1, d);
        if (strtod(sci, NULL) == d)
            break;
    }
    /* Digits before 'e' (whatever the locale's decimal mark is), then the exponent. */
    char digits[20];
    int k = 0;
    const char *c = sci;
    for (; *c && *c != 'e' && *c != 'E'; c++) {
        if (*c >= '0' && *c <= '9' && k < (int)sizeof(digits) - 1)
            digits[k++] = *c;
    }
    digits[k] = '\0';
    int n = (*c ? atoi(c + 1) : 0) + 1; /* d = 0.digits x 10^n */

    char *o = out;
    size_t left = outlen;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(o, left, __VA_ARGS__);                                                   \
        if (w_ < 0 || (size_t)w_ >= left)                                                          \
            return;                                                                                \
        o += w_;                                                                                   \
        left -= (size_t)w_;                                                                        \
    } while (0)
    if (neg)
        PUT("-");
    if (k <= n && n <= 21) {
        PUT("%s", digits);
        for (int i = 0; i < n - k; i++)
            PUT("0");
    } else if (0 < n && n <= 21) {
        PUT("%.*s.%s", n, digits, digits + n);
    } else if (-6 < n && n <= 0) {
        PUT("0.");
        for (int i = 0; i < -n; i++)
            PUT("0");
        PUT("%s", digits);
    } else {
        int e = n - 1;
        if (k == 1)
            PUT("%se%c%d", digits, e < 0 ? '-' : '+', e < 0 ? -e : e);
        else
            PUT("%c.%se%c%d", digits[0], digits + 1, e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
#undef PUT
}

int clerk_js_truthy(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return 0;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_number(v))
        return json_number_value(v) != 0;
    return 1;
}
