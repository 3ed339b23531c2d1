/* realloc growing by small steps moves a block O(log n) times, not O(n).
 *
 * A string built by appends calls realloc for each new length.  If every
 * realloc that outgrows the block's exact size had to move it, building a
 * 64 KiB string by 1..7-byte appends would copy O(n^2) bytes.  bestbuddy asks
 * for a quarter more than the block has when it grows by less than that
 * (global.rs, growth_target), so the block moves at most about log_1.25 of
 * its growth times.  64 strings grow in turn, so that each one's neighbours
 * are live and it cannot simply grow in place into free space behind it.
 *
 * Also checked: every byte survives every step, and a shrink by more than a
 * quarter gives the bytes back (the usable size falls) while a shrink by a
 * few bytes keeps the block where it is. */
#include "common.h"

#define TARGET (16 * BB_KIB)
#define STRINGS 64

int main(void)
{
    int bb = on_bestbuddy();
    unsigned char *s[STRINGS];
    size_t len = 16;
    for (int i = 0; i < STRINGS; i++) {
        s[i] = malloc(len);
        CHECK(s[i] != NULL);
        bb_fill(s[i], 0, len, (unsigned)i);
    }
    long moves = 0, reallocs = 0;
    unsigned step = 1;
    /* The strings grow in turn, so each one's neighbours are other live strings. */
    while (len < TARGET) {
        size_t next = len + step;
        step = step % 7 + 1;
        for (int i = 0; i < STRINGS; i++) {
            unsigned char *q = realloc(s[i], next);
            CHECK(q != NULL);
            reallocs++;
            moves += q != s[i];
            CHECKF(bb_verify(q, len, (unsigned)i) == (size_t)-1, "bytes lost growing to %zu",
                   next);
            bb_fill(q, len, next, (unsigned)i);
            s[i] = q;
        }
        len = next;
    }
    printf("%ld reallocs, %ld moves to reach %zu bytes\n", reallocs, moves, len);
    /* log_1.25(16 KiB / 16 B) is 31: allow 40 moves a string. */
    if (bb)
        CHECKF(moves <= 40L * STRINGS, "%ld moves for %ld reallocs", moves, reallocs);
    for (int i = 1; i < STRINGS; i++)
        free(s[i]);
    unsigned char *p = s[0];

    /* A shrink by a few bytes stays in place. */
    unsigned char *q = realloc(p, len - 5);
    CHECK(q != NULL);
    if (bb)
        CHECK(q == p);
    p = q;
    len -= 5;
    CHECK(bb_verify(p, len, 0) == (size_t)-1);

    /* A shrink to a third gives memory back. */
    size_t before = malloc_usable_size(p);
    q = realloc(p, len / 3);
    CHECK(q != NULL);
    CHECK(bb_verify(q, len / 3, 0) == (size_t)-1);
    if (bb)
        CHECKF(malloc_usable_size(q) < before, "usable %zu after shrinking to %zu, %zu before",
               malloc_usable_size(q), len / 3, before);
    free(q);
    return 0;
}
