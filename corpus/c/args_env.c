/* Prints its arguments and chosen environment variables; exits with the
 * status given as the last argument "exit=N" (default 0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

int main(int argc, char **argv) {
    int status = 0;
    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++) {
        printf("argv[%d]=%s\n", i, argv[i]);
        if (strncmp(argv[i], "exit=", 5) == 0) status = atoi(argv[i] + 5);
    }
    int n = 0;
    for (char **e = environ; *e; e++) n++;
    printf("envc=%d\n", n);
    const char *names[] = {"GREETING", "EMPTY", "MULTI", "HOME"};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        printf("%s=%s\n", names[i], v ? v : "(unset)");
    }
    fflush(stdout);
    return status;
}
