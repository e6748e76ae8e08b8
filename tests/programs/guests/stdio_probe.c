/* Probes the three standard streams with raw WASI calls (no libc
 * buffering): reads up to 64 bytes from fd 0, writes "out\n" to fd 1 and
 * "err\n" to fd 2.  The exit status tells which of them failed with badf,
 * i.e. which streams the guest sees closed: bit 0 for fd 0, bit 1 for fd 1,
 * bit 2 for fd 2; 32 + the errno of any other failure.  Used by
 * tests/unit/test_cli_hostile.py.  Rebuild with `make corpus`. */
#include <wasi/api.h>

static int classify(int bit, __wasi_errno_t e) {
    if (e == __WASI_ERRNO_SUCCESS) return 0;
    if (e == __WASI_ERRNO_BADF) return 1 << bit;
    __wasi_proc_exit(32 + e);
    return 0;
}

int main(void) {
    char buf[64];
    __wasi_iovec_t in = {(unsigned char *)buf, sizeof buf};
    __wasi_size_t n;
    int mask = classify(0, __wasi_fd_read(0, &in, 1, &n));
    __wasi_ciovec_t out = {(const unsigned char *)"out\n", 4};
    mask |= classify(1, __wasi_fd_write(1, &out, 1, &n));
    __wasi_ciovec_t err = {(const unsigned char *)"err\n", 4};
    mask |= classify(2, __wasi_fd_write(2, &err, 1, &n));
    return mask;
}
