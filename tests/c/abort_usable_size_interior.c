/* malloc_usable_size(p + 16) of a live 256-byte block must abort with
 * "bestbuddy: malloc_usable_size(): invalid pointer <p+16>".
 * glibc does not validate malloc_usable_size's argument (the zeroed payload
 * reads as a zero chunk size, so it returns 0): in validation mode the test
 * then aborts by itself. */
#include "abort_common.h"

int main(void)
{
    int bb = on_bestbuddy();
    char *p = malloc(256);
    CHECK(p != NULL);
    memset(p, 0, 256);
    char *bad = p + 16;
    expect_line("bestbuddy: malloc_usable_size(): invalid pointer %p", bad);
    size_t n = malloc_usable_size(launder(bad));
    printf("survived malloc_usable_size of an interior pointer: %zu\n", n);
    fflush(stdout);
    if (!bb)
        abort();
    return 0;
}
