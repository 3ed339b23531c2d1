/* Best fit: an overflow that runs from a live block into the header of the live block after
 * it breaks that header's seal; freeing the second block aborts with
 * "bestbuddy: free(): corrupted block <next>".  Without the seal, free would trust the
 * forged size (see below) and free memory that belongs to live neighbours.  Buddy blocks carry no header (their
 * sizes live in the region's order map, out of the program's reach), so on buddy the test
 * says "skip:". */
#include "abort_common.h"

enum { N = 16, SIZE = 40 };

int main(void)
{
    if (on_bestbuddy()) {
        const char *backend = getenv("BESTBUDDY_EXPECT");
        if (backend != NULL && strcmp(backend, "buddy") == 0) {
            printf("skip: buddy blocks have no in-band header\n");
            return 0;
        }
    }
    char *blocks[N], *x, *y;
    neighbours(blocks, N, SIZE, &x, &y);
    expect_line("bestbuddy: free(): corrupted block %p", y);
    /* Overflow x up to y; the last 8 bytes written, just before y, are y's header, and the
     * overflow forges one there: a 256-byte block in use after a block in use, bigger than
     * y really is.  Trusting it, free would hand out memory of live neighbours again. */
    char *bytes = launder(x);
    memset(bytes, 'A', (size_t)(y - x) - 8);
    uint64_t forged = 256 | 3;
    memcpy(bytes + (y - x) - 8, &forged, 8);
    free(launder(y));
    printf("survived: free of %p after its header was overwritten\n", (void *)y);
    return 0;
}
