/* The cleartext rule: https anywhere, http to loopback only. */
#include "unit.h"
#include "transport.h"

START_TEST(loopback_hosts)
{
    static const char *const yes[] = {"localhost", "LocalHost", "127.0.0.1",      "127.255.255.254",
                                      "127.1.2.3", "::1",       "0:0:0:0:0:0:0:1"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        ck_assert_msg(clerk_host_is_loopback(yes[i]) == 1, "%s", yes[i]);
}
END_TEST

START_TEST(other_hosts)
{
    /* Other spellings a resolver might still send off the machine are refused too. */
    static const char *const no[] = {"",
                                     "localhost.",
                                     "localhost.example.com",
                                     "api.clerk.com",
                                     "128.0.0.1",
                                     "126.255.255.255",
                                     "10.0.0.1",
                                     "0.0.0.0",
                                     "127.1",
                                     "2130706433",
                                     "0x7f.0.0.1",
                                     "::",
                                     "::2",
                                     "::ffff:127.0.0.1",
                                     "[::1]",
                                     "127.0.0.1.nip.io"};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        ck_assert_msg(clerk_host_is_loopback(no[i]) == 0, "%s", no[i]);
    ck_assert_int_eq(clerk_host_is_loopback(NULL), 0);
}
END_TEST

START_TEST(schemes)
{
    ck_assert_int_eq(clerk_transport_ok("https", "api.clerk.com"), 1);
    ck_assert_int_eq(clerk_transport_ok("HTTPS", "10.0.0.1"), 1);
    ck_assert_int_eq(clerk_transport_ok("http", "127.0.0.1"), 1);
    ck_assert_int_eq(clerk_transport_ok("HTTP", "localhost"), 1);
    ck_assert_int_eq(clerk_transport_ok("http", "::1"), 1);
    ck_assert_int_eq(clerk_transport_ok("http", "api.clerk.com"), 0);
    ck_assert_int_eq(clerk_transport_ok("http", "192.168.1.1"), 0);
    ck_assert_int_eq(clerk_transport_ok("ftp", "127.0.0.1"), 0);
    ck_assert_int_eq(clerk_transport_ok(NULL, "127.0.0.1"), 0);
}
END_TEST

Suite *transport_suite(void)
{
    Suite *s = suite_create("transport");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, loopback_hosts);
    tcase_add_test(tc, other_hosts);
    tcase_add_test(tc, schemes);
    suite_add_tcase(s, tc);
    return s;
}
