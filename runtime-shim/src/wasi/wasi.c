/* wasi.c -- WASI context, descriptor table, errno mapping, args/environ and
 * the function table. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "wasi_internal.h"
#include "wasi_openat2.h"

/* ---------------------------------------------------------------------------
 * Guest memory
 * ------------------------------------------------------------------------- */

int wasi_caller_mem(wasmc_vmctx *caller, wasi_mem *m) {
    if (!caller) return WASMC_TRAP_MEMORY_OOB; /* called from the host */
    /* A module without memories has no memories[0] slot: what lies there
     * is other VMContext data (tables, even guest-written globals). */
    if (!(caller->flags & WASMC_VMCTX_FLAG_HAS_MEMORY0)) return WASMC_TRAP_MEMORY_OOB;
    wasmc_memory *def = caller->memories[0].def;
    if (!def || !def->base) return WASMC_TRAP_MEMORY_OOB;
    m->base = (uint8_t *)def->base;
    m->size = def->size;
    return 0;
}

int wasi_iovecs(const wasi_mem *m, uint32_t iovs, uint32_t iovs_len, struct iovec **out, int *n) {
    *out = NULL;
    *n = 0;
    if (!wasi_mem_ok(m, iovs, (uint64_t)iovs_len * WASI_IOVEC_SIZE)) return WASI_EFAULT;
    uint32_t count = iovs_len < IOV_MAX ? iovs_len : IOV_MAX;
    struct iovec *v = count ? malloc(sizeof(*v) * count) : NULL;
    if (count && !v) return WASI_ENOMEM;
    /* Each element is read once (shared memories can change under us),
     * checked, and used as read; the ignored tail is checked too. */
    for (uint32_t i = 0; i < iovs_len; i++) {
        const uint8_t *e = wasi_mem_at(m, iovs + i * WASI_IOVEC_SIZE);
        uint32_t buf = wasi_get_u32(e), len = wasi_get_u32(e + 4);
        if (!wasi_mem_ok(m, buf, len)) {
            free(v);
            return WASI_EFAULT;
        }
        if (i < count) {
            v[i].iov_base = wasi_mem_at(m, buf);
            v[i].iov_len = len;
        }
    }
    *out = v;
    *n = (int)count;
    return WASI_ESUCCESS;
}

/* ---------------------------------------------------------------------------
 * errno and stat conversions
 * ------------------------------------------------------------------------- */

