/* Branches on bytes the program never wrote: in a malloc'd block (kept so by the realloc
 * that moves it), in the tail of the moved block, and in the tail a realloc grew: memcheck
 * must report each, and say they came from a heap allocation. A byte written before the
 * move is still written after it.
 *
 * expect-status: 0
 * expect: Conditional jump or move depends on uninitialised value\(s\)
 * expect: Uninitialised value was created by a heap allocation
 * expect: ERROR SUMMARY: 3 errors from 3 contexts
 * expect: All heap blocks were freed -- no leaks are possible
 */
#include "../c/common.h"

int main(void)
{
    on_bestbuddy();
    int hits = 0;
    char *p = malloc(16);
    CHECK(p != NULL);
    p[0] = 1;
    char *q = realloc(p, (size_t)3 << 20); /* moves, to a mapping of its own */
    CHECK(q != NULL);
    if (q[0] == 1) /* written: no error */
        hits++;
    if (q[3] == 'x') /* error 1: never written, and the copy says so */
        hits++;
    if (q[3000000] == 'x') /* error 2: the new tail */
        hits++;
    free(q);

    char *r = malloc(100);
    CHECK(r != NULL);
    memset(r, 1, 100);
    r = realloc(r, 104); /* grows in place or moves: either way the tail is unwritten */
    CHECK(r != NULL);
    if (r[99] == 1) /* written: no error */
        hits++;
    if (r[102] == 'x') /* error 3 */
        hits++;
    free(r);
    printf("hits %d\n", hits);
    return 0;
}
