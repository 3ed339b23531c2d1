/* Best fit: an overflow that forges the header of a free block of 1 MiB or more must not
 * steer the purge pass, which gives back the pages of every such block once small frees
 * beside large free blocks have added up to a megabyte: the pass checks each header's seal
 * and aborts with "bestbuddy: free(): corrupted block <x>".  Without the seal, the pass
 * would zero the live block the forged size takes in.  Buddy blocks have no header:
 * skipped there. */
#include "abort_common.h"

enum {
    BIG = 200000,   /* below the 256 KiB mmap threshold: heap blocks */
    NBIG = 6,       /* together a free block of more than 1 MiB */
    SMALL = 49152,  /* above the thread caches' classes, under the purge's 64 KiB floor */
    NSMALL = 64,    /* 3 MiB freed 48 KiB at a time beside large free blocks */
};

int main(void)
{
    if (!on_bestbuddy()) {
        printf("skip: glibc has no purge pass\n");
        return 0;
    }
    const char *backend = getenv("BESTBUDDY_EXPECT");
    if (backend != NULL && strcmp(backend, "buddy") == 0) {
        printf("skip: buddy blocks have no in-band header\n");
        return 0;
    }
    char *w = malloc(BIG);
    char *x[NBIG];
    for (int i = 0; i < NBIG; i++)
        x[i] = malloc(BIG);
    char *g = malloc(BIG);
    static char *s[NSMALL];
    for (int i = 0; i < NSMALL; i++)
        s[i] = malloc(SMALL);
    CHECK(w != NULL && g != NULL && s[NSMALL - 1] != NULL);
    size_t block = malloc_usable_size(w) + 8;
    for (int i = 0; i < NBIG; i++)
        CHECK(x[i] == w + (size_t)(i + 1) * block); /* carved one after the other */
    CHECK(g == w + (NBIG + 1) * block);
    memset(g, 'g', BIG);
    /* One free block of NBIG blocks between w and g, in the treap. */
    for (int i = 0; i < NBIG; i++)
        free(x[i]);
    expect_line("bestbuddy: free(): corrupted block %p", x[0]);
    /* Overflow w into that block's header: a free block (flag P only) that takes in g. */
    uint64_t forged = (uint64_t)((NBIG + 1) * block) | 2;
    memcpy((char *)launder(w) + block - 8, &forged, 8);
    /* Small frees beside the other large free blocks, until a pass runs. */
    for (int i = NSMALL - 1; i >= 0; i--)
        free(s[i]);
    printf("survived: the purge pass took a forged header (g[0]=%d)\n", g[0]);
    return 0;
}
