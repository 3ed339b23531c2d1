/* free() of a small block that was already freed must abort with
 * "bestbuddy: free(): double free of <ptr>". */
#include "abort_common.h"

int main(void)
{
    on_bestbuddy();
    char *keep = malloc(32); /* neighbours, so the block is not alone */
    char *p = malloc(32);
    char *keep2 = malloc(32);
    CHECK(keep && p && keep2);
    memset(p, 0x41, 32);
    free(p);
    expect_line("bestbuddy: free(): double free of %p", p);
    free(launder(p));
    printf("survived double free\n");
    free(keep);
    free(keep2);
    return 0;
}
