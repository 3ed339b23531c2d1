/* realloc of a freed pointer to a size its block already holds (a 64-byte block, which
 * free left in the thread cache, asked for 60) must abort with
 * "bestbuddy: realloc(): freed pointer <p>": the fast path of a realloc that keeps its
 * block, which takes no lock, must still tell a cached block from one the program holds. */
#include "abort_common.h"

int main(void)
{
    if (!on_bestbuddy()) {
        printf("skip: glibc does not check realloc of a freed pointer\n");
        return 0;
    }
    char *p = freed_between_live(64);
    expect_line("bestbuddy: realloc(): freed pointer %p", p);
    void *q = realloc(launder(p), 60);
    printf("survived: realloc of a freed pointer returned %p\n", q);
    return 0;
}
