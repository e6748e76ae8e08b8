/* fd.c -- the fd_* functions (fd_close and fd_renumber live in wasi.c with
 * the descriptor table).
 *
 * Checks, in this order: bad pointers (fault), invalid enum/flag values
 * (inval), the descriptor (badf), its type where POSIX has a specific errno
 * (isdir for reading/writing a directory, notdir for fd_readdir on a
 * non-directory), then its rights (notcapable). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wasi_internal.h"

/* Take FD needing RIGHTS; directories get isdir when NOT_DIR is set. */
static int get_fd(wasmc_wasi *ctx, uint32_t fd, uint64_t rights, int not_dir, wasi_fd **out) {
    return wasi_fd_take(ctx, fd, rights, not_dir ? WASI_TAKE_NOT_DIR : WASI_TAKE_ANY, out);
}

static int is_socket(const wasi_fd *f) {
    return f->type == WASI_FILETYPE_SOCKET_STREAM || f->type == WASI_FILETYPE_SOCKET_DGRAM;
}

/* ---------------------------------------------------------------------------
 * read / write
 * ------------------------------------------------------------------------- */

/* writev to a pipe without SIGPIPE: a reader that went away is the guest's
 * `pipe` errno, whatever the process's SIGPIPE disposition.  SIGPIPE is
 * blocked in this thread for the call and a SIGPIPE it raised is consumed
 * (one that was already pending is left alone). */