int wasi_errno(int e) {
    switch (e) {
    case 0: return WASI_ESUCCESS;
    case E2BIG: return WASI_E2BIG;
    case EACCES: return WASI_EACCES;
    case EADDRINUSE: return WASI_EADDRINUSE;
    case EADDRNOTAVAIL: return WASI_EADDRNOTAVAIL;
    case EAFNOSUPPORT: return WASI_EAFNOSUPPORT;
    case EAGAIN: return WASI_EAGAIN;
    case EALREADY: return WASI_EALREADY;
    case EBADF: return WASI_EBADF;
    case EBADMSG: return WASI_EBADMSG;
    case EBUSY: return WASI_EBUSY;
    case ECANCELED: return WASI_ECANCELED;
    case ECHILD: return WASI_ECHILD;
    case ECONNABORTED: return WASI_ECONNABORTED;
    case ECONNREFUSED: return WASI_ECONNREFUSED;
    case ECONNRESET: return WASI_ECONNRESET;
    case EDEADLK: return WASI_EDEADLK;
    case EDESTADDRREQ: return WASI_EDESTADDRREQ;
    case EDOM: return WASI_EDOM;
    case EDQUOT: return WASI_EDQUOT;
    case EEXIST: return WASI_EEXIST;
    case EFAULT: return WASI_EFAULT;
    case EFBIG: return WASI_EFBIG;
    case EHOSTUNREACH: return WASI_EHOSTUNREACH;
    case EHOSTDOWN: return WASI_EHOSTUNREACH;
    case EIDRM: return WASI_EIDRM;
    case EILSEQ: return WASI_EILSEQ;
    case EINPROGRESS: return WASI_EINPROGRESS;
    case EINTR: return WASI_EINTR;
    case EINVAL: return WASI_EINVAL;
    case EIO: return WASI_EIO;
    case EISCONN: return WASI_EISCONN;
    case EISDIR: return WASI_EISDIR;
    case ELOOP: return WASI_ELOOP;
    case EMFILE: return WASI_EMFILE;
    case EMLINK: return WASI_EMLINK;
    case EMSGSIZE: return WASI_EMSGSIZE;
    case EMULTIHOP: return WASI_EMULTIHOP;
    case ENAMETOOLONG: return WASI_ENAMETOOLONG;
    case ENETDOWN: return WASI_ENETDOWN;
    case ENETRESET: return WASI_ENETRESET;
    case ENETUNREACH: return WASI_ENETUNREACH;
    case ENFILE: return WASI_ENFILE;
    case ENOBUFS: return WASI_ENOBUFS;
    case ENODEV: return WASI_ENODEV;
    case ENOENT: return WASI_ENOENT;
    case ENOEXEC: return WASI_ENOEXEC;
    case ENOLCK: return WASI_ENOLCK;
    case ENOLINK: return WASI_ENOLINK;
    case ENOMEM: return WASI_ENOMEM;
    case ENOMSG: return WASI_ENOMSG;
    case ENOPROTOOPT: return WASI_ENOPROTOOPT;
    case ENOSPC: return WASI_ENOSPC;
    case ENOSYS: return WASI_ENOSYS;
    case ENOTCONN: return WASI_ENOTCONN;
    case ENOTDIR: return WASI_ENOTDIR;
    case ENOTEMPTY: return WASI_ENOTEMPTY;
    case ENOTRECOVERABLE: return WASI_ENOTRECOVERABLE;
    case ENOTSOCK: return WASI_ENOTSOCK;
    case ENOTSUP: return WASI_ENOTSUP; /* == EOPNOTSUPP on Linux */
    case ENOTTY: return WASI_ENOTTY;
    case ENXIO: return WASI_ENXIO;
    case EOVERFLOW: return WASI_EOVERFLOW;
    case EOWNERDEAD: return WASI_EOWNERDEAD;
    case EPERM: return WASI_EPERM;
    case EPIPE: return WASI_EPIPE;
    case EPROTO: return WASI_EPROTO;
    case EPROTONOSUPPORT: return WASI_EPROTONOSUPPORT;
    case EPROTOTYPE: return WASI_EPROTOTYPE;
    case ERANGE: return WASI_ERANGE;
    case EROFS: return WASI_EROFS;
    case ESPIPE: return WASI_ESPIPE;
    case ESRCH: return WASI_ESRCH;
    case ESTALE: return WASI_ESTALE;
    case ETIMEDOUT: return WASI_ETIMEDOUT;
    case ETXTBSY: return WASI_ETXTBSY;
    case EXDEV: return WASI_EXDEV;
    case ESOCKTNOSUPPORT: return WASI_ENOTSUP;
    case EPFNOSUPPORT: return WASI_EAFNOSUPPORT;
    case ENOTBLK: return WASI_ENOTSUP;
    case ENOMEDIUM: return WASI_ENODEV;
    default: return WASI_EIO;
    }
}

uint8_t wasi_filetype_of_mode(mode_t mode) {
    switch (mode & S_IFMT) {
    case S_IFREG: return WASI_FILETYPE_REGULAR_FILE;
    case S_IFDIR: return WASI_FILETYPE_DIRECTORY;
    case S_IFLNK: return WASI_FILETYPE_SYMBOLIC_LINK;
    case S_IFCHR: return WASI_FILETYPE_CHARACTER_DEVICE;
    case S_IFBLK: return WASI_FILETYPE_BLOCK_DEVICE;
    case S_IFSOCK: return WASI_FILETYPE_SOCKET_STREAM;
    default: return WASI_FILETYPE_UNKNOWN; /* FIFOs: preview1 has no code for them */
    }
}

