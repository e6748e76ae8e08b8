/* wasi_unit.c -- unit tests of the shim's WASI preview1 implementation.
 *
 * Built from the files in runtime-shim/src/wasi/ plus this file only (no loader, no
 * compiled code): every function is reached through wasmc_wasi_lookup and
 * called with a fake caller, a malloc'ed wasmc_vmctx whose memories[0]
 * points at a 1 MiB guest memory wrapped in a wasmc_memory.  The guest
 * memory is mmap'ed between two PROT_NONE guard pages, so any access the
 * shim makes outside it because of guest input crashes this program.
 *
 *   cc -std=c99 -D_GNU_SOURCE -Iruntime-shim/include runtime-shim/src/wasi/[a-z]*.c
 *      runtime-shim/tests/wasi_unit.c -lpthread -o wasi_unit
 *   ./wasi_unit            # openat2 resolver (when the kernel has it)
 *   WASMC_WASI_NO_OPENAT2=1 ./wasi_unit   # component-walker resolver
 *   ./wasi_unit -v         # also print the sandbox escape table
 *
 * Prints one "FAIL ..." line per failed check and exits 1 if any failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "wasmc_wasi.h"
#include "../src/wasi/wasi_internal.h"
#include "../src/wasi/wasi_openat2.h"

/* ---------------------------------------------------------------------------
 * Harness
 * ------------------------------------------------------------------------- */

static int failures, checks, verbose;

static const char *const errno_names[] = {
    "success", "2big", "acces", "addrinuse", "addrnotavail", "afnosupport", "again", "already",
    "badf", "badmsg", "busy", "canceled", "child", "connaborted", "connrefused", "connreset",
    "deadlk", "destaddrreq", "dom", "dquot", "exist", "fault", "fbig", "hostunreach", "idrm",
    "ilseq", "inprogress", "intr", "inval", "io", "isconn", "isdir", "loop", "mfile", "mlink",
    "msgsize", "multihop", "nametoolong", "netdown", "netreset", "netunreach", "nfile", "nobufs",
    "nodev", "noent", "noexec", "nolck", "nolink", "nomem", "nomsg", "noprotoopt", "nospc",
    "nosys", "notconn", "notdir", "notempty", "notrecoverable", "notsock", "notsup", "notty",
    "nxio", "overflow", "ownerdead", "perm", "pipe", "proto", "protonosupport", "prototype",
    "range", "rofs", "spipe", "srch", "stale", "timedout", "txtbsy", "xdev", "notcapable"};

static const char *ename(int e) {
    static char buf[32];
    if (e >= 0 && e <= 76) return errno_names[e];
    snprintf(buf, sizeof(buf), "<%d>", e);
    return buf;
}

