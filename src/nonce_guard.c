/* The handshake nonce guard (see nonce_guard.h for what it promises and its mutex story). */
#include <pthread.h>
#include <string.h>
#include <openssl/evp.h>
#include "call_bound.h"
#include "nonce_guard.h"

#define WAYS 4 /* entries per set: a new failure evicts the one expiring first */
#define SETS (CLERK_NONCE_FAILED_SLOTS / WAYS)

typedef struct failed_entry {
    unsigned char digest[32];
    int64_t until_ms; /* 0: free */
} failed_entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* guards failed */
static failed_entry failed[SETS][WAYS];
static clerk_call_bound bound =
    CLERK_CALL_BOUND_INIT(CLERK_NONCE_MAX_IN_FLIGHT, CLERK_NONCE_MAX_PER_SECOND, 0);

int clerk_nonce_shape_ok(const char *nonce)
{
    if (!nonce || !*nonce)
        return 0;
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)nonce; *c; c++, n++) {
        if (n >= CLERK_NONCE_MAX_LEN)
            return 0;
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              strchr("+/=-_.", *c)))
            return 0;
    }
    return 1;
}

/* SHA-256 of the nonce: fixed-size entries, and no nonce text kept in memory. */
static int digest_of(const char *nonce, unsigned char out[32])
{
    unsigned int len = 0;
    return EVP_Digest(nonce, strlen(nonce), out, &len, EVP_sha256(), NULL) == 1 && len == 32;
}

static failed_entry *set_of(const unsigned char d[32])
{
    unsigned idx = ((unsigned)d[0] << 8 | d[1]) % SETS;
    return failed[idx];
}

/* Caller holds lock. */
static int remembered(const unsigned char d[32], int64_t now_ms)
{
    failed_entry *s = set_of(d);
    for (int i = 0; i < WAYS; i++)
        if (s[i].until_ms > now_ms && memcmp(s[i].digest, d, 32) == 0)
            return 1;
    return 0;
}

clerk_nonce_verdict clerk_nonce_guard_begin(const char *nonce, int64_t now_ms)
{
    if (!clerk_nonce_shape_ok(nonce))
        return CLERK_NONCE_MALFORMED;
    unsigned char d[32];
    int have_digest = digest_of(nonce, d);
    pthread_mutex_lock(&lock);
    int failed_before = have_digest && remembered(d, now_ms);
    pthread_mutex_unlock(&lock);
    if (failed_before)
        return CLERK_NONCE_FAILED_BEFORE;
    switch (clerk_call_bound_begin(&bound, now_ms)) {
    case CLERK_BOUND_GO:
        return CLERK_NONCE_GO;
    case CLERK_BOUND_TOO_MANY_NOW:
        return CLERK_NONCE_TOO_MANY_NOW;
    case CLERK_BOUND_TOO_MANY_SECOND:
        break;
    }
    return CLERK_NONCE_TOO_MANY_SECOND;
}

void clerk_nonce_guard_end(const char *nonce, int failed_exchange, int64_t now_ms)
{
    unsigned char d[32];
    int have_digest = failed_exchange && nonce && digest_of(nonce, d);
    clerk_call_bound_end(&bound);
    pthread_mutex_lock(&lock);
    if (have_digest) {
        failed_entry *s = set_of(d);
        int victim = 0;
        for (int i = 0; i < WAYS; i++) {
            if (memcmp(s[i].digest, d, 32) == 0) {
                victim = i;
                break;
            }
            if (s[i].until_ms < s[victim].until_ms)
                victim = i;
        }
        memcpy(s[victim].digest, d, 32);
        s[victim].until_ms = now_ms + CLERK_NONCE_FAILED_TTL_MS;
    }
    pthread_mutex_unlock(&lock);
}

const char *clerk_nonce_verdict_str(clerk_nonce_verdict v)
{
    switch (v) {
    case CLERK_NONCE_GO:
        return "go";
    case CLERK_NONCE_MALFORMED:
        return "malformed";
    case CLERK_NONCE_FAILED_BEFORE:
        return "failed-before";
    case CLERK_NONCE_TOO_MANY_NOW:
        return "too-many-in-flight";
    case CLERK_NONCE_TOO_MANY_SECOND:
        return "too-many-per-second";
    }
    return "unknown";
}
