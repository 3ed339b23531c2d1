/* Alignments above 4 MiB (beyond any heap region) are honoured by memalign, aligned_alloc
 * and posix_memalign: the large-block path aligns its mapping, not just its chunk. */
#include "common.h"

int main(void) {
    on_bestbuddy();
    for (int round = 0; round < 8; round++) {
        for (size_t align = (size_t)8 << 20; align <= ((size_t)64 << 20); align <<= 1) {
            char *a = memalign(align, 100 + round);
            char *b = aligned_alloc(align, 4096);
            void *c = NULL;
            CHECK(posix_memalign(&c, align, 1) == 0);
            CHECK(a && b && c);
            CHECK((uintptr_t)a % align == 0);
            CHECK((uintptr_t)b % align == 0);
            CHECK((uintptr_t)c % align == 0);
            memset(a, 0xab, 100 + round);
            memset(b, 0xcd, 4096);
            CHECK(malloc_usable_size(a) >= (size_t)(100 + round));
            free(a);
            free(b);
            free(c);
        }
    }
    return 0;
}
