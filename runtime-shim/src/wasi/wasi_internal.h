/* wasi_internal.h -- private declarations of the WASI preview1 implementation.
 *
 * Files:
 *   wasi.c          context, descriptor table, errno mapping, args/environ,
 *                   the name -> function table (wasmc_wasi_lookup)
 *   path.c          sandboxed path resolution and the path_* functions
 *   fd.c            the fd_* functions
 *   poll.c          poll_oneoff
 *   clock_random.c  clocks, random_get, sched_yield, proc_exit, proc_raise
 *   sock.c          sock_accept, sock_recv, sock_send, sock_shutdown
 *
 * Everything the guest passes is untrusted: every pointer/length pair is
 * checked against the current size of the caller's memory 0 with 64-bit
 * arithmetic (wasi_mem_ok) before the first byte is touched, and every path
 * is resolved beneath the directory descriptor it is relative to.
 */
#ifndef WASMC_WASI_INTERNAL_H
#define WASMC_WASI_INTERNAL_H

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "wasmc_abi.h"
#include "wasmc_wasi.h"

#define WASI_HIDDEN __attribute__((visibility("hidden")))
/* wasmc_wasi.h's functions are called by the Python runtime through ctypes:
 * they must stay visible although the shim is built with -fvisibility=hidden. */
#define WASI_EXPORT __attribute__((visibility("default")))

/* ---------------------------------------------------------------------------
 * Preview1 constants (wasi_snapshot_preview1 typenames.witx)
 * ------------------------------------------------------------------------- */

enum {
    WASI_ESUCCESS = 0, WASI_E2BIG = 1, WASI_EACCES = 2, WASI_EADDRINUSE = 3,
    WASI_EADDRNOTAVAIL = 4, WASI_EAFNOSUPPORT = 5, WASI_EAGAIN = 6, WASI_EALREADY = 7,
    WASI_EBADF = 8, WASI_EBADMSG = 9, WASI_EBUSY = 10, WASI_ECANCELED = 11,
    WASI_ECHILD = 12, WASI_ECONNABORTED = 13, WASI_ECONNREFUSED = 14, WASI_ECONNRESET = 15,
    WASI_EDEADLK = 16, WASI_EDESTADDRREQ = 17, WASI_EDOM = 18, WASI_EDQUOT = 19,
    WASI_EEXIST = 20, WASI_EFAULT = 21, WASI_EFBIG = 22, WASI_EHOSTUNREACH = 23,
    WASI_EIDRM = 24, WASI_EILSEQ = 25, WASI_EINPROGRESS = 26, WASI_EINTR = 27,
    WASI_EINVAL = 28, WASI_EIO = 29, WASI_EISCONN = 30, WASI_EISDIR = 31,
    WASI_ELOOP = 32, WASI_EMFILE = 33, WASI_EMLINK = 34, WASI_EMSGSIZE = 35,
    WASI_EMULTIHOP = 36, WASI_ENAMETOOLONG = 37, WASI_ENETDOWN = 38, WASI_ENETRESET = 39,
    WASI_ENETUNREACH = 40, WASI_ENFILE = 41, WASI_ENOBUFS = 42, WASI_ENODEV = 43,
    WASI_ENOENT = 44, WASI_ENOEXEC = 45, WASI_ENOLCK = 46, WASI_ENOLINK = 47,
    WASI_ENOMEM = 48, WASI_ENOMSG = 49, WASI_ENOPROTOOPT = 50, WASI_ENOSPC = 51,
    WASI_ENOSYS = 52, WASI_ENOTCONN = 53, WASI_ENOTDIR = 54, WASI_ENOTEMPTY = 55,
    WASI_ENOTRECOVERABLE = 56, WASI_ENOTSOCK = 57, WASI_ENOTSUP = 58, WASI_ENOTTY = 59,
    WASI_ENXIO = 60, WASI_EOVERFLOW = 61, WASI_EOWNERDEAD = 62, WASI_EPERM = 63,
    WASI_EPIPE = 64, WASI_EPROTO = 65, WASI_EPROTONOSUPPORT = 66, WASI_EPROTOTYPE = 67,
    WASI_ERANGE = 68, WASI_EROFS = 69, WASI_ESPIPE = 70, WASI_ESRCH = 71,
    WASI_ESTALE = 72, WASI_ETIMEDOUT = 73, WASI_ETXTBSY = 74, WASI_EXDEV = 75,
    WASI_ENOTCAPABLE = 76,
};

