/* free(p + 16) of a live 256-byte block must abort with
 * "bestbuddy: free(): invalid pointer <p+16>". */
#include "abort_common.h"

int main(void)
{
    on_bestbuddy();
    char *p = malloc(256);
    CHECK(p != NULL);
    memset(p, 0, 256);
    char *bad = p + 16;
    expect_line("bestbuddy: free(): invalid pointer %p", bad);
    free(launder(bad));
    printf("survived invalid free\n");
    return 0;
}
