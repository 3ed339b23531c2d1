/* Memory allocated inside libc (strdup, getline, asprintf, open_memstream,
 * realpath, getcwd, stdio buffers) comes from
 * the same allocator the program uses: it can be measured with
 * malloc_usable_size, grown with realloc and released with free. */
#include "common.h"

int main(void)
{
    on_bestbuddy();
    for (int round = 0; round < 200; round++) {
        char *s = strdup("bestbuddy interop test string");
        CHECK(s != NULL);
        CHECK(malloc_usable_size(s) >= strlen(s) + 1);
        s = realloc(s, 10000);
        CHECK(s != NULL && strcmp(s, "bestbuddy interop test string") == 0);
        free(s);

        char *d = strndup("abcdefghijklmnopqrstuvwxyz", 10 + (size_t)round % 16);
        CHECK(d != NULL && strlen(d) == 10 + (size_t)round % 16);
        free(d);

        char *a = NULL;
        int n = asprintf(&a, "%d-%s-%0*d", round, "x", 3000, 7);
        CHECK(n > 3000 && a != NULL);
        CHECK(malloc_usable_size(a) >= (size_t)n + 1);
        free(a);

        char *buf = NULL;
        size_t bufsz = 0;
        FILE *m = open_memstream(&buf, &bufsz);
        CHECK(m != NULL);
        for (int i = 0; i < 2000; i++)
            fprintf(m, "%d,", i);
        CHECK(fclose(m) == 0);
        CHECK(buf != NULL && bufsz > 5000 && strncmp(buf, "0,1,2,", 6) == 0);
        CHECK(malloc_usable_size(buf) >= bufsz);
        buf = realloc(buf, bufsz * 3);
        CHECK(buf != NULL && strncmp(buf, "0,1,2,", 6) == 0);
        free(buf);
    }

    /* getline: libc allocates and reallocs the line buffer */
    FILE *f = tmpfile();
    CHECK(f != NULL);
    for (int i = 0; i < 100; i++) {
        for (int j = 0; j < i * 97; j++)
            fputc('a' + j % 26, f);
        fputc('\n', f);
    }
    rewind(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int lines = 0;
    while ((got = getline(&line, &cap, f)) != -1) {
        CHECK(got == lines * 97 + 1);
        CHECK(malloc_usable_size(line) >= cap);
        lines++;
    }
    CHECK(lines == 100);
    free(line);
    /* our buffer handed to getline, which may realloc it */
    line = malloc(4);
    cap = 4;
    rewind(f);
    CHECK(getline(&line, &cap, f) == 1);
    CHECK(getline(&line, &cap, f) == 98);
    free(line);
    fclose(f);

    char *rp = realpath("/tmp/.", NULL);
    CHECK(rp != NULL);
    CHECK(malloc_usable_size(rp) >= strlen(rp) + 1);
    free(rp);
    char *cwd = getcwd(NULL, 0);
    CHECK(cwd != NULL);
    free(cwd);
    return 0;
}
