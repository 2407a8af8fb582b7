/* The remote keys' shared store on httpd's socache (docs/design.md#socache-records), and what
 * keeps its other writers out: the parent's host state (a record key and one slot per source,
 * whose lease is that source's refresh lock) and the records carried across a graceful restart.
 *
 * Two global mutexes (clerk_jwks_gen): a short one around socache calls for providers that are
 * not multi-process safe (shmcb), and the refresh lock, only ever try-locked and held for one
 * whole fetch, so a request never waits on it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_atomic.h>
#include <apr_shm.h>
#include <apr_strings.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_provider.h"
#include "ap_socache.h"

#include "httpd_jwks.h"
#include "httpd_jwks_impl.h"
#include "httpd_logno.h"

#include "jwks_remote.h"

APLOG_USE_MODULE(clerk_auth);

#define DEFAULT_CACHE       "shmcb"
#define SOCACHE_NAME_PREFIX "clerk-jwks"

/* What the cache's other writers cannot reach (SECURITY.md, "Caches that trust nobody else").
 * Made once per httpd parent, in its process pool, so it survives graceful restarts, and
 * inherited by every child through fork: a random key for the records of on-host caches (shmcb,
 * dbm), and an anonymous shared mapping with one slot per source. A CGI or PHP-FPM process
 * running as the httpd user can open the shmcb segment or the dbm file, but it is exec'd, so it
 * has neither the key nor the mapping. Slots are claimed by the parent in post_config only (one
 * thread); children read a slot's key and update its numbers with atomics, never a lock. */
#define HOST_STATE_KEY "clerk_auth:jwks-host-state"
#define SLOTS_MAX      128
#define LEASE_EXTRA_S  5
typedef struct source_slot {
    char key[96];                      /* the source's store key; "" when free */
    volatile apr_uint64_t newest;      /* fetch time (s) of the newest set installed on this host */
    volatile apr_uint64_t lease_until; /* apr_time_t until which one fetch holds the slot; 0 free */
    volatile apr_uint64_t lease_len;   /* the source's fetch timeout and some, in apr_time_t;
                                          only ever raised, by the parent while children of the
                                          previous generation read it: atomics both sides */
} source_slot;
struct host_state {
    unsigned char mac_key[32];
    source_slot *slots; /* SLOTS_MAX of them; NULL when the mapping could not be made */
};

/* Records handed from one generation to the next (see carry_records). Only the parent touches
 * them, in post_config and in a pconf pre-cleanup, both single-threaded: no mutex needed. httpd
 * unloads and reloads this module between generations, so the list is kept as process pool
 * userdata (CARRIED_KEY), never in a static. */
#define CARRIED_KEY "clerk_auth:jwks-carried"
typedef struct carried_record {
    char *key;
    unsigned char *val;
    size_t len;
    int64_t expires;
    struct carried_record *next;
} carried_record;

/* ---- socache instances ------------------------------------------------------------------ */

static apr_status_t cache_destroy(void *data)
{
    jwks_cache *c = data;
    if (c->inst && c->initialised)
        c->provider->destroy(c->inst, c->s);
    c->initialised = 0;
    return APR_SUCCESS;
}

/* "provider" or "provider:args", as SSLSessionCache and AuthnCacheSOCache take it. */
const char *clerk_jwks_cache_make(cmd_parms *cmd, apr_pool_t *p, const char *spec, jwks_cache **out)
{
    const char *colon = ap_strchr_c(spec, ':');
    const char *name =
        colon ? apr_pstrmemdup(cmd->temp_pool, spec, (apr_size_t)(colon - spec)) : spec;
    const char *args = colon ? colon + 1 : NULL;
    jwks_cache *c = apr_pcalloc(p, sizeof(*c));

    c->spec = apr_pstrdup(p, spec);
    c->provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name, AP_SOCACHE_PROVIDER_VERSION);
    if (!c->provider)
        return apr_psprintf(cmd->pool,
                            "socache provider '%s' is not loaded (LoadModule "
                            "socache_%s_module before this line)",
                            name, name);
    const char *err = c->provider->create(&c->inst, args, cmd->temp_pool, p);
    if (err)
        return apr_psprintf(cmd->pool, "%s: %s", spec, err);
    c->notmpsafe = (c->provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) != 0;
    c->on_host = strcmp(name, "shmcb") == 0 || strcmp(name, "dbm") == 0;
    *out = c;
    return NULL;
}

