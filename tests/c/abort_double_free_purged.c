/* free() of a block that was freed and merged into a free block of 1 MiB or more, whose
 * pages (its old header's among them) went back to the OS, must still abort with
 * "bestbuddy: free(): double free of <ptr>", not as a pointer malloc never returned. */
#include "abort_common.h"

enum { BIG = 200000, NBIG = 6 }; /* heap blocks; freed together, a free block of 1.2 MiB */

int main(void)
{
    on_bestbuddy();
    char *x[NBIG];
    for (int i = 0; i < NBIG; i++) {
        x[i] = malloc(BIG);
        CHECK(x[i] != NULL);
        memset(x[i], 0x42, BIG);
    }
    char *guard = malloc(BIG); /* the free block ends below it, not in the region's top */
    CHECK(guard != NULL);
    for (int i = 0; i < NBIG; i++)
        free(x[i]);
    expect_line("bestbuddy: free(): double free of %p", x[2]);
    free(launder(x[2]));
    printf("survived double free (guard %p)\n", (void *)guard);
    return 0;
}
