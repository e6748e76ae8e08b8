/* wasmc_rt.h -- the shim's C API (what the Python runtime calls through
 * ctypes, and what the standalone executable's main calls).
 *
 * Objects
 *   wasmc_image     one mapped slice image (read + execute, never written)
 *   wasmc_store     owns instances; one thread may run guest code in it at
 *                   a time; holds the stack limit for that thread
 *   wasmc_instance  an instantiated image: VMContext, memories, tables...
 *   externs         wasmc_memory, wasmc_table, wasmc_global, and funcrefs:
 *                   created by the host or exported by instances; memories,
 *                   tables and globals are reference counted, funcrefs live
 *                   as long as their owner (instance or store)
 *
 * Errors: every call that can fail fills a wasmc_error (kind, trap code,
 * one-line message, and for traps a backtrace of Wasm frames).
 *
 * Trap handling: guest code traps through the `trap` builtin or a hardware
 * fault (guard page, stack guard); both unwind with siglongjmp to the
 * innermost wasmc_call on this thread.  A fault is only treated as a trap
 * when that thread is inside guest code and the faulting PC lies in a
 * loaded image; anything else is passed to the previous signal handler.
 */
#ifndef WASMC_RT_H
#define WASMC_RT_H

#include <stddef.h>
#include <stdint.h>

#include "wasmc_abi.h"

#if defined(__GNUC__)
#define WASMC_API __attribute__((visibility("default")))
#else
#define WASMC_API
#endif

typedef struct wasmc_image wasmc_image;
typedef struct wasmc_store wasmc_store;
typedef struct wasmc_instance wasmc_instance;

/* The records these calls take and fill (wasmc_error, wasmc_frame,
 * wasmc_extern, wasmc_global, wasmc_extern_type) and the error kinds
 * (WASMC_ERR_*) are generated into wasmc_abi.h from wasmc/abi.py, which also
 * generates the Python runtime's ctypes mirrors of them. */

typedef int32_t (*wasmc_host_callback)(wasmc_hostfunc *env, wasmc_vmctx *caller, wasmc_val *values);

/* --- images --- */
WASMC_API wasmc_image *wasmc_image_map(int fd, uint64_t offset, uint64_t size, wasmc_error *err);
WASMC_API wasmc_image *wasmc_image_copy(const void *data, uint64_t size, wasmc_error *err);
WASMC_API void wasmc_image_release(wasmc_image *image);
WASMC_API const wasmc_image_header *wasmc_image_header_of(const wasmc_image *image);

/* An image's interface, read from its descriptor after the loader checked
 * it: import I, export I, function type TYPEIDX (kind WASMC_EXTERN_FUNC,
 * index TYPEIDX), with their types.  Each returns 1 with OUT filled in, or 0
 * when there is no such entry (or TYPEIDX is not a function type).  This is
 * the one source of what a module imports and exports: the Python runtime
 * and the standalone runner never take it from the .wasmu metadata (which
 * the Python runtime compares with it, and refuses when they disagree). */
WASMC_API int wasmc_image_import(const wasmc_image *image, uint32_t index, wasmc_extern_type *out);
WASMC_API int wasmc_image_export(const wasmc_image *image, uint32_t index, wasmc_extern_type *out);
WASMC_API int wasmc_image_type(const wasmc_image *image, uint32_t typeidx, wasmc_extern_type *out);
/* The name of function FUNCIDX (name section, else an export name), or NULL. */
WASMC_API const char *wasmc_image_func_name(const wasmc_image *image, uint32_t funcidx, uint32_t *len);

/* --- stores --- */
WASMC_API wasmc_store *wasmc_store_new(void);
WASMC_API void wasmc_store_free(wasmc_store *store);
/* Maximum stack (bytes) guest code may use below the first entry (default 4 MiB). */
WASMC_API void wasmc_store_set_max_stack(wasmc_store *store, uint64_t bytes);
/* Ask the guest code STORE runs to stop: it traps with WASMC_TRAP_INTERRUPT
 * ("interrupted") at once if it is executing compiled code, or as soon as the
 * host function or builtin it is in returns.  If the store is not running
 * guest code, its next call traps before running any.  Safe to call from any
 * thread (and from a signal handler).  Blocking system calls made by host
 * functions (e.g. a WASI read) are not cut short. */
WASMC_API void wasmc_store_interrupt(wasmc_store *store);
/* Resource limits of STORE (wasmtime's StoreLimits; NULL: none), checked
 * when its instances are created and whenever it grows a memory or table
 * (src/limits.c).  Growth beyond them returns -1, as memory.grow and
 * table.grow may; instantiation beyond them fails with WASMC_ERR_LIMIT. */
WASMC_API void wasmc_store_set_limits(wasmc_store *store, const wasmc_store_limits *limits);
/* Grow MEM (TAB) on STORE's behalf: -1 beyond its limits, else as
 * wasmc_memory_grow (wasmc_table_grow). */
WASMC_API int64_t wasmc_store_memory_grow(wasmc_store *store, wasmc_memory *mem, uint64_t delta_pages);
WASMC_API int64_t wasmc_store_table_grow(wasmc_store *store, wasmc_table *tab, uint64_t delta, void *init);
/* Fuel: give STORE FUEL units (at most INT64_MAX) to run instrumented code
 * with (`wasmc build --fuel`); it traps WASMC_TRAP_OUT_OF_FUEL when they are
 * spent.  From then on every instance of STORE must be instrumented.
 * Returns 1, or 0 with ERR filled (an instance is not instrumented). */