/* The default shmcb instance, made anew each generation (the last one lived in its pconf). */
int clerk_jwks_default_cache(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    const ap_socache_provider_t *prov =
        ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, DEFAULT_CACHE, AP_SOCACHE_PROVIDER_VERSION);
    if (!prov) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     CLERK_LOGNO(0406) "mod_socache_shmcb is not loaded and no ClerkCache "
                                       "is set: each httpd process fetches the JWKS on "
                                       "its own (load socache_shmcb_module or set "
                                       "ClerkCache)");
        return DECLINED;
    }
    jwks_cache *c = apr_pcalloc(pconf, sizeof(*c));
    c->spec = DEFAULT_CACHE;
    c->provider = prov;
    const char *err = prov->create(&c->inst, NULL, ptemp, pconf);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     CLERK_LOGNO(0407) "default JWKS cache (shmcb): %s", err);
        return 500;
    }
    c->notmpsafe = (prov->flags & AP_SOCACHE_FLAG_NOTMPSAFE) != 0;
    c->on_host = 1;
    clerk_jwks_gen.default_cache = c;
    return OK;
}

/* ---- the store on socache ---------------------------------------------------------------- */

static int store_get(void *ctx, const char *key, unsigned char *buf, size_t cap, size_t *len)
{
    jwks_cache *c = ctx;
    apr_pool_t *p;
    unsigned int n = cap > 0xffffffffu ? 0xffffffffu : (unsigned int)cap;
    apr_status_t rv;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS)
        return -1;
    if (c->notmpsafe && clerk_jwks_gen.data_mutex &&
        apr_global_mutex_lock(clerk_jwks_gen.data_mutex) != APR_SUCCESS) {
        apr_pool_destroy(p);
        return -1;
    }
    rv = c->provider->retrieve(c->inst, c->s, (const unsigned char *)key, (unsigned int)strlen(key),
                               buf, &n, p);
    if (c->notmpsafe && clerk_jwks_gen.data_mutex)
        apr_global_mutex_unlock(clerk_jwks_gen.data_mutex);
    apr_pool_destroy(p);
    if (rv == APR_SUCCESS) {
        *len = n;
        return 0;
    }
    return APR_STATUS_IS_NOTFOUND(rv) || APR_STATUS_IS_ENOSPC(rv) ? 1 : -1;
}

static int store_set(void *ctx, const char *key, const unsigned char *val, size_t len,
                     int64_t expires_at)
{
    jwks_cache *c = ctx;
    apr_pool_t *p;
    apr_status_t rv;

    if (len > 0xffffffffu || apr_pool_create(&p, NULL) != APR_SUCCESS)
        return -1;
    if (c->notmpsafe && clerk_jwks_gen.data_mutex &&
        apr_global_mutex_lock(clerk_jwks_gen.data_mutex) != APR_SUCCESS) {
        apr_pool_destroy(p);
        return -1;
    }
    rv = c->provider->store(c->inst, c->s, (const unsigned char *)key, (unsigned int)strlen(key),
                            apr_time_from_sec(expires_at), (unsigned char *)val, (unsigned int)len,
                            p);
    if (c->notmpsafe && clerk_jwks_gen.data_mutex)
        apr_global_mutex_unlock(clerk_jwks_gen.data_mutex);
    apr_pool_destroy(p);
    return rv == APR_SUCCESS ? 0 : -1;
}

/* The lease this thread took (a thread runs one fetch at a time): unlock frees only its own,
 * never one another process took after it expired. */
static _Thread_local apr_uint64_t my_lease;

static source_slot *slot_for(const char *key)
{
    return clerk_jwks_gen.slot_of ? apr_hash_get(clerk_jwks_gen.slot_of, key, APR_HASH_KEY_STRING)
                                  : NULL;
}

/* Each source has its own lock: its slot's lease, taken by compare-and-swap and never waited
 * for, so a fetch that hangs holds up no other source. The lease ends on its own after the
 * source's fetch timeout (and LEASE_EXTRA_S), which also frees it when its holder died. A source
 * first named by an .htaccess has no slot and shares the one global refresh mutex. */
static int store_trylock(void *ctx, const char *key)
{
    source_slot *sl = slot_for(key);
    if (sl) {
        apr_uint64_t now = (apr_uint64_t)apr_time_now();
        apr_uint64_t cur = apr_atomic_read64(&sl->lease_until);
        if (cur > now)
            return 1;
        /* Read once: the unlock's compare-and-swap must see exactly the value taken. */
        apr_uint64_t until = now + apr_atomic_read64(&sl->lease_len);
        if (apr_atomic_cas64(&sl->lease_until, until, cur) != cur)
            return 1;
        my_lease = until;
        return 0;
    }
    if (!clerk_jwks_gen.refresh_mutex)
        return -1;
    apr_status_t rv = apr_global_mutex_trylock(clerk_jwks_gen.refresh_mutex);
    return rv == APR_SUCCESS ? 0 : APR_STATUS_IS_EBUSY(rv) ? 1 : -1;
}

static void store_unlock(void *ctx, const char *key)
{
    source_slot *sl = slot_for(key);
    if (sl)
        apr_atomic_cas64(&sl->lease_until, 0, my_lease);
    else
        apr_global_mutex_unlock(clerk_jwks_gen.refresh_mutex);
}

