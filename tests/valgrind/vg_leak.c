/* Two blocks whose pointers are lost, a small one and one in a mapping of its own: memcheck
 * must report each as lost, with the function that allocated it.
 *
 * The large one may come out "possibly lost" instead of "definitely lost", about one run in
 * thirty: under valgrind mappings lie low (near 0x6c00000), so its 3 MiB span also covers
 * integers of nine digits, and memcheck counts such a value, left in valgrind's memory or on
 * the program's stack, as a pointer into the block. Either way memcheck has found the block
 * lost, with its size and where it was allocated, which is what this test is about.
 *
 * expect-status: 0
 * expect: 123 bytes in 1 blocks are definitely lost in loss record
 * expect: 3,145,728 bytes in 1 blocks are (definitely|possibly) lost in loss record
 * expect: by 0x[0-9a-fA-F]+: leak_small \(vg_leak\.c:[0-9]+\)
 * expect: by 0x[0-9a-fA-F]+: leak_large \(vg_leak\.c:[0-9]+\)
 * expect: definitely lost: (3,145,851 bytes in 2|123 bytes in 1) blocks
 * expect: ERROR SUMMARY: 2 errors from 2 contexts
 */
#include "../c/common.h"

static __attribute__((noinline)) void leak_small(void)
{
    char *volatile p = malloc(123);
    CHECK(p != NULL);
    p[0] = 1;
    p = NULL;
}

static __attribute__((noinline)) void leak_large(void)
{
    char *volatile p = malloc((size_t)3 << 20);
    CHECK(p != NULL);
    p[0] = 1;
    p = NULL;
}

int main(void)
{
    on_bestbuddy();
    leak_small();
    leak_large();
    /* Blocks that are freed are not leaks. */
    for (int i = 0; i < 100; i++)
        free(malloc(123));
    return 0;
}
