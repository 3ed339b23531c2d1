/* realloc of a freed pointer (a 64-byte block, which free left in the thread cache) must
 * abort with
 * "bestbuddy: realloc(): freed pointer <p>" instead of resizing memory the allocator may
 * already have handed to someone else. */
#include "abort_common.h"

int main(void)
{
    if (!on_bestbuddy()) {
        printf("skip: glibc does not check realloc of a freed pointer\n");
        return 0;
    }
    char *p = freed_between_live(64);
    expect_line("bestbuddy: realloc(): freed pointer %p", p);
    void *q = realloc(launder(p), 2 * 64);
    printf("survived: realloc of a freed pointer returned %p\n", q);
    return 0;
}