static int64_t store_newest(void *ctx, const char *key)
{
    source_slot *sl = slot_for(key);
    return sl ? (int64_t)apr_atomic_read64(&sl->newest) : 0;
}

static void store_installed(void *ctx, const char *key, int64_t fetched_at)
{
    source_slot *sl = slot_for(key);
    if (!sl || fetched_at <= 0)
        return;
    for (;;) {
        apr_uint64_t cur = apr_atomic_read64(&sl->newest);
        if ((apr_uint64_t)fetched_at <= cur ||
            apr_atomic_cas64(&sl->newest, (apr_uint64_t)fetched_at, cur) == cur)
            return;
    }
}

static void store_clock_back(void *ctx, const char *key, int64_t t)
{
    source_slot *sl = slot_for(key);
    if (!sl || t <= 0)
        return;
    for (;;) {
        apr_uint64_t cur = apr_atomic_read64(&sl->newest);
        if (cur <= (apr_uint64_t)t || apr_atomic_cas64(&sl->newest, (apr_uint64_t)t, cur) == cur)
            return;
    }
}

host_state *clerk_jwks_host_state(server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    void *v = NULL;
    apr_pool_userdata_get(&v, HOST_STATE_KEY, pp);
    if (v)
        return v;
    host_state *h = apr_pcalloc(pp, sizeof(*h));
    apr_status_t rv = apr_generate_random_bytes(h->mac_key, sizeof(h->mac_key));
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     CLERK_LOGNO(1400) "no random bytes for the JWKS record key");
        return NULL;
    }
    apr_shm_t *shm = NULL;
    rv = apr_shm_create(&shm, SLOTS_MAX * sizeof(source_slot), NULL, pp); /* anonymous */
    if (rv == APR_SUCCESS) {
        h->slots = apr_shm_baseaddr_get(shm);
        memset(h->slots, 0, SLOTS_MAX * sizeof(source_slot));
    } else {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     CLERK_LOGNO(1401) "no anonymous shared memory: JWKS sources share one "
                                       "refresh lock and a replayed record is not detected");
    }
    apr_pool_userdata_set(h, HOST_STATE_KEY, apr_pool_cleanup_null, pp);
    return h;
}

const unsigned char *clerk_jwks_host_mac_key(apr_size_t *len)
{
    host_state *host = clerk_jwks_gen.host;
    *len = host ? sizeof(host->mac_key) : 0;
    return host ? host->mac_key : NULL;
}

void clerk_jwks_assign_slots(apr_pool_t *pconf, server_rec *s)
{
    const host_state *host = clerk_jwks_gen.host;
    clerk_jwks_gen.slot_of = apr_hash_make(pconf);
    if (!host || !host->slots)
        return;
    /* The longest fetch any server here may make: a lease outlives every fetch. */
    apr_uint64_t lease = 0;
    for (server_rec *sv = s; sv; sv = sv->next) {
        clerk_fetch_settings fs;
        clerk_server_fetch_settings(sv, &fs);
        apr_uint64_t len = (apr_uint64_t)apr_time_from_msec(fs.timeout_ms) +
                           (apr_uint64_t)apr_time_from_sec(LEASE_EXTRA_S);
        if (len > lease)
            lease = len;
    }
    int full = 0;
    for (apr_hash_index_t *hi = apr_hash_first(pconf, clerk_jwks_gen.remotes); hi;
         hi = apr_hash_next(hi)) {
        clerk_jwks_remote *r = apr_hash_this_val(hi);
        const char *key = clerk_jwks_remote_store_key(r);
        if (!clerk_jwks_remote_shared(r) || strlen(key) >= sizeof(host->slots[0].key))
            continue;
        source_slot *sl = NULL;
        for (int i = 0; i < SLOTS_MAX && !sl; i++)
            if (strcmp(host->slots[i].key, key) == 0)
                sl = &host->slots[i];
        for (int i = 0; i < SLOTS_MAX && !sl; i++)
            if (!host->slots[i].key[0]) {
                sl = &host->slots[i];
                apr_cpystrn(sl->key, key, sizeof(sl->key));
            }
        if (!sl) {
            full = 1;
            continue;
        }
        if (lease > apr_atomic_read64(&sl->lease_len))
            apr_atomic_set64(&sl->lease_len, lease);
        apr_hash_set(clerk_jwks_gen.slot_of, key, APR_HASH_KEY_STRING, sl);
    }
    if (full)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     CLERK_LOGNO(1402) "more than %d JWKS sources since httpd started: the "
                                       "others share one refresh lock",
                     SLOTS_MAX);
}

