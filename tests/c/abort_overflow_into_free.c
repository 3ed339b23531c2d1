/* An overflow that runs from a live block into the free block after it (in the thread cache)
 * damages that block's sealed link; the malloc that takes the free block aborts with
 * "bestbuddy: malloc(): corrupted block <next>".  Without the seal, malloc would follow
 * the bytes the overflow wrote. */
#include "abort_common.h"

enum { N = 16, SIZE = 40 };

int main(void)
{
    if (!on_bestbuddy()) {
        printf("skip: glibc's tcache counts its entries and never reads this damaged link\n");
        return 0;
    }
    char *blocks[N], *x, *y;
    neighbours(blocks, N, SIZE, &x, &y);
    free(y);
    expect_line("bestbuddy: malloc(): corrupted block %p", y);
    /* Overflow x: through everything up to y and y's first 16 bytes. */
    memset(launder(x), 'A', (size_t)(y - x) + 16);
    void *a = malloc(SIZE);
    void *b = malloc(SIZE);
    printf("survived: malloc returned %p then %p\n", a, b);
    return 0;
}
