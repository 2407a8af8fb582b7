/* The directives that read key material (ClerkPublishableKey, ClerkSecretKey[File],
 * ClerkJWTKey, ClerkJWKSFile, ClerkSignedHeadersKeyFile): each is parsed here, once, into the
 * configuration pool, so `apachectl configtest` names the line of a bad key; the key source
 * remembers where it was set (docs/design.md#configuration-errors). */
#include <stdlib.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "httpd.h"
#include "http_config.h"

#include "httpd_config.h"
#include "httpd_directives.h"
#include "httpd_key_directives.h"

#include "handoff.h"
#include "jwk.h"
#include "publishable_key.h"

#define MAX_SECRET_FILE_BYTES 4096

/* httpd leaves ${VAR} as written (with warning AH00111) when VAR is neither Defined nor in its
 * environment; say so instead of "not a key". */
static const char *unsubstituted(cmd_parms *cmd, const char *arg)
{
    size_t n = strlen(arg);
    if (n > 3 && arg[0] == '$' && arg[1] == '{' && arg[n - 1] == '}')
        return clerk_cmd_error(
            cmd,
            "%s was not substituted: set it with Define or in httpd's environment "
            "(e.g. export it in /etc/apache2/envvars)",
            arg);
    return NULL;
}

/* "line N of FILE" of the directive being read, for messages about it later. */
static const char *directive_at(cmd_parms *cmd)
{
    const ap_directive_t *d = cmd->directive;
    return d ? apr_psprintf(cmd->pool, "line %d of %s", d->line_num, d->filename) : NULL;
}

/* Remembers where a section's key source starts (its first key directive). */
void clerk_note_key_source(cmd_parms *cmd, clerk_dir_conf *d)
{
    d->key_server = cmd->server;
    if (!d->keys_at) {
        const char *at = directive_at(cmd);
        d->keys_at = at ? apr_pstrcat(cmd->pool, cmd->cmd->name, " on ", at, NULL) : NULL;
    }
}

static apr_status_t keyset_cleanup(void *ks)
{
    clerk_keyset_unref(ks);
    return APR_SUCCESS;
}

/* A new key set released with pool p (the configuration pool, or the request pool for
 * .htaccess). */
static clerk_keyset *pool_keyset(apr_pool_t *p)
{
    clerk_keyset *ks = clerk_keyset_new();
    if (ks)
        apr_pool_cleanup_register(p, ks, keyset_cleanup, apr_pool_cleanup_null);
    return ks;
}

/* Reads a whole small file (path relative to ServerRoot) into a NUL-terminated pool buffer. */
static const char *read_config_file(cmd_parms *cmd, const char *path, apr_size_t max, char **out,
                                    apr_size_t *outlen)
{
    const char *full = ap_server_root_relative(cmd->temp_pool, path);
    apr_file_t *f;
    apr_finfo_t fi;
    char errbuf[120];
    apr_status_t rv;

    if (!full)
        return clerk_cmd_error(cmd, "invalid file path '%s'", path);
    rv = apr_file_open(&f, full, APR_FOPEN_READ | APR_FOPEN_BINARY, APR_OS_DEFAULT, cmd->temp_pool);
    if (rv != APR_SUCCESS)
        return clerk_cmd_error(cmd, "cannot open '%s': %s", full,
                               apr_strerror(rv, errbuf, sizeof(errbuf)));
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
    if (rv == APR_SUCCESS && fi.filetype != APR_REG) {
        apr_file_close(f);
        return clerk_cmd_error(cmd, "'%s' is not a regular file", full);
    }
    if (rv == APR_SUCCESS && fi.size > (apr_off_t)max) {
        apr_file_close(f);
        return clerk_cmd_error(cmd, "'%s' is larger than %" APR_SIZE_T_FMT " bytes", full, max);
    }
    char *buf = apr_palloc(cmd->pool, max + 1);
    apr_size_t n = 0;
    rv = apr_file_read_full(f, buf, max, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF)
        return clerk_cmd_error(cmd, "cannot read '%s': %s", full,
                               apr_strerror(rv, errbuf, sizeof(errbuf)));
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return NULL;
}

const char *clerk_set_publishable_key(cmd_parms *cmd, void *cfg, const char *arg)
{
    clerk_dir_conf *d = cfg;
    clerk_publishable_key *pk;
    char err[256];
    const char *e = unsubstituted(cmd, arg);

    if (e)
        return e;
    if (clerk_publishable_key_parse(cmd->pool, arg, &pk, err, sizeof(err)) != 0)
        return clerk_cmd_error(cmd, "%s", err);
    d->pk = pk;
    d->pk_at = directive_at(cmd);
    return NULL;
}

static const char *check_secret_key(cmd_parms *cmd, clerk_dir_conf *d, const char *key)
{
    char err[256];
    if (clerk_secret_key_check(key, err, sizeof(err)) != 0)
        return clerk_cmd_error(cmd, "%s", err);
    d->secret_key = key;
    clerk_note_key_source(cmd, d);
    return NULL;
}

const char *clerk_set_secret_key(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = unsubstituted(cmd, arg);
    return e ? e : check_secret_key(cmd, cfg, arg);
}

/* A key file as operators write it (echo, an editor's final newline): its text less the white
 * space around it, so both key files accept the same files. */
static const char *read_key_file(cmd_parms *cmd, const char *path, char **out, apr_size_t *outlen)
{
    char *buf;
    apr_size_t n;
    const char *e = read_config_file(cmd, path, MAX_SECRET_FILE_BYTES, &buf, &n);

    if (e)
        return e;
    while (n > 0 && apr_isspace(buf[n - 1]))
        buf[--n] = '\0';
    while (apr_isspace(*buf)) {
        buf++;
        n--;
    }
    *out = buf;
    *outlen = n;
    return NULL;
}

