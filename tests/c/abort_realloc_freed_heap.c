/* realloc of a freed pointer (a 6000-byte block, too big for the caches, which free gave
 * back to the heap) must abort with
 * "bestbuddy: realloc(): freed pointer <p>" instead of resizing memory the allocator may
 * already have handed to someone else. */
#include "abort_common.h"

int main(void)
{
    if (!on_bestbuddy()) {
        printf("skip: glibc does not check realloc of a freed pointer\n");
        return 0;
    }
    /* No stdout buffer: glibc would malloc one at the first printf, and could take p. */
    setvbuf(stdout, NULL, _IONBF, 0);
    /* Live neighbours keep the freed block from merging into a bigger one. */
    void *before = malloc(6000);
    char *p = malloc(6000);
    void *after = malloc(6000);
    CHECK(before != NULL && p != NULL && after != NULL);
    free(p);
    expect_line("bestbuddy: realloc(): freed pointer %p", p);
    void *q = realloc(launder(p), 2 * 6000);
    printf("survived: realloc of a freed pointer returned %p\n", q);
    return 0;
}
