/* Exit paths: "exit N" exits with N, "abort" calls abort() (a trap),
 * "oob" reads far outside linear memory (a trap), "ok" returns 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "ok";
    printf("doing %s\n", what);
    fflush(stdout);
    if (strcmp(what, "exit") == 0) exit(argc > 2 ? atoi(argv[2]) : 1);
    if (strcmp(what, "abort") == 0) abort();
    if (strcmp(what, "oob") == 0) {
        volatile int *p = (volatile int *)(uintptr_t)0xFFFFFFF0u;
        return *p;
    }
    return 0;
}