uint8_t wasi_filetype_of_fd(int host, const struct stat *st) {
    if (S_ISSOCK(st->st_mode)) {
        int type = 0;
        socklen_t len = sizeof(type);
        if (getsockopt(host, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM)
            return WASI_FILETYPE_SOCKET_DGRAM;
        return WASI_FILETYPE_SOCKET_STREAM;
    }
    return wasi_filetype_of_mode(st->st_mode);
}

static uint64_t timestamp(const struct timespec *ts) {
    if (ts->tv_sec < 0) return 0;
    if ((uint64_t)ts->tv_sec > UINT64_MAX / 1000000000u - 1) return UINT64_MAX;
    return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

void wasi_put_filestat(uint8_t *p, const struct stat *st) {
    memset(p, 0, WASI_FILESTAT_SIZE);
    wasi_put_u64(p + 0, (uint64_t)st->st_dev);
    wasi_put_u64(p + 8, (uint64_t)st->st_ino);
    wasi_put_u8(p + 16, wasi_filetype_of_mode(st->st_mode));
    wasi_put_u64(p + 24, (uint64_t)st->st_nlink);
    wasi_put_u64(p + 32, (uint64_t)st->st_size);
    wasi_put_u64(p + 40, timestamp(&st->st_atim));
    wasi_put_u64(p + 48, timestamp(&st->st_mtim));
    wasi_put_u64(p + 56, timestamp(&st->st_ctim));
}

int wasi_timespecs(uint64_t atim, uint64_t mtim, uint32_t fst, struct timespec ts[2]) {
    if (fst & ~WASI_FST_ALL) return WASI_EINVAL;
    if ((fst & WASI_FST_ATIM) && (fst & WASI_FST_ATIM_NOW)) return WASI_EINVAL;
    if ((fst & WASI_FST_MTIM) && (fst & WASI_FST_MTIM_NOW)) return WASI_EINVAL;
    uint64_t t[2] = {atim, mtim};
    uint32_t set[2] = {WASI_FST_ATIM, WASI_FST_MTIM};
    uint32_t now[2] = {WASI_FST_ATIM_NOW, WASI_FST_MTIM_NOW};
    for (int i = 0; i < 2; i++) {
        if (fst & set[i]) {
            ts[i].tv_sec = (time_t)(t[i] / 1000000000u);
            ts[i].tv_nsec = (long)(t[i] % 1000000000u);
        } else if (fst & now[i]) {
            ts[i].tv_sec = 0;
            ts[i].tv_nsec = UTIME_NOW;
        } else {
            ts[i].tv_sec = 0;
            ts[i].tv_nsec = UTIME_OMIT;
        }
    }
    return WASI_ESUCCESS;
}

int wasi_is_root(const wasmc_wasi *ctx, dev_t dev, ino_t ino) {
    for (int i = 0; i < ctx->nroots; i++)
        if (ctx->roots[i].dev == dev && ctx->roots[i].ino == ino) return 1;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Descriptor table
 * ------------------------------------------------------------------------- */

wasi_fd *wasi_fd_new(int host, uint8_t type, uint64_t base, uint64_t inheriting, uint16_t flags) {
    wasi_fd *f = calloc(1, sizeof(*f));
    if (!f) {
        close(host);
        return NULL;
    }
    f->refs = 1;
    f->host = host;
    f->type = type;
    f->base = base;
    f->inheriting = inheriting;
    f->flags = flags;
    pthread_mutex_init(&f->dlock, NULL);
    return f;
}

static void fd_destroy(wasi_fd *f) {
    if (f->dir) closedir(f->dir);
    close(f->host);
    free(f->preopen);
    pthread_mutex_destroy(&f->dlock);
    free(f);
}

void wasi_fd_put(wasmc_wasi *ctx, wasi_fd *f) {
    if (!f) return;
    pthread_mutex_lock(&ctx->lock);
    int last = --f->refs == 0;
    pthread_mutex_unlock(&ctx->lock);
    if (last) fd_destroy(f);
}

int wasi_fd_get(wasmc_wasi *ctx, uint32_t fd, uint64_t rights, wasi_fd **out) {
    *out = NULL;
    pthread_mutex_lock(&ctx->lock);
    wasi_fd *f = fd < ctx->nfds ? ctx->fds[fd] : NULL;
    if (!f) {
        pthread_mutex_unlock(&ctx->lock);
        return WASI_EBADF;
    }
    if ((f->base & rights) != rights) {
        pthread_mutex_unlock(&ctx->lock);
        return WASI_ENOTCAPABLE;
    }
    f->refs++;
    pthread_mutex_unlock(&ctx->lock);
    *out = f;
    return WASI_ESUCCESS;
}

int wasi_fd_take(wasmc_wasi *ctx, uint32_t fd, uint64_t rights, int kind, wasi_fd **out) {
    int err = wasi_fd_get(ctx, fd, 0, out);
    if (err) return err;
    uint8_t type = (*out)->type;
    int sock = type == WASI_FILETYPE_SOCKET_STREAM || type == WASI_FILETYPE_SOCKET_DGRAM;
    if (kind == WASI_TAKE_DIR && type != WASI_FILETYPE_DIRECTORY) err = WASI_ENOTDIR;
    else if (kind == WASI_TAKE_NOT_DIR && type == WASI_FILETYPE_DIRECTORY) err = WASI_EISDIR;
    else if (kind == WASI_TAKE_SOCKET && !sock) err = WASI_ENOTSOCK;
    else {
        uint64_t base, inh;
        uint16_t flags;
        wasi_fd_state(ctx, *out, &base, &inh, &flags);
        if ((base & rights) != rights) err = WASI_ENOTCAPABLE;
    }
    if (err) {
        wasi_fd_put(ctx, *out);
        *out = NULL;
    }
    return err;
}

void wasi_fd_state(wasmc_wasi *ctx, wasi_fd *f, uint64_t *base, uint64_t *inheriting,
                   uint16_t *flags) {
    pthread_mutex_lock(&ctx->lock);
    *base = f->base;
    *inheriting = f->inheriting;
    *flags = f->flags;
    pthread_mutex_unlock(&ctx->lock);
}

static int is_stream_type(uint8_t t) {
    return t != WASI_FILETYPE_REGULAR_FILE && t != WASI_FILETYPE_DIRECTORY &&
           t != WASI_FILETYPE_BLOCK_DEVICE;
}

int wasi_nb_precheck(wasmc_wasi *ctx, wasi_fd *f, short events) {
    if (!f->shared || !is_stream_type(f->type)) return 0;
    uint64_t base, inh;
    uint16_t flags;
    wasi_fd_state(ctx, f, &base, &inh, &flags);
    if (!(flags & WASI_FDFLAG_NONBLOCK)) return 0;
    struct pollfd p = {f->host, events, 0};
    return poll(&p, 1, 0) == 0 ? WASI_EAGAIN : 0;
}

int wasi_nb_retry(wasmc_wasi *ctx, wasi_fd *f, short events) {
    if (!f->shared || !is_stream_type(f->type)) return 0;
    uint64_t base, inh;
    uint16_t flags;
    wasi_fd_state(ctx, f, &base, &inh, &flags);
    if (flags & WASI_FDFLAG_NONBLOCK) return 0;
    struct pollfd p = {f->host, events, 0};
    int saved = errno;
    if (poll(&p, 1, -1) < 0) return 0; /* errno (EINTR) is what to report */
    errno = saved;
    return 1;
}

/* Guest descriptors stay below 2^31 (path_open's promise); the host's
 * RLIMIT_NOFILE is the practical limit. */
#define WASI_MAX_FDS (1u << 30)

int wasi_fd_install(wasmc_wasi *ctx, wasi_fd *f, uint32_t *fd) {
    pthread_mutex_lock(&ctx->lock);
    uint32_t i = 0;
    while (i < ctx->nfds && ctx->fds[i]) i++;
    if (i == ctx->nfds) {
        uint32_t n = ctx->nfds ? ctx->nfds * 2 : 16;
        wasi_fd **fds = n <= WASI_MAX_FDS ? realloc(ctx->fds, sizeof(*fds) * n) : NULL;
        if (!fds) {
            pthread_mutex_unlock(&ctx->lock);
            wasi_fd_put(ctx, f);
            return WASI_ENFILE;
        }
        memset(fds + ctx->nfds, 0, sizeof(*fds) * (n - ctx->nfds));
        ctx->fds = fds;
        ctx->nfds = n;
    }
    ctx->fds[i] = f;
    pthread_mutex_unlock(&ctx->lock);
    *fd = i;
    return WASI_ESUCCESS;
}

/* Close guest FD (fd_close); WASI errno. */
static int fd_remove(wasmc_wasi *ctx, uint32_t fd) {
    pthread_mutex_lock(&ctx->lock);
    wasi_fd *f = fd < ctx->nfds ? ctx->fds[fd] : NULL;
    if (!f) {
        pthread_mutex_unlock(&ctx->lock);
        return WASI_EBADF;
    }
    ctx->fds[fd] = NULL;
    int last = --f->refs == 0;
    pthread_mutex_unlock(&ctx->lock);
    if (last) fd_destroy(f);
    return WASI_ESUCCESS;
}

WASI_FN(fd_close) {
    RETURN_ERRNO(fd_remove(CTX, ARG32(0)));
}

/* fd_renumber(from, to): both must be open (like wasmtime: renumbering onto
 * an unused number is badf); `to` is closed first; preopens may be
 * overwritten and move with their descriptor. */
WASI_FN(fd_renumber) {
    wasmc_wasi *ctx = CTX;
    uint32_t from = ARG32(0), to = ARG32(1);
    pthread_mutex_lock(&ctx->lock);
    wasi_fd *f = from < ctx->nfds ? ctx->fds[from] : NULL;
    wasi_fd *t = to < ctx->nfds ? ctx->fds[to] : NULL;
    if (!f || !t) {
        pthread_mutex_unlock(&ctx->lock);
        RETURN_ERRNO(WASI_EBADF);
    }
    if (from == to) {
        pthread_mutex_unlock(&ctx->lock);
        RETURN_ERRNO(WASI_ESUCCESS);
    }
    ctx->fds[to] = f;
    ctx->fds[from] = NULL;
    int last = --t->refs == 0;
    pthread_mutex_unlock(&ctx->lock);
    if (last) fd_destroy(t);
    RETURN_ERRNO(WASI_ESUCCESS);
}

/* ---------------------------------------------------------------------------
 * Context
 * ------------------------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, const char *arg, int e) {
    if (!err || !errlen) return;
    char msg[256];
    snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
    if (e) snprintf(err, errlen, "%s: %s", msg, strerror(e));
    else snprintf(err, errlen, "%s", msg);
}

/* Pack N strings into one buffer of NUL-terminated strings. */
static int pack_strings(int n, const char *const *s, char **buf, uint32_t *count, uint32_t *size) {
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!s[i]) return -1;
        total += strlen(s[i]) + 1;
    }
    if (total > UINT32_MAX || (uint64_t)n > UINT32_MAX / 4) return -1;
    *buf = malloc(total ? total : 1);
    if (!*buf) return -1;
    char *p = *buf;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(s[i]) + 1;
        memcpy(p, s[i], len);
        p += len;
    }
    *count = (uint32_t)n;
    *size = (uint32_t)total;
    return 0;
}

