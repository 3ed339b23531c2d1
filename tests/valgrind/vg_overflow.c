/* Accesses just past the end of blocks (into the padding the heap rounded the size up to,
 * and past a large block's end in its mapping): memcheck must report them after the block.
 *
 * expect-status: 0
 * expect: Invalid read of size 1
 * expect: Address 0x[0-9a-fA-F]+ is 0 bytes after a block of size 20 alloc'd
 * expect: Invalid write of size 1
 * expect: Address 0x[0-9a-fA-F]+ is 1 bytes after a block of size 20 alloc'd
 * expect: Address 0x[0-9a-fA-F]+ is 0 bytes after a block of size 3,145,729 alloc'd
 * expect: ERROR SUMMARY: 3 errors from 3 contexts
 * expect: All heap blocks were freed -- no leaks are possible
 */
#include "../c/common.h"

int main(void)
{
    on_bestbuddy();
    char *p = malloc(20);
    CHECK(p != NULL);
    memset(p, 1, 20);
    int c = *(volatile char *)(p + 20);
    *(volatile char *)(p + 21) = 2;
    size_t big_size = ((size_t)3 << 20) + 1;
    char *big = malloc(big_size);
    CHECK(big != NULL);
    big[big_size - 1] = 3;
    c += *(volatile char *)(big + big_size);
    free(big);
    free(p);
    printf("c %d\n", c);
    return 0;
}
