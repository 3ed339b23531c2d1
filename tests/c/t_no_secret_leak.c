/* No value mixed with the allocator's secrets reaches the program: a block handed out again
 * after free has the words where its sealed link and cache key were cleared, and a block
 * absorbed by a merge does not leave its links inside the merged block.  (A sealed null link
 * is the link secret mixed only with the block's own address.) */
#include "common.h"

int main(void)
{
    if (!on_bestbuddy())
        return 0;
    /* Cached: freed into this thread's cache, then taken back. */
    uint64_t *p = malloc(64);
    CHECK(p != NULL);
    free(p);
    uint64_t *q = malloc(64);
    CHECK(q == p);
    CHECKF(q[0] == 0 && q[1] == 0, "reused cached block starts %#llx %#llx",
           (unsigned long long)q[0], (unsigned long long)q[1]);

    /* Merged: b is freed into the heap's lists (above the caches' 32 KiB), then a, just below
     * it, is freed and absorbs it; the merged block, handed out whole, must not hold b's
     * links. */
    const char *backend = getenv("BESTBUDDY_EXPECT");
    int buddy = backend != NULL && strcmp(backend, "buddy") == 0;
    enum { N = 8 };
    char *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(40000);
        CHECK(blocks[i] != NULL);
    }
    /* Neighbours a < b; on buddy they must be buddies (a aligned to their combined size). */
    int ia = -1, ib = -1;
    for (int i = 0; i < N && ia < 0; i++)
        for (int j = 0; j < N; j++)
            if (blocks[j] > blocks[i] && blocks[j] - blocks[i] <= 65536 &&
                (!buddy || (uintptr_t)blocks[i] % 131072 == 0)) {
                ia = i;
                ib = j;
                break;
            }
    CHECK(ia >= 0);
    char *a = blocks[ia], *b = blocks[ib];
    size_t off = (size_t)(b - a);
    free(b);
    free(a);
    /* Most of the merged block: best fit takes it whole (and cuts the rest off its end)
     * when the rest is no longer a block of its tree of large blocks. */
    char *c = malloc(off + 30000);
    CHECK(c == a);
    uint64_t w[2];
    memcpy(w, c + off, sizeof w);
    CHECKF(w[0] == 0 && w[1] == 0, "merged block holds %#llx %#llx where b's links were",
           (unsigned long long)w[0], (unsigned long long)w[1]);
    free(c);
    for (int i = 0; i < N; i++)
        if (i != ia && i != ib)
            free(blocks[i]);
    return 0;
}