/* Rights and flags of an inherited host descriptor (stdio), by its type and
 * open mode. */
static wasi_fd *stdio_entry(int host) {
    struct stat st;
    int fl = fcntl(host, F_GETFL);
    if (fl < 0 || fstat(host, &st) != 0) {
        close(host);
        return NULL;
    }
    uint8_t type = wasi_filetype_of_fd(host, &st);
    uint64_t base, inh;
    if (type == WASI_FILETYPE_DIRECTORY) {
        base = WASI_RIGHTS_DIR_BASE;
        inh = WASI_RIGHTS_DIR_INHERITING;
    } else if (type == WASI_FILETYPE_SOCKET_STREAM || type == WASI_FILETYPE_SOCKET_DGRAM) {
        base = WASI_RIGHTS_SOCK_BASE;
        inh = WASI_RIGHTS_SOCK_INHERITING;
    } else {
        base = WASI_RIGHTS_FILE_BASE;
        inh = WASI_RIGHTS_FILE_INHERITING;
    }
    if ((fl & O_ACCMODE) == O_RDONLY) base &= ~WASI_RIGHTS_WRITE_ACCESS;
    if ((fl & O_ACCMODE) == O_WRONLY) base &= ~WASI_RIGHTS_READ_ACCESS;
    uint16_t flags = 0;
    if (fl & O_APPEND) flags |= WASI_FDFLAG_APPEND;
    if (fl & O_NONBLOCK) flags |= WASI_FDFLAG_NONBLOCK;
    if ((fl & O_SYNC) == O_SYNC) flags |= WASI_FDFLAG_SYNC;
    else if (fl & O_DSYNC) flags |= WASI_FDFLAG_DSYNC;
    wasi_fd *f = wasi_fd_new(host, type, base, inh, flags);
    if (f) f->shared = 1;
    return f;
}

