/* ClerkOutgoingProxy values, the credentials file's format, and clerk_http_get through a proxy:
 * a forked loopback server plays the proxy and records the request it was sent. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <apr_pools.h>

#include "handshake.h"
#include "http_fetch.h"
#include "outgoing_proxy.h"
#include "unit.h"

static void url_ok(const char *in, const char *want)
{
    char out[CLERK_PROXY_URL_MAX + 16];
    clerk_error err = {0};
    ck_assert_msg(clerk_proxy_url_parse(in, out, sizeof out, &err) == 0, "%s: %s", in, err.message);
    ck_assert_str_eq(out, want);
}

static void url_bad(const char *in, const char *why)
{
    char out[CLERK_PROXY_URL_MAX + 16];
    clerk_error err = {0};
    ck_assert_msg(clerk_proxy_url_parse(in, out, sizeof out, &err) == -1, "%s", in);
    ck_assert_msg(strstr(err.message, why) != NULL, "%s: '%s' lacks '%s'", in, err.message, why);
}

START_TEST(proxy_url_forms)
{
    url_ok("proxy.internal:3128", "http://proxy.internal:3128");
    url_ok("http://proxy.internal:3128", "http://proxy.internal:3128");
    url_ok("HTTP://10.0.0.1:8080/", "http://10.0.0.1:8080");
    url_ok("[::1]:3128", "http://[::1]:3128");
    url_bad("", "empty");
    url_bad("proxy.internal", "needs a port");
    url_bad("http://proxy.internal", "needs a port");
    url_bad("proxy.internal:0", "outside 1-65535");
    url_bad("proxy.internal:65536", "outside 1-65535");
    url_bad("proxy.internal:80x", "invalid port");
    url_bad("https://proxy.internal:3128", "only http:// proxies");
    url_bad("socks5://proxy.internal:1080", "only http:// proxies");
    url_bad("http://user:secret@proxy.internal:3128", "ClerkOutgoingProxyAuthFile");
    url_bad("user:secret@proxy.internal:3128", "ClerkOutgoingProxyAuthFile");
    url_bad("http://proxy.internal:3128/path", "path, query or fragment");
    url_bad("http://proxy.internal:3128?x", "path, query or fragment");
    url_bad("proxy internal:3128", "white space");
    url_bad("proxy.internal:3128\r\n", "white space");
    url_bad("[::1:3128", "unterminated IPv6");
    url_bad("[zz]:3128", "invalid IPv6");
    url_bad(":3128", "no host");
}
END_TEST

static int creds(const char *in, char *user, char *password, clerk_error *err)
{
    return clerk_proxy_credentials_parse(in, strlen(in), user, password, err);
}

START_TEST(credentials_file_format)
{
    char user[CLERK_PROXY_CREDS_MAX + 1], pw[CLERK_PROXY_CREDS_MAX + 1];
    clerk_error err;
    ck_assert_int_eq(creds("svc:pa:ss\n", user, pw, &err), 0);
    ck_assert_str_eq(user, "svc");
    ck_assert_str_eq(pw, "pa:ss");
    ck_assert_int_eq(creds("svc:pw\r\n", user, pw, &err), 0);
    ck_assert_str_eq(pw, "pw");
    ck_assert_int_eq(creds("svc:", user, pw, &err), 0);
    ck_assert_str_eq(pw, "");
    ck_assert_int_eq(creds("", user, pw, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "empty"));
    ck_assert_int_eq(creds("svc-no-colon\n", user, pw, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "no ':'"));
    ck_assert_int_eq(creds(":pw\n", user, pw, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "empty user"));
    /* A second line (or a stray byte) is refused and never quoted. */
    ck_assert_int_eq(creds("svc:topsecret\nother:line\n", user, pw, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "more than one line"));
    ck_assert_ptr_null(strstr(err.message, "topsecret"));
    ck_assert_str_eq(user, "");
    ck_assert_str_eq(pw, "");
    ck_assert_int_eq(creds("svc:a\tb\n", user, pw, &err), -1);
    char big[CLERK_PROXY_CREDS_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[3] = ':';
    ck_assert_int_eq(creds(big, user, pw, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "larger than 1024"));
}
END_TEST

/* Accepts one connection on ls, writes what it read (the request head) to fd out, answers 200
 * with body (9 bytes) and exits. */