static ssize_t writev_nosigpipe(int fd, const struct iovec *iov, int cnt) {
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t r = writev(fd, iov, cnt);
    int e = errno;
    if (r < 0 && e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return r;
}

/* Shared body of fd_read/fd_pread/fd_write/fd_pwrite. */
static int do_rw(wasmc_wasi *ctx, const wasi_mem *m, uint32_t fd, uint32_t iovs, uint32_t n,
                 int write, int positional, uint64_t offset, uint32_t retp) {
    if (!wasi_mem_ok(m, retp, 4)) return WASI_EFAULT;
    uint64_t rights = write ? WASI_RIGHT_FD_WRITE : WASI_RIGHT_FD_READ;
    if (positional) rights |= WASI_RIGHT_FD_SEEK;
    wasi_fd *f;
    int err = get_fd(ctx, fd, rights, 1, &f);
    if (err) return err;
    struct iovec *iov;
    int cnt;
    err = wasi_iovecs(m, iovs, n, &iov, &cnt);
    if (err) {
        wasi_fd_put(ctx, f);
        return err;
    }
    if (positional && offset > (uint64_t)INT64_MAX) {
        free(iov);
        wasi_fd_put(ctx, f);
        return WASI_EINVAL;
    }
    ssize_t r = 0;
    short ev = write ? POLLOUT : POLLIN;
    if (cnt > 0 && !positional) err = wasi_nb_precheck(ctx, f, ev);
    while (cnt > 0 && !err) {
        if (write && positional) r = pwritev(f->host, iov, cnt, (off_t)offset);
        else if (write && is_socket(f)) {
            /* No SIGPIPE for a closed peer: report `pipe`. */
            struct msghdr msg;
            memset(&msg, 0, sizeof(msg));
            msg.msg_iov = iov;
            msg.msg_iovlen = (size_t)cnt;
            r = sendmsg(f->host, &msg, MSG_NOSIGNAL);
        } else if (write && f->type != WASI_FILETYPE_REGULAR_FILE) r = writev_nosigpipe(f->host, iov, cnt);
        else if (write) r = writev(f->host, iov, cnt);
        else if (positional) r = preadv(f->host, iov, cnt, (off_t)offset);
        else r = readv(f->host, iov, cnt);
        if (r < 0 && errno == EAGAIN && !positional && wasi_nb_retry(ctx, f, ev)) continue;
        if (r < 0) err = wasi_errno(errno);
        break;
    }
    free(iov);
    wasi_fd_put(ctx, f);
    if (!err) wasi_put_u32(wasi_mem_at(m, retp), (uint32_t)r);
    return err;
}

WASI_FN(fd_read) {
    NEED_MEM(m);
    RETURN_ERRNO(do_rw(CTX, &m, ARG32(0), ARG32(1), ARG32(2), 0, 0, 0, ARG32(3)));
}

WASI_FN(fd_pread) {
    NEED_MEM(m);
    RETURN_ERRNO(do_rw(CTX, &m, ARG32(0), ARG32(1), ARG32(2), 0, 1, ARG64(3), ARG32(4)));
}

WASI_FN(fd_write) {
    NEED_MEM(m);
    RETURN_ERRNO(do_rw(CTX, &m, ARG32(0), ARG32(1), ARG32(2), 1, 0, 0, ARG32(3)));
}

WASI_FN(fd_pwrite) {
    NEED_MEM(m);
    RETURN_ERRNO(do_rw(CTX, &m, ARG32(0), ARG32(1), ARG32(2), 1, 1, ARG64(3), ARG32(4)));
}

/* ---------------------------------------------------------------------------
 * seek / tell
 * ------------------------------------------------------------------------- */

WASI_FN(fd_seek) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), whence = ARG32(2), retp = ARG32(3);
    int64_t offset = (int64_t)ARG64(1);
    if (!wasi_mem_ok(&m, retp, 8)) RETURN_ERRNO(WASI_EFAULT);
    if (whence > WASI_WHENCE_END) RETURN_ERRNO(WASI_EINVAL);
    wasi_fd *f;
    int err = wasi_fd_get(ctx, fd, 0, &f);
    if (err) RETURN_ERRNO(err);
    uint64_t base, inh;
    uint16_t flags;
    wasi_fd_state(ctx, f, &base, &inh, &flags);
    /* rights::fd_tell allows seeking that leaves the offset unchanged. */
    int tell_only = whence == WASI_WHENCE_CUR && offset == 0;
    if (!(base & WASI_RIGHT_FD_SEEK) && !(tell_only && (base & WASI_RIGHT_FD_TELL))) {
        wasi_fd_put(ctx, f);
        RETURN_ERRNO(WASI_ENOTCAPABLE);
    }
    int w = whence == WASI_WHENCE_SET ? SEEK_SET : whence == WASI_WHENCE_CUR ? SEEK_CUR : SEEK_END;
    off_t r = lseek(f->host, (off_t)offset, w);
    err = r < 0 ? wasi_errno(errno) : WASI_ESUCCESS;
    wasi_fd_put(ctx, f);
    if (!err) wasi_put_u64(wasi_mem_at(&m, retp), (uint64_t)r);
    RETURN_ERRNO(err);
}

WASI_FN(fd_tell) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), retp = ARG32(1);
    if (!wasi_mem_ok(&m, retp, 8)) RETURN_ERRNO(WASI_EFAULT);
    wasi_fd *f;
    int err = wasi_fd_get(ctx, fd, 0, &f);
    if (err) RETURN_ERRNO(err);
    uint64_t base, inh;
    uint16_t flags;
    wasi_fd_state(ctx, f, &base, &inh, &flags);
    if (!(base & (WASI_RIGHT_FD_TELL | WASI_RIGHT_FD_SEEK))) {
        wasi_fd_put(ctx, f);
        RETURN_ERRNO(WASI_ENOTCAPABLE);
    }
    off_t r = lseek(f->host, 0, SEEK_CUR);
    err = r < 0 ? wasi_errno(errno) : WASI_ESUCCESS;
    wasi_fd_put(ctx, f);
    if (!err) wasi_put_u64(wasi_mem_at(&m, retp), (uint64_t)r);
    RETURN_ERRNO(err);
}

/* ---------------------------------------------------------------------------
 * fdstat
 * ------------------------------------------------------------------------- */

