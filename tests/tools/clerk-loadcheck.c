/* clerk-loadcheck: sends a mixed stream of requests, each tagged with the verdict it must get,
 * over many parallel connections (libcurl multi), and checks every single response.
 *
 *   clerk-loadcheck --url URL --requests FILE [--parallel P] [--max-requests N] [--seconds S]
 *
 * FILE has one request per line, fields separated by one space, the value last (it may hold
 * spaces):
 *   <status> <user|-> <reason|-> <carrier> <value>
 * carrier: "authz" (value = the Authorization header value), "cookie" (value = the Cookie header
 * value), "none" (value ignored), "pad" (value = a byte count: one X-Pad header that long).
 * The user comes back in the response header X-User (httpd: Header always set X-User
 * "expr=%{REMOTE_USER}"), the reason in x-clerk-auth-reason; "-" means the header must be absent
 * or empty. Lines starting with '#' are skipped.
 *
 * The list is sent round-robin until --max-requests or --seconds, whichever comes first.
 * Prints "requests checked N, wrong verdicts W, 5xx S, transport errors T" and exits 1 when any
 * of W, S, T is non-zero (a request without an answer was not checked, so it counts too). */
#include <curl/curl.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_PARALLEL 256
#define MAX_LINE     (1u << 20)
#define MAX_PAD      (1u << 20)
#define MAX_SAMPLES  10
#define FIELD_CAP    256

enum carrier { CARRIER_AUTHZ, CARRIER_COOKIE, CARRIER_NONE, CARRIER_PAD };

struct expect {
    long status;
    char *user;   /* NULL: none */
    char *reason; /* NULL: none */
    enum carrier carrier;
    struct curl_slist *headers;
    unsigned line;
};

struct slot {
    CURL *easy;
    const struct expect *exp;
    char user[FIELD_CAP];
    char reason[FIELD_CAP];
    int user_seen, reason_seen;
    int retried; /* this request already went again on a fresh connection */
};

#define MAX_BUCKETS 16

/* Wrong verdicts grouped by what came back, so one cause shows as one line. */
struct bucket {
    long status;
    char reason[FIELD_CAP];
    unsigned long count;
};

struct totals {
    unsigned long checked, wrong, s5xx, transport, retried;
    unsigned long by_status[6];
    unsigned samples;
    struct bucket buckets[MAX_BUCKETS];
    size_t nbuckets;
};

static void count_wrong(struct totals *t, long status, const char *reason)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        if (t->buckets[i].status == status && strcmp(t->buckets[i].reason, reason) == 0) {
            t->buckets[i].count++;
            return;
        }
    }
    if (t->nbuckets == MAX_BUCKETS)
        return;
    struct bucket *b = &t->buckets[t->nbuckets++];
    b->status = status;
    snprintf(b->reason, sizeof(b->reason), "%s", reason[0] ? reason : "-");
    b->count = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *arg)
{
    fprintf(stderr, "clerk-loadcheck: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        die("out of memory", NULL);
    return d;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *h = malloc(n);
    if (h == NULL)
        die("out of memory", NULL);
    snprintf(h, n, "%s: %s", name, value);
    struct curl_slist *r = curl_slist_append(l, h);
    free(h);
    if (r == NULL)
        die("out of memory", NULL);
    return r;
}

/* Splits off the next space-separated field of *p (NUL-terminating it). */
static char *next_field(char **p)
{
    char *s = *p, *sp = strchr(s, ' ');
    if (sp == NULL)
        return NULL;
    *sp = '\0';
    *p = sp + 1;
    return s;
}

static int parse_line(char *line, unsigned lineno, struct expect *e)
{
    char *p = line, *status, *user, *reason, *carrier;
    if ((status = next_field(&p)) == NULL || (user = next_field(&p)) == NULL ||
        (reason = next_field(&p)) == NULL || (carrier = next_field(&p)) == NULL)
        return -1;
    char *end;
    errno = 0;
    e->status = strtol(status, &end, 10);
    if (errno || *end || e->status < 100 || e->status > 599)
        return -1;
    e->user = strcmp(user, "-") ? xstrdup(user) : NULL;
    e->reason = strcmp(reason, "-") ? xstrdup(reason) : NULL;
    e->line = lineno;
    e->headers = add_header(NULL, "Accept", "application/json");
    if (strcmp(carrier, "authz") == 0) {
        e->carrier = CARRIER_AUTHZ;
        e->headers = add_header(e->headers, "Authorization", p);
    } else if (strcmp(carrier, "cookie") == 0) {
        e->carrier = CARRIER_COOKIE;
        e->headers = add_header(e->headers, "Cookie", p);
    } else if (strcmp(carrier, "none") == 0) {
        e->carrier = CARRIER_NONE;
    } else if (strcmp(carrier, "pad") == 0) {
        unsigned long n = strtoul(p, &end, 10);
        if (*end || n == 0 || n > MAX_PAD)
            return -1;
        char *pad = malloc(n + 1);
        if (pad == NULL)
            die("out of memory", NULL);
        memset(pad, 'a', n);
        pad[n] = '\0';
        e->carrier = CARRIER_PAD;
        e->headers = add_header(e->headers, "X-Pad", pad);
        free(pad);
    } else {
        return -1;
    }
    return 0;
}

static struct expect *load_requests(const char *path, size_t *count)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        die("cannot open", path);
    size_t cap = 64, n = 0, linecap = 0;
    struct expect *v = malloc(cap * sizeof(*v));
    char *line = NULL;
    ssize_t len;
    unsigned lineno = 0;
    if (v == NULL)
        die("out of memory", NULL);
    while ((len = getline(&line, &linecap, f)) != -1) {
        lineno++;
        if ((size_t)len > MAX_LINE)
            die("line too long in", path);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        if (n == cap) {
            cap *= 2;
            struct expect *nv = realloc(v, cap * sizeof(*v));
            if (nv == NULL)
                die("out of memory", NULL);
            v = nv;
        }
        if (parse_line(line, lineno, &v[n]) != 0) {
            fprintf(stderr, "clerk-loadcheck: %s:%u: malformed line\n", path, lineno);
            exit(2);
        }
        n++;
    }
    free(line);
    fclose(f);
    if (n == 0)
        die("no requests in", path);
    *count = n;
    return v;
}

