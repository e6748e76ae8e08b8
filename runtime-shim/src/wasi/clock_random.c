/* clock_random.c -- clocks, random_get, sched_yield, proc_exit, proc_raise. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "wasi_internal.h"

static int host_clock(uint32_t id, clockid_t *c) {
    switch (id) {
    case WASI_CLOCK_REALTIME: *c = CLOCK_REALTIME; return WASI_ESUCCESS;
    case WASI_CLOCK_MONOTONIC: *c = CLOCK_MONOTONIC; return WASI_ESUCCESS;
    case WASI_CLOCK_PROCESS_CPUTIME_ID: *c = CLOCK_PROCESS_CPUTIME_ID; return WASI_ESUCCESS;
    case WASI_CLOCK_THREAD_CPUTIME_ID: *c = CLOCK_THREAD_CPUTIME_ID; return WASI_ESUCCESS;
    default: return WASI_EINVAL;
    }
}

static uint64_t ns_of(const struct timespec *ts) {
    if (ts->tv_sec < 0) return 0;
    if ((uint64_t)ts->tv_sec > UINT64_MAX / 1000000000u - 1) return UINT64_MAX;
    return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

WASI_FN(clock_res_get) {
    NEED_MEM(m);
    uint32_t id = ARG32(0), retp = ARG32(1);
    if (!wasi_mem_ok(&m, retp, 8)) RETURN_ERRNO(WASI_EFAULT);
    clockid_t c;
    int err = host_clock(id, &c);
    if (err) RETURN_ERRNO(err);
    struct timespec ts;
    if (clock_getres(c, &ts) != 0) RETURN_ERRNO(wasi_errno(errno));
    uint64_t res = ns_of(&ts);
    wasi_put_u64(wasi_mem_at(&m, retp), res ? res : 1); /* the spec: non-zero */
    RETURN_ERRNO(WASI_ESUCCESS);
}

WASI_FN(clock_time_get) {
    NEED_MEM(m);
    uint32_t id = ARG32(0), retp = ARG32(2);
    /* ARG64(1), the precision, is an upper bound on the lag: the host clock
     * is read directly, so any precision is met. */
    if (!wasi_mem_ok(&m, retp, 8)) RETURN_ERRNO(WASI_EFAULT);
    clockid_t c;
    int err = host_clock(id, &c);
    if (err) RETURN_ERRNO(err);
    struct timespec ts;
    if (clock_gettime(c, &ts) != 0) RETURN_ERRNO(wasi_errno(errno));
    wasi_put_u64(wasi_mem_at(&m, retp), ns_of(&ts));
    RETURN_ERRNO(WASI_ESUCCESS);
}

/* Fill [p, p+n) from the kernel's CSPRNG (blocks until it is seeded). */
static int fill_random(uint8_t *p, size_t n) {
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno != ENOSYS) return wasi_errno(errno);
            /* Kernels before 3.17: /dev/urandom. */
            int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
            if (fd < 0) return wasi_errno(errno);
            while (n) {
                r = read(fd, p, n);
                if (r < 0 && errno == EINTR) continue;
                if (r <= 0) {
                    int e = r < 0 ? errno : EIO;
                    close(fd);
                    return wasi_errno(e);
                }
                p += r;
                n -= (size_t)r;
            }
            close(fd);
            return WASI_ESUCCESS;
        }
        p += r;
        n -= (size_t)r;
    }
    return WASI_ESUCCESS;
}

WASI_FN(random_get) {
    NEED_MEM(m);
    uint32_t buf = ARG32(0), len = ARG32(1);
    if (!wasi_mem_ok(&m, buf, len)) RETURN_ERRNO(WASI_EFAULT);
    RETURN_ERRNO(fill_random(wasi_mem_at(&m, buf), len));
}

WASI_FN(sched_yield) {
    sched_yield();
    RETURN_ERRNO(WASI_ESUCCESS);
}

/* Record the exit code and stop the guest; the embedder reads the code with
 * wasmc_wasi_exit_code after the WASMC_TRAP_EXIT. */
WASI_FN(proc_exit) {
    CTX->exit_code = (int32_t)ARG32(0);
    return WASMC_TRAP_EXIT;
}

/* Raising host signals on behalf of the guest is not supported (wasmtime
 * answers notsup as well); an out-of-range signal is inval. */
WASI_FN(proc_raise) {
    if (ARG32(0) > WASI_SIGNAL_MAX) RETURN_ERRNO(WASI_EINVAL);
    RETURN_ERRNO(WASI_ENOTSUP);
}
