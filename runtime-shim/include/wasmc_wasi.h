/* wasmc_wasi.h -- WASI preview1 in the shim.
 *
 * A wasmc_wasi context holds what one guest program sees of the outside
 * world: arguments, environment, the file-descriptor table (stdio plus the
 * preopened directories) and its exit code.  Every WASI function is a host
 * function of the shim's one host-call signature (see wasmc_abi.h):
 *
 *     int32_t fn(wasmc_hostfunc *env, wasmc_vmctx *caller, wasmc_val *values);
 *
 * env->data is the wasmc_wasi context.  The function reads its parameters
 * from values[0..n-1] (i32 in .i32, i64 in .i64), works on the *caller's*
 * memory 0 (caller->memories[0].def: base and current size), stores its
 * errno result in values[0].i32, and returns 0.  It returns a trap code
 * instead only to stop the guest: WASMC_TRAP_EXIT from proc_exit (after
 * recording the exit code) or WASMC_TRAP_MEMORY_OOB if the caller has no
 * memory at all.  Every guest pointer and length is checked against the
 * memory's current size before use; a bad one gives errno FAULT.
 *
 * Sandbox: paths are resolved only beneath a preopened directory (openat2
 * with RESOLVE_BENEATH on Linux, with a component-by-component fallback that
 * refuses "..", absolute paths and symlinks leaving the preopen).
 */
#ifndef WASMC_WASI_H
#define WASMC_WASI_H

#include <stddef.h>
#include <stdint.h>

#include "wasmc_abi.h"
#include "wasmc_rt.h" /* WASMC_API */

typedef struct wasmc_wasi wasmc_wasi;

typedef int32_t (*wasmc_host_fn)(wasmc_hostfunc *env, wasmc_vmctx *caller, wasmc_val *values);

typedef struct wasmc_wasi_preopen {
    const char *host_path;  /* directory on the host */
    const char *guest_path; /* name the guest sees (fd_prestat_dir_name) */
} wasmc_wasi_preopen;

typedef struct wasmc_wasi_config {
    int argc;
    const char *const *argv;     /* argv[0] is the program name the guest sees */
    int envc;
    const char *const *envp;     /* "KEY=VALUE" strings: the guest's whole environment */
    int npreopens;
    const wasmc_wasi_preopen *preopens; /* become fds 3+nsockets, ... in this order */
    int stdin_fd, stdout_fd, stderr_fd; /* host fds for guest fds 0/1/2 (dup'ed to numbers >= 3);
                                           -1 = closed for the guest (its fd_* calls get badf), and
                                           so is a descriptor opened with O_PATH.  A descriptor that
                                           is not open at all is an error.  An embedder whose own
                                           0/1/2 may be closed should fill them with O_PATH
                                           placeholders first (wasmc and the runner do), so that no
                                           file the guest opens later lands on a stdio number. */
    int nsockets;
    const int *sockets; /* host sockets (e.g. listening TCP sockets, dup'ed) that become
                           fds 3, 4, ... before the preopened directories, as wasmtime's
                           --tcplisten does; the guest reaches them with sock_accept etc. */
} wasmc_wasi_config;

/* Create a context; NULL on failure with a one-line reason in err. */
WASMC_API wasmc_wasi *wasmc_wasi_new(const wasmc_wasi_config *config, char *err, size_t errlen);
WASMC_API void wasmc_wasi_free(wasmc_wasi *wasi);

/* The exit code recorded by proc_exit (valid after a WASMC_TRAP_EXIT). */
WASMC_API int32_t wasmc_wasi_exit_code(const wasmc_wasi *wasi);

/* Find the preview1 function NAME ("fd_write", ...).  On success sets *fn and
 * *sig (the Wasm signature as a string of value-type letters, params ':'
 * results, e.g. "iiii:i" with i=i32, I=i64) and returns 1; returns 0 for an
 * unknown name. */
WASMC_API int wasmc_wasi_lookup(const char *name, wasmc_host_fn *fn, const char **sig);

#endif /* WASMC_WASI_H */
