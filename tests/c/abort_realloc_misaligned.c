/* realloc(p + 1, n) of a live 64-byte block must abort with
 * "bestbuddy: realloc(): invalid pointer <p+1>". */
#include "abort_common.h"

int main(void)
{
    on_bestbuddy();
    char *p = malloc(64);
    CHECK(p != NULL);
    memset(p, 0, 64);
    char *bad = p + 1;
    expect_line("bestbuddy: realloc(): invalid pointer %p", bad);
    void *r = realloc(launder(bad), 200);
    printf("survived invalid realloc: %p\n", r);
    return 0;
}
