/* Loopback sockets for the suites that fork a small HTTP server or proxy on 127.0.0.1. */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int unit_listen_loopback(int backlog, int *port)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(ls, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(ls, backlog), 0);
    socklen_t al = sizeof a;
    ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return ls;
}

size_t unit_read_request_head(int c, char *req, size_t cap)
{
    size_t n = 0;
    req[0] = '\0';
    while (n < cap - 1) {
        ssize_t k = read(c, req + n, cap - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    return n;
}
