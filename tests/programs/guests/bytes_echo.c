/* Prints what the guest was given, byte for byte, in hex (so any byte
 * survives the trip back): each argument after argv[0], each environment
 * string, and the name of each preopened directory.  Used by
 * tests/unit/test_cli_hostile.py to check that odd bytes reach the guest
 * unchanged.  Rebuild with `make corpus`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

extern char **environ;

static void hex(const char *what, const unsigned char *s, size_t n) {
    printf("%s ", what);
    for (size_t i = 0; i < n; i++) printf("%02x", s[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) hex("arg", (const unsigned char *)argv[i], strlen(argv[i]));
    for (char **e = environ; *e; e++) hex("env", (const unsigned char *)*e, strlen(*e));
    for (__wasi_fd_t fd = 3;; fd++) {
        __wasi_prestat_t ps;
        if (__wasi_fd_prestat_get(fd, &ps) != 0) break;
        size_t n = ps.u.dir.pr_name_len;
        unsigned char *name = malloc(n + 1);
        if (!name || __wasi_fd_prestat_dir_name(fd, name, n) != 0) return 1;
        hex("dir", name, n);
        free(name);
    }
    return 0;
}
