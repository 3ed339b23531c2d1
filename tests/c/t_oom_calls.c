/* Out of memory, call by call.  t_rlimit_exhaustion.c fills the heap until
 * malloc fails; this test asserts the result of every allocating call when
 * the address space runs out (RLIMIT_AS a little above the current size):
 *
 *   1. requests larger than what is left: malloc, calloc (one big argument
 *      and two medium ones), realloc growing a small and a large live block,
 *      memalign, aligned_alloc, posix_memalign with large alignments, valloc;
 *   2. the same calls for small requests once everything left has been
 *      allocated;
 *   3. after freeing the filler the small requests succeed again, and after
 *      lifting the limit the large ones do.
 *
 * Every failure must be NULL with errno ENOMEM (posix_memalign: returns
 * ENOMEM, *memptr untouched, and errno ENOMEM too, as glibc 2.36 sets it); a
 * failed realloc leaves its block intact. */
#include "common.h"
#include <sys/resource.h>

#define HEADROOM (64 * BB_MIB)
/* 64 MiB over the limit, whatever has been allocated since it was set. */
#define BIG (HEADROOM + 64 * BB_MIB)

static int bb;

struct node {
    struct node *next;
};

static void expect_null(void *p, const char *what, size_t size)
{
    CHECKF(p == NULL, "%s(%zu) succeeded past RLIMIT_AS", what, size);
    CHECKF(errno == ENOMEM, "%s(%zu) failed with errno %d, not ENOMEM", what, size, errno);
}

static void expect_posix_memalign_enomem(size_t align, size_t size)
{
    void *sentinel = (void *)0x1234;
    void *out = sentinel;
    errno = EDOM;
    int rc = posix_memalign(&out, align, size);
    CHECKF(rc == ENOMEM, "posix_memalign(%zu, %zu) returned %d, not ENOMEM", align, size, rc);
    CHECKF(out == sentinel, "posix_memalign(%zu, %zu) wrote *memptr on failure", align, size);
    /* POSIX does not ask for errno; glibc 2.36 sets it to ENOMEM (t_errno_glibc.c) */
    CHECKF(errno == ENOMEM, "posix_memalign(%zu, %zu) = ENOMEM but errno %d, expected ENOMEM",
           align, size, errno);
}

/* Every call whose request cannot fit: each must fail alone. */
static void big_requests_fail(void)
{
    errno = 0;
    expect_null(malloc(BIG), "malloc", BIG);
    errno = 0;
    expect_null(calloc(1, BIG), "calloc(1, n)", BIG);
    errno = 0;
    expect_null(calloc(BIG, 1), "calloc(n, 1)", BIG);
    errno = 0;
    expect_null(calloc(BIG / 4096, 4096), "calloc(n / 4096, 4096)", BIG);
    errno = 0;
    expect_null(memalign(4096, BIG), "memalign(4096)", BIG);
    errno = 0;
    expect_null(memalign(BB_MIB, BIG), "memalign(1 MiB)", BIG);
    errno = 0;
    /* the alignment alone exceeds what is left */
    expect_null(memalign(256 * BB_MIB, 4096), "memalign(256 MiB)", 4096);
    errno = 0;
    expect_null(aligned_alloc(64 * BB_KIB, BIG), "aligned_alloc(64 KiB)", BIG);
    errno = 0;
    expect_null(aligned_alloc(256 * BB_MIB, 256 * BB_MIB), "aligned_alloc(256 MiB)",
                256 * BB_MIB);
    errno = 0;
    expect_null(valloc(BIG), "valloc", BIG);
    expect_posix_memalign_enomem(64, BIG);
    expect_posix_memalign_enomem(2 * BB_MIB, BIG);
    expect_posix_memalign_enomem(256 * BB_MIB, 4096);
}

/* realloc of `p` (`n` bytes, pattern `seed`) to `to` bytes must fail and
 * leave the block as it was. */