WASI_FN(fd_fdstat_get) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), out = ARG32(1);
    if (!wasi_mem_ok(&m, out, WASI_FDSTAT_SIZE)) RETURN_ERRNO(WASI_EFAULT);
    wasi_fd *f;
    int err = wasi_fd_get(ctx, fd, 0, &f);
    if (err) RETURN_ERRNO(err);
    uint64_t base, inh;
    uint16_t flags;
    wasi_fd_state(ctx, f, &base, &inh, &flags);
    uint8_t *p = wasi_mem_at(&m, out);
    memset(p, 0, WASI_FDSTAT_SIZE);
    wasi_put_u8(p, f->type);
    wasi_put_u16(p + 2, flags);
    wasi_put_u64(p + 8, base);
    wasi_put_u64(p + 16, inh);
    wasi_fd_put(ctx, f);
    RETURN_ERRNO(WASI_ESUCCESS);
}

/* Only append and nonblock can change (Linux's F_SETFL ignores the O_*SYNC
 * flags): asking for different dsync/rsync/sync bits is notsup; repeating
 * the current ones is fine.  Nonblock on stdio inherited from the host is
 * kept per guest descriptor, never set on the host's file description. */
WASI_FN(fd_fdstat_set_flags) {
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), flags = ARG32(1);
    if (flags & ~WASI_FDFLAGS_ALL) RETURN_ERRNO(WASI_EINVAL);
    wasi_fd *f;
    int err = get_fd(ctx, fd, WASI_RIGHT_FD_FDSTAT_SET_FLAGS, 0, &f);
    if (err) RETURN_ERRNO(err);
    pthread_mutex_lock(&ctx->lock);
    if ((flags & WASI_FDFLAGS_SYNCS) != (f->flags & WASI_FDFLAGS_SYNCS)) {
        err = WASI_ENOTSUP;
    } else {
        int fl = fcntl(f->host, F_GETFL);
        if (fl < 0) err = wasi_errno(errno);
        else {
            fl &= ~O_APPEND;
            if (flags & WASI_FDFLAG_APPEND) fl |= O_APPEND;
            if (!f->shared) { /* shared (stdio): emulated, see wasi_nb_precheck */
                fl &= ~O_NONBLOCK;
                if (flags & WASI_FDFLAG_NONBLOCK) fl |= O_NONBLOCK;
            }
            if (fcntl(f->host, F_SETFL, fl) != 0) err = wasi_errno(errno);
            else f->flags = (uint16_t)flags;
        }
    }
    pthread_mutex_unlock(&ctx->lock);
    wasi_fd_put(ctx, f);
    RETURN_ERRNO(err);
}

/* Rights can only be dropped. */
WASI_FN(fd_fdstat_set_rights) {
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0);
    uint64_t base = ARG64(1), inh = ARG64(2);
    if ((base & ~WASI_RIGHTS_ALL) || (inh & ~WASI_RIGHTS_ALL)) RETURN_ERRNO(WASI_EINVAL);
    wasi_fd *f;
    int err = wasi_fd_get(ctx, fd, 0, &f);
    if (err) RETURN_ERRNO(err);
    pthread_mutex_lock(&ctx->lock);
    if ((base & ~f->base) || (inh & ~f->inheriting)) err = WASI_ENOTCAPABLE;
    else {
        f->base = base;
        f->inheriting = inh;
    }
    pthread_mutex_unlock(&ctx->lock);
    wasi_fd_put(ctx, f);
    RETURN_ERRNO(err);
}

/* ---------------------------------------------------------------------------
 * filestat
 * ------------------------------------------------------------------------- */

WASI_FN(fd_filestat_get) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), out = ARG32(1);
    if (!wasi_mem_ok(&m, out, WASI_FILESTAT_SIZE)) RETURN_ERRNO(WASI_EFAULT);
    wasi_fd *f;
    int err = get_fd(ctx, fd, WASI_RIGHT_FD_FILESTAT_GET, 0, &f);
    if (err) RETURN_ERRNO(err);
    struct stat st;
    if (fstat(f->host, &st) != 0) err = wasi_errno(errno);
    else {
        uint8_t *p = wasi_mem_at(&m, out);
        wasi_put_filestat(p, &st);
        wasi_put_u8(p + 16, f->type); /* tells datagram from stream sockets */
    }
    wasi_fd_put(ctx, f);
    RETURN_ERRNO(err);
}

