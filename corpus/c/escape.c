/* Sandbox escape attempts through wasi-libc.  The directory "box" is the
 * only preopen; the host places a file "secret" next to it (outside).
 * Every attempt must be refused; prints one line per attempt. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void try_open(const char *what, const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        char buf[16] = {0};
        read(fd, buf, sizeof buf - 1);
        printf("%-28s ESCAPED: read '%s'\n", what, buf);
        close(fd);
    } else {
        printf("%-28s refused (%s)\n", what, strerror(errno));
    }
}

int main(void) {
    try_open("parent", "box/../secret");
    try_open("parent of parent", "box/../../secret");
    try_open("absolute", "/etc/passwd");
    try_open("dot-dot inside", "box/a/../../secret");
    symlink("../secret", "box/up");
    try_open("relative symlink out", "box/up");
    symlink("/etc/passwd", "box/abs");
    try_open("absolute symlink", "box/abs");
    symlink("loop2", "box/loop1");
    symlink("loop1", "box/loop2");
    try_open("symlink loop", "box/loop1");
    int r = link("box/../secret", "box/hard");
    printf("%-28s %s\n", "hard link to outside", r == 0 ? "ESCAPED" : "refused");
    r = rename("box/up", "box/../moved");
    printf("%-28s %s\n", "rename out of the box", r == 0 ? "ESCAPED" : "refused");
    struct stat st;
    r = stat("box/..", &st);
    printf("%-28s %s\n", "stat the parent", r == 0 ? "ESCAPED" : "refused");
    r = mkdir("box/../made", 0755);
    printf("%-28s %s\n", "mkdir outside", r == 0 ? "ESCAPED" : "refused");
    unlink("box/up");
    unlink("box/abs");
    unlink("box/loop1");
    unlink("box/loop2");
    return 0;
}