/* Decide between openat2 and the component walker, once per context. */
static int detect_openat2(void) {
    const char *no = getenv("WASMC_WASI_NO_OPENAT2");
    if (no && *no && strcmp(no, "0") != 0) return 0;
    struct wasi_open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how));
    if (fd < 0) return 0; /* ENOSYS, or filtered (EPERM), or too old (E2BIG/EINVAL) */
    close((int)fd);
    return 1;
}

/* Install F at guest number WANT while building a context (the table grows
 * as needed).  On failure F is released and -1 returned. */
static int put_at(wasmc_wasi *ctx, uint32_t want, wasi_fd *f) {
    if (want >= ctx->nfds) {
        uint32_t n = ctx->nfds ? ctx->nfds : 16;
        while (n <= want) n *= 2;
        wasi_fd **fds = realloc(ctx->fds, sizeof(*fds) * n);
        if (!fds) {
            wasi_fd_put(ctx, f);
            return -1;
        }
        memset(fds + ctx->nfds, 0, sizeof(*fds) * (n - ctx->nfds));
        ctx->fds = fds;
        ctx->nfds = n;
    }
    ctx->fds[want] = f;
    return 0;
}

WASI_EXPORT wasmc_wasi *wasmc_wasi_new(const wasmc_wasi_config *config, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (!config || config->argc < 0 || config->envc < 0 || config->npreopens < 0 ||
        config->nsockets < 0 || (config->argc && !config->argv) || (config->envc && !config->envp) ||
        (config->npreopens && !config->preopens) || (config->nsockets && !config->sockets)) {
        set_err(err, errlen, "invalid WASI configuration", NULL, 0);
        return NULL;
    }
    wasmc_wasi *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        set_err(err, errlen, "out of memory", NULL, 0);
        return NULL;
    }
    pthread_mutex_init(&ctx->lock, NULL);
    if (pack_strings(config->argc, config->argv, &ctx->args, &ctx->argc, &ctx->args_size) ||
        pack_strings(config->envc, config->envp, &ctx->env, &ctx->envc, &ctx->env_size)) {
        set_err(err, errlen, "invalid or too large arguments/environment", NULL, 0);
        goto fail;
    }
    ctx->use_openat2 = detect_openat2();

    /* Stdio.  Every descriptor is checked before any is duplicated, and the
     * duplicates are numbered from 3 up: were a host stdio slot closed, a
     * duplicate of another stream would otherwise take its number (the dup
     * of 0 becoming 1), and the next slot would pick up the wrong stream.
     * A descriptor opened with O_PATH can neither read nor write: it is
     * what wasmc and the runner leave in a slot that was closed (so nothing
     * else can be opened there), and the guest sees that slot closed. */
    int stdio[3] = {config->stdin_fd, config->stdout_fd, config->stderr_fd};
    for (uint32_t i = 0; i < 3; i++) {
        if (stdio[i] < 0) continue;
        int fl = fcntl(stdio[i], F_GETFL);
        if (fl < 0) {
            set_err(err, errlen, "stdio descriptor %s is not open", i == 0 ? "0" : i == 1 ? "1" : "2", errno);
            goto fail;
        }
        if (fl & O_PATH) stdio[i] = -1;
    }
    for (uint32_t i = 0; i < 3; i++) {
        if (stdio[i] < 0) continue; /* closed: fd_* on it are badf */
        int host = fcntl(stdio[i], F_DUPFD_CLOEXEC, 3);
        if (host < 0) {
            set_err(err, errlen, "cannot duplicate stdio descriptor %s",
                    i == 0 ? "0" : i == 1 ? "1" : "2", errno);
            goto fail;
        }
        wasi_fd *f = stdio_entry(host);
        if (!f) {
            set_err(err, errlen, "cannot inspect stdio descriptor", NULL, errno);
            goto fail;
        }
        if (put_at(ctx, i, f)) {
            set_err(err, errlen, "out of memory", NULL, 0);
            goto fail;
        }
    }

    /* Preopened sockets take 3, 4, ...; the directories follow them. */
    for (int i = 0; i < config->nsockets; i++) {
        int host = fcntl(config->sockets[i], F_DUPFD_CLOEXEC, 3);
        if (host < 0) {
            set_err(err, errlen, "cannot duplicate preopened socket", NULL, errno);
            goto fail;
        }
        struct stat st;
        if (fstat(host, &st) != 0 || !S_ISSOCK(st.st_mode)) {
            close(host);
            set_err(err, errlen, "preopened socket descriptor is not a socket", NULL, 0);
            goto fail;
        }
        wasi_fd *f = stdio_entry(host);
        if (!f) {
            set_err(err, errlen, "cannot inspect preopened socket", NULL, errno);
            goto fail;
        }
        if (put_at(ctx, 3u + (uint32_t)i, f)) {
            set_err(err, errlen, "out of memory", NULL, 0);
            goto fail;
        }
    }

    if (config->npreopens) {
        ctx->roots = calloc((size_t)config->npreopens, sizeof(*ctx->roots));
        if (!ctx->roots) {
            set_err(err, errlen, "out of memory", NULL, 0);
            goto fail;
        }
    }
    /* Preopens take the numbers after the sockets even when a stdio slot is closed. */
    for (int i = 0; i < config->npreopens; i++) {
        const wasmc_wasi_preopen *p = &config->preopens[i];
        if (!p->host_path || !p->guest_path) {
            set_err(err, errlen, "preopen without a path", NULL, 0);
            goto fail;
        }
        size_t glen = strlen(p->guest_path);
        if (glen > UINT32_MAX) {
            set_err(err, errlen, "preopen name too long", NULL, 0);
            goto fail;
        }
        int host = open(p->host_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (host >= 0 && host < 3) { /* never a stdio number, even one the host left closed */
            int up = fcntl(host, F_DUPFD_CLOEXEC, 3);
            close(host);
            host = up;
        }
        struct stat st;
        if (host < 0 || fstat(host, &st) != 0) {
            set_err(err, errlen, "cannot open preopened directory %s", p->host_path, errno);
            if (host >= 0) close(host);
            goto fail;
        }
        wasi_fd *f = wasi_fd_new(host, WASI_FILETYPE_DIRECTORY, WASI_RIGHTS_DIR_BASE,
                                 WASI_RIGHTS_DIR_INHERITING, 0);
        char *name = f ? malloc(glen + 1) : NULL;
        if (!name) {
            if (f) wasi_fd_put(ctx, f);
            set_err(err, errlen, "out of memory", NULL, 0);
            goto fail;
        }
        memcpy(name, p->guest_path, glen + 1);
        f->preopen = name;
        f->preopen_len = (uint32_t)glen;
        ctx->roots[ctx->nroots].dev = st.st_dev;
        ctx->roots[ctx->nroots].ino = st.st_ino;
        ctx->nroots++;
        if (put_at(ctx, 3u + (uint32_t)config->nsockets + (uint32_t)i, f)) {
            set_err(err, errlen, "out of memory", NULL, 0);
            goto fail;
        }
    }
    return ctx;

fail:
    wasmc_wasi_free(ctx);
    return NULL;
}