WASI_FN(fd_filestat_set_size) {
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0);
    uint64_t size = ARG64(1);
    wasi_fd *f;
    int err = get_fd(ctx, fd, WASI_RIGHT_FD_FILESTAT_SET_SIZE, 1, &f);
    if (err) RETURN_ERRNO(err);
    if (size > (uint64_t)INT64_MAX) err = WASI_EINVAL;
    else if (ftruncate(f->host, (off_t)size) != 0) err = wasi_errno(errno);
    wasi_fd_put(ctx, f);
    RETURN_ERRNO(err);
}

WASI_FN(fd_filestat_set_times) {
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), fst = ARG32(3);
    struct timespec ts[2];
    int err = wasi_timespecs(ARG64(1), ARG64(2), fst, ts);
    if (err) RETURN_ERRNO(err);
    wasi_fd *f;
    err = get_fd(ctx, fd, WASI_RIGHT_FD_FILESTAT_SET_TIMES, 0, &f);
    if (err) RETURN_ERRNO(err);
    if (futimens(f->host, ts) != 0) err = wasi_errno(errno);
    wasi_fd_put(ctx, f);
    RETURN_ERRNO(err);
}

/* ---------------------------------------------------------------------------
 * advise, allocate, sync
 * ------------------------------------------------------------------------- */

WASI_FN(fd_advise) {
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), advice = ARG32(3);
    uint64_t offset = ARG64(1), len = ARG64(2);
    static const int adv[] = {POSIX_FADV_NORMAL, POSIX_FADV_SEQUENTIAL, POSIX_FADV_RANDOM,
                              POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED, POSIX_FADV_NOREUSE};
    if (advice > WASI_ADVICE_MAX) RETURN_ERRNO(WASI_EINVAL);
    wasi_fd *f;
    int err = get_fd(ctx, fd, WASI_RIGHT_FD_ADVISE, 1, &f);
    if (err) RETURN_ERRNO(err);
    if (offset > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX) err = WASI_EINVAL;
    else err = wasi_errno(posix_fadvise(f->host, (off_t)offset, (off_t)len, adv[advice]));
    wasi_fd_put(ctx, f);
    RETURN_ERRNO(err);
}

WASI_FN(fd_allocate) {
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0);
    uint64_t offset = ARG64(1), len = ARG64(2);
    wasi_fd *f;
    int err = get_fd(ctx, fd, WASI_RIGHT_FD_ALLOCATE, 1, &f);
    if (err) RETURN_ERRNO(err);
    if (offset > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - offset) err = WASI_EFBIG;
    else if (len == 0) err = WASI_EINVAL; /* posix_fallocate: len must be positive */
    else err = wasi_errno(posix_fallocate(f->host, (off_t)offset, (off_t)len));
    wasi_fd_put(ctx, f);
    RETURN_ERRNO(err);
}

WASI_FN(fd_datasync) {
    wasmc_wasi *ctx = CTX;
    wasi_fd *f;
    int err = get_fd(ctx, ARG32(0), WASI_RIGHT_FD_DATASYNC, 0, &f);
    if (err) RETURN_ERRNO(err);
    if (fdatasync(f->host) != 0) err = wasi_errno(errno);
    wasi_fd_put(ctx, f);
    RETURN_ERRNO(err);
}

WASI_FN(fd_sync) {
    wasmc_wasi *ctx = CTX;
    wasi_fd *f;
    int err = get_fd(ctx, ARG32(0), WASI_RIGHT_FD_SYNC, 0, &f);
    if (err) RETURN_ERRNO(err);
    if (fsync(f->host) != 0) err = wasi_errno(errno);
    wasi_fd_put(ctx, f);
    RETURN_ERRNO(err);
}

/* ---------------------------------------------------------------------------
 * preopens
 * ------------------------------------------------------------------------- */

