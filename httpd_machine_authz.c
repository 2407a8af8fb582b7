/* `Require clerk-token-type <type>...` and `Require clerk-scope <scope>...` (README "Machine
 * tokens"): thin providers over the request's machine identity. Arguments are checked when the
 * Require line is read; a denied token answers 403 (clerk_authz_forbid_on_failure); without a
 * user they ask for authentication (AUTHZ_DENIED_NO_USER). */
#include <string.h>

#include <apr_strings.h>

#include "httpd.h"
#include "http_config.h"
#include "http_request.h"
#include "ap_provider.h"
#include "mod_auth.h"

#include "httpd_authz.h"
#include "httpd_machine.h"
#include "httpd_request.h"
#include "httpd_status.h"
#include "machine_token.h"

static const char *parse_words(cmd_parms *cmd, const char *line, const void **parsed, int types)
{
    apr_array_header_t *words = apr_array_make(cmd->pool, 2, sizeof(const char *));
    const char *w;
    while (*(w = ap_getword_conf(cmd->pool, &line)) != '\0') {
        if (types && (clerk_token_type_parse(w) == 0 || clerk_token_type_parse(w) == CLERK_TT_ALL))
            return apr_psprintf(cmd->pool,
                                "Require clerk-token-type: '%s' is not a token type "
                                "(session_token, api_key, m2m_token, oauth_token)",
                                w);
        APR_ARRAY_PUSH(words, const char *) = w;
    }
    if (words->nelts == 0)
        return types ? "Require clerk-token-type needs at least one token type"
                     : "Require clerk-scope needs at least one scope";
    *parsed = words;
    return clerk_authz_forbid_on_failure(cmd); /* a denied token answers 403, not 401 */
}

static const char *parse_types(cmd_parms *cmd, const char *line, const void **parsed)
{
    return parse_words(cmd, line, parsed, 1);
}

static const char *parse_scopes(cmd_parms *cmd, const char *line, const void **parsed)
{
    return parse_words(cmd, line, parsed, 0);
}

/* The request's token type name, or NULL when it is not signed in through AuthType Clerk. */
static const char *request_type(request_rec *r, const clerk_machine **m)
{
    clerk_identity id;
    *m = clerk_request_machine(r);
    if (*m)
        return clerk_token_type_name((*m)->type);
    return clerk_request_identity(r, &id) == CLERK_IDENTITY_SIGNED_IN ? "session_token" : NULL;
}

static authz_status check_types(request_rec *r, const char *line, const void *parsed)
{
    const apr_array_header_t *words = parsed;
    const clerk_machine *m;
    if (!r->user)
        return AUTHZ_DENIED_NO_USER;
    const char *t = request_type(r, &m);
    for (int i = 0; t && i < words->nelts; i++)
        if (strcmp(t, APR_ARRAY_IDX(words, i, const char *)) == 0) {
            clerk_status_count_authz(CLERK_AUTHZ_GRANTED);
            return AUTHZ_GRANTED;
        }
    clerk_status_count_authz(CLERK_AUTHZ_DENIED);
    return AUTHZ_DENIED;
}

/* Granted when the machine token holds any of the scopes (a session token holds none). */
static authz_status check_scopes(request_rec *r, const char *line, const void *parsed)
{
    const apr_array_header_t *words = parsed;
    if (!r->user)
        return AUTHZ_DENIED_NO_USER;
    const clerk_machine *m = clerk_request_machine(r);
    if (m && m->scopes) {
        for (int i = 0; i < words->nelts; i++) {
            const char *want = APR_ARRAY_IDX(words, i, const char *);
            size_t n = strlen(want);
            for (const char *s = m->scopes; *s;) {
                size_t w = strcspn(s, " ");
                if (w == n && memcmp(s, want, n) == 0) {
                    clerk_status_count_authz(CLERK_AUTHZ_GRANTED);
                    return AUTHZ_GRANTED;
                }
                s += w;
                s += strspn(s, " ");
            }
        }
    }
    clerk_status_count_authz(CLERK_AUTHZ_DENIED);
    return AUTHZ_DENIED;
}

static const authz_provider types_provider = {check_types, parse_types};
static const authz_provider scopes_provider = {check_scopes, parse_scopes};

void clerk_machine_register_authz_providers(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "clerk-token-type", AUTHZ_PROVIDER_VERSION,
                              &types_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "clerk-scope", AUTHZ_PROVIDER_VERSION,
                              &scopes_provider, AP_AUTH_INTERNAL_PER_CONF);
}
