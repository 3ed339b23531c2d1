/* A block freed twice: memcheck reports the invalid free, and bestbuddy still stops the
 * program with its own message.
 *
 * expect-status: 134
 * expect: Invalid free\(\) / delete / delete\[\] / realloc\(\)
 * expect: Address 0x[0-9a-fA-F]+ is 0 bytes inside a block of size 32 free'd
 * expect-stderr: ^bestbuddy: free\(\): double free of 0x[0-9a-f]+: 
 */
#include "../c/common.h"

int main(void)
{
    on_bestbuddy();
    char *keep = malloc(32);
    char *p = malloc(32);
    CHECK(keep != NULL && p != NULL);
    free(p);
    free(*(char *volatile *)&p);
    printf("survived a double free\n");
    free(keep);
    return 0;
}