static void serve_once(int ls, int out, const char *body)
{
    int c = accept(ls, NULL, NULL);
    if (c < 0)
        _exit(1);
    char req[4096];
    size_t n = unit_read_request_head(c, req, sizeof req);
    if (write(out, req, n) != (ssize_t)n)
        _exit(1);
    char resp[128];
    snprintf(resp, sizeof resp,
             "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\n%.9s", body);
    if (write(c, resp, strlen(resp)) < 0)
        _exit(1);
    close(c);
    _exit(0);
}

static void proxy_serve(int ls, int out)
{
    serve_once(ls, out, "via-proxy");
}

/* Forks the stand-in proxy on a fresh loopback port; what it reads arrives on *seen_fd. */
static pid_t start_proxy(int *port, int *seen_fd)
{
    int fds[2];
    int ls = unit_listen_loopback(4, port);
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        proxy_serve(ls, fds[1]);
    }
    close(ls);
    close(fds[1]);
    *seen_fd = fds[0];
    return pid;
}

/* Stops the stand-in proxy and reads into seen (NUL-terminated) the request head it wrote. */
static void read_what_proxy_saw(pid_t pid, int seen_fd, char *seen, size_t size)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ssize_t n = read(seen_fd, seen, size - 1);
    seen[n > 0 ? n : 0] = '\0';
    close(seen_fd);
}

/* https goes through the proxy as a CONNECT tunnel carrying the Basic credentials; the secret
 * key (a custom header) is not on the CONNECT. The stand-in proxy cannot speak TLS, so the fetch
 * fails after the tunnel: what matters is what the proxy was sent. */
START_TEST(get_goes_through_the_proxy_with_basic_credentials)
{
    int port, seen_fd;
    pid_t pid = start_proxy(&port, &seen_fd);
    char proxy[64];
    clerk_error err = {0};
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", port);
    /* A name that never resolves: only the proxy could have been reached. */
    const char *hdrs[] = {"Authorization: Bearer sk_test_secretsecret", NULL};
    clerk_http_request rq = {.url = "https://jwks.proxytest.invalid:8081/v1/jwks",
                             .headers = hdrs,
                             .proxy = proxy,
                             .proxy_user = "svc",
                             .proxy_password = "pa:ss word",
                             .timeout_ms = 30000};
    clerk_http_response rs;
    int rc = clerk_http_get(&rq, &rs, &err);
    /* The server wrote what it saw before answering: once the answer is in, the pipe holds it;
     * when there was none, the server still waits in accept and must not be waited for. */
    char seen[4096];
    read_what_proxy_saw(pid, seen_fd, seen, sizeof seen);
    clerk_http_response_free(&rs);
    ck_assert_int_eq(rc, -1); /* no TLS behind the stand-in tunnel */
    ck_assert_msg(strncmp(seen, "CONNECT jwks.proxytest.invalid:8081 HTTP/1.1\r\n", 46) == 0, "%s",
                  seen);
    ck_assert_msg(strstr(seen, "sk_test_") == NULL, "%s", seen);
    unsigned char b64[64];
    int bl = EVP_EncodeBlock(b64, (const unsigned char *)"svc:pa:ss word", 14);
    char want[128];
    snprintf(want, sizeof want, "\r\nProxy-Authorization: Basic %.*s\r\n", bl, b64);
    ck_assert_msg(strstr(seen, want) != NULL, "%s", seen);
}
END_TEST

/* An http:// URL (allowed to loopback only) bypasses the proxy: a proxied plain GET would hand
 * the proxy the secret key in the clear and let it answer with keys of its own. The proxy's
 * listening socket must see no connection at all, and the loopback server answers directly. */
START_TEST(http_loopback_url_bypasses_the_proxy)
{
    int pport, sport, fds[2];
    int pls = unit_listen_loopback(4, &pport);
    int sls = unit_listen_loopback(4, &sport);
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        close(pls);
        serve_once(sls, fds[1], "direct-ok");
    }
    close(sls);
    close(fds[1]);
    char proxy[64], url[96];
    clerk_error err = {0};
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", pport);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/jwks", sport);
    const char *hdrs[] = {"Authorization: Bearer sk_test_secretsecret", NULL};
    clerk_http_request rq = {.url = url,
                             .headers = hdrs,
                             .proxy = proxy,
                             .proxy_user = "svc",
                             .proxy_password = "pa:ss word",
                             .timeout_ms = 5000};
    clerk_http_response rs;
    int rc = clerk_http_get(&rq, &rs, &err);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fds[0]);
    /* A connection curl made to the proxy is complete in the backlog whether or not it was
     * accepted: a non-blocking poll tells. */
    struct pollfd pf = {.fd = pls, .events = POLLIN};
    int pending = poll(&pf, 1, 0);
    close(pls);
    ck_assert_msg(pending == 0, "the proxy was connected to (rc %d: %s)", rc, err.message);
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert_int_eq(rs.status, 200);
    ck_assert_str_eq(rs.body, "direct-ok");
    clerk_http_response_free(&rs);
}
END_TEST

