/* JavaScript number text both ways, where the SDK's JS semantics decide a value. */
#ifndef CLERK_JS_NUMBER_H
#define CLERK_JS_NUMBER_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Number(s) for an ASCII string, NaN where JavaScript gives NaN (never reads past the NUL). */
double clerk_js_number(const char *s);

/* Number.parseInt(s) || 0 (decimal, leading digits only), clamped far beyond any timestamp. */
int64_t clerk_js_parse_int(const char *s);

/* 1 when the JSON value is truthy in JavaScript (absent, null, false, "", 0 are not). */
int clerk_js_truthy(const json_t *v);

/* Writes String(d) for a finite double d as JavaScript prints it (truncated to outlen). */
void clerk_js_number_text(double d, char *out, size_t outlen);

#endif
