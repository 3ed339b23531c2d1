/* free() of a 64 MiB block that was already freed must abort with
 * "bestbuddy: free(): double free of <ptr>". */
#include "abort_common.h"

int main(void)
{
    on_bestbuddy();
    char *p = malloc(64 * BB_MIB);
    CHECK(p != NULL);
    memset(p, 0x42, 4096);
    free(p);
    expect_line("bestbuddy: free(): double free of %p", p);
    free(launder(p));
    printf("survived double free\n");
    return 0;
}
