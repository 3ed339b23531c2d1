/* Buddy: a write into a freed block's list links is reported by malloc_trim, which follows
 * every free list to give the pages inside free blocks back, as
 * "bestbuddy: malloc_trim(): corrupted block <a>" (naming the call being served, as best
 * fit's walk does in abort_overflow_trim.c).  Best fit's trim walks headers, not links:
 * skipped there. */
#include "abort_common.h"

enum { SIZE = 65536 };

int main(void)
{
    if (!on_bestbuddy()) {
        printf("skip: glibc's malloc_trim does not check this\n");
        return 0;
    }
    const char *backend = getenv("BESTBUDDY_EXPECT");
    if (backend == NULL || strcmp(backend, "buddy") != 0) {
        printf("skip: best fit's trim walks headers (abort_overflow_trim.c)\n");
        return 0;
    }
    char *a = malloc(SIZE);
    char *b = malloc(SIZE); /* a's buddy, kept in use so that a stays on its list */
    CHECK(a != NULL && b != NULL);
    /* Before the free: stdout's first buffer would be split off a. */
    expect_line("bestbuddy: malloc_trim(): corrupted block %p", a);
    free(a);
    /* Use after free: flip a high bit of a's sealed next link. */
    ((volatile uint64_t *)launder(a))[0] ^= (uint64_t)1 << 40;
    malloc_trim(0);
    printf("survived: malloc_trim followed a damaged link\n");
    free(b);
    return 0;
}
