/* runner.h -- the standalone runner: internal declarations.
 *
 * The runner is the shim (src/) plus WASI plus a small main, linked
 * statically for one architecture with `zig cc` (wasmc/runtime/runners.py
 * builds it).  It serves three purposes, all with the same code:
 *
 *   - `wasmc build --exe`: a copy of the runner with one slice image
 *     embedded as the ELF section ".wasmc_image" (embedded.c finds it);
 *   - `wasmc exec --target ARCH`: the runner for ARCH under qemu-user,
 *     given the slice's place in the .wasmu (--image FILE:OFFSET:SIZE);
 *   - the foreign-architecture spec tests: `--serve` speaks a line protocol
 *     on stdin/stdout (serve.c) that wasmc/runtime/remote.py drives.
 *
 * It never parses the .wasmu metadata: everything it needs (imports,
 * exports, types, names) comes from the image descriptor, which the loader
 * checks before anything uses it.
 */
#ifndef WASMC_RUNNER_H
#define WASMC_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "wasmc_abi.h"
#include "wasmc_rt.h"
#include "wasmc_wasi.h"

/* Exit codes (wasmc/errors.py, docs/cli.md). */
enum {
    RN_EXIT_INTERNAL = 1,
    RN_EXIT_USAGE = 2,
    RN_EXIT_LINK = 6,
    RN_EXIT_ARTIFACT = 7,
    RN_EXIT_IO = 9,
    RN_EXIT_TRAP = 134,
};

/* The largest --timeout (seconds, about 31 years): wasmc's limit too. */
#define RN_MAX_TIMEOUT 1e9

/* A loaded image and the descriptor views the runner uses. */
typedef struct rn_module {
    wasmc_image *image;
    const wasmc_image_header *h;
    const uint8_t *base;
} rn_module;

/* Map SIZE bytes at OFFSET of PATH; 0 on success, else an exit code with
 * the error printed. */
int rn_load(rn_module *m, const char *path, uint64_t offset, uint64_t size);
void rn_module_init(rn_module *m, wasmc_image *image);

const char *rn_str(const rn_module *m, uint32_t off);
const wasmc_type_desc *rn_type(const rn_module *m, uint32_t typeidx);
const wasmc_import_desc *rn_import(const rn_module *m, uint32_t i);
const wasmc_export_desc *rn_export(const rn_module *m, uint32_t i);
/* The type of function FUNCIDX (imported or defined). */
const wasmc_type_desc *rn_func_type(const rn_module *m, uint32_t funcidx);
/* Index of the export named NAME, or -1. */
int64_t rn_find_export(const rn_module *m, const char *name, size_t len);
const char *rn_kind_name(uint32_t kind);

/* "wasmc: LABEL: message" on stderr (one line). */
void rn_fail(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report ERR (from a failed shim call) the way `wasmc exec` does and return
 * the exit code.  WHAT prefixes non-trap messages; TIMEOUT > 0 rewords an
 * interrupt as the --timeout's. */
/* Report ERR (one line, wasmc's wording); STORE, when given, names the tag
 * of an uncaught exception.  Returns the exit code. */
int rn_report(const wasmc_error *err, const wasmc_store *store, const char *what, double timeout);

/* Values on the command line and in results (the formats of wasmc/cli.py). */
int rn_parse_value(uint8_t valtype, const char *s, wasmc_val *out);
void rn_format_value(uint8_t valtype, const wasmc_val *v, char *buf, size_t len);

/* The embedded image of a `--exe` executable: its file offset and size in
 * /proc/self/exe, or 0 if there is none. */
int rn_find_embedded(const char *exe, uint64_t *offset, uint64_t *size);

/* The spec-test server (serve.c). */
int rn_serve(void);

#endif
