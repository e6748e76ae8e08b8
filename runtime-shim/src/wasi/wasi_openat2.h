/* wasi_openat2.h -- openat2(2) without depending on <linux/openat2.h>.
 *
 * The structure and flag values are the kernel's ABI (include/uapi/linux/
 * openat2.h, Linux 5.6+); the syscall number 437 is the same on every
 * architecture wasmc targets (x86_64, aarch64, riscv64). */
#ifndef WASMC_WASI_OPENAT2_H
#define WASMC_WASI_OPENAT2_H

#include <stdint.h>
#include <sys/syscall.h>

struct wasi_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef RESOLVE_NO_XDEV
#define RESOLVE_NO_XDEV 0x01
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#endif
#ifndef RESOLVE_NO_SYMLINKS
#define RESOLVE_NO_SYMLINKS 0x04
#endif
#ifndef RESOLVE_BENEATH
#define RESOLVE_BENEATH 0x08
#endif
#ifndef RESOLVE_IN_ROOT
#define RESOLVE_IN_ROOT 0x10
#endif

#endif /* WASMC_WASI_OPENAT2_H */
