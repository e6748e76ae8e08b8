/* builtins.c -- the functions compiled code calls through vmctx->builtins.
 *
 * The table's shape is wasmc.abi.BUILTINS (wasmc_abi.h: wasmc_builtins).
 * Each builtin checks its bounds itself and traps through wasmc_raise, with
 * its own frame address so the backtrace starts in the guest caller.
 */
#include <setjmp.h>
#include <string.h>

#include "shim.h"

#define TRAP(code) wasmc_raise((code), (uintptr_t)__builtin_frame_address(0))

/* --- builtins --------------------------------------------------------------- */

/* Every builtin returns through this: an interrupt signal that arrived while
 * it ran (outside guest code) takes effect before guest code continues. */
#define POLL_INTERRUPT(vm) \
    do { if (__atomic_load_n(&(vm)->limits->interrupt, __ATOMIC_RELAXED)) TRAP(WASMC_TRAP_INTERRUPT); } while (0)

static void b_trap(wasmc_vmctx *vm, uint32_t code) { TRAP((int32_t)code); }

static void b_host_trap(wasmc_vmctx *vm, uint32_t status) {
    /* A host function that threw a Wasm exception left it in limits->exn. */
    if (status == WASMC_TRAP_EXCEPTION && vm->limits->exn)
        wasmc_throw(vm, vm->limits->exn, (uintptr_t)__builtin_frame_address(0));
    TRAP((int32_t)status);
}

static void *b_exn_new(wasmc_vmctx *vm, void *tag) {
    wasmc_exn *x = wasmc_exn_alloc(inst_of(vm)->store, tag);
    if (!x) TRAP(WASMC_TRAP_ALLOCATION);
    POLL_INTERRUPT(vm);
    return x;
}

static void b_throw(wasmc_vmctx *vm, void *exn) { wasmc_throw(vm, exn, (uintptr_t)__builtin_frame_address(0)); }


static int64_t b_memory_grow(wasmc_vmctx *vm, uint32_t mem, uint64_t delta) {
    int64_t r = wasmc_store_memory_grow(inst_of(vm)->store, vm->memories[mem].def, delta);
    POLL_INTERRUPT(vm);
    return r;
}

static void b_memory_fill(wasmc_vmctx *vm, uint32_t mem, uint64_t dst, uint32_t val, uint64_t len) {
    wasmc_memory *m = vm->memories[mem].def;
    if (!range_ok(dst, len, m->size)) TRAP(WASMC_TRAP_MEMORY_OOB);
    memset((uint8_t *)m->base + dst, (int)(val & 0xFF), len);
    POLL_INTERRUPT(vm);
}

static void b_memory_copy(wasmc_vmctx *vm, uint32_t dmem, uint32_t smem, uint64_t dst, uint64_t src,
                          uint64_t len) {
    wasmc_memory *d = vm->memories[dmem].def, *s = vm->memories[smem].def;
    if (!range_ok(dst, len, d->size) || !range_ok(src, len, s->size)) TRAP(WASMC_TRAP_MEMORY_OOB);
    memmove((uint8_t *)d->base + dst, (uint8_t *)s->base + src, len);
    POLL_INTERRUPT(vm);
}

static void b_memory_init(wasmc_vmctx *vm, uint32_t mem, uint32_t seg, uint64_t dst, uint32_t src,
                          uint32_t len) {
    wasmc_data_inst *d = &inst_of(vm)->datas[seg];
    wasmc_memory *m = vm->memories[mem].def;
    if (!range_ok(src, len, d->size) || !range_ok(dst, len, m->size)) TRAP(WASMC_TRAP_MEMORY_OOB);
    memcpy((uint8_t *)m->base + dst, d->bytes + src, len);
    POLL_INTERRUPT(vm);
}

static void b_data_drop(wasmc_vmctx *vm, uint32_t seg) {
    inst_of(vm)->datas[seg].size = 0;
    POLL_INTERRUPT(vm);
}


static int64_t b_table_grow(wasmc_vmctx *vm, uint32_t t, void *init, uint64_t delta) {
    int64_t r = wasmc_store_table_grow(inst_of(vm)->store, table_of(vm, t), delta, init);
    POLL_INTERRUPT(vm);
    return r;
}

static void b_table_fill(wasmc_vmctx *vm, uint32_t t, uint64_t dst, void *val, uint64_t len) {
    wasmc_table *tab = table_of(vm, t);
    if (!range_ok(dst, len, tab->size)) TRAP(WASMC_TRAP_TABLE_OOB);
    void **e = tab->elems;
    for (uint64_t i = 0; i < len; i++) e[dst + i] = val;
    POLL_INTERRUPT(vm);
}

static void b_table_copy(wasmc_vmctx *vm, uint32_t dt, uint32_t st, uint64_t dst, uint64_t src, uint64_t len) {
    wasmc_table *d = table_of(vm, dt), *s = table_of(vm, st);
    if (!range_ok(dst, len, d->size) || !range_ok(src, len, s->size)) TRAP(WASMC_TRAP_TABLE_OOB);
    memmove((void **)d->elems + dst, (void **)s->elems + src, len * sizeof(void *));
    POLL_INTERRUPT(vm);
}

static void b_table_init(wasmc_vmctx *vm, uint32_t t, uint32_t seg, uint64_t dst, uint32_t src, uint32_t len) {
    wasmc_elem_inst *e = &inst_of(vm)->elems[seg];
    wasmc_table *tab = table_of(vm, t);
    if (!range_ok(src, len, e->count) || !range_ok(dst, len, tab->size)) TRAP(WASMC_TRAP_TABLE_OOB);
    memcpy((void **)tab->elems + dst, e->items + src, (size_t)len * sizeof(void *));
    POLL_INTERRUPT(vm);
}

static void b_elem_drop(wasmc_vmctx *vm, uint32_t seg) {
    inst_of(vm)->elems[seg].count = 0;
    POLL_INTERRUPT(vm);
}

const wasmc_builtins wasmc_builtins_table = {
    .trap = b_trap,
    .memory_grow = b_memory_grow,
    .memory_fill = b_memory_fill,
    .memory_copy = b_memory_copy,
    .memory_init = b_memory_init,
    .data_drop = b_data_drop,
    .table_grow = b_table_grow,
    .table_fill = b_table_fill,
    .table_copy = b_table_copy,
    .table_init = b_table_init,
    .elem_drop = b_elem_drop,
    .host_trap = b_host_trap,
    /* The C library's _setjmp itself (a wrapper would return before the
     * _longjmp): compiled code calls it on its handler records as a
     * returns_twice call; the matching _longjmp is in wasmc_throw. */
    .setjmp = (int32_t (*)(struct wasmc_vmctx *))_setjmp,
    .exn_new = b_exn_new,
    .throw = b_throw,
};
