/* malloc_usable_size() of a pointer into the stack must abort with
 * "bestbuddy: malloc_usable_size(): invalid pointer <p>".
 * glibc does not validate malloc_usable_size's argument (with the zeroed
 * buffer it returns 0): in validation mode the test then aborts by itself. */
#include "abort_common.h"

int main(void)
{
    int bb = on_bestbuddy();
    _Alignas(16) char buf[64];
    memset(buf, 0, sizeof buf);
    char *bad = buf + 16;
    expect_line("bestbuddy: malloc_usable_size(): invalid pointer %p", bad);
    size_t n = malloc_usable_size(launder(bad));
    printf("survived malloc_usable_size of a stack pointer: %zu\n", n);
    fflush(stdout);
    if (!bb)
        abort();
    return 0;
}