int clerk_jwks_cache_init(apr_pool_t *pconf, server_rec *s, jwks_cache *c, int n)
{
    if (c->initialised)
        return OK;
    struct ap_socache_hints hints = {80, 4096, CLERK_JWKS_DEFAULT_REFRESH_S};
    const char *name = n ? apr_psprintf(pconf, SOCACHE_NAME_PREFIX "%d", n) : SOCACHE_NAME_PREFIX;
    c->s = s;
    apr_status_t rv = c->provider->init(c->inst, name, &hints, s, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     CLERK_LOGNO(0404) "ClerkCache %s: cannot initialise the cache", c->spec);
        return 500;
    }
    c->initialised = 1;
    c->store.get = store_get;
    c->store.set = store_set;
    c->store.trylock = store_trylock;
    c->store.unlock = store_unlock;
    c->store.newest = store_newest;
    c->store.installed = store_installed;
    c->store.clock_back = store_clock_back;
    c->store.ctx = c;
    apr_pool_cleanup_register(pconf, c, cache_destroy, apr_pool_cleanup_null);
    return OK;
}

static void free_carried(carried_record *carried)
{
    while (carried) {
        carried_record *next = carried->next;
        free(carried->key);
        free(carried->val);
        free(carried);
        carried = next;
    }
}

/* An on-host cache (shmcb) dies with its generation, so a graceful restart during a Clerk
 * outage would leave every new child without keys, signing everyone out although the last
 * good set is still within ClerkJWKSMaxStale. Before the old cache goes (a pre-cleanup,
 * it runs before every cleanup and sub-pool of pconf), the parent copies each source's record out;
 * the next post_config writes it into the new cache. The record is signed and dated, so the policy
 * still checks it and still enforces max-stale. */
static apr_status_t carry_records(void *process_pool)
{
    void *v = NULL; /* a list no generation took (it had no remote source): drop it */
    apr_pool_userdata_get(&v, CARRIED_KEY, process_pool);
    apr_pool_userdata_set(NULL, CARRIED_KEY, apr_pool_cleanup_null, process_pool);
    free_carried(v);
    carried_record *carried = NULL;
    if (!clerk_jwks_gen.source_caches)
        return APR_SUCCESS;
    apr_pool_t *tmp;
    if (apr_pool_create(&tmp, NULL) != APR_SUCCESS)
        return APR_SUCCESS;
    for (apr_hash_index_t *hi = apr_hash_first(tmp, clerk_jwks_gen.source_caches); hi;
         hi = apr_hash_next(hi)) {
        const void *key;
        void *val;
        apr_hash_this(hi, &key, NULL, &val);
        jwks_cache *c = val;
        if (!c->on_host || !c->initialised)
            continue; /* memcached/redis outlive the generation on their own */
        size_t cap = CLERK_JWKS_DEFAULT_MAX_BODY + CLERK_JWKS_RECORD_OVERHEAD, len = 0;
        carried_record *cr = calloc(1, sizeof(*cr));
        unsigned char *buf = malloc(cap);
        char *k = strdup(key);
        if (!cr || !buf || !k || store_get(c, key, buf, cap, &len) != 0) {
            free(cr);
            free(buf);
            free(k);
            continue;
        }
        cr->key = k;
        cr->val = buf;
        cr->len = len;
        cr->expires = (int64_t)apr_time_sec(apr_time_now()) + 86400;
        cr->next = carried;
        carried = cr;
    }
    apr_pool_destroy(tmp);
    clerk_jwks_gen.source_caches = NULL;
    /* Owned through the userdata now. */
    apr_pool_userdata_set(carried, CARRIED_KEY, apr_pool_cleanup_null, process_pool);
    return APR_SUCCESS;
}

void clerk_jwks_carry_over(apr_pool_t *pconf, server_rec *s)
{
    int n = 0;
    void *v = NULL;
    apr_pool_userdata_get(&v, CARRIED_KEY, s->process->pool);
    apr_pool_userdata_set(NULL, CARRIED_KEY, apr_pool_cleanup_null, s->process->pool);
    carried_record *carried = v;
    for (carried_record *cr = carried; cr; cr = cr->next) {
        jwks_cache *c = clerk_jwks_gen.source_caches ? apr_hash_get(clerk_jwks_gen.source_caches,
                                                                    cr->key, APR_HASH_KEY_STRING)
                                                     : NULL;
        if (c && c->initialised && store_set(c, cr->key, cr->val, cr->len, cr->expires) == 0)
            n++;
    }
    if (n)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     CLERK_LOGNO(0413) "kept %d JWKS record(s) across the restart", n);
    free_carried(carried);
    /* A pre-cleanup: the dbm provider reads through a sub-pool of pconf, which a plain cleanup
     * would find already destroyed (httpd crashed at the first restart with ClerkCache dbm). */
    apr_pool_pre_cleanup_register(pconf, s->process->pool, carry_records);
}