/* rights */
#define WASI_RIGHT_FD_DATASYNC             (1ull << 0)
#define WASI_RIGHT_FD_READ                 (1ull << 1)
#define WASI_RIGHT_FD_SEEK                 (1ull << 2)
#define WASI_RIGHT_FD_FDSTAT_SET_FLAGS     (1ull << 3)
#define WASI_RIGHT_FD_SYNC                 (1ull << 4)
#define WASI_RIGHT_FD_TELL                 (1ull << 5)
#define WASI_RIGHT_FD_WRITE                (1ull << 6)
#define WASI_RIGHT_FD_ADVISE               (1ull << 7)
#define WASI_RIGHT_FD_ALLOCATE             (1ull << 8)
#define WASI_RIGHT_PATH_CREATE_DIRECTORY   (1ull << 9)
#define WASI_RIGHT_PATH_CREATE_FILE        (1ull << 10)
#define WASI_RIGHT_PATH_LINK_SOURCE        (1ull << 11)
#define WASI_RIGHT_PATH_LINK_TARGET        (1ull << 12)
#define WASI_RIGHT_PATH_OPEN               (1ull << 13)
#define WASI_RIGHT_FD_READDIR              (1ull << 14)
#define WASI_RIGHT_PATH_READLINK           (1ull << 15)
#define WASI_RIGHT_PATH_RENAME_SOURCE      (1ull << 16)
#define WASI_RIGHT_PATH_RENAME_TARGET      (1ull << 17)
#define WASI_RIGHT_PATH_FILESTAT_GET       (1ull << 18)
#define WASI_RIGHT_PATH_FILESTAT_SET_SIZE  (1ull << 19)
#define WASI_RIGHT_PATH_FILESTAT_SET_TIMES (1ull << 20)
#define WASI_RIGHT_FD_FILESTAT_GET         (1ull << 21)
#define WASI_RIGHT_FD_FILESTAT_SET_SIZE    (1ull << 22)
#define WASI_RIGHT_FD_FILESTAT_SET_TIMES   (1ull << 23)
#define WASI_RIGHT_PATH_SYMLINK            (1ull << 24)
#define WASI_RIGHT_PATH_REMOVE_DIRECTORY   (1ull << 25)
#define WASI_RIGHT_PATH_UNLINK_FILE        (1ull << 26)
#define WASI_RIGHT_POLL_FD_READWRITE       (1ull << 27)
#define WASI_RIGHT_SOCK_SHUTDOWN           (1ull << 28)
#define WASI_RIGHT_SOCK_ACCEPT             (1ull << 29)
#define WASI_RIGHTS_ALL                    ((1ull << 30) - 1)

/* What each kind of descriptor can ever hold (path_open and fd creation mask
 * the requested rights with these; the spec allows dropping rights that do
 * not apply to the type of the file). */
#define WASI_RIGHTS_DIR_BASE                                                          \
    (WASI_RIGHT_FD_FDSTAT_SET_FLAGS | WASI_RIGHT_FD_SYNC | WASI_RIGHT_FD_DATASYNC |   \
     WASI_RIGHT_PATH_CREATE_DIRECTORY | WASI_RIGHT_PATH_CREATE_FILE |                 \
     WASI_RIGHT_PATH_LINK_SOURCE | WASI_RIGHT_PATH_LINK_TARGET | WASI_RIGHT_PATH_OPEN | \
     WASI_RIGHT_FD_READDIR | WASI_RIGHT_PATH_READLINK | WASI_RIGHT_PATH_RENAME_SOURCE | \
     WASI_RIGHT_PATH_RENAME_TARGET | WASI_RIGHT_PATH_FILESTAT_GET |                   \
     WASI_RIGHT_PATH_FILESTAT_SET_SIZE | WASI_RIGHT_PATH_FILESTAT_SET_TIMES |         \
     WASI_RIGHT_FD_FILESTAT_GET | WASI_RIGHT_FD_FILESTAT_SET_TIMES |                  \
     WASI_RIGHT_PATH_SYMLINK | WASI_RIGHT_PATH_REMOVE_DIRECTORY |                     \
     WASI_RIGHT_PATH_UNLINK_FILE | WASI_RIGHT_POLL_FD_READWRITE)