static void fail(int line, const char *fmt, ...) {
    va_list ap;
    failures++;
    printf("FAIL wasi_unit.c:%d: ", line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

#define CHECK(cond, ...)                                   \
    do {                                                   \
        checks++;                                          \
        if (!(cond)) fail(__LINE__, __VA_ARGS__);          \
    } while (0)
#define EQ(a, b)                                                                               \
    do {                                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                                    \
        checks++;                                                                              \
        if (a_ != b_) fail(__LINE__, "%s == %lld, expected %s == %lld", #a, a_, #b, b_);       \
    } while (0)
#define ERR(expr, want)                                                                        \
    do {                                                                                       \
        int got_ = (expr), want_ = (want);                                                     \
        checks++;                                                                              \
        if (got_ != want_)                                                                     \
            fail(__LINE__, "%s -> %s, expected %s", #expr, ename(got_), ename(want_));        \
    } while (0)
#define OK(expr)                                                                               \
    do {                                                                                       \
        int got_ = (expr);                                                                     \
        checks++;                                                                              \
        if (got_ != WASI_ESUCCESS) fail(__LINE__, "%s -> %s, expected success", #expr, ename(got_)); \
    } while (0)

/* The fake caller and its memory. */
#define MEM_SIZE (1u << 20)
static uint8_t *mem;
static wasmc_memory memdef;
static wasmc_vmctx *vm, *vm_nomem;
static wasmc_hostfunc hf;
static wasmc_wasi *ctx;
static int32_t last_trap;
static uint32_t bump;

static void reset_mem(void) {
    memset(mem, 0, MEM_SIZE);
    bump = 64; /* keep address 0 unused */
}

static uint32_t galloc(uint32_t n) {
    bump = (bump + 7) & ~7u;
    uint32_t p = bump;
    bump += n;
    if (bump > MEM_SIZE - 4096) {
        printf("FAIL guest memory exhausted\n");
        exit(1);
    }
    return p;
}

static uint32_t gbytes(const void *s, uint32_t n) {
    uint32_t p = galloc(n);
    memcpy(mem + p, s, n);
    return p;
}

static uint32_t gstr(const char *s) { return gbytes(s, (uint32_t)strlen(s)); }
#define GS(s) (uint64_t)gstr(s), (uint64_t)strlen(s) /* pointer, length of a guest string */

static uint32_t g32(uint32_t p) { return wasi_get_u32(mem + p); }
static uint64_t g64(uint32_t p) { return wasi_get_u64(mem + p); }
static uint16_t g16(uint32_t p) { return wasi_get_u16(mem + p); }

/* Call preview1 function NAME with N arguments (each as uint64_t; i32
 * parameters take the low 32 bits).  Returns the errno, or -1 after a
 * trap (in last_trap). */
static int callv_on(wasmc_vmctx *caller, const char *name, const uint64_t *a, size_t n) {
    wasmc_host_fn fn;
    const char *sig;
    if (!wasmc_wasi_lookup(name, &fn, &sig)) {
        fail(__LINE__, "lookup(%s) failed", name);
        return -2;
    }
    size_t np = (size_t)(strchr(sig, ':') - sig);
    if (np != n) {
        fail(__LINE__, "%s called with %zu arguments, signature %s", name, n, sig);
        return -2;
    }
    wasmc_val v[16];
    memset(v, 0, sizeof(v));
    for (size_t i = 0; i < n; i++) {
        if (sig[i] == 'I') v[i].i64 = (int64_t)a[i];
        else v[i].i32 = (int32_t)(uint32_t)a[i];
    }
    hf.data = ctx;
    last_trap = fn(&hf, caller, v);
    if (last_trap) return -1;
    return v[0].i32;
}
#define ARGS(...) (const uint64_t[]){__VA_ARGS__}, sizeof((const uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t)
#define CALL(name, ...) callv_on(vm, name, ARGS(__VA_ARGS__))
#define CALL0(name) callv_on(vm, name, NULL, 0)

/* path_open returning the errno; *fd gets the descriptor. */
static int popen_(uint32_t dirfd, const char *path, uint32_t oflags, uint64_t base, uint64_t inh,
                  uint32_t fdflags, uint32_t follow, uint32_t *fd) {
    uint32_t out = galloc(4);
    mem[out] = 0xee;
    int e = CALL("path_open", dirfd, follow, GS(path), oflags, base, inh, fdflags, out);
    if (fd) *fd = e == 0 ? g32(out) : 0xffffffffu;
    return e;
}

static int pclose_(uint32_t fd) { return CALL("fd_close", fd); }

#define RW (WASI_RIGHT_FD_READ | WASI_RIGHT_FD_WRITE | WASI_RIGHT_FD_SEEK | WASI_RIGHT_FD_TELL)
#define ALLR WASI_RIGHTS_ALL
#define DIRR (WASI_RIGHTS_ALL & ~WASI_RIGHTS_WRITE_ACCESS) /* all a directory can be opened with */
#define FOLLOW WASI_LOOKUP_SYMLINK_FOLLOW

/* Write LEN bytes of S through fd_write with one iovec; returns errno. */
static int gwrite(uint32_t fd, const char *s, uint32_t *n) {
    uint32_t iov = galloc(8), out = galloc(4);
    wasi_put_u32(mem + iov, gstr(s));
    wasi_put_u32(mem + iov + 4, (uint32_t)strlen(s));
    int e = CALL("fd_write", fd, iov, 1, out);
    if (n) *n = g32(out);
    return e;
}

/* fd_read up to CAP bytes into a fresh buffer; *buf = guest address. */
static int gread(uint32_t fd, uint32_t cap, uint32_t *buf, uint32_t *n) {
    uint32_t iov = galloc(8), out = galloc(4);
    *buf = galloc(cap);
    wasi_put_u32(mem + iov, *buf);
    wasi_put_u32(mem + iov + 4, cap);
    int e = CALL("fd_read", fd, iov, 1, out);
    *n = g32(out);
    return e;
}

static int filestat(uint32_t dirfd, const char *path, uint32_t follow, uint32_t *st) {
    *st = galloc(64);
    return CALL("path_filestat_get", dirfd, follow, GS(path), *st);
}

/* Host-side fixtures. */
static char root[PATH_MAX], sbdir[PATH_MAX], otherdir[PATH_MAX];

static void hpath(char *out, const char *dir, const char *rel) {
    snprintf(out, PATH_MAX, "%s/%s", dir, rel);
}

static void hwrite(const char *dir, const char *rel, const char *content) {
    char p[PATH_MAX];
    hpath(p, dir, rel);
    FILE *f = fopen(p, "w");
    if (!f) {
        printf("FAIL cannot create %s\n", p);
        exit(1);
    }
    fputs(content, f);
    fclose(f);
}

static void hsymlink(const char *target, const char *dir, const char *rel) {
    char p[PATH_MAX];
    hpath(p, dir, rel);
    if (symlink(target, p) != 0) {
        printf("FAIL symlink %s: %s\n", p, strerror(errno));
        exit(1);
    }
}

static int hexists(const char *dir, const char *rel) {
    char p[PATH_MAX];
    struct stat st;
    hpath(p, dir, rel);
    return lstat(p, &st) == 0;
}

static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char p[PATH_MAX];
                snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
                rm_rf(p);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Context with args/env/preopens; stdio given. */
static int stdin_w = -1, stdout_r = -1;

static wasmc_wasi *make_ctx(int in, int out, int err_fd) {
    static const char *const argv[] = {"prog.wasm", "two words", "quote\"d", ""};
    static const char *const envp[] = {"A=1", "EMPTY=", "MULTI=line1\nline2"};
    wasmc_wasi_preopen pre[2] = {{sbdir, "sb"}, {otherdir, "other"}};
    wasmc_wasi_config cfg = {4, argv, 3, envp, 2, pre, in, out, err_fd, 0, NULL};
    char err[256];
    wasmc_wasi *c = wasmc_wasi_new(&cfg, err, sizeof(err));
    if (!c) {
        printf("FAIL wasmc_wasi_new: %s\n", err);
        exit(1);
    }
    return c;
}

/* ---------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------- */

static void test_lookup(void) {
    /* Lowered signatures, written down independently from the witx. */
    static const struct {
        const char *name, *sig;
    } want[] = {
        {"args_get", "ii:i"}, {"args_sizes_get", "ii:i"}, {"environ_get", "ii:i"},
        {"environ_sizes_get", "ii:i"}, {"clock_res_get", "ii:i"}, {"clock_time_get", "iIi:i"},
        {"fd_advise", "iIIi:i"}, {"fd_allocate", "iII:i"}, {"fd_close", "i:i"},
        {"fd_datasync", "i:i"}, {"fd_fdstat_get", "ii:i"}, {"fd_fdstat_set_flags", "ii:i"},
        {"fd_fdstat_set_rights", "iII:i"}, {"fd_filestat_get", "ii:i"},
        {"fd_filestat_set_size", "iI:i"}, {"fd_filestat_set_times", "iIIi:i"},
        {"fd_pread", "iiiIi:i"}, {"fd_prestat_get", "ii:i"}, {"fd_prestat_dir_name", "iii:i"},
        {"fd_pwrite", "iiiIi:i"}, {"fd_read", "iiii:i"}, {"fd_readdir", "iiiIi:i"},
        {"fd_renumber", "ii:i"}, {"fd_seek", "iIii:i"}, {"fd_sync", "i:i"}, {"fd_tell", "ii:i"},
        {"fd_write", "iiii:i"}, {"path_create_directory", "iii:i"},
        {"path_filestat_get", "iiiii:i"}, {"path_filestat_set_times", "iiiiIIi:i"},
        {"path_link", "iiiiiii:i"}, {"path_open", "iiiiiIIii:i"}, {"path_readlink", "iiiiii:i"},
        {"path_remove_directory", "iii:i"}, {"path_rename", "iiiiii:i"},
        {"path_symlink", "iiiii:i"}, {"path_unlink_file", "iii:i"}, {"poll_oneoff", "iiii:i"},
        {"proc_exit", "i:"}, {"proc_raise", "i:i"}, {"sched_yield", ":i"}, {"random_get", "ii:i"},
        {"sock_accept", "iii:i"}, {"sock_recv", "iiiiii:i"}, {"sock_send", "iiiii:i"},
        {"sock_shutdown", "ii:i"}};
    EQ(sizeof(want) / sizeof(want[0]), 46);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        wasmc_host_fn fn = NULL;
        const char *sig = NULL;
        CHECK(wasmc_wasi_lookup(want[i].name, &fn, &sig), "lookup %s", want[i].name);
        CHECK(fn && sig && !strcmp(sig, want[i].sig), "%s signature %s, expected %s", want[i].name,
              sig ? sig : "(null)", want[i].sig);
    }
    wasmc_host_fn fn;
    const char *sig;
    CHECK(!wasmc_wasi_lookup("fd_nonexistent", &fn, &sig), "unknown name found");
    CHECK(!wasmc_wasi_lookup("", &fn, &sig), "empty name found");
}

static void test_no_memory(void) {
    /* A caller without memory traps in functions that need it... */
    int r = callv_on(vm_nomem, "fd_write", ARGS(1, 0, 0, 0));
    EQ(r, -1);
    EQ(last_trap, WASMC_TRAP_MEMORY_OOB);
    /* ...the others work. */
    EQ(callv_on(vm_nomem, "sched_yield", NULL, 0), WASI_ESUCCESS);
    EQ(callv_on(vm_nomem, "fd_close", ARGS(999)), WASI_EBADF);
    /* Called from the host (no caller at all). */
    EQ(callv_on(NULL, "random_get", ARGS(0, 1)), -1);
    EQ(last_trap, WASMC_TRAP_MEMORY_OOB);
    /* An instance whose module has no memory (VMCTX_FLAG_HAS_MEMORY0
     * clear): whatever lies in the memories[0] slot (here a wild pointer)
     * is never used. */
    wasmc_vmctx *wild = calloc(1, sizeof(wasmc_vmctx) + sizeof(wild->memories[0]));
    wild->memories[0].base = (void *)(uintptr_t)0x1000;
    wild->memories[0].def = (wasmc_memory *)(uintptr_t)0x1000;
    wild->flags = 0;
    EQ(callv_on(wild, "random_get", ARGS(0, 16)), -1);
    EQ(last_trap, WASMC_TRAP_MEMORY_OOB);
    EQ(callv_on(wild, "args_sizes_get", ARGS(0, 4)), -1);
    wild->flags = WASMC_VMCTX_FLAG_HAS_MEMORY0;
    wild->memories[0].base = mem;
    wild->memories[0].def = &memdef;
    EQ(callv_on(wild, "random_get", ARGS(64, 16)), WASI_ESUCCESS);
    free(wild);
}

static void test_args_environ(void) {
    reset_mem();
    uint32_t c = galloc(4), s = galloc(4);
    OK(CALL("args_sizes_get", c, s));
    EQ(g32(c), 4);
    EQ(g32(s), strlen("prog.wasm") + 1 + strlen("two words") + 1 + strlen("quote\"d") + 1 + 1);
    uint32_t argv = galloc(16), buf = galloc(g32(s));
    OK(CALL("args_get", argv, buf));
    EQ(g32(argv), buf);
    CHECK(!strcmp((char *)mem + g32(argv), "prog.wasm"), "argv[0]");
    CHECK(!strcmp((char *)mem + g32(argv + 4), "two words"), "argv[1]");
    CHECK(!strcmp((char *)mem + g32(argv + 8), "quote\"d"), "argv[2]");
    CHECK(!strcmp((char *)mem + g32(argv + 12), ""), "argv[3]");
    EQ(g32(argv + 12) + 1, buf + g32(s)); /* contiguous, exactly the advertised size */

    OK(CALL("environ_sizes_get", c, s));
    EQ(g32(c), 3);
    EQ(g32(s), 4 + 7 + strlen("MULTI=line1\nline2") + 1);
    uint32_t envv = galloc(12), ebuf = galloc(g32(s) + 8);
    memset(mem + ebuf, 0xaa, g32(s) + 8);
    OK(CALL("environ_get", envv, ebuf));
    CHECK(!strcmp((char *)mem + g32(envv), "A=1"), "env[0]");
    CHECK(!strcmp((char *)mem + g32(envv + 4), "EMPTY="), "env[1]");
    CHECK(!strcmp((char *)mem + g32(envv + 8), "MULTI=line1\nline2"), "env[2]");
    EQ(mem[ebuf + g32(s)], 0xaa); /* nothing written past the data */

    ERR(CALL("args_get", MEM_SIZE - 8, buf), WASI_EFAULT);
    ERR(CALL("args_get", argv, MEM_SIZE - 4), WASI_EFAULT);
    ERR(CALL("environ_sizes_get", MEM_SIZE - 2, s), WASI_EFAULT);
    ERR(CALL("args_sizes_get", c, 0xfffffffeu), WASI_EFAULT);
}

static void test_clock_random(void) {
    reset_mem();
    uint32_t t = galloc(8), t2 = galloc(8);
    for (uint32_t id = 0; id < 4; id++) {
        OK(CALL("clock_res_get", id, t));
        CHECK(g64(t) > 0, "clock %u resolution %llu", id, (unsigned long long)g64(t));
        OK(CALL("clock_time_get", id, 1, t));
        OK(CALL("clock_time_get", id, 0, t2));
        CHECK(id == WASI_CLOCK_REALTIME || g64(t2) >= g64(t), "clock %u went backwards", id);
    }
    OK(CALL("clock_time_get", WASI_CLOCK_REALTIME, 0, t));
    CHECK(g64(t) > 1600000000ull * 1000000000ull, "realtime %llu", (unsigned long long)g64(t));
    ERR(CALL("clock_time_get", 4, 0, t), WASI_EINVAL);
    ERR(CALL("clock_res_get", 99, t), WASI_EINVAL);
    ERR(CALL("clock_time_get", 0, 0, MEM_SIZE - 7), WASI_EFAULT);
    ERR(CALL("clock_res_get", 0, MEM_SIZE), WASI_EFAULT);

    uint32_t a = galloc(4096), b = galloc(4096);
    mem[a + 4096] = 0x5a;
    OK(CALL("random_get", a, 4096));
    OK(CALL("random_get", b, 4096));
    CHECK(memcmp(mem + a, mem + b, 4096) != 0, "two random buffers equal");
    int nonzero = 0;
    for (int i = 0; i < 4096; i++) nonzero += mem[a + i] != 0;
    CHECK(nonzero > 3900, "random buffer mostly zero (%d)", nonzero);
    OK(CALL("random_get", 0, 0));
    OK(CALL("random_get", MEM_SIZE, 0));
    ERR(CALL("random_get", MEM_SIZE - 10, 11), WASI_EFAULT);
    ERR(CALL("random_get", 0xffffffffu, 0xffffffffu), WASI_EFAULT);
    OK(CALL("random_get", MEM_SIZE - 10, 10)); /* up to the last byte */
    OK(CALL0("sched_yield"));
}

static void test_file_io(void) {
    reset_mem();
    uint32_t fd, n, buf;
    OK(popen_(3, "io.txt", WASI_O_CREAT | WASI_O_EXCL,
              RW | WASI_RIGHT_FD_FILESTAT_GET | WASI_RIGHT_FD_FILESTAT_SET_SIZE |
                  WASI_RIGHT_FD_ALLOCATE | WASI_RIGHT_FD_ADVISE | WASI_RIGHT_FD_SYNC |
                  WASI_RIGHT_FD_DATASYNC | WASI_RIGHT_FD_FDSTAT_SET_FLAGS |
                  WASI_RIGHT_FD_FILESTAT_SET_TIMES,
              0, 0, 0, &fd));
    CHECK(fd > 4, "new fd %u", fd);
    /* Two iovecs in one fd_write. */
    uint32_t iov = galloc(16), out = galloc(8);
    wasi_put_u32(mem + iov, gstr("hello "));
    wasi_put_u32(mem + iov + 4, 6);
    wasi_put_u32(mem + iov + 8, gstr("world"));
    wasi_put_u32(mem + iov + 12, 5);
    OK(CALL("fd_write", fd, iov, 2, out));
    EQ(g32(out), 11);
    OK(CALL("fd_tell", fd, out));
    EQ(g64(out), 11);
    OK(CALL("fd_seek", fd, (uint64_t)(int64_t)-5, WASI_WHENCE_CUR, out));
    EQ(g64(out), 6);
    OK(gread(fd, 100, &buf, &n));
    EQ(n, 5);
    CHECK(!memcmp(mem + buf, "world", 5), "read back");
    OK(CALL("fd_seek", fd, 0, WASI_WHENCE_END, out));
    EQ(g64(out), 11);
    OK(CALL("fd_seek", fd, 2, WASI_WHENCE_SET, out));
    EQ(g64(out), 2);
    ERR(CALL("fd_seek", fd, (uint64_t)(int64_t)-100, WASI_WHENCE_CUR, out), WASI_EINVAL);
    ERR(CALL("fd_seek", fd, 0, 3, out), WASI_EINVAL);
    ERR(CALL("fd_seek", fd, 0, 0, MEM_SIZE - 4), WASI_EFAULT);
    /* pread/pwrite leave the offset alone. */
    uint32_t piov = galloc(8);
    uint32_t pbuf = galloc(8);
    wasi_put_u32(mem + piov, pbuf);
    wasi_put_u32(mem + piov + 4, 4);
    OK(CALL("fd_pread", fd, piov, 1, 7, out));
    EQ(g32(out), 4);
    CHECK(!memcmp(mem + pbuf, "orld", 4), "pread");
    memcpy(mem + pbuf, "WORL", 4);
    OK(CALL("fd_pwrite", fd, piov, 1, 6, out));
    EQ(g32(out), 4);
    OK(CALL("fd_tell", fd, out));
    EQ(g64(out), 2);
    OK(CALL("fd_pread", fd, piov, 1, 100, out)); /* past the end */
    EQ(g32(out), 0);
    ERR(CALL("fd_pread", fd, piov, 1, (uint64_t)-1, out), WASI_EINVAL);
    /* Zero iovecs. */
    OK(CALL("fd_read", fd, piov, 0, out));
    EQ(g32(out), 0);

    /* filestat, set_size, allocate, advise, sync */
    uint32_t st = galloc(64);
    OK(CALL("fd_filestat_get", fd, st));
    EQ(mem[st + 16], WASI_FILETYPE_REGULAR_FILE);
    EQ(g64(st + 32), 11);
    EQ(g64(st + 24), 1);
    OK(CALL("fd_filestat_set_size", fd, 100));
    OK(CALL("fd_filestat_get", fd, st));
    EQ(g64(st + 32), 100);
    OK(CALL("fd_filestat_set_size", fd, 11));
    int a = CALL("fd_allocate", fd, 0, 200);
    CHECK(a == WASI_ESUCCESS || a == WASI_ENOTSUP, "fd_allocate -> %s", ename(a));
    if (a == WASI_ESUCCESS) {
        OK(CALL("fd_filestat_get", fd, st));
        EQ(g64(st + 32), 200);
        OK(CALL("fd_filestat_set_size", fd, 11));
    }
    OK(CALL("fd_advise", fd, 0, 11, 1));
    ERR(CALL("fd_advise", fd, 0, 11, 6), WASI_EINVAL);
    OK(CALL("fd_sync", fd));
    OK(CALL("fd_datasync", fd));
    /* timestamps */
    OK(CALL("fd_filestat_set_times", fd, 1000000000ull * 1000000, 2000000000ull * 1000000,
            WASI_FST_ATIM | WASI_FST_MTIM));
    OK(CALL("fd_filestat_get", fd, st));
    EQ(g64(st + 40), 1000000000ull * 1000000);
    EQ(g64(st + 48), 2000000000ull * 1000000);
    ERR(CALL("fd_filestat_set_times", fd, 0, 0, WASI_FST_MTIM | WASI_FST_MTIM_NOW), WASI_EINVAL);
    ERR(CALL("fd_filestat_set_times", fd, 0, 0, 0x10), WASI_EINVAL);
    OK(CALL("fd_filestat_set_times", fd, 0, 0, WASI_FST_MTIM_NOW));

    /* fdstat and flags */
    uint32_t fs = galloc(24);
    OK(CALL("fd_fdstat_get", fd, fs));
    EQ(mem[fs], WASI_FILETYPE_REGULAR_FILE);
    EQ(g16(fs + 2), 0);
    CHECK((g64(fs + 8) & RW) == RW, "rights %llx", (unsigned long long)g64(fs + 8));
    CHECK(!(g64(fs + 8) & WASI_RIGHT_PATH_OPEN), "file has path_open right");
    OK(CALL("fd_fdstat_set_flags", fd, WASI_FDFLAG_APPEND));
    OK(CALL("fd_fdstat_get", fd, fs));
    EQ(g16(fs + 2), WASI_FDFLAG_APPEND);
    OK(CALL("fd_seek", fd, 0, WASI_WHENCE_SET, out));
    OK(gwrite(fd, "!", &n));
    OK(CALL("fd_filestat_get", fd, st));
    EQ(g64(st + 32), 12); /* appended despite the seek */
    ERR(CALL("fd_fdstat_set_flags", fd, WASI_FDFLAG_SYNC), WASI_ENOTSUP);
    ERR(CALL("fd_fdstat_set_flags", fd, 0x20), WASI_EINVAL);
    OK(CALL("fd_fdstat_set_flags", fd, 0));

    /* Dropping rights sticks; adding them back is notcapable. */
    uint64_t base = g64(fs + 8);
    OK(CALL("fd_fdstat_set_rights", fd, base & ~(uint64_t)WASI_RIGHT_FD_WRITE, 0));
    ERR(gwrite(fd, "x", &n), WASI_ENOTCAPABLE);
    ERR(CALL("fd_fdstat_set_rights", fd, base, 0), WASI_ENOTCAPABLE);
    ERR(CALL("fd_fdstat_set_rights", fd, 0, 1), WASI_ENOTCAPABLE);
    ERR(CALL("fd_fdstat_set_rights", fd, 1ull << 40, 0), WASI_EINVAL);
    OK(CALL("fd_fdstat_set_rights", fd, WASI_RIGHT_FD_READ, 0));
    ERR(CALL("fd_seek", fd, 0, WASI_WHENCE_SET, out), WASI_ENOTCAPABLE);
    ERR(CALL("fd_tell", fd, out), WASI_ENOTCAPABLE);
    ERR(CALL("fd_filestat_get", fd, st), WASI_ENOTCAPABLE);
    ERR(CALL("fd_sync", fd), WASI_ENOTCAPABLE);
    OK(gread(fd, 4, &buf, &n));

    /* renumber: both must be open; the target is replaced */
    uint32_t fd2;
    OK(popen_(3, "io.txt", 0, WASI_RIGHT_FD_READ | WASI_RIGHT_FD_TELL, 0, 0, 0, &fd2));
    OK(CALL("fd_renumber", fd, fd2));
    ERR(CALL("fd_fdstat_get", fd, fs), WASI_EBADF);
    OK(CALL("fd_fdstat_get", fd2, fs));
    EQ(g64(fs + 8), WASI_RIGHT_FD_READ);
    ERR(CALL("fd_renumber", fd2, fd), WASI_EBADF);
    ERR(CALL("fd_renumber", 4000, fd2), WASI_EBADF);
    OK(CALL("fd_renumber", fd2, fd2));
    OK(pclose_(fd2));
    ERR(pclose_(fd2), WASI_EBADF);
    ERR(pclose_(0xffffffffu), WASI_EBADF);

    /* Read-only and write-only descriptors. */
    OK(popen_(3, "io.txt", 0, WASI_RIGHT_FD_READ, 0, 0, 0, &fd));
    ERR(gwrite(fd, "x", &n), WASI_ENOTCAPABLE);
    OK(gread(fd, 100, &buf, &n));
    EQ(n, 12);
    CHECK(!memcmp(mem + buf, "hello WORLd!", 12), "content %.12s", mem + buf);
    OK(pclose_(fd));
    OK(popen_(3, "io.txt", 0, WASI_RIGHT_FD_WRITE, 0, 0, 0, &fd));
    ERR(gread(fd, 100, &buf, &n), WASI_ENOTCAPABLE);
    OK(gwrite(fd, "J", &n));
    OK(pclose_(fd));

    /* Directories: reading and writing them is isdir. */
    ERR(gread(3, 10, &buf, &n), WASI_EISDIR);
    ERR(gwrite(3, "x", &n), WASI_EISDIR);
    ERR(CALL("fd_seek", 3, 0, WASI_WHENCE_CUR, out), WASI_ENOTCAPABLE);
    ERR(CALL("fd_filestat_set_size", 3, 0), WASI_EISDIR);
    OK(CALL("fd_sync", 3));
    OK(CALL("fd_fdstat_get", 3, fs));
    EQ(mem[fs], WASI_FILETYPE_DIRECTORY);
    CHECK(!(g64(fs + 8) & (WASI_RIGHT_FD_SEEK | WASI_RIGHT_FD_FILESTAT_SET_SIZE | WASI_RIGHT_FD_READ)),
          "directory rights %llx", (unsigned long long)g64(fs + 8));
    EQ(g64(fs + 16), WASI_RIGHTS_ALL);

    /* stdout is the pipe of make_ctx */
    OK(gwrite(1, "to stdout", &n));
    EQ(n, 9);
    char host[16] = {0};
    EQ(read(stdout_r, host, sizeof(host)), 9);
    CHECK(!memcmp(host, "to stdout", 9), "stdout got %s", host);
    ERR(CALL("fd_seek", 1, 0, WASI_WHENCE_CUR, out), WASI_ESPIPE);
    ERR(CALL("fd_pread", 0, piov, 1, 0, out), WASI_ESPIPE);
    ERR(gread(1, 4, &buf, &n), WASI_ENOTCAPABLE); /* write end of a pipe */
    OK(CALL("fd_fdstat_get", 0, fs));
    EQ(mem[fs], WASI_FILETYPE_UNKNOWN); /* a FIFO */
    CHECK(!(g64(fs + 8) & WASI_RIGHT_FD_WRITE), "stdin has write right");
}

static void test_prestat(void) {
    reset_mem();
    uint32_t p = galloc(8), name = galloc(16);
    OK(CALL("fd_prestat_get", 3, p));
    EQ(mem[p], 0);
    EQ(g32(p + 4), 2);
    OK(CALL("fd_prestat_get", 4, p));
    EQ(g32(p + 4), 5);
    ERR(CALL("fd_prestat_get", 0, p), WASI_EBADF);
    ERR(CALL("fd_prestat_get", 5, p), WASI_EBADF);
    ERR(CALL("fd_prestat_get", 3, MEM_SIZE - 4), WASI_EFAULT);
    memset(mem + name, 0xaa, 16);
    OK(CALL("fd_prestat_dir_name", 4, name, 16));
    CHECK(!memcmp(mem + name, "other", 5) && mem[name + 5] == 0xaa, "dir name");
    ERR(CALL("fd_prestat_dir_name", 4, name, 4), WASI_ENAMETOOLONG);
    ERR(CALL("fd_prestat_dir_name", 1, name, 16), WASI_ENOTDIR);
    ERR(CALL("fd_prestat_dir_name", 99, name, 16), WASI_EBADF);
    ERR(CALL("fd_prestat_dir_name", 3, MEM_SIZE - 1, 2), WASI_EFAULT);
}

/* Parse a fd_readdir buffer: count entries and find names. */
typedef struct {
    char names[64][64];
    uint64_t next[64], ino[64];
    uint8_t type[64];
    int n;
} dirlist;

static void parse_dir(uint32_t buf, uint32_t used, dirlist *d) {
    d->n = 0;
    uint32_t off = 0;
    while (used - off >= 24 && d->n < 64) {
        uint32_t namlen = g32(buf + off + 16);
        if (used - off - 24 < namlen) break;
        d->next[d->n] = g64(buf + off);
        d->ino[d->n] = g64(buf + off + 8);
        d->type[d->n] = mem[buf + off + 20];
        snprintf(d->names[d->n], 64, "%.*s", (int)namlen, (char *)mem + buf + off + 24);
        d->n++;
        off += 24 + namlen;
    }
}

static int find(const dirlist *d, const char *name) {
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->names[i], name)) return i;
    return -1;
}

static void test_readdir(void) {
    reset_mem();
    OK(CALL("path_create_directory", 3, GS("rd")));
    uint32_t dfd;
    OK(popen_(3, "rd", WASI_O_DIRECTORY, DIRR, ALLR, 0, 0, &dfd));
    const char *files[] = {"alpha", "beta", "gamma", "delta-with-a-longer-name", "e"};
    for (int i = 0; i < 5; i++) {
        uint32_t f;
        OK(popen_(dfd, files[i], WASI_O_CREAT, 0, 0, 0, 0, &f));
        OK(pclose_(f));
    }
    OK(CALL("path_create_directory", dfd, GS("sub")));
    OK(CALL("path_symlink", GS("alpha"), dfd, GS("link")));

    uint32_t buf = galloc(4096), used = galloc(4);
    OK(CALL("fd_readdir", dfd, buf, 4096, 0, used));
    dirlist d;
    parse_dir(buf, g32(used), &d);
    EQ(d.n, 9);
    CHECK(g32(used) < 4096, "buffer not filled at the end");
    EQ(find(&d, "."), 0);
    EQ(find(&d, ".."), 1);
    for (int i = 0; i < d.n; i++) EQ(d.next[i], i + 1);
    uint32_t st;
    st = galloc(64);
    OK(CALL("fd_filestat_get", dfd, st));
    EQ(d.ino[0], g64(st + 8));
    EQ(d.type[0], WASI_FILETYPE_DIRECTORY);
    for (int i = 0; i < 5; i++) {
        int k = find(&d, files[i]);
        CHECK(k >= 2, "%s missing", files[i]);
        if (k < 0) continue;
        EQ(d.type[k], WASI_FILETYPE_REGULAR_FILE);
        uint32_t fst;
        OK(filestat(dfd, files[i], 0, &fst));
        EQ(d.ino[k], g64(fst + 8));
    }
    int k = find(&d, "sub");
    CHECK(k >= 0 && d.type[k] == WASI_FILETYPE_DIRECTORY, "sub");
    k = find(&d, "link");
    CHECK(k >= 0 && d.type[k] == WASI_FILETYPE_SYMBOLIC_LINK, "link");

    /* Truncation: exactly buf_len bytes, the last entry cut. */
    uint32_t small = galloc(40);
    memset(mem + small, 0xcc, 40);
    mem[small + 30] = 0x77;
    OK(CALL("fd_readdir", dfd, small, 30, 0, used));
    EQ(g32(used), 30);
    EQ(g64(small), 1);
    EQ(mem[small + 24], '.');
    EQ(g32(small + 25), 2); /* start of ".."'s d_next */
    EQ(mem[small + 30], 0x77);

    /* Resume with cookies through a small buffer: every entry exactly once. */
    char seen[9][64];
    int nseen = 0;
    uint64_t cookie = 0;
    for (int iter = 0; iter < 100; iter++) {
        uint32_t b = galloc(70);
        OK(CALL("fd_readdir", dfd, b, 70, cookie, used));
        dirlist part;
        parse_dir(b, g32(used), &part);
        for (int i = 0; i < part.n && nseen < 9; i++) strcpy(seen[nseen++], part.names[i]);
        if (g32(used) < 70) break;
        CHECK(part.n > 0, "no complete entry in 70 bytes");
        if (part.n == 0) break;
        cookie = part.next[part.n - 1];
    }
    EQ(nseen, 9);
    for (int i = 0; i < d.n; i++) {
        int c = 0;
        for (int j = 0; j < nseen; j++) c += !strcmp(seen[j], d.names[i]);
        CHECK(c == 1, "%s seen %d times", d.names[i], c);
    }
    /* A cookie in the middle gives the rest; past the end gives nothing. */
    OK(CALL("fd_readdir", dfd, buf, 4096, 7, used));
    parse_dir(buf, g32(used), &d);
    EQ(d.n, 2);
    OK(CALL("fd_readdir", dfd, buf, 4096, 9, used));
    EQ(g32(used), 0);
    OK(CALL("fd_readdir", dfd, buf, 4096, 1000, used));
    EQ(g32(used), 0);
    OK(CALL("fd_readdir", dfd, buf, 0, 0, used));
    EQ(g32(used), 0);
    /* A new entry shows up after rewinding with cookie 0. */
    OK(CALL("path_create_directory", dfd, GS("late")));
    OK(CALL("fd_readdir", dfd, buf, 4096, 0, used));
    parse_dir(buf, g32(used), &d);
    EQ(d.n, 10);
    CHECK(find(&d, "late") >= 2, "late entry missing");
    /* ".." of a preopen is reported as the preopen itself. */
    OK(CALL("fd_readdir", 3, buf, 4096, 0, used));
    parse_dir(buf, g32(used), &d);
    OK(CALL("fd_filestat_get", 3, st));
    EQ(d.ino[1], g64(st + 8));

    uint32_t f;
    OK(popen_(dfd, "alpha", 0, WASI_RIGHT_FD_READ, 0, 0, 0, &f));
    ERR(CALL("fd_readdir", f, buf, 100, 0, used), WASI_ENOTDIR);
    OK(pclose_(f));
    ERR(CALL("fd_readdir", dfd, MEM_SIZE - 10, 100, 0, used), WASI_EFAULT);
    ERR(CALL("fd_readdir", dfd, buf, 100, 0, MEM_SIZE - 2), WASI_EFAULT);
    OK(popen_(3, "rd", WASI_O_DIRECTORY, WASI_RIGHT_PATH_OPEN, 0, 0, 0, &f));
    ERR(CALL("fd_readdir", f, buf, 100, 0, used), WASI_ENOTCAPABLE);
    OK(pclose_(f));
    OK(pclose_(dfd));
}

static void test_path_open(void) {
    reset_mem();
    uint32_t fd, n, buf;
    hwrite(sbdir, "po.txt", "0123456789");
    ERR(popen_(3, "po.txt", WASI_O_CREAT | WASI_O_EXCL, 0, 0, 0, 0, &fd), WASI_EEXIST);
    ERR(popen_(3, "po.txt", WASI_O_DIRECTORY, 0, 0, 0, 0, &fd), WASI_ENOTDIR);
    ERR(popen_(3, "po_new", WASI_O_DIRECTORY | WASI_O_CREAT, 0, 0, 0, 0, &fd), WASI_EINVAL);
    ERR(popen_(3, "po.txt", WASI_O_DIRECTORY | WASI_O_TRUNC, 0, 0, 0, 0, &fd), WASI_EINVAL);
    ERR(popen_(3, "missing", 0, 0, 0, 0, 0, &fd), WASI_ENOENT);
    ERR(popen_(3, "po.txt", 0x10, 0, 0, 0, 0, &fd), WASI_EINVAL);
    ERR(popen_(3, "po.txt", 0, 0, 0, 0x20, 0, &fd), WASI_EINVAL);
    ERR(popen_(3, "po.txt", 0, 1ull << 30, 0, 0, 0, &fd), WASI_EINVAL);
    ERR(CALL("path_open", 3, 2, GS("po.txt"), 0, 0, 0, 0, galloc(4)), WASI_EINVAL);
    ERR(CALL("path_open", 3, 0, GS("po.txt"), 0, 0, 0, 0, MEM_SIZE - 3), WASI_EFAULT);
    ERR(CALL("path_open", 3, 0, MEM_SIZE - 3, 4, 0, 0, 0, 0, galloc(4)), WASI_EFAULT);
    ERR(popen_(77, "po.txt", 0, 0, 0, 0, 0, &fd), WASI_EBADF);
    ERR(popen_(0, "po.txt", 0, 0, 0, 0, 0, &fd), WASI_ENOTDIR);
    /* trunc */
    OK(popen_(3, "po.txt", WASI_O_TRUNC, WASI_RIGHT_FD_READ, 0, 0, 0, &fd));
    OK(gread(fd, 10, &buf, &n));
    EQ(n, 0);
    OK(pclose_(fd));
    /* creat without excl opens an existing file */
    hwrite(sbdir, "po.txt", "abc");
    OK(popen_(3, "po.txt", WASI_O_CREAT, WASI_RIGHT_FD_READ, 0, 0, 0, &fd));
    OK(gread(fd, 10, &buf, &n));
    EQ(n, 3);
    OK(pclose_(fd));
    /* fdflags are applied and reported */
    OK(popen_(3, "po.txt", 0, WASI_RIGHT_FD_WRITE | WASI_RIGHT_FD_SEEK, 0,
              WASI_FDFLAG_APPEND | WASI_FDFLAG_NONBLOCK | WASI_FDFLAG_SYNC | WASI_FDFLAG_DSYNC, 0,
              &fd));
    uint32_t fs = galloc(24);
    OK(CALL("fd_fdstat_get", fd, fs));
    EQ(g16(fs + 2), WASI_FDFLAG_APPEND | WASI_FDFLAG_NONBLOCK | WASI_FDFLAG_SYNC | WASI_FDFLAG_DSYNC);
    OK(gwrite(fd, "de", &n));
    OK(pclose_(fd));
    OK(popen_(3, "po.txt", 0, WASI_RIGHT_FD_READ, 0, WASI_FDFLAG_RSYNC, 0, &fd));
    OK(gread(fd, 10, &buf, &n));
    CHECK(n == 5 && !memcmp(mem + buf, "abcde", 5), "append result");
    OK(pclose_(fd));
    /* requested rights are masked to what the type can hold */
    OK(popen_(3, "po.txt", 0, ALLR & ~WASI_RIGHTS_WRITE_ACCESS, ALLR, 0, 0, &fd));
    OK(CALL("fd_fdstat_get", fd, fs));
    EQ(g64(fs + 8), WASI_RIGHTS_FILE_BASE & ~WASI_RIGHTS_WRITE_ACCESS);
    EQ(g64(fs + 16), 0);
    OK(pclose_(fd));
    /* directories: read/write access is isdir, no seek right */
    OK(CALL("path_create_directory", 3, GS("podir")));
    ERR(popen_(3, "podir", WASI_O_DIRECTORY, WASI_RIGHT_FD_READ | WASI_RIGHT_FD_WRITE, 0, 0, 0, &fd),
        WASI_EISDIR);
    OK(popen_(3, "podir", 0, WASI_RIGHT_FD_SEEK | WASI_RIGHT_PATH_OPEN, 0, WASI_FDFLAG_NONBLOCK, 0, &fd));
    OK(CALL("fd_fdstat_get", fd, fs));
    EQ(mem[fs], WASI_FILETYPE_DIRECTORY);
    EQ(g64(fs + 8), WASI_RIGHT_PATH_OPEN);
    OK(pclose_(fd));
    OK(popen_(3, "podir/", 0, 0, 0, 0, 0, &fd));
    OK(pclose_(fd));
    OK(popen_(3, ".", WASI_O_DIRECTORY, 0, 0, 0, 0, &fd));
    OK(pclose_(fd));

    /* Rights of the directory descriptor are enforced. */
    uint32_t lim;
    OK(popen_(3, "podir", WASI_O_DIRECTORY, WASI_RIGHT_PATH_OPEN,
              WASI_RIGHT_FD_READ | WASI_RIGHT_FD_SEEK, 0, 0, &lim));
    ERR(popen_(lim, "f", WASI_O_CREAT, 0, 0, 0, 0, &fd), WASI_ENOTCAPABLE); /* path_create_file */
    hwrite(sbdir, "podir/f", "zz");
    OK(popen_(lim, "f", 0, WASI_RIGHT_FD_READ, 0, 0, 0, &fd));
    OK(pclose_(fd));
    ERR(popen_(lim, "f", 0, WASI_RIGHT_FD_WRITE, 0, 0, 0, &fd), WASI_ENOTCAPABLE); /* not inheritable */
    ERR(popen_(lim, "f", 0, 0, WASI_RIGHT_FD_WRITE, 0, 0, &fd), WASI_ENOTCAPABLE);
    ERR(popen_(lim, "f", WASI_O_TRUNC, 0, 0, 0, 0, &fd), WASI_ENOTCAPABLE); /* path_filestat_set_size */
    ERR(popen_(lim, "f", 0, WASI_RIGHT_FD_READ, 0, WASI_FDFLAG_SYNC, 0, &fd), WASI_ENOTCAPABLE);
    ERR(CALL("path_create_directory", lim, GS("x")), WASI_ENOTCAPABLE);
    ERR(CALL("path_unlink_file", lim, GS("f")), WASI_ENOTCAPABLE);
    uint32_t st;
    ERR(filestat(lim, "f", 0, &st), WASI_ENOTCAPABLE);
    OK(CALL("fd_fdstat_set_rights", lim, 0, 0));
    ERR(popen_(lim, "f", 0, 0, 0, 0, 0, &fd), WASI_ENOTCAPABLE); /* path_open */
    OK(pclose_(lim));
    /* a file descriptor is not a directory */
    OK(popen_(3, "po.txt", 0, 0, 0, 0, 0, &fd));
    ERR(popen_(fd, "x", WASI_O_CREAT, 0, 0, 0, 0, &lim), WASI_ENOTDIR);
    OK(pclose_(fd));

    /* Symlinks in the final component. */
    OK(CALL("path_symlink", GS("po.txt"), 3, GS("po_link")));
    ERR(popen_(3, "po_link", 0, 0, 0, 0, 0, &fd), WASI_ELOOP);
    ERR(popen_(3, "po_link", WASI_O_DIRECTORY, 0, 0, 0, 0, &fd), WASI_ENOTDIR);
    OK(popen_(3, "po_link", 0, WASI_RIGHT_FD_READ, 0, 0, FOLLOW, &fd));
    OK(gread(fd, 10, &buf, &n));
    EQ(n, 5);
    OK(pclose_(fd));
    OK(CALL("path_symlink", GS("podir"), 3, GS("podir_link")));
    OK(popen_(3, "podir_link", WASI_O_DIRECTORY, 0, 0, 0, FOLLOW, &fd));
    OK(pclose_(fd));
    OK(popen_(3, "podir_link/", 0, 0, 0, 0, 0, &fd)); /* a trailing slash follows */
    OK(pclose_(fd));
    OK(popen_(3, "podir_link/f", 0, WASI_RIGHT_FD_READ, 0, 0, 0, &fd)); /* inner links always */
    OK(pclose_(fd));
    /* creating through a dangling symlink creates its target (inside) */
    OK(CALL("path_symlink", GS("podir/created"), 3, GS("dangling")));
    OK(popen_(3, "dangling", WASI_O_CREAT, 0, 0, 0, FOLLOW, &fd));
    OK(pclose_(fd));
    CHECK(hexists(sbdir, "podir/created"), "target not created");
    ERR(popen_(3, "dangling", WASI_O_CREAT | WASI_O_EXCL, 0, 0, 0, FOLLOW, &fd), WASI_EEXIST);
    ERR(popen_(3, "dangling", WASI_O_CREAT, 0, 0, 0, 0, &fd), WASI_ELOOP);
    /* trailing slashes */
    ERR(popen_(3, "po.txt/", 0, 0, 0, 0, 0, &fd), WASI_ENOTDIR);
    ERR(popen_(3, "po.txt///", 0, 0, 0, 0, 0, &fd), WASI_ENOTDIR);
    ERR(popen_(3, "newfile/", WASI_O_CREAT, 0, 0, 0, 0, &fd), WASI_EISDIR);
    ERR(popen_(3, "missing/", 0, 0, 0, 0, 0, &fd), WASI_ENOENT);
    /* ".." inside the sandbox is fine */
    OK(popen_(3, "podir/.//../podir/./f", 0, WASI_RIGHT_FD_READ, 0, 0, 0, &fd));
    OK(pclose_(fd));
    /* invalid strings */
    ERR(popen_(3, "", 0, 0, 0, 0, 0, &fd), WASI_ENOENT);
    ERR(CALL("path_open", 3, 0, gbytes("po.txt\0", 7), 7, 0, 0, 0, 0, galloc(4)), WASI_EINVAL);
    ERR(CALL("path_open", 3, 0, gbytes("\xff\xfe", 2), 2, 0, 0, 0, 0, galloc(4)), WASI_EILSEQ);
    ERR(CALL("path_open", 3, 0, gbytes("\xed\xa0\x80", 3), 3, 0, 0, 0, 0, galloc(4)), WASI_EILSEQ);
    uint32_t ok;
    OK(CALL("path_open", 3, 0, gbytes("p\xc3\xa9", 3), 3, WASI_O_CREAT, 0, 0, 0, (ok = galloc(4), ok)));
    OK(pclose_(g32(ok)));
}

static void test_path_ops(void) {
    reset_mem();
    uint32_t fd, st, n;
    /* create/remove directories */
    OK(CALL("path_create_directory", 3, GS("ops")));
    ERR(CALL("path_create_directory", 3, GS("ops")), WASI_EEXIST);
    OK(CALL("path_create_directory", 3, GS("ops/d/")));
    ERR(CALL("path_create_directory", 3, GS("ops/missing/d")), WASI_ENOENT);
    hwrite(sbdir, "ops/file", "data");
    ERR(CALL("path_create_directory", 3, GS("ops/file/d")), WASI_ENOTDIR);
    ERR(CALL("path_remove_directory", 3, GS("ops")), WASI_ENOTEMPTY);
    ERR(CALL("path_remove_directory", 3, GS("ops/file")), WASI_ENOTDIR);
    ERR(CALL("path_remove_directory", 3, GS("ops/file/")), WASI_ENOTDIR);
    ERR(CALL("path_remove_directory", 3, GS(".")), WASI_EINVAL);
    ERR(CALL("path_remove_directory", 3, GS("ops/nothing")), WASI_ENOENT);
    OK(CALL("path_remove_directory", 3, GS("ops/d/")));
    /* unlink */
    ERR(CALL("path_unlink_file", 3, GS("ops")), WASI_EISDIR);
    ERR(CALL("path_unlink_file", 3, GS("ops/")), WASI_EISDIR);
    ERR(CALL("path_unlink_file", 3, GS("ops/file/")), WASI_ENOTDIR);
    ERR(CALL("path_unlink_file", 3, GS("ops/nothing")), WASI_ENOENT);
    /* symlink + readlink */
    OK(CALL("path_symlink", GS("file"), 3, GS("ops/sl")));
    ERR(CALL("path_symlink", GS("file"), 3, GS("ops/sl")), WASI_EEXIST);
    ERR(CALL("path_symlink", GS("x"), 3, GS("ops/new/")), WASI_ENOENT);
    ERR(CALL("path_symlink", GS("x"), 3, GS("ops/file/")), WASI_ENOTDIR);
    OK(CALL("path_create_directory", 3, GS("ops/dd")));
    ERR(CALL("path_symlink", GS("x"), 3, GS("ops/dd/")), WASI_EEXIST);
    ERR(CALL("path_symlink", GS(""), 3, GS("ops/empty")), WASI_ENOENT);
    uint32_t buf = galloc(16), used = galloc(4);
    memset(mem + buf, 0xaa, 16);
    OK(CALL("path_readlink", 3, GS("ops/sl"), buf, 16, used));
    EQ(g32(used), 4);
    CHECK(!memcmp(mem + buf, "file", 4) && mem[buf + 4] == 0xaa, "readlink content");
    memset(mem + buf, 0xaa, 16);
    OK(CALL("path_readlink", 3, GS("ops/sl"), buf, 2, used));
    EQ(g32(used), 2);
    CHECK(!memcmp(mem + buf, "fi", 2) && mem[buf + 2] == 0xaa, "readlink truncated");
    OK(CALL("path_readlink", 3, GS("ops/sl"), buf, 0, used));
    EQ(g32(used), 0);
    ERR(CALL("path_readlink", 3, GS("ops/file"), buf, 16, used), WASI_EINVAL);
    ERR(CALL("path_readlink", 3, GS("ops/dd/"), buf, 16, used), WASI_EINVAL);
    ERR(CALL("path_readlink", 3, GS("ops/nothing"), buf, 16, used), WASI_ENOENT);
    ERR(CALL("path_readlink", 3, GS("ops/sl"), MEM_SIZE - 2, 16, used), WASI_EFAULT);
    /* link */
    OK(CALL("path_link", 3, 0, GS("ops/file"), 3, GS("ops/hard")));
    OK(filestat(3, "ops/file", 0, &st));
    EQ(g64(st + 24), 2);
    ERR(CALL("path_link", 3, 0, GS("ops/file"), 3, GS("ops/hard")), WASI_EEXIST);
    ERR(CALL("path_link", 3, 0, GS("ops/dd"), 3, GS("ops/dlink")), WASI_EPERM);
    ERR(CALL("path_link", 3, FOLLOW, GS("ops/sl"), 3, GS("ops/x")), WASI_EINVAL);
    ERR(CALL("path_link", 3, 0, GS("ops/file"), 3, GS("ops/x/")), WASI_ENOENT);
    ERR(CALL("path_link", 3, 0, GS("ops/file/"), 3, GS("ops/x")), WASI_ENOTDIR);
    OK(CALL("path_link", 3, 0, GS("ops/sl"), 4, GS("sl_copy"))); /* the link itself, other preopen */
    OK(filestat(4, "sl_copy", 0, &st));
    EQ(mem[st + 16], WASI_FILETYPE_SYMBOLIC_LINK);
    OK(CALL("path_unlink_file", 4, GS("sl_copy")));
    /* rename */
    OK(CALL("path_rename", 3, GS("ops/hard"), 3, GS("ops/hard2")));
    ERR(filestat(3, "ops/hard", 0, &st), WASI_ENOENT);
    OK(CALL("path_create_directory", 3, GS("ops/full")));
    hwrite(sbdir, "ops/full/x", "");
    ERR(CALL("path_rename", 3, GS("ops/dd"), 3, GS("ops/full")), WASI_ENOTEMPTY);
    ERR(CALL("path_rename", 3, GS("ops/hard2"), 3, GS("ops/dd")), WASI_EISDIR);
    ERR(CALL("path_rename", 3, GS("ops/dd"), 3, GS("ops/hard2")), WASI_ENOTDIR);
    ERR(CALL("path_rename", 3, GS("ops/dd"), 3, GS("ops/dd/inside")), WASI_EINVAL);
    OK(CALL("path_rename", 3, GS("ops/dd/"), 3, GS("ops/dd2/")));
    OK(CALL("path_rename", 3, GS("ops/hard2"), 4, GS("moved"))); /* across preopens */
    CHECK(hexists(otherdir, "moved"), "moved to the other preopen");
    OK(CALL("path_rename", 4, GS("moved"), 3, GS("ops/hard2")));
    OK(CALL("path_unlink_file", 3, GS("ops/hard2")));
    OK(filestat(3, "ops/file", 0, &st));
    EQ(g64(st + 24), 1);
    OK(CALL("path_unlink_file", 3, GS("ops/sl")));
    /* path_filestat_get and path_filestat_set_times */
    OK(CALL("path_symlink", GS("file"), 3, GS("ops/sl")));
    OK(filestat(3, "ops/sl", 0, &st));
    EQ(mem[st + 16], WASI_FILETYPE_SYMBOLIC_LINK);
    EQ(g64(st + 32), 4);
    OK(filestat(3, "ops/sl", FOLLOW, &st));
    EQ(mem[st + 16], WASI_FILETYPE_REGULAR_FILE);
    ERR(filestat(3, "ops/file/", 0, &st), WASI_ENOTDIR);
    OK(filestat(3, "ops/dd2/", 0, &st));
    EQ(mem[st + 16], WASI_FILETYPE_DIRECTORY);
    ERR(filestat(3, "ops/sl", 2, &st), WASI_EINVAL);
    ERR(CALL("path_filestat_get", 3, 0, GS("ops/file"), MEM_SIZE - 63), WASI_EFAULT);
    uint64_t t1 = 1500000000ull * 1000000000ull + 123, t2 = 1600000000ull * 1000000000ull + 456;
    OK(CALL("path_filestat_set_times", 3, 0, GS("ops/file"), t1, t2, WASI_FST_ATIM | WASI_FST_MTIM));
    OK(filestat(3, "ops/file", 0, &st));
    EQ(g64(st + 40), t1);
    EQ(g64(st + 48), t2);
    /* nofollow changes the link, follow the target */
    OK(CALL("path_filestat_set_times", 3, 0, GS("ops/sl"), 0, t1, WASI_FST_MTIM));
    OK(filestat(3, "ops/sl", 0, &st));
    EQ(g64(st + 48), t1);
    OK(filestat(3, "ops/file", 0, &st));
    EQ(g64(st + 48), t2);
    OK(CALL("path_filestat_set_times", 3, FOLLOW, GS("ops/sl"), 0, t1, WASI_FST_MTIM));
    OK(filestat(3, "ops/file", 0, &st));
    EQ(g64(st + 48), t1);
    ERR(CALL("path_filestat_set_times", 3, 0, GS("ops/file"), 0, 0, WASI_FST_ATIM | WASI_FST_ATIM_NOW),
        WASI_EINVAL);
    ERR(CALL("path_filestat_set_times", 3, 0, GS("ops/file/"), 0, 0, WASI_FST_MTIM_NOW), WASI_ENOTDIR);
    OK(CALL("path_filestat_set_times", 3, 0, GS("ops/file"), 0, 0, WASI_FST_MTIM_NOW));
    OK(filestat(3, "ops/file", 0, &st));
    CHECK(g64(st + 48) > t2, "mtim_now");
    /* a chain of 10 symlinks resolves; 50 is a loop */
    char name[32], target[32];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof(name), "ops/c%d", i);
        snprintf(target, sizeof(target), i == 49 ? "file" : "c%d", i + 1);
        OK(CALL("path_symlink", GS(target), 3, GS(name)));
    }
    OK(popen_(3, "ops/c40", 0, WASI_RIGHT_FD_READ, 0, 0, FOLLOW, &fd));
    OK(pclose_(fd));
    ERR(popen_(3, "ops/c0", 0, 0, 0, 0, FOLLOW, &fd), WASI_ELOOP);
    ERR(filestat(3, "ops/c0", FOLLOW, &st), WASI_ELOOP);
    OK(filestat(3, "ops/c0", 0, &st));
    (void)n;
}

