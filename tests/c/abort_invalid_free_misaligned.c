/* free(p + 1) of a live 64-byte block must abort with
 * "bestbuddy: free(): invalid pointer <p+1>". */
#include "abort_common.h"

int main(void)
{
    on_bestbuddy();
    char *p = malloc(64);
    CHECK(p != NULL);
    memset(p, 0, 64);
    char *bad = p + 1;
    expect_line("bestbuddy: free(): invalid pointer %p", bad);
    free(launder(bad));
    printf("survived invalid free\n");
    return 0;
}