WASMC_API int wasmc_store_set_fuel(wasmc_store *store, uint64_t fuel, wasmc_error *err);
/* Fuel left (0 once spent), and fuel consumed since the store was created. */
WASMC_API uint64_t wasmc_store_get_fuel(const wasmc_store *store);
WASMC_API uint64_t wasmc_store_fuel_consumed(const wasmc_store *store);

/* --- host-created externs --- */
WASMC_API wasmc_memory *wasmc_memory_new(uint64_t min_pages, uint64_t max_pages, uint32_t flags,
                                         wasmc_error *err);
WASMC_API void wasmc_memory_release(wasmc_memory *mem);
WASMC_API int64_t wasmc_memory_grow(wasmc_memory *mem, uint64_t delta_pages);

WASMC_API wasmc_table *wasmc_table_new(uint32_t elem_type, uint64_t min, uint64_t max, void *init,
                                       wasmc_error *err);
WASMC_API void wasmc_table_release(wasmc_table *table);
WASMC_API int64_t wasmc_table_grow(wasmc_table *table, uint64_t delta, void *init);
WASMC_API int wasmc_table_get(const wasmc_table *table, uint64_t index, void **out);
WASMC_API int wasmc_table_set(wasmc_table *table, uint64_t index, void *value);

WASMC_API wasmc_global *wasmc_global_new(uint32_t valtype, uint32_t is_mutable, const char *key,
                                         uint32_t key_len, const wasmc_val *init);
WASMC_API void wasmc_global_release(wasmc_global *global);

/* A host function of Wasm type TYPE_KEY (see abi: canonical type key) in STORE. */
WASMC_API wasmc_funcref *wasmc_hostfunc_new(wasmc_store *store, wasmc_host_callback fn, void *data,
                                            const char *type_key, uint32_t key_len,
                                            uint32_t nparams, uint32_t nresults);
WASMC_API uint32_t wasmc_type_id(const char *key, uint32_t key_len);

/* --- exceptions --- */
/* A tag created by the host for a function type (TYPE_KEY, canonical key;
 * NPARAMS payload values), owned by STORE.  Its address is its identity. */
WASMC_API wasmc_tag *wasmc_tag_new(wasmc_store *store, const char *type_key, uint32_t key_len, uint32_t nparams);
/* A new exception of TAG with TAG->nparams payload VALUES (copied), owned by
 * STORE until the store is freed.  Exceptions that reach the host (trap
 * WASMC_TRAP_UNCAUGHT_EXCEPTION) come in wasmc_error.exn: the payload is the
 * nvalues wasmc_val slots that follow the wasmc_exn header. */
WASMC_API wasmc_exn *wasmc_exn_new(wasmc_store *store, wasmc_tag *tag, const wasmc_val *values);
/* For a host function that throws EXN into its caller: returns the status
 * (WASMC_TRAP_EXCEPTION) the host function must return. */
/* Name the tag of an exception for a message: the export name of an
 * instance of STORE that exports it, else "tag[i]" of one that has it.
 * Returns the number of its values (*VALTYPES: their VALTYPE codes), or -1
 * when no instance of STORE has it. */
WASMC_API int32_t wasmc_tag_describe(const wasmc_store *store, const wasmc_tag *tag, char *name, size_t len,
                                     const uint8_t **valtypes);
WASMC_API int32_t wasmc_throw_from_host(wasmc_vmctx *caller, wasmc_exn *exn);

/* --- instances --- */
/* Instantiate IMAGE with IMPORTS (one per import, in order).  On a link
 * error returns NULL.  On a trap during initialisation (segments, start
 * function) also returns NULL with kind WASMC_ERR_TRAP; the partly
 * initialised instance stays alive in the store, because tables it wrote
 * into may reference its functions. */
WASMC_API wasmc_instance *wasmc_instance_new(wasmc_store *store, wasmc_image *image,
                                             const wasmc_extern *imports, uint32_t nimports,
                                             wasmc_error *err);
WASMC_API int wasmc_instance_export(const wasmc_instance *inst, uint32_t index, wasmc_extern *out);
/* Free INST before its store (which otherwise frees it with the rest).
 * Only for an embedder that knows nothing refers to it any more: no other
 * instance imports its exports, and no table or global outside it holds one
 * of its functions (e.g. it imports no table and no reference-typed global).
 * Used by the spec-test server to keep long runs small under qemu-user. */
WASMC_API void wasmc_instance_free(wasmc_store *store, wasmc_instance *inst);
WASMC_API wasmc_vmctx *wasmc_instance_vmctx(const wasmc_instance *inst);

/* --- calls --- */
/* Call FUNC with its parameters in VALUES; results are stored back into
 * VALUES.  Returns 0, or a WASMC_TRAP_* code with ERR filled in. */
WASMC_API int32_t wasmc_call(wasmc_store *store, const wasmc_funcref *func, wasmc_val *values,
                             wasmc_error *err);

/* Self-check used by tests: are the signal handlers installed and sane? */
WASMC_API int wasmc_runtime_init(void);

#endif /* WASMC_RT_H */
