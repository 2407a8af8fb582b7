/* clerk-cachetool: reads and writes one entry of a mod_socache_dbm file as any process that can
 * open the file can (a CGI running as the httpd user). The e2e tests use it to plant and to
 * replay shared JWKS records; it is not installed.
 *
 *   clerk-cachetool get <dbm file> <key> <out file>
 *   clerk-cachetool put <dbm file> <key> <value file>
 *
 * The value framing is mod_socache_dbm's: an apr_time_t expiry, then the bytes. put stores the
 * bytes valid for an hour; get writes the bytes without the expiry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_dbm.h>
#include <apr_general.h>
#include <apr_time.h>

static int fail(const char *what)
{
    fprintf(stderr, "clerk-cachetool: %s\n", what);
    return 1;
}

int main(int argc, char **argv)
{
    apr_pool_t *p;
    apr_dbm_t *dbm;
    if (argc != 5 || (strcmp(argv[1], "get") != 0 && strcmp(argv[1], "put") != 0))
        return fail("usage: get|put <dbm file> <key> <file>");
    if (apr_initialize() != APR_SUCCESS || apr_pool_create(&p, NULL) != APR_SUCCESS)
        return fail("apr_initialize");
    int put = strcmp(argv[1], "put") == 0;
    if (apr_dbm_open(&dbm, argv[2], put ? APR_DBM_RWCREATE : APR_DBM_READONLY, 0644, p) !=
        APR_SUCCESS)
        return fail("cannot open the dbm file");
    apr_datum_t key = {argv[3], strlen(argv[3])}, val;
    int rc = 0;
    if (put) {
        FILE *f = fopen(argv[4], "rb");
        static char buf[256 * 1024];
        size_t n = f ? fread(buf + sizeof(apr_time_t), 1, sizeof buf - sizeof(apr_time_t), f) : 0;
        if (f)
            fclose(f);
        apr_time_t expiry = apr_time_now() + apr_time_from_sec(3600);
        memcpy(buf, &expiry, sizeof expiry);
        val.dptr = buf;
        val.dsize = n + sizeof expiry;
        if (n == 0 || apr_dbm_store(dbm, key, val) != APR_SUCCESS)
            rc = fail("cannot store");
    } else if (apr_dbm_fetch(dbm, key, &val) != APR_SUCCESS || val.dptr == NULL ||
               val.dsize < sizeof(apr_time_t)) {
        rc = fail("no such entry");
    } else {
        FILE *f = fopen(argv[4], "wb");
        if (!f || fwrite(val.dptr + sizeof(apr_time_t), 1, val.dsize - sizeof(apr_time_t), f) !=
                      val.dsize - sizeof(apr_time_t))
            rc = fail("cannot write the output file");
        if (f)
            fclose(f);
    }
    apr_dbm_close(dbm);
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