#define WASI_RIGHTS_DIR_INHERITING WASI_RIGHTS_ALL
#define WASI_RIGHTS_FILE_BASE                                                         \
    (WASI_RIGHT_FD_DATASYNC | WASI_RIGHT_FD_READ | WASI_RIGHT_FD_SEEK |               \
     WASI_RIGHT_FD_FDSTAT_SET_FLAGS | WASI_RIGHT_FD_SYNC | WASI_RIGHT_FD_TELL |       \
     WASI_RIGHT_FD_WRITE | WASI_RIGHT_FD_ADVISE | WASI_RIGHT_FD_ALLOCATE |            \
     WASI_RIGHT_FD_FILESTAT_GET | WASI_RIGHT_FD_FILESTAT_SET_SIZE |                   \
     WASI_RIGHT_FD_FILESTAT_SET_TIMES | WASI_RIGHT_POLL_FD_READWRITE)
#define WASI_RIGHTS_FILE_INHERITING 0ull
#define WASI_RIGHTS_SOCK_BASE                                                         \
    (WASI_RIGHT_FD_READ | WASI_RIGHT_FD_WRITE | WASI_RIGHT_FD_FDSTAT_SET_FLAGS |      \
     WASI_RIGHT_FD_FILESTAT_GET | WASI_RIGHT_POLL_FD_READWRITE |                      \
     WASI_RIGHT_SOCK_SHUTDOWN | WASI_RIGHT_SOCK_ACCEPT)
#define WASI_RIGHTS_SOCK_INHERITING WASI_RIGHTS_SOCK_BASE
/* Rights that need the host descriptor open for reading / for writing. */
#define WASI_RIGHTS_READ_ACCESS (WASI_RIGHT_FD_READ | WASI_RIGHT_FD_READDIR)
#define WASI_RIGHTS_WRITE_ACCESS \
    (WASI_RIGHT_FD_WRITE | WASI_RIGHT_FD_ALLOCATE | WASI_RIGHT_FD_FILESTAT_SET_SIZE)

/* filetype */
enum {
    WASI_FILETYPE_UNKNOWN = 0, WASI_FILETYPE_BLOCK_DEVICE = 1, WASI_FILETYPE_CHARACTER_DEVICE = 2,
    WASI_FILETYPE_DIRECTORY = 3, WASI_FILETYPE_REGULAR_FILE = 4, WASI_FILETYPE_SOCKET_DGRAM = 5,
    WASI_FILETYPE_SOCKET_STREAM = 6, WASI_FILETYPE_SYMBOLIC_LINK = 7,
};

/* fdflags */
#define WASI_FDFLAG_APPEND   0x1u
#define WASI_FDFLAG_DSYNC    0x2u
#define WASI_FDFLAG_NONBLOCK 0x4u
#define WASI_FDFLAG_RSYNC    0x8u
#define WASI_FDFLAG_SYNC     0x10u
#define WASI_FDFLAGS_ALL     0x1fu
#define WASI_FDFLAGS_SYNCS   (WASI_FDFLAG_DSYNC | WASI_FDFLAG_RSYNC | WASI_FDFLAG_SYNC)

/* oflags */
#define WASI_O_CREAT     0x1u
#define WASI_O_DIRECTORY 0x2u
#define WASI_O_EXCL      0x4u
#define WASI_O_TRUNC     0x8u
#define WASI_OFLAGS_ALL  0xfu

/* lookupflags */
#define WASI_LOOKUP_SYMLINK_FOLLOW 0x1u

/* fstflags */
#define WASI_FST_ATIM     0x1u
#define WASI_FST_ATIM_NOW 0x2u
#define WASI_FST_MTIM     0x4u
#define WASI_FST_MTIM_NOW 0x8u
#define WASI_FST_ALL      0xfu