static void test_poll(void) {
    reset_mem();
    uint32_t subs = galloc(48 * 4), evs = galloc(32 * 4), nev = galloc(4);
    struct timespec a, b;
    /* no subscriptions */
    ERR(CALL("poll_oneoff", subs, evs, 0, nev), WASI_EINVAL);
    /* relative monotonic timeout */
    memset(mem + subs, 0, 48 * 4);
    wasi_put_u64(mem + subs, 0x1234);
    mem[subs + 8] = WASI_EVENTTYPE_CLOCK;
    wasi_put_u32(mem + subs + 16, WASI_CLOCK_MONOTONIC);
    wasi_put_u64(mem + subs + 24, 20 * 1000000ull);
    clock_gettime(CLOCK_MONOTONIC, &a);
    OK(CALL("poll_oneoff", subs, evs, 1, nev));
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    CHECK(ms >= 19.5, "slept %.1f ms", ms);
    EQ(g32(nev), 1);
    EQ(g64(evs), 0x1234);
    EQ(g16(evs + 8), 0);
    EQ(mem[evs + 10], WASI_EVENTTYPE_CLOCK);
    /* absolute realtime in the past: immediate */
    wasi_put_u32(mem + subs + 16, WASI_CLOCK_REALTIME);
    wasi_put_u64(mem + subs + 24, 1000);
    wasi_put_u16(mem + subs + 40, WASI_SUBSCRIPTION_CLOCK_ABSTIME);
    OK(CALL("poll_oneoff", subs, evs, 1, nev));
    EQ(g32(nev), 1);
    /* absolute monotonic 15 ms ahead */
    uint32_t t = galloc(8);
    OK(CALL("clock_time_get", WASI_CLOCK_MONOTONIC, 0, t));
    wasi_put_u32(mem + subs + 16, WASI_CLOCK_MONOTONIC);
    wasi_put_u64(mem + subs + 24, g64(t) + 15 * 1000000ull);
    clock_gettime(CLOCK_MONOTONIC, &a);
    OK(CALL("poll_oneoff", subs, evs, 1, nev));
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    CHECK(ms >= 10, "absolute wait %.1f ms", ms);
    /* stdin (empty pipe) + 30 ms clock: only the clock fires */
    wasi_put_u16(mem + subs + 40, 0);
    wasi_put_u64(mem + subs + 24, 30 * 1000000ull);
    uint8_t *s2 = mem + subs + 48;
    wasi_put_u64(s2, 77);
    s2[8] = WASI_EVENTTYPE_FD_READ;
    wasi_put_u32(s2 + 16, 0);
    OK(CALL("poll_oneoff", subs, evs, 2, nev));
    EQ(g32(nev), 1);
    EQ(g64(evs), 0x1234);
    /* data on stdin: the read event fires at once with nbytes */
    EQ(write(stdin_w, "abc", 3), 3);
    wasi_put_u64(mem + subs + 24, 5ull * 1000000000ull);
    clock_gettime(CLOCK_MONOTONIC, &a);
    OK(CALL("poll_oneoff", subs, evs, 2, nev));
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    CHECK(ms < 1000, "fd event took %.1f ms", ms);
    EQ(g32(nev), 1);
    EQ(g64(evs), 77);
    EQ(mem[evs + 10], WASI_EVENTTYPE_FD_READ);
    EQ(g64(evs + 16), 3);
    uint32_t buf, n;
    OK(gread(0, 3, &buf, &n));
    /* stdout writable, a regular file readable, a bad fd reported per event */
    uint32_t f;
    hwrite(sbdir, "poll.txt", "12345");
    OK(popen_(3, "poll.txt", 0, WASI_RIGHT_FD_READ | WASI_RIGHT_POLL_FD_READWRITE, 0, 0, 0, &f));
    memset(mem + subs, 0, 48 * 4);
    const uint32_t fds[4] = {1, f, 999, f};
    const uint8_t types[4] = {WASI_EVENTTYPE_FD_WRITE, WASI_EVENTTYPE_FD_READ, WASI_EVENTTYPE_FD_READ,
                              WASI_EVENTTYPE_FD_WRITE};
    for (int i = 0; i < 4; i++) {
        wasi_put_u64(mem + subs + 48 * i, 100 + i);
        mem[subs + 48 * i + 8] = types[i];
        wasi_put_u32(mem + subs + 48 * i + 16, fds[i]);
    }
    OK(CALL("poll_oneoff", subs, evs, 4, nev));
    EQ(g32(nev), 4);
    EQ(g64(evs), 100);
    EQ(g16(evs + 8), 0);
    EQ(g64(evs + 32), 101);
    EQ(g64(evs + 32 + 16), 5);
    EQ(g64(evs + 64), 102);
    EQ(g16(evs + 64 + 8), WASI_EBADF);
    EQ(g64(evs + 96), 103);
    OK(pclose_(f));
    /* without the poll right: notcapable in the event */
    OK(popen_(3, "poll.txt", 0, WASI_RIGHT_FD_READ, 0, 0, 0, &f));
    wasi_put_u32(mem + subs + 16, f);
    mem[subs + 8] = WASI_EVENTTYPE_FD_READ;
    OK(CALL("poll_oneoff", subs, evs, 1, nev));
    EQ(g32(nev), 1);
    EQ(g16(evs + 8), WASI_ENOTCAPABLE);
    OK(pclose_(f));
    /* unknown event type; bad pointers */
    mem[subs + 8] = 3;
    ERR(CALL("poll_oneoff", subs, evs, 1, nev), WASI_EINVAL);
    ERR(CALL("poll_oneoff", MEM_SIZE - 47, evs, 1, nev), WASI_EFAULT);
    ERR(CALL("poll_oneoff", subs, MEM_SIZE - 31, 1, nev), WASI_EFAULT);
    ERR(CALL("poll_oneoff", subs, evs, 1, MEM_SIZE - 3), WASI_EFAULT);
    ERR(CALL("poll_oneoff", subs, evs, 0x10000000u, nev), WASI_EFAULT);
}

