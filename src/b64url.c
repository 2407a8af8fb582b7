/* Strict base64url on top of OpenSSL's EVP_DecodeBlock/EVP_EncodeBlock. OpenSSL speaks the
 * standard alphabet with padding, so input is checked and translated here in fixed-size
 * chunks: no allocation proportional to hostile input, and only one canonical spelling of any
 * byte string is accepted (no padding, no whitespace, unused bits zero). */
#include "b64url.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* Characters translated per EVP_DecodeBlock call: a multiple of 4. */
#define CHUNK_CHARS 1024

/* For each byte: its standard-alphabet spelling when it is in the URL alphabet, else 0. A table
 * (read-only) because every token byte goes through it on a cache miss. */
static const unsigned char to_std[256] = {
    ['A'] = 'A', ['B'] = 'B', ['C'] = 'C', ['D'] = 'D', ['E'] = 'E', ['F'] = 'F', ['G'] = 'G',
    ['H'] = 'H', ['I'] = 'I', ['J'] = 'J', ['K'] = 'K', ['L'] = 'L', ['M'] = 'M', ['N'] = 'N',
    ['O'] = 'O', ['P'] = 'P', ['Q'] = 'Q', ['R'] = 'R', ['S'] = 'S', ['T'] = 'T', ['U'] = 'U',
    ['V'] = 'V', ['W'] = 'W', ['X'] = 'X', ['Y'] = 'Y', ['Z'] = 'Z', ['a'] = 'a', ['b'] = 'b',
    ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f', ['g'] = 'g', ['h'] = 'h', ['i'] = 'i',
    ['j'] = 'j', ['k'] = 'k', ['l'] = 'l', ['m'] = 'm', ['n'] = 'n', ['o'] = 'o', ['p'] = 'p',
    ['q'] = 'q', ['r'] = 'r', ['s'] = 's', ['t'] = 't', ['u'] = 'u', ['v'] = 'v', ['w'] = 'w',
    ['x'] = 'x', ['y'] = 'y', ['z'] = 'z', ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3',
    ['4'] = '4', ['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9', ['-'] = '+',
    ['_'] = '/',
};

/* The 6-bit value of a base64url character, or -1 for anything outside the URL alphabet. */
static int url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* differences.h: padded-base64url (only the URL alphabet, no '=') */
int clerk_b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap,
                        size_t *outlen)
{
    size_t rem = inlen % 4;
    if (rem == 1 || (in == NULL && inlen > 0))
        return -1;
    size_t need = (inlen / 4) * 3 + (rem == 0 ? 0 : rem - 1);
    if (need > outcap)
        return -1;
    /* A final group of 2 or 3 characters carries 4 or 2 bits that no output byte uses; they
     * must be zero or several strings would decode to the same bytes. */
    if (rem > 0) {
        int last = url_value((unsigned char)in[inlen - 1]);
        if ((rem == 2 && (last & 0x0f) != 0) || (rem == 3 && (last & 0x03) != 0))
            return -1;
    }

    unsigned char chunk[CHUNK_CHARS];
    unsigned char dec[CHUNK_CHARS / 4 * 3];
    size_t done = 0, written = 0;
    while (done < inlen) {
        size_t n = inlen - done;
        if (n > CHUNK_CHARS)
            n = CHUNK_CHARS;
        unsigned char bad = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = to_std[(unsigned char)in[done + i]];
            bad |= c == 0;
            chunk[i] = c;
        }
        if (bad)
            return -1;
        size_t padded = n, pad = 0;
        while (padded % 4 != 0) {
            chunk[padded++] = '=';
            pad++;
        }
        int got = EVP_DecodeBlock(dec, chunk, (int)padded);
        /* EVP_DecodeBlock counts the bytes of the padding positions too. */
        if (got < 0 || (size_t)got != padded / 4 * 3)
            return -1;
        size_t real = (size_t)got - pad;
        memcpy(out + written, dec, real);
        written += real;
        done += n;
    }
    OPENSSL_cleanse(dec, sizeof dec);
    *outlen = written;
    return 0;
}

char *clerk_b64url_encode(const unsigned char *in, size_t inlen)
{
    if (inlen > (size_t)0x7fffffff / 4 * 3 - 3)
        return NULL;
    size_t cap = 4 * ((inlen + 2) / 3) + 1;
    unsigned char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    int n = inlen > 0 ? EVP_EncodeBlock(s, in, (int)inlen) : 0;
    while (n > 0 && s[n - 1] == '=')
        n--;
    s[n] = '\0';
    for (int i = 0; i < n; i++) {
        if (s[i] == '+')
            s[i] = '-';
        else if (s[i] == '/')
            s[i] = '_';
    }
    return (char *)s;
}