WASI_EXPORT void wasmc_wasi_free(wasmc_wasi *ctx) {
    if (!ctx) return;
    for (uint32_t i = 0; i < ctx->nfds; i++)
        if (ctx->fds[i]) {
            wasi_fd *f = ctx->fds[i];
            ctx->fds[i] = NULL;
            if (--f->refs == 0) fd_destroy(f);
        }
    free(ctx->fds);
    free(ctx->args);
    free(ctx->env);
    free(ctx->roots);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

WASI_EXPORT int32_t wasmc_wasi_exit_code(const wasmc_wasi *ctx) {
    return ctx ? ctx->exit_code : 0;
}

/* ---------------------------------------------------------------------------
 * args / environ
 * ------------------------------------------------------------------------- */

/* Write COUNT pointers at PTRS and the SIZE bytes of BUF at BUFP. */
static int strings_get(const wasi_mem *m, uint32_t ptrs, uint32_t bufp, const char *buf,
                       uint32_t count, uint32_t size) {
    if (!wasi_mem_ok(m, ptrs, (uint64_t)count * 4) || !wasi_mem_ok(m, bufp, size))
        return WASI_EFAULT;
    const char *s = buf;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t off = (uint32_t)(s - buf);
        wasi_put_u32(wasi_mem_at(m, ptrs + 4 * i), bufp + off);
        s += strlen(s) + 1;
    }
    memcpy(wasi_mem_at(m, bufp), buf, size);
    return WASI_ESUCCESS;
}

