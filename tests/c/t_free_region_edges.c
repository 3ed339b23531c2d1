/* free() of pointers at a region's edges, which no block starts at, must each abort with
 * "bestbuddy: free(): invalid pointer <p>", never crash or cache them.
 *
 * free's fast path asks the chunk map about the pointer's chunk and, for best fit, tests
 * only that the header word before the pointer lies in that chunk before reading it: the
 * header's seal alone must turn the rest of these away.
 *   - the region's first bytes (its own header and, for best fit, the live bitmap);
 *   - the region's last word, where best fit's epilogue header lies;
 *   - the first bytes of the next chunk, whose word before is the epilogue: a pointer the
 *     epilogue's seal was written for (a block of size 0, which the cache never takes);
 *     that chunk may be unmapped or another region.
 * Each case runs in a child (this program run again with the case's number), which must
 * die of SIGABRT with the line on stderr. Buddy tiles its regions with blocks, so a
 * 16-aligned pointer past the region's metadata may start a free block: "double free of"
 * is its right answer there. */
#include "common.h"
#include <signal.h>
#include <sys/wait.h>

#define CHUNK ((uintptr_t)4 << 20)

static const uintptr_t offsets[] = {
    0, 8, 16, 24, 64, 72, 4096, /* the region's header and metadata */
    CHUNK - 16, CHUNK - 8,      /* its last words */
    CHUNK, CHUNK + 8, CHUNK + 16, CHUNK + 1, CHUNK + 7, /* the next chunk */
};
#define CASES (sizeof offsets / sizeof offsets[0])

static void no_setup(const void *ctx)
{
    (void)ctx;
}

static void child(int which)
{
    /* Warm the cache first, so that the fast path has bins to take from and to. */
    for (int i = 0; i < 64; i++)
        free(malloc(32));
    char *p = malloc(32);
    CHECK(p != NULL);
    uintptr_t base = (uintptr_t)p & ~(CHUNK - 1);
    void *bad = (void *)(base + offsets[which]);
    fprintf(stderr, "freeing %p\n", bad);
    free(bad);
    /* A free that did not abort: malloc of the same size would get it from the cache. */
    char *q = malloc(32);
    fprintf(stderr, "survived: next malloc %p\n", (void *)q);
    _exit(3);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "child") == 0)
        child(atoi(argv[2]));
    if (!on_bestbuddy()) {
        printf("glibc: skipped (the cases are not blocks, glibc may crash on them)\n");
        return 0;
    }
    int buddy = strcmp(bestbuddy_backend(), "buddy") == 0;
    for (unsigned i = 0; i < CASES; i++) {
        char arg[16], err[4096], want[64], freed[64];
        snprintf(arg, sizeof arg, "%u", i);
        int status = bb_run_self_with(argv[0], "child", arg, no_setup, NULL, err, sizeof err);
        const char *freeing = strstr(err, "freeing ");
        CHECKF(freeing != NULL, "case %u: no address printed: %s", i, err);
        char addr[32];
        CHECK(sscanf(freeing, "freeing %31s", addr) == 1);
        snprintf(want, sizeof want, "bestbuddy: free(): invalid pointer %s: ", addr);
        CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
               "case %u (region + %#lx): status %#x, stderr: %s", i,
               (unsigned long)offsets[i], status, err);
        snprintf(freed, sizeof freed, "bestbuddy: free(): double free of %s: ", addr);
        int block_start = buddy && offsets[i] % 16 == 0 && offsets[i] >= (256 << 10) &&
                          offsets[i] < CHUNK;
        CHECKF(strstr(err, want) != NULL || (block_start && strstr(err, freed) != NULL),
               "case %u (region + %#lx): want \"%s\" in: %s", i, (unsigned long)offsets[i],
               want, err);
    }
    printf("%u pointers at region edges: each an invalid pointer\n", (unsigned)CASES);
    return 0;
}