/* whence */
enum { WASI_WHENCE_SET = 0, WASI_WHENCE_CUR = 1, WASI_WHENCE_END = 2 };

/* clockid */
enum {
    WASI_CLOCK_REALTIME = 0, WASI_CLOCK_MONOTONIC = 1,
    WASI_CLOCK_PROCESS_CPUTIME_ID = 2, WASI_CLOCK_THREAD_CPUTIME_ID = 3,
};

/* eventtype, eventrwflags, subclockflags */
enum { WASI_EVENTTYPE_CLOCK = 0, WASI_EVENTTYPE_FD_READ = 1, WASI_EVENTTYPE_FD_WRITE = 2 };
#define WASI_EVENT_FD_READWRITE_HANGUP 0x1u
#define WASI_SUBSCRIPTION_CLOCK_ABSTIME 0x1u

/* riflags, roflags, sdflags */
#define WASI_RECV_PEEK    0x1u
#define WASI_RECV_WAITALL 0x2u
#define WASI_RECV_DATA_TRUNCATED 0x1u
#define WASI_SHUT_RD 0x1u
#define WASI_SHUT_WR 0x2u

#define WASI_SIGNAL_MAX 30 /* signal::sys */
#define WASI_ADVICE_MAX 5  /* advice::noreuse */

/* Struct sizes and field offsets (little-endian, spec alignment). */
#define WASI_IOVEC_SIZE 8          /* buf u32 @0, buf_len u32 @4 */
#define WASI_FDSTAT_SIZE 24        /* filetype u8 @0, flags u16 @2, base u64 @8, inheriting u64 @16 */
#define WASI_FILESTAT_SIZE 64      /* dev @0 ino @8 filetype u8 @16 nlink @24 size @32 atim @40 mtim @48 ctim @56 */
#define WASI_DIRENT_SIZE 24        /* d_next @0 d_ino @8 d_namlen u32 @16 d_type u8 @20 */
#define WASI_PRESTAT_SIZE 8        /* tag u8 @0, pr_name_len u32 @4 */
#define WASI_SUBSCRIPTION_SIZE 48  /* userdata @0, tag u8 @8, union @16 */
#define WASI_EVENT_SIZE 32         /* userdata @0 error u16 @8 type u8 @10 nbytes @16 flags u16 @24 */

/* ---------------------------------------------------------------------------
 * Guest memory
 * ------------------------------------------------------------------------- */

typedef struct wasi_mem {
    uint8_t *base;
    uint64_t size;
} wasi_mem;

/* 1 if [ptr, ptr+len) lies inside the memory; no overflow: ptr is 32-bit and
 * len at most 2^32 * small constants, both widened to 64 bits. */
static inline int wasi_mem_ok(const wasi_mem *m, uint64_t ptr, uint64_t len) {
    return ptr <= m->size && len <= m->size - ptr;
}
static inline uint8_t *wasi_mem_at(const wasi_mem *m, uint32_t ptr) { return m->base + ptr; }

static inline void wasi_put_u8(uint8_t *p, uint8_t v) { p[0] = v; }
static inline void wasi_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void wasi_put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void wasi_put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t wasi_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t wasi_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t wasi_get_u64(const uint8_t *p) {
    return (uint64_t)wasi_get_u32(p) | ((uint64_t)wasi_get_u32(p + 4) << 32);
}

/* Fill M from the caller's memory 0; 0 on success, else the trap code
 * (the caller has no memory at all). */
WASI_HIDDEN int wasi_caller_mem(wasmc_vmctx *caller, wasi_mem *m);

/* Translate a guest (c)iovec array into host iovecs (at most IOV_MAX, the
 * rest is ignored: a short transfer).  Every element is bounds-checked.
 * Returns a WASI errno; on success *out is malloc'ed (free it) and *n set. */
WASI_HIDDEN int wasi_iovecs(const wasi_mem *m, uint32_t iovs, uint32_t iovs_len,
                            struct iovec **out, int *n);

/* ---------------------------------------------------------------------------
 * Context and descriptor table
 * ------------------------------------------------------------------------- */

