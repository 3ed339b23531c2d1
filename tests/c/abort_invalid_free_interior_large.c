/* free() of a page-aligned interior pointer (p + 1 MiB) of a live 64 MiB
 * block must abort with "bestbuddy: free(): invalid pointer <p+1MiB>". */
#include "abort_common.h"

int main(void)
{
    on_bestbuddy();
    char *p = malloc(64 * BB_MIB);
    CHECK(p != NULL);
    memset(p, 0, 2 * BB_MIB);
    char *bad = p + BB_MIB;
    expect_line("bestbuddy: free(): invalid pointer %p", bad);
    free(launder(bad));
    printf("survived invalid free\n");
    return 0;
}
