/* clerk_http_get from many threads at once with reuse_connections: every call succeeds and the
 * pooled handles keep their connections (a forked loopback keep-alive server counts them). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_fetch.h"
#include "unit.h"

#define THREADS   8
#define EXCHANGES 25

/* Serves GETs on connection c until the peer closes it, keeping it alive between requests. */
static void serve_keepalive(int c)
{
    char buf[8192];
    size_t n = 0;
    for (;;) {
        char *end;
        while ((end = memmem(buf, n, "\r\n\r\n", 4)) == NULL) {
            if (n == sizeof buf)
                _exit(1);
            ssize_t k = read(c, buf + n, sizeof buf - n);
            if (k <= 0)
                _exit(0);
            n += (size_t)k;
        }
        static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        if (write(c, resp, sizeof resp - 1) != (ssize_t)(sizeof resp - 1))
            _exit(1);
        size_t used = (size_t)(end + 4 - buf);
        memmove(buf, buf + used, n - used);
        n -= used;
    }
}

/* Accepts connections on ls forever (one process each), writing one byte to out per accept. */
static void server(int ls, int out)
{
    setpgid(0, 0);
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            _exit(1);
        if (write(out, "c", 1) != 1)
            _exit(1);
        pid_t p = fork();
        if (p == 0) {
            close(ls);
            serve_keepalive(c);
        }
        close(c);
    }
}

/* Forks server() on a fresh loopback port listening with the given backlog; one byte per
 * accepted connection arrives on *accepts_fd. */
static pid_t start_server(int backlog, int *port, int *accepts_fd)
{
    int ls = unit_listen_loopback(backlog, port);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        server(ls, fds[1]);
    }
    close(ls);
    close(fds[1]);
    *accepts_fd = fds[0];
    return pid;
}

/* Kills the server and returns how many connections it accepted. */
static size_t stop_server(pid_t pid, int accepts_fd)
{
    /* The whole server (its process group) goes; then the pipe reaches end of file. */
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char bytes[64];
    size_t accepted = 0;
    ssize_t k;
    while ((k = read(accepts_fd, bytes, sizeof bytes)) > 0)
        accepted += (size_t)k;
    close(accepts_fd);
    return accepted;
}

typedef struct worker {
    const char *url;
    int ok, failed;
    char err[320];
} worker;

static void *run_worker(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < EXCHANGES; i++) {
        clerk_http_request rq = {.url = w->url, .reuse_connections = 1, .timeout_ms = 30000};
        clerk_http_response rs;
        char err[256];
        if (clerk_http_get(&rq, &rs, err, sizeof err) == 0 && rs.status == 200 &&
            rs.body_len == 2 && memcmp(rs.body, "ok", 2) == 0) {
            w->ok++;
        } else {
            w->failed++;
            snprintf(w->err, sizeof w->err, "status %ld: %s", rs.status, err);
        }
        clerk_http_response_free(&rs);
    }
    return NULL;
}