static int sizes_get(const wasi_mem *m, uint32_t countp, uint32_t sizep, uint32_t count,
                     uint32_t size) {
    if (!wasi_mem_ok(m, countp, 4) || !wasi_mem_ok(m, sizep, 4)) return WASI_EFAULT;
    wasi_put_u32(wasi_mem_at(m, countp), count);
    wasi_put_u32(wasi_mem_at(m, sizep), size);
    return WASI_ESUCCESS;
}

WASI_FN(args_get) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    RETURN_ERRNO(strings_get(&m, ARG32(0), ARG32(1), ctx->args, ctx->argc, ctx->args_size));
}

WASI_FN(args_sizes_get) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    RETURN_ERRNO(sizes_get(&m, ARG32(0), ARG32(1), ctx->argc, ctx->args_size));
}

WASI_FN(environ_get) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    RETURN_ERRNO(strings_get(&m, ARG32(0), ARG32(1), ctx->env, ctx->envc, ctx->env_size));
}

WASI_FN(environ_sizes_get) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    RETURN_ERRNO(sizes_get(&m, ARG32(0), ARG32(1), ctx->envc, ctx->env_size));
}

/* ---------------------------------------------------------------------------
 * Function table
 * ------------------------------------------------------------------------- */

/* Signatures: parameters ':' results, i = i32, I = i64 (checked against
 * wasi_snapshot_preview1.witx lowered to core Wasm). */