static void test_proc(void) {
    reset_mem();
    int r = CALL("proc_exit", 42);
    EQ(r, -1);
    EQ(last_trap, WASMC_TRAP_EXIT);
    EQ(wasmc_wasi_exit_code(ctx), 42);
    ERR(CALL("proc_raise", 6), WASI_ENOTSUP);
    ERR(CALL("proc_raise", 31), WASI_EINVAL);
}

static void test_sockets(void) {
    reset_mem();
    /* A connected stream socket as stdin, a listening socket as stdout. */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    int lst = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    /* sun_path is short: the socket lives in its own directory under /tmp. */
    char sockdir[] = "/tmp/wasi_sock.XXXXXX";
    if (!mkdtemp(sockdir)) {
        fail(__LINE__, "mkdtemp: %s", strerror(errno));
        return;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", sockdir);
    CHECK(bind(lst, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lst, 4) == 0, "listen");
    int devnull = open("/dev/null", O_RDWR);
    wasmc_wasi *saved = ctx;
    ctx = make_ctx(sv[0], lst, devnull);
    uint32_t fs = galloc(24);
    OK(CALL("fd_fdstat_get", 0, fs));
    EQ(mem[fs], WASI_FILETYPE_SOCKET_STREAM);
    CHECK(g64(fs + 8) & WASI_RIGHT_SOCK_SHUTDOWN, "socket rights");
    /* send / recv / peek */
    uint32_t iov = galloc(8), out = galloc(4), fl = galloc(4), buf = galloc(16);
    wasi_put_u32(mem + iov, gstr("ping"));
    wasi_put_u32(mem + iov + 4, 4);
    OK(CALL("sock_send", 0, iov, 1, 0, out));
    EQ(g32(out), 4);
    char host[8] = {0};
    EQ(read(sv[1], host, sizeof(host)), 4);
    CHECK(!memcmp(host, "ping", 4), "peer got %s", host);
    ERR(CALL("sock_send", 0, iov, 1, 1, out), WASI_EINVAL);
    EQ(write(sv[1], "pong!", 5), 5);
    wasi_put_u32(mem + iov, buf);
    wasi_put_u32(mem + iov + 4, 16);
    OK(CALL("sock_recv", 0, iov, 1, WASI_RECV_PEEK, out, fl));
    EQ(g32(out), 5);
    OK(CALL("sock_recv", 0, iov, 1, 0, out, fl));
    EQ(g32(out), 5);
    EQ(g16(fl), 0);
    CHECK(!memcmp(mem + buf, "pong!", 5), "recv");
    ERR(CALL("sock_recv", 0, iov, 1, 4, out, fl), WASI_EINVAL);
    ERR(CALL("sock_recv", 0, iov, 1, 0, out, MEM_SIZE - 1), WASI_EFAULT);
    /* accept */
    int cl = socket(AF_UNIX, SOCK_STREAM, 0), cl2;
    CHECK(connect(cl, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect");
    OK(CALL("sock_accept", 1, 0, out));
    uint32_t conn = g32(out);
    EQ(write(cl, "hi", 2), 2);
    OK(CALL("sock_recv", conn, iov, 1, 0, out, fl));
    EQ(g32(out), 2);
    ERR(CALL("sock_accept", 1, WASI_FDFLAG_APPEND, out), WASI_EINVAL);
    OK(CALL("fd_fdstat_set_flags", 1, WASI_FDFLAG_NONBLOCK)); /* the listener */
    ERR(CALL("sock_accept", 1, 0, out), WASI_EAGAIN);           /* nothing pending */
    CHECK(connect(cl2 = socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&sa, sizeof(sa)) == 0,
          "connect 2");
    OK(CALL("sock_accept", 1, WASI_FDFLAG_NONBLOCK, out));
    OK(CALL("fd_fdstat_get", g32(out), fs));
    EQ(g16(fs + 2), WASI_FDFLAG_NONBLOCK);
    EQ(mem[fs], WASI_FILETYPE_SOCKET_STREAM);
    ERR(CALL("sock_recv", g32(out), iov, 1, 0, out, fl), WASI_EAGAIN);
    close(cl2);
    /* shutdown; the peer sees EOF */
    ERR(CALL("sock_shutdown", conn, 0), WASI_EINVAL);
    OK(CALL("sock_shutdown", conn, WASI_SHUT_WR));
    EQ(read(cl, host, sizeof(host)), 0);
    OK(CALL("sock_shutdown", 0, WASI_SHUT_RD | WASI_SHUT_WR));
    /* not sockets, bad descriptors */
    ERR(CALL("sock_shutdown", 2, WASI_SHUT_RD), WASI_ENOTSOCK);
    ERR(CALL("sock_shutdown", 3, WASI_SHUT_RD), WASI_ENOTSOCK);
    ERR(CALL("sock_shutdown", 42, WASI_SHUT_RD), WASI_EBADF);
    ERR(CALL("sock_accept", 3, 0, out), WASI_ENOTSOCK);
    ERR(CALL("sock_recv", 2, iov, 1, 0, out, fl), WASI_ENOTSOCK);
    ERR(CALL("sock_send", 2, iov, 1, 0, out), WASI_ENOTSOCK);
    /* fd_write on a socket whose peer is gone: pipe, not SIGPIPE */
    close(cl);
    uint32_t n;
    int e = gwrite(conn, "x", &n);
    if (e == WASI_ESUCCESS) e = gwrite(conn, "x", &n);
    CHECK(e == WASI_EPIPE || e == WASI_ECONNRESET, "write to closed peer -> %s", ename(e));
    wasmc_wasi_free(ctx);
    ctx = saved;
    close(sv[0]);
    close(sv[1]);
    close(lst);
    close(devnull);
    unlink(sa.sun_path);
    rmdir(sockdir);
}

static void *late_writer(void *arg) {
    (void)arg;
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
    if (write(stdin_w, "r", 1) != 1) fail(__LINE__, "late write");
    return NULL;
}

/* stdio is shared with the host: non-blocking mode is emulated per guest
 * descriptor, and a write to a pipe without reader is `pipe`, not SIGPIPE. */
static void test_stdio_sharing(void) {
    reset_mem();
    uint32_t buf, n, fs = galloc(24);
    OK(CALL("fd_fdstat_set_flags", 0, WASI_FDFLAG_NONBLOCK));
    OK(CALL("fd_fdstat_get", 0, fs));
    EQ(g16(fs + 2), WASI_FDFLAG_NONBLOCK);
    ERR(gread(0, 8, &buf, &n), WASI_EAGAIN);
    CHECK(!(fcntl(ctx->fds[0]->host, F_GETFL) & O_NONBLOCK), "host stdin made non-blocking");
    EQ(write(stdin_w, "q", 1), 1);
    OK(gread(0, 8, &buf, &n));
    EQ(n, 1);
    OK(CALL("fd_fdstat_set_flags", 0, 0));
    /* the host's descriptor is non-blocking, the guest's is not: it waits */
    fcntl(ctx->fds[0]->host, F_SETFL, fcntl(ctx->fds[0]->host, F_GETFL) | O_NONBLOCK);
    pthread_t writer;
    pthread_create(&writer, NULL, late_writer, NULL);
    OK(gread(0, 8, &buf, &n));
    EQ(n, 1);
    pthread_join(writer, NULL);
    fcntl(ctx->fds[0]->host, F_SETFL, fcntl(ctx->fds[0]->host, F_GETFL) & ~O_NONBLOCK);

    signal(SIGPIPE, SIG_DFL);
    int p[2];
    if (pipe(p) != 0) return;
    wasmc_wasi *saved = ctx;
    ctx = make_ctx(-1, p[1], -1);
    close(p[0]);
    close(p[1]);
    ERR(gwrite(1, "nobody reads", &n), WASI_EPIPE);
    sigset_t pending;
    sigpending(&pending);
    CHECK(!sigismember(&pending, SIGPIPE), "SIGPIPE left pending");
    wasmc_wasi_free(ctx);
    ctx = saved;
}

static void test_closed_stdio(void) {
    wasmc_wasi *saved = ctx;
    ctx = make_ctx(-1, -1, -1);
    reset_mem();
    uint32_t fs = galloc(24), fd;
    ERR(CALL("fd_fdstat_get", 0, fs), WASI_EBADF);
    ERR(CALL("fd_fdstat_get", 2, fs), WASI_EBADF);
    OK(CALL("fd_fdstat_get", 3, fs)); /* preopens keep their numbers */
    OK(CALL("fd_fdstat_get", 4, fs));
    OK(popen_(3, ".", 0, 0, 0, 0, 0, &fd));
    EQ(fd, 0); /* lowest free number */
    wasmc_wasi_free(ctx);
    ctx = saved;
}

/* Guest pointers: everything out of bounds is fault, nothing is touched
 * (the guard pages around the memory would crash this program). */
static void test_bad_pointers(void) {
    reset_mem();
    const uint64_t E = MEM_SIZE;
    uint32_t ok = galloc(64), iov = galloc(16);
    uint32_t fd;
    OK(popen_(3, "bp.txt", WASI_O_CREAT, RW, 0, 0, 0, &fd));
    /* iovec array out of bounds, and an element pointing out of bounds */
    ERR(CALL("fd_write", fd, E - 4, 1, ok), WASI_EFAULT);
    ERR(CALL("fd_write", fd, 0xfffffff8u, 2, ok), WASI_EFAULT);
    ERR(CALL("fd_write", fd, iov, 0x20000000u, ok), WASI_EFAULT);
    wasi_put_u32(mem + iov, MEM_SIZE - 2);
    wasi_put_u32(mem + iov + 4, 3);
    ERR(CALL("fd_write", fd, iov, 1, ok), WASI_EFAULT);
    ERR(CALL("fd_read", fd, iov, 1, ok), WASI_EFAULT);
    ERR(CALL("fd_pwrite", fd, iov, 1, 0, ok), WASI_EFAULT);
    ERR(CALL("fd_pread", fd, iov, 1, 0, ok), WASI_EFAULT);
    wasi_put_u32(mem + iov, 0xfffffff0u);
    wasi_put_u32(mem + iov + 4, 0x20);
    ERR(CALL("fd_read", fd, iov, 1, ok), WASI_EFAULT);
    wasi_put_u32(mem + iov, 0);
    wasi_put_u32(mem + iov + 4, 4);
    wasi_put_u32(mem + iov + 8, MEM_SIZE);
    wasi_put_u32(mem + iov + 12, 1);
    ERR(CALL("fd_write", fd, iov, 2, ok), WASI_EFAULT); /* the second element */
    /* a length that ends exactly at the end is fine */
    wasi_put_u32(mem + iov, MEM_SIZE - 4);
    wasi_put_u32(mem + iov + 4, 4);
    OK(CALL("fd_write", fd, iov, 1, ok));
    ERR(CALL("fd_write", fd, iov, 1, E - 3), WASI_EFAULT); /* result pointer */
    ERR(CALL("fd_fdstat_get", fd, E - 23), WASI_EFAULT);
    ERR(CALL("fd_filestat_get", fd, E - 63), WASI_EFAULT);
    ERR(CALL("fd_tell", fd, E - 7), WASI_EFAULT);
    ERR(CALL("path_open", 3, 0, E - 2, 3, 0, 0, 0, 0, ok), WASI_EFAULT);
    ERR(CALL("path_open", 3, 0, 0xffffffffu, 0xffffffffu, 0, 0, 0, 0, ok), WASI_EFAULT);
    ERR(CALL("path_create_directory", 3, E - 1, 2), WASI_EFAULT);
    ERR(CALL("path_unlink_file", 3, E, 1), WASI_EFAULT);
    ERR(CALL("path_remove_directory", 3, E + 1, 0), WASI_EFAULT);
    ERR(CALL("path_symlink", E - 1, 5, 3, GS("x")), WASI_EFAULT);
    ERR(CALL("path_symlink", GS("x"), 3, E - 1, 5), WASI_EFAULT);
    ERR(CALL("path_rename", 3, GS("bp.txt"), 3, E - 1, 5), WASI_EFAULT);
    ERR(CALL("path_link", 3, 0, E - 1, 5, 3, GS("x")), WASI_EFAULT);
    ERR(CALL("path_filestat_set_times", 3, 0, E - 1, 5, 0, 0, 0), WASI_EFAULT);
    ERR(CALL("path_readlink", 3, GS("x"), E - 1, 5, ok), WASI_EFAULT);
    ERR(CALL("fd_prestat_dir_name", 3, E - 1, 5), WASI_EFAULT);
    ERR(CALL("sock_recv", 0, iov, 1, 0, E - 1, ok), WASI_EFAULT);
    ERR(CALL("sock_send", 0, iov, 1, 0, E - 3), WASI_EFAULT);
    ERR(CALL("sock_accept", 0, 0, E - 3), WASI_EFAULT);
    ERR(CALL("random_get", E - 1, 2), WASI_EFAULT);
    CHECK(!hexists(sbdir, "x"), "a bad pointer created x");
    OK(pclose_(fd));
}

/* ---------------------------------------------------------------------------
 * Sandbox escape attempts
 * ------------------------------------------------------------------------- */

typedef struct {
    const char *what;   /* description */
    const char *op;     /* operation as called */
    int got, want;
} escape_row;

static escape_row escapes[96];
static int nescapes;

static void escape(const char *what, const char *op, int got, int want) {
    escape_row *r = &escapes[nescapes++];
    r->what = what;
    r->op = op;
    r->got = got;
    r->want = want;
    checks++;
    if (got != want) fail(__LINE__, "escape \"%s\" (%s) -> %s, expected %s", what, op, ename(got), ename(want));
}

static void test_sandbox(void) {
    reset_mem();
    char abs_inside[PATH_MAX];
    hwrite(root, "secret", "top secret");
    hwrite(sbdir, "sbfile", "inside");
    OK(CALL("path_create_directory", 3, GS("a")));
    OK(CALL("path_create_directory", 3, GS("a/b")));
    hsymlink("/", sbdir, "to_root");
    hsymlink("..", sbdir, "to_parent");
    hsymlink("../secret", sbdir, "to_secret");
    hsymlink("a/../../secret", sbdir, "to_secret2");
    hsymlink("/proc/self/root", sbdir, "magic");
    hpath(abs_inside, sbdir, "sbfile");
    hsymlink(abs_inside, sbdir, "abs_inside");
    hsymlink("loop_b", sbdir, "loop_a");
    hsymlink("loop_a", sbdir, "loop_b");
    hsymlink("../../../../../../../../proc/self/cwd", sbdir, "a/deep");
    uint32_t fd, st, used = galloc(4), buf = galloc(64);
    const uint64_t R = WASI_RIGHT_FD_READ;
    struct stat before, after;
    char secret[PATH_MAX];
    hpath(secret, root, "secret");
    stat(secret, &before);

    escape("parent directory", "path_open \"..\"", popen_(3, "..", 0, R, 0, 0, 0, &fd), WASI_EPERM);
    escape("grandparent", "path_open \"../..\"", popen_(3, "../..", 0, R, 0, 0, 0, &fd), WASI_EPERM);
    escape("absolute path", "path_open \"/etc/passwd\"",
           popen_(3, "/etc/passwd", 0, R, 0, 0, FOLLOW, &fd), WASI_EPERM);
    escape("absolute root", "path_open \"/\"", popen_(3, "/", 0, R, 0, 0, 0, &fd), WASI_EPERM);
    escape("dot-dot after a directory", "path_open \"a/../../secret\"",
           popen_(3, "a/../../secret", 0, R, 0, 0, 0, &fd), WASI_EPERM);
    escape("dot-dot deep inside", "path_open \"a/b/../../../secret\"",
           popen_(3, "a/b/../../../secret", 0, R, 0, 0, 0, &fd), WASI_EPERM);
    escape("symlink to / (followed)", "path_open \"to_root\" follow",
           popen_(3, "to_root", 0, R, 0, 0, FOLLOW, &fd), WASI_EPERM);
    escape("path through symlink to /", "path_open \"to_root/etc/passwd\"",
           popen_(3, "to_root/etc/passwd", 0, R, 0, 0, 0, &fd), WASI_EPERM);
    escape("symlink to .. (followed)", "path_open \"to_parent\" follow",
           popen_(3, "to_parent", WASI_O_DIRECTORY, 0, 0, 0, FOLLOW, &fd), WASI_EPERM);
    escape("path through symlink to ..", "path_open \"to_parent/secret\"",
           popen_(3, "to_parent/secret", 0, R, 0, 0, 0, &fd), WASI_EPERM);
    escape("trailing slash follows a symlink to ..", "path_open \"to_parent/\" nofollow",
           popen_(3, "to_parent/", 0, 0, 0, 0, 0, &fd), WASI_EPERM);
    escape("symlink to ../secret (followed)", "path_open \"to_secret\" follow",
           popen_(3, "to_secret", 0, R, 0, 0, FOLLOW, &fd), WASI_EPERM);
    escape("symlink with a/../../ (followed)", "path_open \"to_secret2\" follow",
           popen_(3, "to_secret2", 0, R, 0, 0, FOLLOW, &fd), WASI_EPERM);
    escape("symlink not followed", "path_open \"to_secret\" nofollow",
           popen_(3, "to_secret", 0, R, 0, 0, 0, &fd), WASI_ELOOP);
    escape("absolute symlink into the sandbox", "path_open \"abs_inside\" follow",
           popen_(3, "abs_inside", 0, R, 0, 0, FOLLOW, &fd), WASI_EPERM);
    escape("magic link /proc/self/root", "path_open \"magic/etc/passwd\"",
           popen_(3, "magic/etc/passwd", 0, R, 0, 0, 0, &fd), WASI_EPERM);
    escape("relative symlink climbing to /proc", "path_open \"a/deep\" follow",
           popen_(3, "a/deep", WASI_O_DIRECTORY, 0, 0, 0, FOLLOW, &fd), WASI_EPERM);
    escape("symlink loop a -> b -> a", "path_open \"loop_a\" follow",
           popen_(3, "loop_a", 0, R, 0, 0, FOLLOW, &fd), WASI_ELOOP);
    escape("symlink loop, inner component", "path_open \"loop_a/x\"",
           popen_(3, "loop_a/x", 0, R, 0, 0, 0, &fd), WASI_ELOOP);
    escape("trailing slash on a file", "path_open \"sbfile/\"",
           popen_(3, "sbfile/", 0, R, 0, 0, 0, &fd), WASI_ENOTDIR);
    escape("NUL byte in the path", "path_open \"sbfile\\0/../../secret\"",
           CALL("path_open", 3, 0, gbytes("sbfile\0/../../secret", 20), 20, 0, R, 0, 0, galloc(4)),
           WASI_EINVAL);
    escape("creating through a symlink to outside", "path_open \"to_parent/new\" creat",
           popen_(3, "to_parent/new", WASI_O_CREAT, 0, 0, 0, 0, &fd), WASI_EPERM);
    OK(CALL("path_symlink", GS("../created_outside"), 3, GS("dangling_out")));
    escape("creating the target of a dangling symlink to outside", "path_open \"dangling_out\" creat follow",
           popen_(3, "dangling_out", WASI_O_CREAT, 0, 0, 0, FOLLOW, &fd), WASI_EPERM);
    CHECK(!hexists(root, "created_outside"), "file created outside the sandbox");
    /* relative to a subdirectory descriptor: beneath that descriptor */
    uint32_t sub;
    OK(popen_(3, "a", WASI_O_DIRECTORY, DIRR, ALLR, 0, 0, &sub));
    escape("dot-dot above a non-preopen descriptor", "path_open(fd of a/) \"../sbfile\"",
           popen_(sub, "../sbfile", 0, R, 0, 0, 0, &fd), WASI_EPERM);
    escape("stat through .. of a subdirectory", "path_filestat_get(fd of a/) \"b/../..\"",
           filestat(sub, "b/../..", 0, &st), WASI_EPERM);
    OK(pclose_(sub));

    escape("stat outside", "path_filestat_get \"../secret\"", filestat(3, "../secret", 0, &st), WASI_EPERM);
    escape("stat through symlink (followed)", "path_filestat_get \"to_secret\" follow",
           filestat(3, "to_secret", FOLLOW, &st), WASI_EPERM);
    escape("stat of the symlink itself", "path_filestat_get \"to_secret\" nofollow",
           filestat(3, "to_secret", 0, &st), WASI_ESUCCESS);
    escape("stat, trailing slash follows", "path_filestat_get \"to_root/\"",
           filestat(3, "to_root/", 0, &st), WASI_EPERM);
    escape("set times outside (followed)", "path_filestat_set_times \"to_secret\" follow",
           CALL("path_filestat_set_times", 3, FOLLOW, GS("to_secret"), 0, 0, WASI_FST_MTIM), WASI_EPERM);
    escape("set times, trailing slash", "path_filestat_set_times \"to_root/\"",
           CALL("path_filestat_set_times", 3, 0, GS("to_root/"), 0, 0, WASI_FST_MTIM), WASI_EPERM);
    escape("hard link to an outside file", "path_link \"../secret\" -> \"h\"",
           CALL("path_link", 3, 0, GS("../secret"), 3, GS("h")), WASI_EPERM);
    escape("hard link via a symlink, followed", "path_link follow \"to_secret\" -> \"h\"",
           CALL("path_link", 3, FOLLOW, GS("to_secret"), 3, GS("h")), WASI_EINVAL);
    escape("hard link via trailing slash", "path_link \"to_parent/\" -> \"h\"",
           CALL("path_link", 3, 0, GS("to_parent/"), 3, GS("h")), WASI_EPERM);
    escape("hard link placed outside", "path_link \"sbfile\" -> \"../h\"",
           CALL("path_link", 3, 0, GS("sbfile"), 3, GS("../h")), WASI_EPERM);
    escape("hard link of the symlink itself", "path_link \"to_secret\" -> \"h\"",
           CALL("path_link", 3, 0, GS("to_secret"), 3, GS("h")), WASI_ESUCCESS);
    OK(filestat(3, "h", 0, &st));
    EQ(mem[st + 16], WASI_FILETYPE_SYMBOLIC_LINK);
    escape("rename out of the preopen", "path_rename \"sbfile\" -> \"../moved\"",
           CALL("path_rename", 3, GS("sbfile"), 3, GS("../moved")), WASI_EPERM);
    escape("rename an outside file in", "path_rename \"../secret\" -> \"in\"",
           CALL("path_rename", 3, GS("../secret"), 3, GS("in")), WASI_EPERM);
    escape("rename through symlink to ..", "path_rename \"sbfile\" -> \"to_parent/moved\"",
           CALL("path_rename", 3, GS("sbfile"), 3, GS("to_parent/moved")), WASI_EPERM);
    escape("rename to the other preopen", "path_rename \"sbfile\" -> other:\"x\"",
           CALL("path_rename", 3, GS("sbfile"), 4, GS("x")), WASI_ESUCCESS);
    OK(CALL("path_rename", 4, GS("x"), 3, GS("sbfile")));
    escape("mkdir outside", "path_create_directory \"../newdir\"",
           CALL("path_create_directory", 3, GS("../newdir")), WASI_EPERM);
    escape("mkdir through symlink", "path_create_directory \"to_parent/newdir\"",
           CALL("path_create_directory", 3, GS("to_parent/newdir")), WASI_EPERM);
    escape("unlink outside", "path_unlink_file \"../secret\"",
           CALL("path_unlink_file", 3, GS("../secret")), WASI_EPERM);
    escape("unlink through symlink", "path_unlink_file \"to_parent/secret\"",
           CALL("path_unlink_file", 3, GS("to_parent/secret")), WASI_EPERM);
    escape("rmdir the preopen's parent", "path_remove_directory \"..\"",
           CALL("path_remove_directory", 3, GS("..")), WASI_EPERM);
    escape("rmdir a symlink to ..", "path_remove_directory \"to_parent\"",
           CALL("path_remove_directory", 3, GS("to_parent")), WASI_ENOTDIR);
    escape("absolute symlink target", "path_symlink \"/etc/passwd\" -> \"s\"",
           CALL("path_symlink", GS("/etc/passwd"), 3, GS("s")), WASI_EPERM);
    escape("symlink placed outside", "path_symlink \"x\" -> \"../s\"",
           CALL("path_symlink", GS("x"), 3, GS("../s")), WASI_EPERM);
    OK(CALL("path_symlink", GS("../secret"), 3, GS("s")));
    escape("guest-made symlink to outside, followed", "path_symlink \"../secret\" -> \"s\"; path_open \"s\" follow",
           popen_(3, "s", 0, R, 0, 0, FOLLOW, &fd), WASI_EPERM);
    escape("readlink outside", "path_readlink \"../x\"",
           CALL("path_readlink", 3, GS("../x"), buf, 64, used), WASI_EPERM);
    escape("readlink through symlink", "path_readlink \"to_parent/x\"",
           CALL("path_readlink", 3, GS("to_parent/x"), buf, 64, used), WASI_EPERM);
    escape("interesting but inside", "path_open \"a/.//b/../../a/b/../b///.\"",
           popen_(3, "a/.//b/../../a/b/../b///.", WASI_O_DIRECTORY, 0, 0, 0, 0, &fd), WASI_ESUCCESS);
    OK(pclose_(fd));

    /* Nothing outside changed. */
    stat(secret, &after);
    CHECK(hexists(root, "secret") && before.st_nlink == after.st_nlink &&
              before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
              before.st_mtim.tv_nsec == after.st_mtim.tv_nsec,
          "the outside file was touched");
    CHECK(!hexists(root, "moved") && !hexists(root, "newdir") && !hexists(root, "h") &&
              !hexists(root, "s") && !hexists(root, "new"),
          "something was created outside the sandbox");

    if (verbose) {
        printf("| attempt | call | errno |\n|---|---|---|\n");
        for (int i = 0; i < nescapes; i++)
            printf("| %s | `%s` | %s |\n", escapes[i].what, escapes[i].op, ename(escapes[i].got));
    }
}

/* ---------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------- */

static int kernel_has_openat2(void) {
    struct wasi_open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH;
    long fd = syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how));
    if (fd < 0) return 0;
    close((int)fd);
    return 1;
}

int main(int argc, char **argv) {
    verbose = argc > 1 && !strcmp(argv[1], "-v");
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Guest memory with guard pages on both sides. */
    long pg = sysconf(_SC_PAGESIZE);
    uint8_t *region = mmap(NULL, MEM_SIZE + 2 * (size_t)pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED || mprotect(region + pg, MEM_SIZE, PROT_READ | PROT_WRITE) != 0) {
        printf("FAIL cannot map guest memory\n");
        return 1;
    }
    mem = region + pg;
    memdef.base = mem;
    memdef.size = MEM_SIZE;
    vm = calloc(1, sizeof(wasmc_vmctx) + sizeof(vm->memories[0]));
    vm_nomem = calloc(1, sizeof(wasmc_vmctx) + sizeof(vm->memories[0]));
    vm->magic = vm_nomem->magic = WASMC_VMCTX_MAGIC;
    vm->flags = WASMC_VMCTX_FLAG_HAS_MEMORY0;
    vm->memories[0].base = mem;
    vm->memories[0].def = &memdef;
    vm_nomem->memories[0].def = NULL;

    /* Fixtures: <root>/{secret, sb/, other/} */
    snprintf(root, sizeof(root), "%s/wasi_unit.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) {
        printf("FAIL mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    hpath(sbdir, root, "sb");
    hpath(otherdir, root, "other");
    mkdir(sbdir, 0777);
    mkdir(otherdir, 0777);

    int in[2], out[2];
    if (pipe(in) || pipe(out)) return 1;
    stdin_w = in[1];
    stdout_r = out[0];
    int devnull = open("/dev/null", O_WRONLY);
    ctx = make_ctx(in[0], out[1], devnull);
    close(in[0]);
    close(out[1]);
    close(devnull);

    const char *no = getenv("WASMC_WASI_NO_OPENAT2");
    int forced = no && *no && strcmp(no, "0") != 0;
    if (forced) CHECK(!ctx->use_openat2, "WASMC_WASI_NO_OPENAT2=1 but openat2 in use");
    else if (kernel_has_openat2()) CHECK(ctx->use_openat2, "openat2 available but not used");
    printf("resolver: %s\n", ctx->use_openat2 ? "openat2 (RESOLVE_BENEATH)" : "component walker");

    test_lookup();
    test_no_memory();
    test_args_environ();
    test_clock_random();
    test_file_io();
    test_prestat();
    test_readdir();
    test_path_open();
    test_path_ops();
    test_poll();
    test_sockets();
    test_stdio_sharing();
    test_closed_stdio();
    test_bad_pointers();
    test_sandbox();
    test_proc();

    wasmc_wasi_free(ctx);
    close(stdin_w);
    close(stdout_r);
    rm_rf(root);
    free(vm);
    free(vm_nomem);
    munmap(region, MEM_SIZE + 2 * (size_t)pg);
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
