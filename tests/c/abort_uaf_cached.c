/* A write into a small block after free, while the block sits in the thread cache, must not
 * steer malloc: its link is sealed, so the next malloc of that size finds it damaged and
 * aborts with "bestbuddy: malloc(): corrupted block <p>".  Without the seal, the second
 * malloc below would return &target, an address of the writer's choosing. */
#include "abort_common.h"

static char target[256] __attribute__((aligned(64)));

int main(void)
{
    if (!on_bestbuddy()) {
        printf("skip: glibc's tcache counts its entries and never reads this damaged link\n");
        return 0;
    }
    void **p = malloc(64);
    CHECK(p != NULL);
    free(p);
    expect_line("bestbuddy: malloc(): corrupted block %p", p);
    /* Use after free: overwrite what free left in the block's first words. */
    void **volatile dangling = launder(p);
    dangling[0] = target;
    dangling[1] = target;
    void *a = malloc(64);
    void *b = malloc(64);
    printf("survived: malloc returned %p then %p (target %p)\n", a, b, (void *)target);
    return 0;
}
