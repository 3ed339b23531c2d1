/* A large request bigger than every kept mapping grows the largest of them (mremap)
 * instead of mapping afresh: the kept mapping's resident pages serve the request's first
 * bytes without page faults, and only the bytes past it are new. calloc on such a block
 * zeroes the old part and still reads as zeros throughout.
 *
 * A 48 MiB anchor stays live (the keep limit follows the live large bytes). An 8 MiB block
 * is written and freed (kept), then a 12 MiB block is written in full: on bestbuddy it takes
 * at most the faults of the 4 MiB it adds (1024 pages; the test allows 2048), where a fresh
 * mapping takes 3072. Transparent huge pages are turned off for the process first: with
 * them a fresh mapping also takes only a handful of faults.
 *
 * Then a kept mapping that madvise split into several (which mremap refuses to move) must
 * still serve a larger calloc correctly: zeroed, writable, its own; and once everything is
 * freed and trimmed, no address range the failed move aimed at may stay mapped (VmSize back
 * where it was before the split). */
#include <sys/mman.h>
#include <sys/prctl.h>
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
    CHECK(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0);
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

    /* A kept mapping split in three by madvise, grown by a larger request (the others
     * unmapped first, so that it is the one grown). */
    malloc_trim(0);
    long vm_before = bb_status_kb("VmSize");
    CHECK(vm_before > 0);
    char *split = malloc(OLD);
    CHECK(split != NULL);
    memset(split, 0x5a, OLD);
    char *middle = (char *)(((uintptr_t)split + (3u << 20)) & ~(uintptr_t)4095);
    CHECK(madvise(middle, 2u << 20, MADV_NOHUGEPAGE) == 0);
    free(split);
    for (int round = 0; round < 2; round++) {
        char *big = calloc(1, NEW);
        CHECK(big != NULL);
        CHECK(bb_all_bytes(big, NEW, 0));
        memset(big, 0x3d, NEW);
        char *other = malloc(OLD);
        CHECK(other != NULL);
        memset(other, 0x4e, OLD);
        CHECK(bb_all_bytes(big, NEW, 0x3d));
        free(other);
        free(big);
    }
    malloc_trim(0);
    long vm_after = bb_status_kb("VmSize");
    CHECK(vm_after > 0);
    printf("VmSize before the split %ld KiB, after %ld KiB\n", vm_before, vm_after);
    CHECKF(vm_after <= vm_before + 1024, "%ld KiB of address space stayed mapped",
           vm_after - vm_before);
    free(anchor);
    return 0;
}
