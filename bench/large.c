/* large: large blocks.
 *
 * Keeps SLOTS live blocks of 64 KiB .. 16 MiB (log-uniform, so every size
 * band is equally likely) and replaces them at random.  Every new block is
 * written in full (memset of every page), as a buffer that gets used would
 * be, and sampled before it is freed.  Allocators that return such blocks to
 * the kernel at once pay an mmap, page faults and zeroing for each one;
 * allocators that cache them pay in RSS instead.
 *
 *   large [--scale F]
 */
#include "common.h"

#define SLOTS 4
#define MIN_SIZE ((size_t)64 << 10)
#define MAX_SIZE ((size_t)16 << 20)
#define BASE_OPS 1500L

int main(int argc, char **argv)
{
    struct bench_opts o = bench_args(argc, argv, 1);
    long ops = scaled(BASE_OPS, o.scale);
    uint64_t s = 0x3f84d5b5b5470917ULL, sum = 0, bytes = 0;
    unsigned char *blk[SLOTS] = { 0 };
    size_t len[SLOTS] = { 0 };

    for (long k = 0; k < ops + SLOTS; k++) {
        size_t i = k < SLOTS ? (size_t)k : (size_t)rng_below(&s, SLOTS);
        if (blk[i]) {
            unsigned char *p = blk[i];
            unsigned char tag = (unsigned char)len[i];
            for (size_t off = 0; off < len[i]; off += 4096 * 7)
                if (p[off] != tag) {
                    fprintf(stderr, "large: block %p corrupted\n", (void *)p);
                    abort();
                }
            sum += p[len[i] - 1] + len[i];
            free(p);
            blk[i] = NULL;
        }
        if (k >= ops)
            continue;
        size_t n = rng_logsize(&s, MIN_SIZE, MAX_SIZE);
        blk[i] = xmalloc(n);
        len[i] = n;
        memset(blk[i], (unsigned char)n, n);
        bytes += n;
    }
    for (size_t i = 0; i < SLOTS; i++)
        free(blk[i]);
    printf("large ops=%ld bytes_written=%llu\n", ops, (unsigned long long)bytes);
    printf("checksum %016llx\n", (unsigned long long)sum);
    return 0;
}