const char *clerk_set_secret_key_file(cmd_parms *cmd, void *cfg, const char *arg)
{
    char *buf;
    apr_size_t n;
    const char *e = read_key_file(cmd, arg, &buf, &n);

    return e ? e : check_secret_key(cmd, cfg, buf);
}

/* ClerkSignedHeadersKeyFile: the HMAC key of the signed hand-off, read once here. */
const char *clerk_set_handoff_key_file(cmd_parms *cmd, void *cfg, const char *arg)
{
    char *buf;
    apr_size_t n;
    const char *e = read_key_file(cmd, arg, &buf, &n);
    if (e)
        return e;
    if (strlen(buf) != n)
        return clerk_cmd_error(cmd, "'%s' holds a NUL byte", arg);
    if (n < CLERK_HANDOFF_KEY_MIN)
        return clerk_cmd_error(cmd,
                               "'%s' holds %" APR_SIZE_T_FMT
                               " bytes of key; at least %d are needed "
                               "(openssl rand -hex 32)",
                               arg, n, CLERK_HANDOFF_KEY_MIN);
    ((clerk_dir_conf *)cfg)->handoff_key = apr_pstrmemdup(cmd->pool, buf, n);
    return NULL;
}

/* PEM text that went through a one-line variable (${CLERK_JWT_KEY}) often carries the two
 * characters '\' 'n' where newlines were; the core copes with spaces but not with those. */
static char *normalise_pem(apr_pool_t *p, const char *in)
{
    char *out = apr_palloc(p, strlen(in) + 1), *o = out;
    for (const char *s = in; *s; s++) {
        if (s[0] == '\\' && s[1] == 'n') {
            *o++ = '\n';
            s++;
        } else if (s[0] == '\\' && s[1] == 'r') {
            s++;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

/* RAW_ARGS: the PEM may arrive unquoted with spaces (one-line paste) or quoted. */
const char *clerk_set_jwt_key(cmd_parms *cmd, void *cfg, const char *args)
{
    clerk_dir_conf *d = cfg;
    char err[256];
    const char *text = args;
    char *buf;
    apr_size_t len;
    const char *e;

    while (apr_isspace(*text))
        text++;
    if (*text == '"' || *text == '\'') {
        const char *rest = text;
        text = ap_getword_conf(cmd->pool, &rest);
        while (apr_isspace(*rest))
            rest++;
        if (*rest)
            return clerk_cmd_error(cmd, "unexpected text after the quoted key");
    } else {
        char *t = apr_pstrdup(cmd->pool, text);
        len = strlen(t);
        while (len > 0 && apr_isspace(t[len - 1]))
            t[--len] = '\0';
        text = t;
    }
    if (!*text)
        return clerk_cmd_error(cmd, "expects PEM text or file:<path>");
    if ((e = unsubstituted(cmd, text)) != NULL)
        return e;

    if (strncmp(text, "file:", 5) == 0) {
        if ((e = read_config_file(cmd, text + 5, CLERK_PEM_MAX_BYTES, &buf, &len)) != NULL)
            return e;
    } else {
        buf = normalise_pem(cmd->pool, text);
        len = strlen(buf);
    }
    clerk_keyset *ks = pool_keyset(cmd->pool);
    if (!ks)
        return clerk_cmd_error(cmd, "out of memory");
    if (clerk_keyset_add_pem(ks, buf, len, err, sizeof(err)) != 0)
        return clerk_cmd_error(cmd, "%s", err);
    d->pem_keys = ks;
    clerk_note_key_source(cmd, d);
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The kids of a loaded JWKS, sorted and joined with ", " as Clerk lists them. */
static const char *jwks_kid_list(apr_pool_t *p, const clerk_keyset *ks, const char *json,
                                 apr_size_t len)
{
    json_t *doc = json_loadb(json, len, 0, NULL);
    apr_array_header_t *kids = apr_array_make(p, 4, sizeof(const char *));
    json_t *keys = json_object_get(doc, "keys");
    size_t i;
    json_t *jwk;

    json_array_foreach(keys, i, jwk)
    {
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        const clerk_key *k = kid ? clerk_keyset_find(ks, kid) : NULL;
        if (k && k->kid && strcmp(k->kid, kid) == 0)
            APR_ARRAY_PUSH(kids, const char *) = apr_pstrdup(p, kid);
    }
    json_decref(doc);
    qsort(kids->elts, (size_t)kids->nelts, sizeof(const char *), cmp_str);
    const char *list = "";
    for (int k = 0; k < kids->nelts; k++)
        list = apr_pstrcat(p, list, k ? ", " : "", APR_ARRAY_IDX(kids, k, const char *), NULL);
    return list;
}

const char *clerk_set_jwks_file(cmd_parms *cmd, void *cfg, const char *arg)
{
    clerk_dir_conf *d = cfg;
    char err[256];
    char *buf;
    apr_size_t len;
    const char *e = read_config_file(cmd, arg, CLERK_JWKS_MAX_BYTES, &buf, &len);

    if (e)
        return e;
    clerk_keyset *ks = pool_keyset(cmd->pool);
    if (!ks)
        return clerk_cmd_error(cmd, "out of memory");
    if (clerk_keyset_add_jwks(ks, buf, len, err, sizeof(err)) < 0)
        return clerk_cmd_error(cmd, "%s: %s", arg, err);
    d->jwks_keys = ks;
    d->jwks_kids = jwks_kid_list(cmd->pool, ks, buf, len);
    clerk_note_key_source(cmd, d);
    return NULL;
}
