/* clerk-mint: command-line face of the test minter, for end-to-end scripts.
 *   clerk-mint keygen --type rsa2048|rsa3072|rsa1024|ec256|ec384|ed25519 --out FILE
 *   clerk-mint pubpem --key PRIV.pem
 *   clerk-mint jwks --key PRIV.pem --kid KID [--alg ALG] [--key PRIV2.pem --kid KID2 ...]
 *   clerk-mint sign --key PRIV.pem --alg ALG --header JSON --payload JSON
 *   clerk-mint sign --alg none --header JSON --payload JSON
 *   clerk-mint sign --alg HS256 --hmac-key-file FILE --header JSON --payload JSON
 * Output goes to stdout; errors to stderr with a non-zero exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mint.h"

#define MAX_JWKS_KEYS 64

static int usage(void)
{
    fprintf(
        stderr,
        "usage: clerk-mint keygen --type rsa2048|rsa3072|rsa1024|ec256|ec384|ed25519 --out FILE\n"
        "       clerk-mint pubpem --key PRIV.pem\n"
        "       clerk-mint jwks --key PRIV.pem --kid KID [--alg ALG] [--key ... --kid ...]\n"
        "       clerk-mint sign [--key PRIV.pem | --hmac-key-file FILE] --alg ALG "
        "--header JSON --payload JSON\n");
    return 2;
}

static int fail(const char *what, const char *arg)
{
    fprintf(stderr, "clerk-mint: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
    return 1;
}

/* The value following option argv[*i], or NULL when missing. */
static const char *optval(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static int cmd_keygen(int argc, char **argv)
{
    const char *type = NULL, *out = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--type") == 0)
            type = optval(argc, argv, &i);
        else if (strcmp(argv[i], "--out") == 0)
            out = optval(argc, argv, &i);
        else
            return fail("unknown option", argv[i]);
    }
    if (type == NULL || out == NULL)
        return usage();
    EVP_PKEY *k = mint_keygen(type);
    if (k == NULL)
        return fail("unknown key type or key generation failed", type);
    char *pem = mint_private_pem(k);
    EVP_PKEY_free(k);
    if (pem == NULL)
        return fail("cannot encode private key", NULL);
    FILE *f = fopen(out, "w");
    if (f == NULL) {
        free(pem);
        return fail("cannot write", out);
    }
    chmod(out, 0600);
    int ok = fputs(pem, f) >= 0;
    ok = fclose(f) == 0 && ok;
    free(pem);
    return ok ? 0 : fail("cannot write", out);
}

static int cmd_pubpem(int argc, char **argv)
{
    const char *key = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0)
            key = optval(argc, argv, &i);
        else
            return fail("unknown option", argv[i]);
    }
    if (key == NULL)
        return usage();
    EVP_PKEY *k = mint_load_private(key);
    if (k == NULL)
        return fail("cannot read private key", key);
    char *pem = mint_public_pem(k);
    EVP_PKEY_free(k);
    if (pem == NULL)
        return fail("cannot encode public key", NULL);
    fputs(pem, stdout);
    free(pem);
    return 0;
}

/* --alg applies to the --key it follows. */
static int cmd_jwks(int argc, char **argv)
{
    const char *keys[MAX_JWKS_KEYS], *kids[MAX_JWKS_KEYS], *algs[MAX_JWKS_KEYS];
    int n = 0;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--key") == 0) {
            if ((v = optval(argc, argv, &i)) == NULL)
                return usage();
            if (n == MAX_JWKS_KEYS)
                return fail("too many keys", NULL);
            keys[n] = v;
            kids[n] = NULL;
            algs[n] = NULL;
            n++;
        } else if (strcmp(argv[i], "--kid") == 0 || strcmp(argv[i], "--alg") == 0) {
            int is_kid = argv[i][2] == 'k';
            if ((v = optval(argc, argv, &i)) == NULL || n == 0)
                return usage();
            if (is_kid)
                kids[n - 1] = v;
            else
                algs[n - 1] = v;
        } else {
            return fail("unknown option", argv[i]);
        }
    }
    if (n == 0)
        return usage();
    fputs("{\"keys\":[", stdout);
    for (int j = 0; j < n; j++) {
        EVP_PKEY *k = mint_load_private(keys[j]);
        if (k == NULL)
            return fail("cannot read private key", keys[j]);
        char *jwk = mint_public_jwk(k, kids[j], algs[j]);
        EVP_PKEY_free(k);
        if (jwk == NULL)
            return fail("cannot encode JWK for", keys[j]);
        printf("%s%s", j ? "," : "", jwk);
        free(jwk);
    }
    fputs("]}\n", stdout);
    return 0;
}

/* Reads a whole (small) file; *len gets its size. */
static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        if (cap >= (1u << 24)) {
            free(buf);
            buf = NULL;
            break;
        }
        unsigned char *nb = realloc(buf, cap * 2);
        if (nb == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int cmd_sign(int argc, char **argv)
{
    const char *key = NULL, *alg = NULL, *header = NULL, *payload = NULL, *hmac = NULL;
    for (int i = 2; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--key") == 0)
            slot = &key;
        else if (strcmp(argv[i], "--alg") == 0)
            slot = &alg;
        else if (strcmp(argv[i], "--header") == 0)
            slot = &header;
        else if (strcmp(argv[i], "--payload") == 0)
            slot = &payload;
        else if (strcmp(argv[i], "--hmac-key-file") == 0)
            slot = &hmac;
        else
            return fail("unknown option", argv[i]);
        if ((*slot = optval(argc, argv, &i)) == NULL)
            return usage();
    }
    if (alg == NULL || header == NULL || payload == NULL)
        return usage();

    char *tok = NULL;
    if (strcmp(alg, "HS256") == 0) {
        if (hmac == NULL)
            return fail("HS256 needs --hmac-key-file", NULL);
        size_t len = 0;
        unsigned char *secret = read_file(hmac, &len);
        if (secret == NULL)
            return fail("cannot read", hmac);
        tok = mint_sign_hs256(secret, len, header, payload);
        free(secret);
    } else if (strcmp(alg, "none") == 0) {
        tok = mint_sign(NULL, alg, header, payload);
    } else {
        if (key == NULL)
            return fail("--key is required for", alg);
        EVP_PKEY *k = mint_load_private(key);
        if (k == NULL)
            return fail("cannot read private key", key);
        tok = mint_sign(k, alg, header, payload);
        EVP_PKEY_free(k);
    }
    if (tok == NULL)
        return fail("cannot sign (unknown alg, or alg does not fit the key)", alg);
    puts(tok);
    free(tok);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "keygen") == 0)
        return cmd_keygen(argc, argv);
    if (strcmp(argv[1], "pubpem") == 0)
        return cmd_pubpem(argc, argv);
    if (strcmp(argv[1], "jwks") == 0)
        return cmd_jwks(argc, argv);
    if (strcmp(argv[1], "sign") == 0)
        return cmd_sign(argc, argv);
    return usage();
}