/* Keeps X-User and x-clerk-auth-reason (bounded copies; longer values are a mismatch anyway). */
static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct slot *s = userdata;
    size_t n = size * nitems;
    static const struct {
        const char *name;
        size_t off_val, off_seen;
    } want[] = {
        {"x-user:", offsetof(struct slot, user), offsetof(struct slot, user_seen)},
        {"x-clerk-auth-reason:", offsetof(struct slot, reason), offsetof(struct slot, reason_seen)},
    };
    /* A new response (e.g. after a 100 Continue) starts with its status line: forget earlier. */
    if (n > 5 && strncmp(buf, "HTTP/", 5) == 0) {
        s->user[0] = s->reason[0] = '\0';
        s->user_seen = s->reason_seen = 0;
        return n;
    }
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        size_t k = strlen(want[i].name);
        if (n < k || strncasecmp(buf, want[i].name, k) != 0)
            continue;
        const char *v = buf + k, *e = buf + n;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        size_t len = (size_t)(e - v);
        if (len >= FIELD_CAP)
            len = FIELD_CAP - 1;
        char *dst = (char *)s + want[i].off_val;
        memcpy(dst, v, len);
        dst[len] = '\0';
        *(int *)((char *)s + want[i].off_seen) = 1;
    }
    return n;
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    return size * nmemb;
}

static void start(CURLM *multi, struct slot *s, const char *url, const struct expect *e)
{
    s->exp = e;
    s->retried = 0;
    curl_easy_setopt(s->easy, CURLOPT_FRESH_CONNECT, 0L);
    s->user[0] = s->reason[0] = '\0';
    s->user_seen = s->reason_seen = 0;
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, e->headers);
    curl_multi_add_handle(multi, s->easy);
}

static int field_matches(const char *want, const char *got)
{
    return want == NULL ? got[0] == '\0' : strcmp(want, got) == 0;
}

static void judge(struct totals *t, const struct slot *s, CURLcode rc)
{
    const struct expect *e = s->exp;
    long status = 0;
    t->checked++;
    if (rc != CURLE_OK) {
        t->transport++;
        if (t->samples++ < MAX_SAMPLES)
            fprintf(stderr, "line %u: transport error: %s\n", e->line, curl_easy_strerror(rc));
        return;
    }
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 100 && status < 600)
        t->by_status[status / 100]++;
    if (status >= 500)
        t->s5xx++;
    if (status != e->status || !field_matches(e->user, s->user) ||
        (e->status != 200 && e->reason != NULL && !field_matches(e->reason, s->reason))) {
        t->wrong++;
        count_wrong(t, status, s->reason);
        if (t->samples++ < MAX_SAMPLES)
            fprintf(stderr, "line %u: want %ld user=%s reason=%s, got %ld user=%s reason=%s\n",
                    e->line, e->status, e->user ? e->user : "-", e->reason ? e->reason : "-",
                    status, s->user[0] ? s->user : "-", s->reason[0] ? s->reason : "-");
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: clerk-loadcheck --url URL --requests FILE [--parallel P] "
                    "[--max-requests N] [--seconds S]\n");
    exit(2);
}

