/* free() of a pointer into a global (zero-initialised, so .bss) must abort
 * with "bestbuddy: free(): invalid pointer <p>".
 * The zero bytes in front of the pointer make glibc (validation mode) abort
 * on the chunk size too. */
#include "abort_common.h"

static _Alignas(16) char global_buf[64];

int main(void)
{
    on_bestbuddy();
    char *bad = global_buf + 16;
    expect_line("bestbuddy: free(): invalid pointer %p", bad);
    free(launder(bad));
    printf("survived invalid free\n");
    return 0;
}