static void realloc_fails_intact(void *p, size_t n, unsigned seed, size_t to)
{
    errno = 0;
    void *q = realloc(p, to);
    expect_null(q, "realloc", to);
    size_t bad = bb_verify(p, n, seed);
    CHECKF(bad == (size_t)-1, "realloc(%zu) failed but changed byte %zu of the block", to,
           bad);
    if (bb)
        CHECK(malloc_usable_size(p) >= n);
}

/* Allocates blocks of `size` onto *list until malloc fails; returns the
 * count. Bounded by `cap`, which must not be reached. */
static long fill(size_t size, long cap, struct node **list)
{
    long n = 0;
    for (;;) {
        errno = 0;
        struct node *b = malloc(size);
        if (b == NULL) {
            CHECKF(errno == ENOMEM, "malloc(%zu) failed with errno %d", size, errno);
            return n;
        }
        b->next = *list;
        *list = b;
        CHECKF(++n < cap, "%ld blocks of %zu bytes fit under RLIMIT_AS", n, size);
    }
}

int main(void)
{
    bb = on_bestbuddy();

    /* warm up, then give back the thread cache and kept memory so that the
     * filler below really takes everything that is left */
    free(malloc(100));
    free(malloc(4 * BB_MIB));
    malloc_trim(0);
    long vm_kb = bb_status_kb("VmSize");
    CHECK(vm_kb > 0);
    malloc_trim(0);

    /* live blocks that the failed reallocs must leave intact */
    size_t small_n = 1000, large_n = 4 * BB_MIB;
    unsigned char *small = malloc(small_n);
    unsigned char *large = malloc(large_n);
    CHECK(small != NULL && large != NULL);
    bb_fill(small, 0, small_n, 1);
    bb_fill(large, 0, large_n, 2);

    struct rlimit saved, rl;
    CHECK(getrlimit(RLIMIT_AS, &saved) == 0);
    rl = saved;
    rl.rlim_cur = (rlim_t)vm_kb * 1024 + large_n + HEADROOM;
    CHECK(rl.rlim_max == RLIM_INFINITY || rl.rlim_cur <= rl.rlim_max);
    /* stdout's buffer is allocated now, not in the middle of the filling */
    printf("RLIMIT_AS: VmSize %ld kB + %zu MiB\n", vm_kb, (large_n + HEADROOM) / BB_MIB);
    fflush(stdout);
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0);

    /* 1. requests that do not fit in what is left */
    big_requests_fail();
    realloc_fails_intact(small, small_n, 1, BIG);
    realloc_fails_intact(large, large_n, 2, BIG);

    /* 2. take everything that is left, in ever smaller blocks: each size
     * fails once there is no room for it */
    struct node *filler = NULL;
    const size_t sizes[] = {16 * BB_MIB, 2 * BB_MIB, 256 * BB_KIB, 16 * BB_KIB,
                            1 * BB_KIB, 64, 16};
    long total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    {
        long n = fill(sizes[i], (long)((2 * HEADROOM) / sizes[i]) + 1024, &filler);
        printf("filler: %ld blocks of %zu bytes\n", n, sizes[i]);
        total += n;
    }
    CHECK(total > 0);

    /* the smallest request fails; on bestbuddy every other small request
     * must fail too (glibc may still serve some sizes from its bins) */
    errno = 0;
    expect_null(malloc(16), "malloc", 16);
    if (bb) {
        errno = 0;
        expect_null(malloc(1), "malloc", 1);
        errno = 0;
        expect_null(malloc(64), "malloc", 64);
        errno = 0;
        expect_null(malloc(200), "malloc", 200);
        errno = 0;
        expect_null(malloc(3000), "malloc", 3000);
        errno = 0;
        expect_null(calloc(1, 32), "calloc(1, n)", 32);
        errno = 0;
        expect_null(calloc(8, 100), "calloc(8, n)", 100);
        errno = 0;
        expect_null(memalign(64, 64), "memalign(64)", 64);
        errno = 0;
        expect_null(memalign(BB_MIB, 64), "memalign(1 MiB)", 64);
        errno = 0;
        expect_null(memalign(16 * BB_MIB, 64), "memalign(16 MiB)", 64);
        errno = 0;
        expect_null(aligned_alloc(4096, 4096), "aligned_alloc(4096)", 4096);
        errno = 0;
        expect_null(valloc(100), "valloc", 100);
        expect_posix_memalign_enomem(32, 32);
        expect_posix_memalign_enomem(64 * BB_KIB, 100);
        expect_posix_memalign_enomem(16 * BB_MIB, 100);
        realloc_fails_intact(small, small_n, 1, 64 * BB_KIB);
        realloc_fails_intact(large, large_n, 2, 2 * large_n);
    }
    big_requests_fail();
    realloc_fails_intact(small, small_n, 1, BIG);
    realloc_fails_intact(large, large_n, 2, BIG);

    /* 3. free the filler: small requests succeed again under the limit */
    while (filler != NULL) {
        struct node *nx = filler->next;
        free(filler);
        filler = nx;
    }
    void *blocks[12];
    int nb = 0;
    blocks[nb++] = malloc(16);
    blocks[nb++] = malloc(64);
    blocks[nb++] = malloc(3000);
    blocks[nb++] = calloc(1, 32);
    blocks[nb++] = calloc(8, 100);
    blocks[nb++] = memalign(64, 64);
    blocks[nb++] = memalign(BB_MIB, 64);
    blocks[nb++] = memalign(16 * BB_MIB, 64);
    blocks[nb++] = aligned_alloc(4096, 4096);
    blocks[nb++] = valloc(100);
    void *pm = NULL;
    CHECK(posix_memalign(&pm, 64 * BB_KIB, 100) == 0);
    blocks[nb++] = pm;
    for (int i = 0; i < nb; i++)
        CHECKF(blocks[i] != NULL, "request %d still fails after freeing the filler", i);
    CHECK(bb_all_bytes(blocks[3], 32, 0) && bb_all_bytes(blocks[4], 800, 0));
    CHECK(bb_aligned(blocks[7], 16 * BB_MIB) && bb_aligned(pm, 64 * BB_KIB));
    for (int i = 0; i < nb; i++)
        free(blocks[i]);
    unsigned char *s2 = realloc(small, 64 * BB_KIB);
    CHECK(s2 != NULL);
    CHECK(bb_verify(s2, small_n, 1) == (size_t)-1);
    small = s2;

    /* ... and with the limit lifted, the big ones do */
    CHECK(setrlimit(RLIMIT_AS, &saved) == 0);
    char *m = malloc(BIG);
    CHECK(m != NULL);
    m[0] = 1;
    m[BIG - 1] = 2;
    free(m);
    char *c = calloc(BIG / 4096, 4096);
    CHECK(c != NULL);
    CHECK(c[0] == 0 && c[BIG / 2] == 0 && c[BIG - 1] == 0);
    free(c);
    void *a = aligned_alloc(256 * BB_MIB, 256 * BB_MIB);
    CHECK(a != NULL && bb_aligned(a, 256 * BB_MIB));
    free(a);
    pm = NULL;
    CHECK(posix_memalign(&pm, 2 * BB_MIB, BIG) == 0);
    CHECK(pm != NULL && bb_aligned(pm, 2 * BB_MIB));
    free(pm);
    unsigned char *l2 = realloc(large, BIG);
    CHECK(l2 != NULL);
    CHECK(bb_verify(l2, large_n, 2) == (size_t)-1);
    free(l2);
    s2 = realloc(small, BIG);
    CHECK(s2 != NULL);
    CHECK(bb_verify(s2, small_n, 1) == (size_t)-1);
    free(s2);
    return 0;
}
