/* A large request bigger than every kept mapping grows the largest of them (mremap)
 * instead of mapping afresh: the kept mapping's resident pages serve the request's first
 * bytes without page faults, and only the bytes past it are new. calloc on such a block
 * zeroes the old part and still reads as zeros throughout.
 *
 * A 48 MiB anchor stays live (the keep limit follows the live large bytes). An 8 MiB block
 * is written and freed (kept), then a 12 MiB block is written in full: on bestbuddy it takes
 * at most the faults of the 4 MiB it adds (1024 pages; the test allows 2048), where a fresh
 * mapping takes 3072. */
#include <sys/resource.h>

#include "common.h"

#define ANCHOR ((size_t)48 << 20)
#define OLD ((size_t)8 << 20)
#define NEW ((size_t)12 << 20)

static long minor_faults(void)
{
    struct rusage ru;
    CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
    return ru.ru_minflt;
}

int main(void)
{
    int bb = on_bestbuddy();
    char *anchor = malloc(ANCHOR);
    CHECK(anchor != NULL);
    anchor[0] = 1;

    char *old = malloc(OLD);
    CHECK(old != NULL);
    memset(old, 0x5a, OLD);
    free(old);

    long before = minor_faults();
    char *grown = malloc(NEW);
    CHECK(grown != NULL);
    memset(grown, 0x6b, NEW);
    long faults = minor_faults() - before;
    printf("writing a 12 MiB block after freeing an 8 MiB one: %ld minor faults\n", faults);
    if (bb)
        CHECKF(faults < 2048, "%ld faults: the kept 8 MiB mapping was not grown", faults);
    CHECK(bb_all_bytes(grown, NEW, 0x6b));
    CHECK(malloc_usable_size(grown) >= NEW);

    /* The same with calloc: the reused part held 0x6b, the grown part is fresh. */
    free(grown);
    char *zeroed = calloc(1, NEW + (4u << 20));
    CHECK(zeroed != NULL);
    CHECK(bb_all_bytes(zeroed, NEW + (4u << 20), 0));
    memset(zeroed, 0x7c, NEW + (4u << 20));
    free(zeroed);
    free(anchor);
    return 0;
}