START_TEST(concurrent_exchanges_all_succeed_on_kept_connections)
{
    int port, accepts_fd;
    pid_t pid = start_server(64, &port, &accepts_fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/clients/handshake_payload", port);

    worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.url = url};
        ck_assert_int_eq(pthread_create(&t[i], NULL, run_worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    size_t accepted = stop_server(pid, accepts_fd);

    int ok = 0;
    for (int i = 0; i < THREADS; i++) {
        ck_assert_msg(w[i].failed == 0, "thread %d: %d failed, last %s", i, w[i].failed, w[i].err);
        ok += w[i].ok;
    }
    ck_assert_int_eq(ok, THREADS * EXCHANGES);
    /* A handle is made only when none is idle, so no more than THREADS exist, and each keeps its
     * one connection alive for its next call. */
    ck_assert_uint_ge(accepted, 1);
    ck_assert_uint_le(accepted, THREADS);
}
END_TEST

/* Calls without reuse_connections never keep a connection: each is its own. */
START_TEST(calls_without_reuse_connect_afresh)
{
    int port, accepts_fd;
    pid_t pid = start_server(8, &port, &accepts_fd);
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/jwks", port);
    for (int i = 0; i < 3; i++) {
        clerk_http_request rq = {.url = url, .timeout_ms = 30000};
        clerk_http_response rs;
        ck_assert_msg(clerk_http_get(&rq, &rs, err, sizeof err) == 0, "%s", err);
        ck_assert_int_eq(rs.status, 200);
        clerk_http_response_free(&rs);
    }
    size_t accepted = stop_server(pid, accepts_fd);
    ck_assert_uint_eq(accepted, 3);
}
END_TEST

/* Answers requests on one kept-alive connection: the method, and for a POST its body, echoed
 * back as JSON with the given Content-Type. */
static void serve_echo(int ls)
{
    int c = accept(ls, NULL, NULL);
    if (c < 0)
        _exit(1);
    for (;;) {
        char req[8192];
        size_t n = unit_read_request_head(c, req, sizeof req);
        char *end = strstr(req, "\r\n\r\n");
        if (n == 0 || end == NULL)
            _exit(0);
        const char *cl = strcasestr(req, "\r\ncontent-length:");
        size_t want = cl ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
        size_t have = n - (size_t)(end + 4 - req);
        char body[1024] = "";
        if (want >= sizeof body)
            _exit(1);
        memcpy(body, end + 4, have);
        while (have < want) {
            ssize_t k = read(c, body + have, want - have);
            if (k <= 0)
                _exit(1);
            have += (size_t)k;
        }
        body[want] = '\0';
        char out[2048], resp[2300];
        int m = snprintf(out, sizeof out, "{\"method\":\"%.8s\",\"body\":%s}",
                         strncmp(req, "POST", 4) == 0 ? "POST" : "GET", want ? body : "null");
        int r = snprintf(resp, sizeof resp,
                         "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
                         "Content-Length: %d\r\n\r\n%s",
                         m, out);
        if (write(c, resp, (size_t)r) != r)
            _exit(1);
    }
}

/* clerk_http_post sends its body and reports the answer's Content-Type; the pooled handle it
 * used goes back reset, so the next call on the same kept connection is a plain GET again. */
START_TEST(post_sends_its_body_and_the_handle_goes_back_clean)
{
    int port;
    int ls = unit_listen_loopback(4, &port);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        serve_echo(ls);
    close(ls);
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api_keys/verify", port);
    static const char body[] = "{\"secret\":\"ak_1\"}";
    const char *headers[] = {"Content-Type: application/json", NULL};
    clerk_http_request rq = {.url = url,
                             .headers = headers,
                             .reuse_connections = 1,
                             .timeout_ms = 30000,
                             .post_body = body,
                             .post_len = sizeof body - 1};
    clerk_http_response rs;
    ck_assert_msg(clerk_http_post(&rq, &rs, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(rs.status, 200);
    ck_assert_str_eq(rs.body, "{\"method\":\"POST\",\"body\":{\"secret\":\"ak_1\"}}");
    ck_assert_str_eq(rs.content_type, "application/json; charset=utf-8");
    clerk_http_response_free(&rs);
    clerk_http_request get = {.url = url, .reuse_connections = 1, .timeout_ms = 30000};
    ck_assert_msg(clerk_http_get(&get, &rs, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(rs.body, "{\"method\":\"GET\",\"body\":null}");
    clerk_http_response_free(&rs);
    /* A POST without a body is refused before any network. */
    rq.post_body = NULL;
    ck_assert_int_eq(clerk_http_post(&rq, &rs, err, sizeof err), -1);
    ck_assert_ptr_null(rs.body);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}
END_TEST

Suite *http_pool_suite(void)
{
    Suite *s = suite_create("http_pool");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, concurrent_exchanges_all_succeed_on_kept_connections);
    tcase_add_test(tc, calls_without_reuse_connect_afresh);
    tcase_add_test(tc, post_sends_its_body_and_the_handle_goes_back_clean);
    suite_add_tcase(s, tc);
    return s;
}
