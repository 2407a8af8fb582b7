/* JavaScript number text both ways, for values the SDK reads or prints with JS semantics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "js_number.h"
#include "url.h"

static int js_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* JavaScript Number(s) for an ASCII string, NaN when JS gives NaN: trimmed; "" is 0; 0x/0o/0b
 * integers (unsigned); [+-]Infinity; otherwise a signed decimal with optional fraction and
 * exponent, and nothing after it. The syntax is checked here because strtod also takes hex
 * floats, "inf" and "nan", which Number() does not. */
double clerk_js_number(const char *s)
{
    while (js_space(*s))
        s++;
    size_t n = strlen(s);
    while (n && js_space(s[n - 1]))
        n--;
    if (!n)
        return 0;
    char buf[64];
    if (n >= sizeof(buf))
        n = sizeof(buf) - 1; /* longer decimals than any counter: precision is irrelevant */
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (buf[0] == '0' && buf[1] && strchr("xXoObB", buf[1])) {
        int base = (buf[1] == 'x' || buf[1] == 'X') ? 16 : (buf[1] == 'o' || buf[1] == 'O') ? 8 : 2;
        double v = 0;
        if (!buf[2])
            return NAN;
        for (const char *c = buf + 2; *c; c++) {
            int d = clerk_hex_digit(*c);
            if (d < 0 || d >= base)
                return NAN;
            v = v * base + d;
        }
        return v;
    }
    const char *c = buf;
    int neg = 0;
    if (*c == '+' || *c == '-')
        neg = *c++ == '-';
    if (strcmp(c, "Infinity") == 0)
        return neg ? -INFINITY : INFINITY;
    size_t digits = strspn(c, "0123456789");
    c += digits;
    if (*c == '.') {
        size_t frac = strspn(c + 1, "0123456789");
        digits += frac;
        c += 1 + frac;
    }
    if (!digits)
        return NAN;
    if (*c == 'e' || *c == 'E') {
        c++;
        if (*c == '+' || *c == '-')
            c++;
        size_t exp = strspn(c, "0123456789");
        if (!exp)
            return NAN;
        c += exp;
    }
    if (*c)
        return NAN;
    return strtod(buf, NULL);
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