WASI_FN(fd_prestat_get) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), out = ARG32(1);
    if (!wasi_mem_ok(&m, out, WASI_PRESTAT_SIZE)) RETURN_ERRNO(WASI_EFAULT);
    wasi_fd *f;
    int err = wasi_fd_get(ctx, fd, 0, &f);
    if (err) RETURN_ERRNO(err);
    /* Not a preopen: badf (what wasi-libc's preopen scan expects). */
    if (!f->preopen) err = WASI_EBADF;
    else {
        uint8_t *p = wasi_mem_at(&m, out);
        memset(p, 0, WASI_PRESTAT_SIZE);
        wasi_put_u8(p, 0); /* preopentype::dir */
        wasi_put_u32(p + 4, f->preopen_len);
    }
    wasi_fd_put(ctx, f);
    RETURN_ERRNO(err);
}

WASI_FN(fd_prestat_dir_name) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), buf = ARG32(1), len = ARG32(2);
    wasi_fd *f;
    int err = wasi_fd_get(ctx, fd, 0, &f);
    if (err) RETURN_ERRNO(err);
    if (!f->preopen) err = WASI_ENOTDIR; /* as wasmtime */
    else if (len < f->preopen_len) err = WASI_ENAMETOOLONG;
    else if (!wasi_mem_ok(&m, buf, f->preopen_len)) err = WASI_EFAULT;
    else memcpy(wasi_mem_at(&m, buf), f->preopen, f->preopen_len);
    wasi_fd_put(ctx, f);
    RETURN_ERRNO(err);
}

/* ---------------------------------------------------------------------------
 * fd_readdir
 *
 * Cookies are entry indices: 0 is ".", 1 is "..", 2... the host entries in
 * readdir order (the host's own "." and ".." skipped); an entry's d_next is
 * its index + 1.  The descriptor keeps a directory stream (a separate open
 * of the directory, so the descriptor's offset is untouched) positioned at
 * cookie dir_next: reading on from the previous call's last complete entry
 * does not rescan; cookie 0 rewinds (and sees new entries); any other cookie
 * rewinds and skips.  The buffer is filled completely: the last entry is cut
 * at buf_len (header and/or name), and the stream is put back before it so
 * the next call (cookie = d_next of the last complete entry) returns it.
 * ------------------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    uint32_t left;
} rd_out;

/* Emit one entry, truncated to what is left; 1 if it fit entirely. */
static int rd_emit(rd_out *o, uint64_t next, uint64_t ino, uint8_t type, const char *name) {
    uint32_t namlen = (uint32_t)strlen(name);
    uint8_t hdr[WASI_DIRENT_SIZE];
    memset(hdr, 0, sizeof(hdr));
    wasi_put_u64(hdr, next);
    wasi_put_u64(hdr + 8, ino);
    wasi_put_u32(hdr + 16, namlen);
    wasi_put_u8(hdr + 20, type);
    uint32_t k = o->left < WASI_DIRENT_SIZE ? o->left : WASI_DIRENT_SIZE;
    memcpy(o->p, hdr, k);
    o->p += k;
    o->left -= k;
    if (k < WASI_DIRENT_SIZE) return 0;
    k = o->left < namlen ? o->left : namlen;
    memcpy(o->p, name, k);
    o->p += k;
    o->left -= k;
    return k == namlen;
}

static uint8_t dtype_filetype(unsigned char t) {
    switch (t) {
    case DT_REG: return WASI_FILETYPE_REGULAR_FILE;
    case DT_DIR: return WASI_FILETYPE_DIRECTORY;
    case DT_LNK: return WASI_FILETYPE_SYMBOLIC_LINK;
    case DT_CHR: return WASI_FILETYPE_CHARACTER_DEVICE;
    case DT_BLK: return WASI_FILETYPE_BLOCK_DEVICE;
    case DT_SOCK: return WASI_FILETYPE_SOCKET_STREAM;
    default: return WASI_FILETYPE_UNKNOWN;
    }
}

