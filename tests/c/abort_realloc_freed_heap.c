/* realloc of a freed pointer (a 40000-byte block, above the caches' 32 KiB, which free gave
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
    void *before = malloc(40000);
    char *p = malloc(40000);
    void *after = malloc(40000);
    CHECK(before != NULL && p != NULL && after != NULL);
    free(p);
    expect_line("bestbuddy: realloc(): freed pointer %p", p);
    void *q = realloc(launder(p), 2 * 40000);
    printf("survived: realloc of a freed pointer returned %p\n", q);
    return 0;
}
