/* malloc_usable_size of a freed pointer (a 64-byte block, which free left in the thread
 * cache) must abort with "bestbuddy: malloc_usable_size(): freed pointer <p>": its fast
 * path, which proves a block live without a lock, must still tell a cached block from one
 * the program holds. */
#include "abort_common.h"

int main(void)
{
    if (!on_bestbuddy()) {
        printf("skip: glibc does not check malloc_usable_size of a freed pointer\n");
        return 0;
    }
    char *p = freed_between_live(64);
    expect_line("bestbuddy: malloc_usable_size(): freed pointer %p", p);
    size_t n = malloc_usable_size(launder(p));
    printf("survived: malloc_usable_size of a freed pointer returned %zu\n", n);
    return 0;
}
