/* A write into a freed block too big for the thread caches (40000 bytes, above their 32 KiB:
 * it goes straight back to the heap's free structures) must not steer malloc: the heap's
 * links are sealed, and the next malloc that walks them aborts with "bestbuddy: malloc(): corrupted block <p>".  Without the
 * seal, the heap would follow the written pointer into the program's data. */
#include "abort_common.h"

static char target[8192] __attribute__((aligned(4096)));

int main(void)
{
    on_bestbuddy();
    /* No stdout buffer: glibc would malloc one at the first printf, and could take p. */
    setvbuf(stdout, NULL, _IONBF, 0);
    /* Live neighbours on both sides keep p from merging with anything when it is freed. */
    void *before = malloc(40000);
    void **p = malloc(40000);
    void *after = malloc(40000);
    CHECK(before != NULL && p != NULL && after != NULL);
    free(p);
    expect_line("bestbuddy: malloc(): corrupted block %p", p);
    void **volatile dangling = launder(p);
    dangling[0] = target + 8;
    dangling[1] = target + 8;
    void *a = malloc(40000);
    void *b = malloc(40000);
    printf("survived: malloc returned %p then %p (target %p)\n", a, b, (void *)target);
    free(before);
    free(after);
    return 0;
}
