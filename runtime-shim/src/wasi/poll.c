/* poll.c -- poll_oneoff.
 *
 * Clock subscriptions (realtime or monotonic, relative or absolute) become
 * deadlines on the monotonic clock; fd_read/fd_write subscriptions on
 * pipes, sockets and character devices go to ppoll(2); regular files,
 * directories and block devices are always ready (as the spec says for
 * regular files).  The call waits until at least one event is ready, then
 * reports every ready event in subscription order.  Problems with one
 * subscription (bad descriptor, missing poll_fd_readwrite right, a clock
 * that cannot be waited on) are reported in that event's error field, like
 * POSIX poll's POLLNVAL; zero subscriptions or an unknown event type make
 * the whole call inval. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wasi_internal.h"

typedef struct sub {
    uint64_t userdata;
    uint8_t type;
    uint16_t error;     /* per-event error: reported at once */
    int ready;
    uint64_t deadline;  /* clock: monotonic ns; UINT64_MAX = never */
    int pfd;            /* index in the pollfd array, or -1 */
    wasi_fd *f;
    uint64_t nbytes;
    uint16_t rwflags;
} sub;

static uint64_t now_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

WASI_FN(poll_oneoff) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t in = ARG32(0), out = ARG32(1), n = ARG32(2), retp = ARG32(3);
    if (n == 0) RETURN_ERRNO(WASI_EINVAL);
    if (!wasi_mem_ok(&m, in, (uint64_t)n * WASI_SUBSCRIPTION_SIZE) ||
        !wasi_mem_ok(&m, out, (uint64_t)n * WASI_EVENT_SIZE) || !wasi_mem_ok(&m, retp, 4))
        RETURN_ERRNO(WASI_EFAULT);
    sub *subs = calloc(n, sizeof(*subs));
    struct pollfd *pfds = calloc(n, sizeof(*pfds));
    if (!subs || !pfds) {
        free(subs);
        free(pfds);
        RETURN_ERRNO(WASI_ENOMEM);
    }
    int err = WASI_ESUCCESS;
    nfds_t npfds = 0;
    uint64_t mono0 = now_ns(CLOCK_MONOTONIC);
    uint32_t i;
    /* Decode every subscription first (a copy: the guest may change them). */
    for (i = 0; i < n && !err; i++) {
        const uint8_t *p = wasi_mem_at(&m, in + i * WASI_SUBSCRIPTION_SIZE);
        sub *s = &subs[i];
        s->userdata = wasi_get_u64(p);
        s->type = p[8];
        s->pfd = -1;
        if (s->type == WASI_EVENTTYPE_CLOCK) {
            uint32_t id = wasi_get_u32(p + 16);
            uint64_t timeout = wasi_get_u64(p + 24);
            uint16_t flags = wasi_get_u16(p + 40);
            if (flags & ~WASI_SUBSCRIPTION_CLOCK_ABSTIME) {
                s->error = WASI_EINVAL;
            } else if (id == WASI_CLOCK_MONOTONIC) {
                s->deadline = (flags & WASI_SUBSCRIPTION_CLOCK_ABSTIME) ? timeout
                                                                         : sat_add(mono0, timeout);
            } else if (id == WASI_CLOCK_REALTIME) {
                if (flags & WASI_SUBSCRIPTION_CLOCK_ABSTIME) {
                    uint64_t real0 = now_ns(CLOCK_REALTIME);
                    s->deadline = timeout > real0 ? sat_add(mono0, timeout - real0) : mono0;
                } else {
                    s->deadline = sat_add(mono0, timeout);
                }
            } else {
                /* CPU-time clocks cannot be slept on; unknown ids. */
                s->error = WASI_EINVAL;
            }
        } else if (s->type == WASI_EVENTTYPE_FD_READ || s->type == WASI_EVENTTYPE_FD_WRITE) {
            uint32_t fd = wasi_get_u32(p + 16);
            int e = wasi_fd_get(ctx, fd, WASI_RIGHT_POLL_FD_READWRITE, &s->f);
            if (e) {
                s->error = (uint16_t)e;
                continue;
            }
            uint8_t t = s->f->type;
            if (t == WASI_FILETYPE_REGULAR_FILE || t == WASI_FILETYPE_DIRECTORY ||
                t == WASI_FILETYPE_BLOCK_DEVICE) {
                s->ready = 1;
                if (s->type == WASI_EVENTTYPE_FD_READ && t == WASI_FILETYPE_REGULAR_FILE) {
                    struct stat st;
                    off_t pos = lseek(s->f->host, 0, SEEK_CUR);
                    if (fstat(s->f->host, &st) == 0 && pos >= 0 && st.st_size > pos)
                        s->nbytes = (uint64_t)(st.st_size - pos);
                }
            } else {
                s->pfd = (int)npfds;
                pfds[npfds].fd = s->f->host;
                pfds[npfds].events = s->type == WASI_EVENTTYPE_FD_READ ? POLLIN : POLLOUT;
                npfds++;
            }
        } else {
            err = WASI_EINVAL;
        }
    }

    while (!err) {
        uint64_t now = now_ns(CLOCK_MONOTONIC);
        uint64_t first = UINT64_MAX;
        int immediate = 0;
        for (i = 0; i < n; i++) {
            sub *s = &subs[i];
            if (s->error || s->ready) immediate = 1;
            else if (s->type == WASI_EVENTTYPE_CLOCK) {
                if (s->deadline <= now) immediate = 1;
                else if (s->deadline < first) first = s->deadline;
            }
        }
        struct timespec ts, *tsp = NULL;
        if (immediate) {
            ts.tv_sec = 0;
            ts.tv_nsec = 0;
            tsp = &ts;
        } else if (first != UINT64_MAX) {
            uint64_t d = first - now;
            ts.tv_sec = (time_t)(d / 1000000000u);
            ts.tv_nsec = (long)(d % 1000000000u);
            tsp = &ts;
        }
        int r = ppoll(npfds ? pfds : NULL, npfds, tsp, NULL);
        if (r < 0) {
            if (errno == EINTR) continue; /* recompute the remaining time */
            err = wasi_errno(errno);
            break;
        }
        now = now_ns(CLOCK_MONOTONIC);
        int any = 0;
        for (i = 0; i < n; i++) {
            sub *s = &subs[i];
            if (s->error || s->ready) {
                any = 1;
            } else if (s->type == WASI_EVENTTYPE_CLOCK) {
                if (s->deadline <= now) s->ready = any = 1;
            } else if (s->pfd >= 0 && pfds[s->pfd].revents) {
                short rev = pfds[s->pfd].revents;
                s->ready = any = 1;
                if (rev & POLLNVAL) s->error = WASI_EBADF;
                else if ((rev & POLLERR) && !(rev & (POLLIN | POLLOUT))) s->error = WASI_EIO;
                if (rev & POLLHUP) s->rwflags |= WASI_EVENT_FD_READWRITE_HANGUP;
                int avail = 0;
                if (s->type == WASI_EVENTTYPE_FD_READ && ioctl(s->f->host, FIONREAD, &avail) == 0 &&
                    avail > 0)
                    s->nbytes = (uint64_t)avail;
            }
        }
        if (any) break;
    }

    uint32_t count = 0;
    if (!err) {
        for (i = 0; i < n; i++) {
            sub *s = &subs[i];
            if (!s->error && !s->ready) continue;
            uint8_t *p = wasi_mem_at(&m, out + count * WASI_EVENT_SIZE);
            memset(p, 0, WASI_EVENT_SIZE);
            wasi_put_u64(p, s->userdata);
            wasi_put_u16(p + 8, s->error);
            wasi_put_u8(p + 10, s->type);
            if (s->type != WASI_EVENTTYPE_CLOCK && !s->error) {
                wasi_put_u64(p + 16, s->nbytes);
                wasi_put_u16(p + 24, s->rwflags);
            }
            count++;
        }
        wasi_put_u32(wasi_mem_at(&m, retp), count);
    }
    for (i = 0; i < n; i++)
        if (subs[i].f) wasi_fd_put(ctx, subs[i].f);
    free(subs);
    free(pfds);
    RETURN_ERRNO(err);
}