typedef struct wasi_fd {
    int refs;               /* table slot + operations in progress (ctx->lock) */
    int host;               /* host descriptor, closed with the last reference */
    uint8_t type;           /* WASI filetype */
    uint16_t flags;         /* WASI fdflags (ctx->lock) */
    uint64_t base;          /* rights (ctx->lock) */
    uint64_t inheriting;
    int shared;             /* inherited from the host (stdio): its open file description
                             * is the host's too, so O_NONBLOCK is never changed on it;
                             * fdflags::nonblock is emulated (wasi_nb_*) */
    char *preopen;          /* guest name of a preopened directory, else NULL */
    uint32_t preopen_len;
    pthread_mutex_t dlock;  /* fd_readdir state */
    DIR *dir;               /* directory stream (a separate open of the directory) */
    uint64_t dir_next;      /* cookie of the entry readdir(dir) returns next */
} wasi_fd;

typedef struct wasi_root {
    dev_t dev;
    ino_t ino;
} wasi_root;

struct wasmc_wasi {
    pthread_mutex_t lock;
    wasi_fd **fds;
    uint32_t nfds;           /* slots allocated */
    char *args;              /* argv strings, each NUL-terminated, back to back */
    uint32_t argc, args_size;
    char *env;
    uint32_t envc, env_size;
    int use_openat2;         /* 0: component walker (WASMC_WASI_NO_OPENAT2=1 or no openat2) */
    int32_t exit_code;
    wasi_root *roots;        /* preopened directories, to keep ".." in readdir inside */
    int nroots;
};

/* Take a reference to guest descriptor FD.  Checks that it has every right
 * in RIGHTS; returns WASI_EBADF / WASI_ENOTCAPABLE otherwise.  Release with
 * wasi_fd_put. */
WASI_HIDDEN int wasi_fd_get(wasmc_wasi *ctx, uint32_t fd, uint64_t rights, wasi_fd **out);
/* Like wasi_fd_get but also requires a directory (else WASI_ENOTDIR). */
/* Take descriptor FD (a reference; give it back with wasi_fd_put) if it is of
 * KIND and has RIGHTS: badf, then notdir/isdir/notsock, then notcapable. */
enum { WASI_TAKE_ANY, WASI_TAKE_NOT_DIR, WASI_TAKE_DIR, WASI_TAKE_SOCKET };
WASI_HIDDEN int wasi_fd_take(wasmc_wasi *ctx, uint32_t fd, uint64_t rights, int kind, wasi_fd **out);
static inline int wasi_fd_get_dir(wasmc_wasi *ctx, uint32_t fd, uint64_t rights, wasi_fd **out) {
    return wasi_fd_take(ctx, fd, rights, WASI_TAKE_DIR, out);
}
WASI_HIDDEN void wasi_fd_put(wasmc_wasi *ctx, wasi_fd *f);
/* Current rights/flags of F (read under the lock). */
WASI_HIDDEN void wasi_fd_state(wasmc_wasi *ctx, wasi_fd *f, uint64_t *base, uint64_t *inheriting,
                               uint16_t *flags);

/* A new entry for host descriptor HOST (ownership passes to the entry, also
 * on failure).  TYPE is a WASI filetype; rights as given. */
WASI_HIDDEN wasi_fd *wasi_fd_new(int host, uint8_t type, uint64_t base, uint64_t inheriting,
                                 uint16_t flags);
/* Install F at the lowest free guest number; returns a WASI errno.  On
 * failure F is released. */
WASI_HIDDEN int wasi_fd_install(wasmc_wasi *ctx, wasi_fd *f, uint32_t *fd);

/* Non-blocking mode of shared (stdio) stream descriptors, emulated with
 * poll(2) so the host's descriptor keeps its own mode.  wasi_nb_precheck:
 * call before an operation; WASI_EAGAIN if the guest wants non-blocking
 * mode and F is not ready for EVENTS, else 0.  wasi_nb_retry: call after an
 * operation failed with EAGAIN; 1 if the guest wants blocking mode (F was
 * then waited for and the operation should be retried). */
