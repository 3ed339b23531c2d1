/* realloc(p + 16, n) of a live 256-byte block must abort with
 * "bestbuddy: realloc(): invalid pointer <p+16>". */
#include "abort_common.h"

int main(void)
{
    on_bestbuddy();
    char *p = malloc(256);
    CHECK(p != NULL);
    memset(p, 0, 256);
    char *bad = p + 16;
    expect_line("bestbuddy: realloc(): invalid pointer %p", bad);
    void *r = realloc(launder(bad), 100);
    printf("survived invalid realloc: %p\n", r);
    return 0;
}
