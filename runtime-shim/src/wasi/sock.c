/* sock.c -- sock_accept, sock_recv, sock_send, sock_shutdown.
 *
 * Preview1 cannot create sockets: these work on sockets the embedder handed
 * in (stdio descriptors that are sockets, e.g. under inetd/systemd socket
 * activation) and on connections accepted from them.  A descriptor that is
 * not a socket gives notsock (checked before rights, as POSIX's ENOTSOCK). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wasi_internal.h"

static int get_sock(wasmc_wasi *ctx, uint32_t fd, uint64_t rights, wasi_fd **out) {
    return wasi_fd_take(ctx, fd, rights, WASI_TAKE_SOCKET, out);
}

/* sock_accept(fd, flags, ret fd): only fdflags::nonblock is meaningful for
 * the new connection; other flags are inval.  The connection inherits the
 * listener's inheriting rights (within what sockets can hold). */
WASI_FN(sock_accept) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), flags = ARG32(1), retp = ARG32(2);
    if (!wasi_mem_ok(&m, retp, 4)) RETURN_ERRNO(WASI_EFAULT);
    if (flags & ~WASI_FDFLAG_NONBLOCK) RETURN_ERRNO(WASI_EINVAL);
    wasi_fd *f;
    int err = get_sock(ctx, fd, WASI_RIGHT_SOCK_ACCEPT, &f);
    if (err) RETURN_ERRNO(err);
    uint64_t base, inh;
    uint16_t fl;
    wasi_fd_state(ctx, f, &base, &inh, &fl);
    int h = -1;
    err = wasi_nb_precheck(ctx, f, POLLIN);
    while (!err) {
        h = accept4(f->host, NULL, NULL,
                    SOCK_CLOEXEC | ((flags & WASI_FDFLAG_NONBLOCK) ? SOCK_NONBLOCK : 0));
        if (h < 0 && errno == EAGAIN && wasi_nb_retry(ctx, f, POLLIN)) continue;
        if (h < 0) err = wasi_errno(errno);
        break;
    }
    wasi_fd_put(ctx, f);
    if (err) RETURN_ERRNO(err);
    struct stat st;
    uint8_t type = WASI_FILETYPE_SOCKET_STREAM;
    if (fstat(h, &st) == 0) type = wasi_filetype_of_fd(h, &st);
    wasi_fd *c = wasi_fd_new(h, type, WASI_RIGHTS_SOCK_BASE & inh, WASI_RIGHTS_SOCK_INHERITING & inh,
                             (uint16_t)(flags & WASI_FDFLAG_NONBLOCK));
    if (!c) RETURN_ERRNO(WASI_ENOMEM);
    uint32_t nfd;
    err = wasi_fd_install(ctx, c, &nfd);
    if (err) RETURN_ERRNO(err);
    wasi_put_u32(wasi_mem_at(&m, retp), nfd);
    RETURN_ERRNO(WASI_ESUCCESS);
}

/* Shared body of sock_recv and sock_send: one recvmsg/sendmsg over the
 * guest's iovecs on socket FD, honouring emulated non-blocking mode.  On
 * success *got is the byte count and *msg_flags what recvmsg reported. */
static int sock_msg(wasmc_wasi *ctx, const wasi_mem *m, uint32_t fd, uint32_t iovs, uint32_t n, int sending,
                    int flags, ssize_t *got, int *msg_flags) {
    wasi_fd *f;
    int err = get_sock(ctx, fd, sending ? WASI_RIGHT_FD_WRITE : WASI_RIGHT_FD_READ, &f);
    if (err) return err;
    struct iovec *iov;
    int cnt;
    err = wasi_iovecs(m, iovs, n, &iov, &cnt);
    if (err) {
        wasi_fd_put(ctx, f);
        return err;
    }
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)cnt;
    short ev = sending ? POLLOUT : POLLIN;
    ssize_t r = -1;
    err = wasi_nb_precheck(ctx, f, ev);
    while (!err) {
        r = sending ? sendmsg(f->host, &msg, flags) : recvmsg(f->host, &msg, flags);
        if (r < 0 && errno == EAGAIN && wasi_nb_retry(ctx, f, ev)) continue;
        if (r < 0) err = wasi_errno(errno);
        break;
    }
    free(iov);
    wasi_fd_put(ctx, f);
    *got = r;
    *msg_flags = msg.msg_flags;
    return err;
}

/* sock_recv(fd, iovs, iovs_len, riflags, ret size, ret roflags) */
WASI_FN(sock_recv) {
    NEED_MEM(m);
    uint32_t riflags = ARG32(3), sizep = ARG32(4), flagsp = ARG32(5);
    if (!wasi_mem_ok(&m, sizep, 4) || !wasi_mem_ok(&m, flagsp, 2)) RETURN_ERRNO(WASI_EFAULT);
    if (riflags & ~(WASI_RECV_PEEK | WASI_RECV_WAITALL)) RETURN_ERRNO(WASI_EINVAL);
    int mf = 0;
    if (riflags & WASI_RECV_PEEK) mf |= MSG_PEEK;
    if (riflags & WASI_RECV_WAITALL) mf |= MSG_WAITALL;
    ssize_t r;
    int out_flags;
    int err = sock_msg(CTX, &m, ARG32(0), ARG32(1), ARG32(2), 0, mf, &r, &out_flags);
    if (err) RETURN_ERRNO(err);
    wasi_put_u32(wasi_mem_at(&m, sizep), (uint32_t)r);
    wasi_put_u16(wasi_mem_at(&m, flagsp), (out_flags & MSG_TRUNC) ? WASI_RECV_DATA_TRUNCATED : 0);
    RETURN_ERRNO(WASI_ESUCCESS);
}

/* sock_send(fd, iovs, iovs_len, siflags, ret size): no siflags exist (inval
 * if any is set); never raises SIGPIPE (a closed peer is `pipe`). */
WASI_FN(sock_send) {
    NEED_MEM(m);
    uint32_t siflags = ARG32(3), sizep = ARG32(4);
    if (!wasi_mem_ok(&m, sizep, 4)) RETURN_ERRNO(WASI_EFAULT);
    if (siflags) RETURN_ERRNO(WASI_EINVAL);
    ssize_t r;
    int out_flags;
    int err = sock_msg(CTX, &m, ARG32(0), ARG32(1), ARG32(2), 1, MSG_NOSIGNAL, &r, &out_flags);
    if (!err) wasi_put_u32(wasi_mem_at(&m, sizep), (uint32_t)r);
    RETURN_ERRNO(err);
}

/* sock_shutdown(fd, sdflags): rd, wr or both; no flag or unknown bits: inval. */
WASI_FN(sock_shutdown) {
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), how = ARG32(1);
    wasi_fd *f;
    int err = get_sock(ctx, fd, WASI_RIGHT_SOCK_SHUTDOWN, &f);
    if (err) RETURN_ERRNO(err);
    if (how == 0 || (how & ~(WASI_SHUT_RD | WASI_SHUT_WR))) err = WASI_EINVAL;
    else {
        int h = how == (WASI_SHUT_RD | WASI_SHUT_WR) ? SHUT_RDWR : how == WASI_SHUT_RD ? SHUT_RD : SHUT_WR;
        if (shutdown(f->host, h) != 0) err = wasi_errno(errno);
    }
    wasi_fd_put(ctx, f);
    RETURN_ERRNO(err);
}