WASI_HIDDEN int wasi_nb_precheck(wasmc_wasi *ctx, wasi_fd *f, short events);
WASI_HIDDEN int wasi_nb_retry(wasmc_wasi *ctx, wasi_fd *f, short events);

/* Host errno -> WASI errno. */
WASI_HIDDEN int wasi_errno(int host_errno);

/* WASI filetype of a stat mode (sockets: stream; use wasi_fd_filetype for fds). */
WASI_HIDDEN uint8_t wasi_filetype_of_mode(mode_t mode);
/* WASI filetype of a host descriptor (distinguishes datagram sockets). */
WASI_HIDDEN uint8_t wasi_filetype_of_fd(int host, const struct stat *st);
/* Store a filestat at P (64 bytes). */
WASI_HIDDEN void wasi_put_filestat(uint8_t *p, const struct stat *st);
/* Convert WASI fstflags + times to a utimensat timespec pair; WASI errno. */
WASI_HIDDEN int wasi_timespecs(uint64_t atim, uint64_t mtim, uint32_t fst, struct timespec ts[2]);

/* 1 if (dev, ino) is one of the preopened directories. */
WASI_HIDDEN int wasi_is_root(const wasmc_wasi *ctx, dev_t dev, ino_t ino);

/* ---------------------------------------------------------------------------
 * The preview1 functions (host-call signature of wasmc_wasi.h)
 * ------------------------------------------------------------------------- */

#define WASI_UNUSED __attribute__((unused))
#define WASI_FN(name)                                                                  \
    WASI_HIDDEN int32_t wasi_##name(wasmc_hostfunc *env WASI_UNUSED,                   \
                                    wasmc_vmctx *caller WASI_UNUSED, wasmc_val *v)

WASI_FN(args_get); WASI_FN(args_sizes_get); WASI_FN(environ_get); WASI_FN(environ_sizes_get);
WASI_FN(clock_res_get); WASI_FN(clock_time_get);
WASI_FN(fd_advise); WASI_FN(fd_allocate); WASI_FN(fd_close); WASI_FN(fd_datasync);
WASI_FN(fd_fdstat_get); WASI_FN(fd_fdstat_set_flags); WASI_FN(fd_fdstat_set_rights);
WASI_FN(fd_filestat_get); WASI_FN(fd_filestat_set_size); WASI_FN(fd_filestat_set_times);
WASI_FN(fd_pread); WASI_FN(fd_prestat_get); WASI_FN(fd_prestat_dir_name); WASI_FN(fd_pwrite);
WASI_FN(fd_read); WASI_FN(fd_readdir); WASI_FN(fd_renumber); WASI_FN(fd_seek); WASI_FN(fd_sync);
WASI_FN(fd_tell); WASI_FN(fd_write);
WASI_FN(path_create_directory); WASI_FN(path_filestat_get); WASI_FN(path_filestat_set_times);
WASI_FN(path_link); WASI_FN(path_open); WASI_FN(path_readlink); WASI_FN(path_remove_directory);
WASI_FN(path_rename); WASI_FN(path_symlink); WASI_FN(path_unlink_file);
WASI_FN(poll_oneoff); WASI_FN(proc_exit); WASI_FN(proc_raise); WASI_FN(sched_yield);
WASI_FN(random_get);
WASI_FN(sock_accept); WASI_FN(sock_recv); WASI_FN(sock_send); WASI_FN(sock_shutdown);

/* Parameter access: values[i] as unsigned 32/64-bit. */
#define ARG32(i) ((uint32_t)v[i].i32)
#define ARG64(i) ((uint64_t)v[i].i64)
#define CTX ((wasmc_wasi *)env->data)
/* Get the caller's memory into M or return the trap code. */
#define NEED_MEM(m)                                   \
    wasi_mem m;                                       \
    do {                                              \
        int trap_ = wasi_caller_mem(caller, &m);      \
        if (trap_) return trap_;                      \
    } while (0)
#define RETURN_ERRNO(e)      \
    do {                     \
        v[0].i32 = (e);      \
        return 0;            \
    } while (0)

#endif /* WASMC_WASI_INTERNAL_H */
