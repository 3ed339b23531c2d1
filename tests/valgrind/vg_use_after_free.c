/* Reads and a write of blocks after they were freed (one freed by free, one by the realloc
 * that moved it): memcheck must report each, inside the freed block.
 *
 * expect-status: 0
 * expect: Invalid read of size 1
 * expect: Address 0x[0-9a-fA-F]+ is 40 bytes inside a block of size 64 free'd
 * expect: Address 0x[0-9a-fA-F]+ is 10 bytes inside a block of size 200 free'd
 * expect: Invalid write of size 1
 * expect: Address 0x[0-9a-fA-F]+ is 30 bytes inside a block of size 300 free'd
 * expect: by 0x[0-9a-fA-F]+: main \(vg_use_after_free\.c:[0-9]+\)
 * expect: ERROR SUMMARY: 3 errors from 3 contexts
 * expect: All heap blocks were freed -- no leaks are possible
 */
#include "../c/common.h"

static __attribute__((noinline)) int read_byte(const char *p)
{
    return *(const volatile char *)p;
}

int main(void)
{
    on_bestbuddy();
    char *p = malloc(64);
    CHECK(p != NULL);
    memset(p, 7, 64);
    free(p);
    int sum = read_byte(p + 40);

    char *q = malloc(200);
    CHECK(q != NULL);
    memset(q, 8, 200);
    char *moved = realloc(q, (size_t)3 << 20); /* moves, to a mapping of its own */
    CHECK(moved != NULL && moved != q);
    sum += read_byte(q + 10);
    free(moved);

    char *w = malloc(300); /* a size of its own: not the first block again */
    CHECK(w != NULL);
    free(w);
    *(volatile char *)(w + 30) = 1;
    printf("sum %d\n", sum);
    return 0;
}