static long num_arg(const char *v, long lo, long hi)
{
    char *end;
    errno = 0;
    long n = v ? strtol(v, &end, 10) : 0;
    if (v == NULL || errno || *end || n < lo || n > hi)
        usage();
    return n;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *file = NULL;
    long parallel = 16, max_requests = 100000, seconds = 20;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--url") == 0 && v)
            url = v;
        else if (strcmp(argv[i], "--requests") == 0 && v)
            file = v;
        else if (strcmp(argv[i], "--parallel") == 0)
            parallel = num_arg(v, 1, MAX_PARALLEL);
        else if (strcmp(argv[i], "--max-requests") == 0)
            max_requests = num_arg(v, 1, 100000000);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = num_arg(v, 1, 3600);
        else
            usage();
        i++;
    }
    if (url == NULL || file == NULL)
        usage();
    if (strncmp(url, "http://127.", 11) != 0 && strncmp(url, "http://localhost", 16) != 0)
        die("loopback URLs only", url);

    size_t nreq = 0;
    struct expect *reqs = load_requests(file, &nreq);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        die("curl_global_init failed", NULL);
    CURLM *multi = curl_multi_init();
    struct slot *slots = calloc((size_t)parallel, sizeof(*slots));
    if (multi == NULL || slots == NULL)
        die("out of memory", NULL);
    for (long i = 0; i < parallel; i++) {
        CURL *c = curl_easy_init();
        if (c == NULL)
            die("curl_easy_init failed", NULL);
        slots[i].easy = c;
        curl_easy_setopt(c, CURLOPT_PRIVATE, &slots[i]);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &slots[i]);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    }

    struct totals t = {0};
    size_t next = 0;
    unsigned long sent = 0;
    double deadline = now_s() + (double)seconds;
    int running = 0;
    for (long i = 0; i < parallel && sent < (unsigned long)max_requests; i++, sent++) {
        start(multi, &slots[i], url, &reqs[next]);
        next = (next + 1) % nreq;
    }
    do {
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct slot *s = NULL;
            CURL *easy = m->easy_handle;
            CURLcode rc = m->data.result;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
            long fresh = 0;
            curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &fresh);
            curl_multi_remove_handle(multi, easy);
            /* A keep-alive connection the server closed as we reused it (every graceful restart
             * closes idle ones) fails in transit; like a browser, send that request once more
             * on a fresh connection and judge the answer. A transport error on a fresh
             * connection still counts. */
            if (rc != CURLE_OK && fresh == 0 && !s->retried) {
                s->retried = 1;
                t.retried++;
                s->user[0] = s->reason[0] = '\0';
                s->user_seen = s->reason_seen = 0;
                curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
                curl_multi_add_handle(multi, easy);
                running++;
                continue;
            }
            judge(&t, s, rc);
            if (sent < (unsigned long)max_requests && now_s() < deadline) {
                start(multi, s, url, &reqs[next]);
                next = (next + 1) % nreq;
                sent++;
                running++;
            }
        }
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    } while (running);

    printf("requests checked %lu, wrong verdicts %lu, 5xx %lu, transport errors %lu "
           "(2xx %lu, 4xx %lu; %zu distinct requests; %lu resent after a closed keep-alive)\n",
           t.checked, t.wrong, t.s5xx, t.transport, t.by_status[2], t.by_status[4], nreq,
           t.retried);
    for (size_t i = 0; i < t.nbuckets; i++)
        printf("  wrong verdicts answered %ld %s: %lu\n", t.buckets[i].status, t.buckets[i].reason,
               t.buckets[i].count);

    for (long i = 0; i < parallel; i++)
        curl_easy_cleanup(slots[i].easy);
    free(slots);
    curl_multi_cleanup(multi);
    for (size_t i = 0; i < nreq; i++) {
        free(reqs[i].user);
        free(reqs[i].reason);
        curl_slist_free_all(reqs[i].headers);
    }
    free(reqs);
    curl_global_cleanup();
    return (t.wrong || t.s5xx || t.transport || t.checked == 0) ? 1 : 0;
}