static const struct {
    const char *name;
    wasmc_host_fn fn;
    const char *sig;
} wasi_table[] = {
    {"args_get", wasi_args_get, "ii:i"},
    {"args_sizes_get", wasi_args_sizes_get, "ii:i"},
    {"environ_get", wasi_environ_get, "ii:i"},
    {"environ_sizes_get", wasi_environ_sizes_get, "ii:i"},
    {"clock_res_get", wasi_clock_res_get, "ii:i"},
    {"clock_time_get", wasi_clock_time_get, "iIi:i"},
    {"fd_advise", wasi_fd_advise, "iIIi:i"},
    {"fd_allocate", wasi_fd_allocate, "iII:i"},
    {"fd_close", wasi_fd_close, "i:i"},
    {"fd_datasync", wasi_fd_datasync, "i:i"},
    {"fd_fdstat_get", wasi_fd_fdstat_get, "ii:i"},
    {"fd_fdstat_set_flags", wasi_fd_fdstat_set_flags, "ii:i"},
    {"fd_fdstat_set_rights", wasi_fd_fdstat_set_rights, "iII:i"},
    {"fd_filestat_get", wasi_fd_filestat_get, "ii:i"},
    {"fd_filestat_set_size", wasi_fd_filestat_set_size, "iI:i"},
    {"fd_filestat_set_times", wasi_fd_filestat_set_times, "iIIi:i"},
    {"fd_pread", wasi_fd_pread, "iiiIi:i"},
    {"fd_prestat_get", wasi_fd_prestat_get, "ii:i"},
    {"fd_prestat_dir_name", wasi_fd_prestat_dir_name, "iii:i"},
    {"fd_pwrite", wasi_fd_pwrite, "iiiIi:i"},
    {"fd_read", wasi_fd_read, "iiii:i"},
    {"fd_readdir", wasi_fd_readdir, "iiiIi:i"},
    {"fd_renumber", wasi_fd_renumber, "ii:i"},
    {"fd_seek", wasi_fd_seek, "iIii:i"},
    {"fd_sync", wasi_fd_sync, "i:i"},
    {"fd_tell", wasi_fd_tell, "ii:i"},
    {"fd_write", wasi_fd_write, "iiii:i"},
    {"path_create_directory", wasi_path_create_directory, "iii:i"},
    {"path_filestat_get", wasi_path_filestat_get, "iiiii:i"},
    {"path_filestat_set_times", wasi_path_filestat_set_times, "iiiiIIi:i"},
    {"path_link", wasi_path_link, "iiiiiii:i"},
    {"path_open", wasi_path_open, "iiiiiIIii:i"},
    {"path_readlink", wasi_path_readlink, "iiiiii:i"},
    {"path_remove_directory", wasi_path_remove_directory, "iii:i"},
    {"path_rename", wasi_path_rename, "iiiiii:i"},
    {"path_symlink", wasi_path_symlink, "iiiii:i"},
    {"path_unlink_file", wasi_path_unlink_file, "iii:i"},
    {"poll_oneoff", wasi_poll_oneoff, "iiii:i"},
    {"proc_exit", wasi_proc_exit, "i:"},
    {"proc_raise", wasi_proc_raise, "i:i"},
    {"sched_yield", wasi_sched_yield, ":i"},
    {"random_get", wasi_random_get, "ii:i"},
    {"sock_accept", wasi_sock_accept, "iii:i"},
    {"sock_recv", wasi_sock_recv, "iiiiii:i"},
    {"sock_send", wasi_sock_send, "iiiii:i"},
    {"sock_shutdown", wasi_sock_shutdown, "ii:i"},
};

WASI_EXPORT int wasmc_wasi_lookup(const char *name, wasmc_host_fn *fn, const char **sig) {
    if (!name) return 0;
    for (size_t i = 0; i < sizeof(wasi_table) / sizeof(wasi_table[0]); i++)
        if (strcmp(wasi_table[i].name, name) == 0) {
            if (fn) *fn = wasi_table[i].fn;
            if (sig) *sig = wasi_table[i].sig;
            return 1;
        }
    return 0;
}
