/* Best fit: an overflow that forges the next block's header as a big free block must not
 * steer malloc_trim, which walks every block and gives the pages of free ones back with
 * madvise: the walk checks each header's seal and aborts with
 * "bestbuddy: malloc_trim(): corrupted block <y>".  Without the seal, malloc_trim would
 * zero the live blocks the forged size covers (or loop forever on a size that lands in
 * zeroed memory).  Buddy blocks have no header: skipped there. */
#include "abort_common.h"

enum { SIZE = 200000 }; /* whole pages, below the 256 KiB mmap threshold: heap blocks */

int main(void)
{
    if (!on_bestbuddy()) {
        printf("skip: glibc's malloc_trim does not check this\n");
        return 0;
    }
    const char *backend = getenv("BESTBUDDY_EXPECT");
    if (backend != NULL && strcmp(backend, "buddy") == 0) {
        printf("skip: buddy blocks have no in-band header\n");
        return 0;
    }
    char *x = malloc(SIZE);
    char *y = malloc(SIZE);
    char *z = malloc(SIZE);
    CHECK(x != NULL && y != NULL && z != NULL);
    size_t usable = malloc_usable_size(x);
    CHECK(y == x + usable + 8); /* neighbours, carved one after the other */
    memset(y, 'y', SIZE);
    memset(z, 'z', SIZE);
    expect_line("bestbuddy: malloc_trim(): corrupted block %p", y);
    /* Overflow x into y's header: a free block (flag P only) twice y's size. */
    uint64_t forged = (uint64_t)(2 * (usable + 8)) | 2;
    memcpy((char *)launder(x) + usable, &forged, 8);
    malloc_trim(0);
    printf("survived: malloc_trim walked a forged header (y[0]=%d z[0]=%d)\n", y[0], z[0]);
    return 0;
}
