/* Files and directories inside a preopened directory "work":
 * create, write, read back, seek, stat, truncate, rename, link, symlink,
 * list (sorted), remove.  Prints one line per step. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) { printf("opendir %s: %s\n", dir, strerror(errno)); return; }
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmp);
    printf("ls %s:", dir);
    for (int i = 0; i < n; i++) { printf(" %s", names[i]); free(names[i]); }
    printf("\n");
}

int main(void) {
    if (mkdir("work/sub", 0755) != 0) printf("mkdir: %s\n", strerror(errno));
    FILE *f = fopen("work/sub/a.txt", "w");
    if (!f) { printf("fopen: %s\n", strerror(errno)); return 1; }
    for (int i = 0; i < 100; i++) fprintf(f, "line %d\n", i);
    fclose(f);
    struct stat st;
    stat("work/sub/a.txt", &st);
    printf("size %lld regular %d\n", (long long)st.st_size, S_ISREG(st.st_mode));

    int fd = open("work/sub/a.txt", O_RDWR);
    char buf[32] = {0};
    lseek(fd, 70, SEEK_SET);
    ssize_t r = read(fd, buf, 8);
    printf("read %zd '%.*s' at 70, now at %lld\n", r, (int)(r > 0 ? r - 1 : 0), buf,
           (long long)lseek(fd, 0, SEEK_CUR));
    pwrite(fd, "LINE", 4, 0);
    pread(fd, buf, 6, 0);
    printf("pread '%.6s'\n", buf);
    ftruncate(fd, 20);
    fstat(fd, &st);
    printf("truncated to %lld\n", (long long)st.st_size);
    close(fd);

    printf("rename %d\n", rename("work/sub/a.txt", "work/sub/b.txt"));
    printf("link %d\n", link("work/sub/b.txt", "work/sub/c.txt"));
    printf("symlink %d\n", symlink("b.txt", "work/sub/d.txt"));
    char target[64] = {0};
    ssize_t n = readlink("work/sub/d.txt", target, sizeof target - 1);
    printf("readlink %zd %s\n", n, target);
    stat("work/sub/d.txt", &st);
    printf("through symlink size %lld links %d\n", (long long)st.st_size, (int)st.st_nlink);
    list("work/sub");
    printf("rmdir non-empty: %s\n", rmdir("work/sub") == 0 ? "ok" : strerror(errno));
    unlink("work/sub/b.txt");
    unlink("work/sub/c.txt");
    unlink("work/sub/d.txt");
    printf("rmdir: %s\n", rmdir("work/sub") == 0 ? "ok" : strerror(errno));
    printf("open missing: %s\n", open("work/nope", O_RDONLY) < 0 ? strerror(errno) : "opened?");
    list("work");
    return 0;
}
