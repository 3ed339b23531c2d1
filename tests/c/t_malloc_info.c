/* malloc_info(0, fp) writes an XML document starting with "<malloc" and
 * returns 0; malloc_info(1, fp) returns EINVAL (options must be 0). */
#include "common.h"

int main(void)
{
    on_bestbuddy();
    void *keep[3] = {malloc(100), malloc(100000), malloc(10 * BB_MIB)};
    CHECK(keep[0] && keep[1] && keep[2]);
    FILE *f = tmpfile();
    CHECK(f != NULL);
    int r = malloc_info(0, f);
    CHECKF(r == 0, "malloc_info(0, f) = %d", r);
    CHECK(fflush(f) == 0);
    long len = ftell(f);
    CHECKF(len > 0, "malloc_info wrote nothing");
    rewind(f);
    char buf[8192];
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    CHECK(got > 0);
    buf[got] = '\0';
    const char *s = buf;
    while (*s == ' ' || *s == '\n' || *s == '\t')
        s++;
    CHECKF(strncmp(s, "<malloc", 7) == 0, "malloc_info output starts with \"%.40s\"", s);
    CHECK(strstr(buf, "</malloc>") != NULL || len >= (long)sizeof buf - 1);
    fclose(f);

    f = tmpfile();
    CHECK(f != NULL);
    r = malloc_info(1, f);
    CHECKF(r == EINVAL, "malloc_info(1, f) = %d, expected EINVAL", r);
    fclose(f);
    for (int i = 0; i < 3; i++)
        free(keep[i]);
    return 0;
}
