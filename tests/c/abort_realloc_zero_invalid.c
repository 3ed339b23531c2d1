/* realloc(p, 0) frees p (glibc's semantics), so a pointer into the stack is
 * misuse there too; it must abort naming the call the program made:
 * "bestbuddy: realloc(): invalid pointer <p>".
 * The buffer is zeroed so that glibc (validation mode) reads a zero chunk size
 * in front of the pointer and aborts too. */
#include "abort_common.h"

int main(void)
{
    on_bestbuddy();
    _Alignas(16) char buf[64];
    memset(buf, 0, sizeof buf);
    char *bad = buf + 16;
    expect_line("bestbuddy: realloc(): invalid pointer %p", bad);
    void *r = realloc(launder(bad), 0);
    printf("survived invalid realloc: %p\n", r);
    return 0;
}
