/* pair: the cost of one malloc(32) + free pair.
 *
 *   pair N
 *
 * Runs N iterations of p = malloc(32); free(p).  The pointer is passed
 * through an empty asm statement so the compiler cannot drop the pair (and
 * the programs are built with -fno-builtin anyway).  Meant for callgrind:
 * the difference in instruction counts between two values of N, divided by
 * the difference in N, is the instructions per pair (loop included) with all
 * start-up and shutdown cost cancelled out.  See run.py --callgrind.
 *
 * One more 32-byte block is allocated before the loop and kept live, as a
 * running program would have other blocks of that size class: without it
 * the loop's block is the only one on its page/run, and an allocator that
 * retires empty pages (mimalloc) takes that slow path on every free(),
 * which measures an artefact of the loop rather than the pair (callgrind
 * shows mimalloc's count roughly halved by the keeper).
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s N\n", argv[0]);
        return 2;
    }
    long n = atol(argv[1]);
    unsigned long acc = 0;
    void *keep = malloc(32);
    __asm__ volatile("" : : "r"(keep) : "memory");
    for (long i = 0; i < n; i++) {
        void *p = malloc(32);
        __asm__ volatile("" : : "r"(p) : "memory");
        acc += (unsigned long)(p != NULL);
        free(p);
    }
    free(keep);
    printf("pair n=%ld ok=%lu\n", n, acc);
    return acc == (unsigned long)n ? 0 : 1;
}