static int is_dot(const char *n) { return n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0)); }

/* Position F's stream so that readdir returns the entry of COOKIE (>= 2). */
static int rd_seek(wasi_fd *f, uint64_t cookie, int rewind) {
    if (!f->dir) {
        int dfd = openat(f->host, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) return wasi_errno(errno);
        f->dir = fdopendir(dfd);
        if (!f->dir) {
            int e = errno;
            close(dfd);
            return wasi_errno(e);
        }
        f->dir_next = 2;
    } else if (rewind || cookie < f->dir_next) {
        rewinddir(f->dir);
        f->dir_next = 2;
    }
    while (f->dir_next < cookie) {
        errno = 0;
        struct dirent *e = readdir(f->dir);
        if (!e) return errno ? wasi_errno(errno) : WASI_ESUCCESS; /* past the end */
        if (!is_dot(e->d_name)) f->dir_next++;
    }
    return WASI_ESUCCESS;
}

WASI_FN(fd_readdir) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), buf = ARG32(1), buf_len = ARG32(2), retp = ARG32(4);
    uint64_t cookie = ARG64(3);
    if (!wasi_mem_ok(&m, buf, buf_len) || !wasi_mem_ok(&m, retp, 4)) RETURN_ERRNO(WASI_EFAULT);
    wasi_fd *f;
    int err = wasi_fd_get(ctx, fd, 0, &f);
    if (err) RETURN_ERRNO(err);
    if (f->type != WASI_FILETYPE_DIRECTORY) {
        wasi_fd_put(ctx, f);
        RETURN_ERRNO(WASI_ENOTDIR);
    }
    wasi_fd_put(ctx, f);
    err = get_fd(ctx, fd, WASI_RIGHT_FD_READDIR, 0, &f);
    if (err) RETURN_ERRNO(err);

    rd_out o = {wasi_mem_at(&m, buf), buf_len};
    pthread_mutex_lock(&f->dlock);
    err = rd_seek(f, cookie < 2 ? 2 : cookie, cookie < 2);
    if (!err && cookie < 2 && o.left) {
        struct stat self, parent;
        if (fstat(f->host, &self) != 0) err = wasi_errno(errno);
        else {
            /* ".." of a preopened directory is outside the sandbox: report
             * the directory itself rather than look there. */
            uint64_t pino = self.st_ino;
            if (!wasi_is_root(ctx, self.st_dev, self.st_ino) &&
                fstatat(f->host, "..", &parent, AT_SYMLINK_NOFOLLOW) == 0)
                pino = parent.st_ino;
            int fit = 1;
            if (cookie == 0) fit = rd_emit(&o, 1, self.st_ino, WASI_FILETYPE_DIRECTORY, ".");
            if (fit && o.left) rd_emit(&o, 2, pino, WASI_FILETYPE_DIRECTORY, "..");
        }
    }
    while (!err && o.left) {
        long pos = telldir(f->dir);
        errno = 0;
        struct dirent *e = readdir(f->dir);
        if (!e) {
            if (errno) err = wasi_errno(errno);
            break;
        }
        if (is_dot(e->d_name)) continue;
        uint64_t idx = f->dir_next++;
        struct stat st;
        uint64_t ino = e->d_ino;
        uint8_t type = dtype_filetype(e->d_type);
        /* Same inode and type path_filestat_get reports (overlay file
         * systems can differ between getdents and stat). */
        if (fstatat(dirfd(f->dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            ino = st.st_ino;
            type = wasi_filetype_of_mode(st.st_mode);
        }
        if (!rd_emit(&o, idx + 1, ino, type, e->d_name)) {
            seekdir(f->dir, pos);
            f->dir_next = idx;
            break;
        }
    }
    pthread_mutex_unlock(&f->dlock);
    wasi_fd_put(ctx, f);
    if (!err) wasi_put_u32(wasi_mem_at(&m, retp), buf_len - o.left);
    RETURN_ERRNO(err);
}
