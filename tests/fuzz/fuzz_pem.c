/* Fuzz target: operator-supplied PEM text through clerk_keyset_add_pem. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clerk_error err = {0};
    fuzz_setup();
    clerk_keyset *ks = clerk_keyset_new();
    if (ks == NULL)
        return 0;
    if (clerk_keyset_add_pem(ks, (const char *)data, size, &err) == 0 &&
        clerk_keyset_find(ks, "any-kid") == NULL)
        __builtin_trap(); /* a PEM key matches any kid */
    clerk_keyset_unref(ks);
    return 0;
}
