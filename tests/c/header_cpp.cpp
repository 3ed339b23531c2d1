// The public header compiles cleanly as C++ next to <stdlib.h> and <malloc.h>
// (-Wall -Wextra -Werror), twice (include guard), with C linkage: the call
// links against the library's unmangled symbol.
#include <stdlib.h>
#include <malloc.h>
#include "bestbuddy.h"
#include "bestbuddy.h"
#include <cstdio>
#include <cstring>

int main()
{
    const char *b = bestbuddy_backend();
    if (b == nullptr) {
        std::fprintf(stderr, "bestbuddy_backend() returned NULL\n");
        return 1;
    }
    const char *expect = std::getenv("BESTBUDDY_EXPECT");
    if (expect != nullptr && std::strcmp(expect, b) != 0) {
        std::fprintf(stderr, "backend \"%s\", expected \"%s\"\n", b, expect);
        return 1;
    }
    void *p = malloc(100);
    if (p == nullptr || malloc_usable_size(p) < 100)
        return 1;
    free(p);
    int *v = new int[1000]; // operator new reaches our malloc through libstdc++
    v[999] = 1;
    delete[] v;
    std::printf("C++: backend %s\n", b);
    return 0;
}
