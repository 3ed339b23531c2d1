/* A one-byte overflow (one bit flipped in the byte after a block) into the free block that
 * follows it must be caught, not followed.
 *   buddy:    the byte is the low byte of the free neighbour's sealed link; the link then
 *             decodes to an address 16 bytes off the real next block, which the cache finds
 *             without its key when it comes to take it: "malloc(): corrupted block <addr>".
 *   best fit: the byte is the low byte of the neighbour's header (its size); the seal no
 *             longer matches when the block is freed again: "free(): corrupted block <y>".
 * Without the protection, buddy would hand out a block 16 bytes into another one, and best
 * fit would free the block under a wrong size. */
#include "abort_common.h"

enum { N = 16, SIZE = 40 };

int main(void)
{
    if (!on_bestbuddy()) {
        printf("skip: glibc does not check this\n");
        return 0;
    }
    const char *backend = getenv("BESTBUDDY_EXPECT");
    int buddy = backend != NULL && strcmp(backend, "buddy") == 0;
    char *blocks[N], *x, *y;
    neighbours(blocks, N, SIZE, &x, &y);
    /* z first, then y: y's link points at z. */
    char *z = NULL;
    for (int i = 0; i < N && z == NULL; i++)
        if (blocks[i] != x && blocks[i] != y)
            z = blocks[i];
    free(z);
    free(y);
    /* The byte right after x's usable space: y's link (buddy) or y's header (best fit). */
    size_t usable = malloc_usable_size(x);
    char *after = (char *)launder(x) + usable;
    if (buddy) {
        CHECK(after == y);
        expect_line("bestbuddy: malloc(): corrupted block %p", (void *)((uintptr_t)z ^ 0x10));
        *after ^= 0x10;
        void *a = malloc(SIZE); /* y: its own key is intact */
        void *b = malloc(SIZE); /* z ^ 0x10 */
        printf("survived: malloc returned %p then %p\n", a, b);
    } else {
        CHECK(after == y - 8);
        expect_line("bestbuddy: free(): corrupted block %p", y);
        *after ^= 0x10;
        char *a = malloc(SIZE);
        CHECK(a == y);
        free(launder(a));
        printf("survived: free of %p after its size was changed\n", (void *)a);
    }
    return 0;
}
