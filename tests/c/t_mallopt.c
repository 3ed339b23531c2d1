/* mallopt: M_MMAP_THRESHOLD, M_TRIM_THRESHOLD and M_PERTURB are accepted
 * (return 1) and honoured: with M_PERTURB set to b, malloc'd memory is filled
 * with b ^ 0xff while calloc still returns zeroes; after lowering
 * M_MMAP_THRESHOLD to 64 KiB a 256 KiB block counts as mmapped in mallinfo2.
 * Before any mallopt, a 300 KiB block is mapped (above both glibc's 128 KiB and
 * bestbuddy's 256 KiB default thresholds); on bestbuddy a 200 KiB one is not.
 * As glibc 2.36: an unknown parameter is accepted (returns 1), an M_MXFAST
 * outside 0..160 is refused (returns 0); mallopt never sets errno. */
#include "common.h"

int main(void)
{
    int bb = on_bestbuddy();
    free(malloc(10));

    struct mallinfo2 d0 = mallinfo2();
    void *above = malloc(300 * 1024);
    CHECK(above != NULL);
    struct mallinfo2 d1 = mallinfo2();
    CHECKF(d1.hblks == d0.hblks + 1, "default threshold: malloc(300K) not mmapped (hblks %zu -> %zu)",
           d0.hblks, d1.hblks);
    if (bb) {
        void *below = malloc(200 * 1024);
        CHECK(below != NULL);
        struct mallinfo2 d2 = mallinfo2();
        CHECKF(d2.hblks == d1.hblks, "default threshold: malloc(200K) mmapped (hblks %zu -> %zu)",
               d1.hblks, d2.hblks);
        free(below);
    }
    free(above);

    CHECK(mallopt(M_TRIM_THRESHOLD, 256 * 1024) == 1);
    CHECK(mallopt(M_MMAP_THRESHOLD, 64 * 1024) == 1);
    struct mallinfo2 a = mallinfo2();
    void *big = malloc(256 * 1024);
    CHECK(big != NULL);
    struct mallinfo2 b = mallinfo2();
    CHECKF(b.hblks == a.hblks + 1 && b.hblkhd >= a.hblkhd + 256 * 1024,
           "M_MMAP_THRESHOLD=64K: malloc(256K) not counted as mmapped (hblks %zu -> %zu)",
           a.hblks, b.hblks);
    free(big);
    struct mallinfo2 c = mallinfo2();
    CHECK(c.hblks == a.hblks);

    CHECK(mallopt(M_PERTURB, 0x5a) == 1);
    const size_t sizes[] = {1, 24, 200, 5000, 100000, 2 * BB_MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = malloc(sizes[i]);
        CHECK(p != NULL);
        /* glibc skips the fill for blocks served from its tcache (<= 1032
         * bytes); bestbuddy fills every block */
        if (bb || sizes[i] > 1032)
            CHECKF(bb_all_bytes(p, sizes[i], 0x5a ^ 0xff),
                   "M_PERTURB: malloc(%zu) not filled with %#x", sizes[i], 0x5a ^ 0xff);
        memset(p, 0, sizes[i]);
        free(p);
        unsigned char *z = calloc(1, sizes[i]);
        CHECK(z != NULL);
        CHECKF(bb_all_bytes(z, sizes[i], 0), "M_PERTURB: calloc(%zu) not zero", sizes[i]);
        free(z);
    }
    CHECK(mallopt(M_PERTURB, 0) == 1);

    /* glibc ignores unknown parameters and says yes */
    errno = 4321;
    CHECKF(mallopt(12345, 1) == 1, "mallopt(12345, 1) != 1");
    CHECKF(mallopt(-12345, 1) == 1, "mallopt(-12345, 1) != 1");
    CHECKF(mallopt(M_MXFAST, 1000) == 0, "mallopt(M_MXFAST, 1000) != 0");
    CHECKF(mallopt(M_MXFAST, -1) == 0, "mallopt(M_MXFAST, -1) != 0");
    CHECKF(errno == 4321, "mallopt changed errno to %d", errno);
    return 0;
}