/* The handshake's nonce exchange takes its transport from the same template as the JWKS fetch
 * (httpd_handshake.c fills it from the server's fetch settings): the proxy is kept. */
START_TEST(nonce_exchange_goes_through_the_proxy)
{
    int port, seen_fd;
    pid_t pid = start_proxy(&port, &seen_fd);
    char proxy[64];
    clerk_error err = {0};
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", port);
    clerk_http_request tpl = {.proxy = proxy, .timeout_ms = 30000};
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    long status = 0;
    const char *body = NULL;
    const char *hdrs[] = {"Authorization: Bearer sk_test_secretsecret", NULL};
    int rc = clerk_handshake_http_get(
        &tpl, p, "https://api.proxytest.invalid:8082/v1/clients/handshake_payload?nonce=n1", hdrs,
        &status, &body, &err);
    char seen[4096];
    read_what_proxy_saw(pid, seen_fd, seen, sizeof seen);
    apr_pool_destroy(p);
    ck_assert_int_eq(rc, -1); /* no TLS behind the stand-in tunnel */
    ck_assert_msg(strstr(seen, "CONNECT api.proxytest.invalid:8082 HTTP/1.1\r\n") == seen, "%s",
                  seen);
    ck_assert_msg(strstr(seen, "sk_test_") == NULL, "%s", seen);
}
END_TEST

START_TEST(proxy_failure_message_never_holds_the_password)
{
    int port;
    int ls = unit_listen_loopback(4, &port);
    close(ls); /* nothing listens there any more: the connection is refused */
    char proxy[64];
    clerk_error err = {0};
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", port);
    clerk_http_request rq = {.url = "https://jwks.proxytest.invalid/v1/jwks",
                             .proxy = proxy,
                             .proxy_user = "svc",
                             .proxy_password = "hunter2hunter2",
                             .timeout_ms = 30000};
    clerk_http_response rs;
    ck_assert_int_eq(clerk_http_get(&rq, &rs, &err), -1);
    clerk_http_response_free(&rs);
    ck_assert_int_eq(rs.status, 0);
    ck_assert_ptr_null(strstr(err.message, "hunter2"));
    ck_assert_msg(err.message[0] != '\0', "no message");
}
END_TEST

/* A password of any length is redacted: here libcurl's message names the proxy host, which
 * happens to hold the 3-byte password. */
START_TEST(short_proxy_password_is_redacted_too)
{
    clerk_error err = {0};
    clerk_http_request rq = {.url = "https://jwks.proxytest.invalid/v1/jwks",
                             .proxy = "http://pw7.proxytest.invalid:3128",
                             .proxy_user = "svc",
                             .proxy_password = "pw7",
                             .timeout_ms = 30000};
    clerk_http_response rs;
    ck_assert_int_eq(clerk_http_get(&rq, &rs, &err), -1);
    clerk_http_response_free(&rs);
    ck_assert_msg(strstr(err.message, "[redacted].proxytest.invalid") != NULL, "%s", err.message);
    ck_assert_msg(strstr(err.message, "pw7") == NULL, "%s", err.message);
}
END_TEST

Suite *outgoing_proxy_suite(void)
{
    Suite *s = suite_create("outgoing_proxy");
    TCase *tc = tcase_create("values");
    tcase_add_test(tc, proxy_url_forms);
    tcase_add_test(tc, credentials_file_format);
    suite_add_tcase(s, tc);
    TCase *th = tcase_create("fetch");
    tcase_set_timeout(th, 60);
    tcase_add_test(th, get_goes_through_the_proxy_with_basic_credentials);
    tcase_add_test(th, http_loopback_url_bypasses_the_proxy);
    tcase_add_test(th, nonce_exchange_goes_through_the_proxy);
    tcase_add_test(th, proxy_failure_message_never_holds_the_password);
    tcase_add_test(th, short_proxy_password_is_redacted_too);
    suite_add_tcase(s, th);
    return s;
}
