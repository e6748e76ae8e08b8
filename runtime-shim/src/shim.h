/* shim.h -- internal declarations shared by the shim's source files. */
#ifndef WASMC_SHIM_H
#define WASMC_SHIM_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wasmc_abi.h"
#include "wasmc_rt.h"

#define WASMC_INTERNAL __attribute__((visibility("hidden")))
#define WASMC_NORETURN __attribute__((noreturn))

/* Implementation limits (documented in docs/runtime.md). */
#define WASMC_MAX_TABLE_ELEMS (10u * 1000u * 1000u) /* tables without a max stop growing here */
#define WASMC_DEFAULT_MAX_STACK (4u << 20)          /* guest stack per store entry */
#define WASMC_STACK_RED_ZONE (128u << 10)            /* kept free above the thread's stack end */
#define WASMC_ALTSTACK_SIZE (64u << 10)
/* The signal wasmc_store_interrupt sends to the thread running guest code:
 * SIGURG, which nothing sends unless a program asks for out-of-band socket
 * data notifications (the same choice as Go's goroutine preemption). */
#define WASMC_INTERRUPT_SIGNAL SIGURG

struct wasmc_image {
    uint8_t *base;
    uint64_t size;
    int mapped;          /* 1: munmap on release; 0: free */
    uint32_t refcount;
    const wasmc_image_header *hdr;
    uint32_t *func_order; /* defined function indices sorted by code offset */
    uint32_t *type_ids;   /* canonical type id of each type (wasmc_type_id of its key) */
    int registry_slot;
};

typedef struct wasmc_elem_inst {
    void **items;
    uint32_t count;
} wasmc_elem_inst;

typedef struct wasmc_data_inst {
    const uint8_t *bytes;
    uint32_t size;
} wasmc_data_inst;

struct wasmc_instance {
    wasmc_store *store;
    wasmc_image *image;
    wasmc_vmctx *vmctx;
    const wasmc_image_header *hdr;
    wasmc_memory **memories;  /* retained (imported and defined) */
    wasmc_table **tables;     /* retained */
    wasmc_global **imported_globals; /* retained */
    wasmc_elem_inst *elems;
    wasmc_data_inst *datas;
    wasmc_funcref *host_funcrefs; /* records for host functions this instance imports */
    wasmc_global *defined_globals; /* extern records of defined globals (values live in the vmctx) */
    wasmc_tag *defined_tags;      /* this instance's tags (their addresses are their identity) */
    struct wasmc_instance *next;  /* store's list */
};

/* An exception and the store's list of them (freed with the store). */
typedef struct wasmc_exn_obj {
    struct wasmc_exn_obj *next;
    uint64_t pad;       /* keeps exn 16-aligned */
    wasmc_exn exn;      /* what compiled code and the API see; payload slots follow */
} wasmc_exn_obj;

/* A tag created by the host (wasmc_tag_new), owned by its store. */
typedef struct wasmc_tag_rec {
    wasmc_tag tag;
    struct wasmc_tag_rec *next;
} wasmc_tag_rec;

typedef struct wasmc_hostfunc_rec {
    wasmc_hostfunc env;
    wasmc_funcref ref;            /* ref.code: an adapter in adapter_image, or a trap */
    wasmc_image *adapter_image;   /* retained while the record lives, or NULL */
    struct wasmc_hostfunc_rec *next;
} wasmc_hostfunc_rec;

struct wasmc_store {
    wasmc_limits limits;
    uint64_t max_stack;
    uint32_t depth;               /* nested entries active */
    unsigned long owner;          /* thread running guest code while depth > 0 */
    int owner_tid;                /* its kernel thread id (the interrupt signal's target) */
    wasmc_instance *instances;
    wasmc_hostfunc_rec *hostfuncs;
    wasmc_exn_obj *exns;          /* every exception thrown in the store */
    wasmc_tag_rec *tags;          /* host-created tags */
    /* limits.c: resource limits, what they count, fuel */
    wasmc_store_limits res;
    uint64_t ninstances, nmemories, ntables; /* instances held; memories and tables they define */
    int64_t fuel_given;           /* limits.fuel as the last wasmc_store_set_fuel set it */
    uint64_t fuel_spent_before;   /* fuel consumed before that */
    bool fuel_metered;            /* wasmc_store_set_fuel was called: every instance must count fuel */
};

/* One host -> guest entry: the jump target for traps. */
typedef struct wasmc_entry {
    sigjmp_buf jb;
    struct wasmc_entry *prev;
    wasmc_store *store;
    int32_t trap;
    uint32_t nframes;
    uintptr_t pcs[WASMC_MAX_FRAMES];
    uintptr_t saved_limit;
    void *saved_eh_top;   /* limits.eh_top when the entry began: handlers newer than it are this entry's */
    wasmc_exn *exn;       /* trap UNCAUGHT_EXCEPTION: the exception */
} wasmc_entry;

/* Small helpers shared by instance.c and builtins.c. */
static inline wasmc_instance *inst_of(wasmc_vmctx *vm) { return (wasmc_instance *)vm->instance; }
static inline const char *strs(const wasmc_image *img) { return (const char *)img->base + img->hdr->strings; }
static inline uintptr_t code_at(const wasmc_image *img, uint32_t off) { return (uintptr_t)img->base + off; }

/* Is [start, start+len) inside [0, size)?  (No overflow for any inputs.) */
static inline bool range_ok(uint64_t start, uint64_t len, uint64_t size) {
    return start <= size && len <= size - start;
}

static inline wasmc_table *table_of(wasmc_vmctx *vm, uint32_t t) {
    return ((wasmc_table **)((uint8_t *)vm + inst_of(vm)->hdr->vm_tables))[t];
}

/* error.c */
WASMC_INTERNAL void wasmc_set_error(wasmc_error *err, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* loader.c */
WASMC_INTERNAL bool wasmc_pc_in_guest(uintptr_t pc);
WASMC_INTERNAL const wasmc_image *wasmc_image_for_pc(uintptr_t pc, uint32_t *func_index);
WASMC_INTERNAL void wasmc_image_retain(wasmc_image *image);
/* The Wasm-ABI entry (host adapter) of function type TYPE_ID in some loaded
 * image, which is retained and stored in *OWNER; NULL if no image has one. */
WASMC_INTERNAL void *wasmc_image_adapter_for(uint32_t type_id, wasmc_image **owner);

/* memory.c */
WASMC_INTERNAL bool wasmc_addr_in_reservation(uintptr_t addr);
WASMC_INTERNAL void wasmc_memory_retain(wasmc_memory *mem);
WASMC_INTERNAL void wasmc_table_retain(wasmc_table *table);
/* A table's element type key (descriptor.valtype_text); tables made by the
 * embedder without one have their element type's plain name. */
WASMC_INTERNAL bool wasmc_table_set_key(wasmc_table *table, const char *key, uint32_t len);
WASMC_INTERNAL const char *wasmc_table_key(const wasmc_table *table, uint32_t *len);
WASMC_INTERNAL void wasmc_global_retain(wasmc_global *g);

/* trap.c */
WASMC_INTERNAL int wasmc_signals_init(void);
WASMC_INTERNAL bool wasmc_enter(wasmc_store *store, wasmc_entry *e, wasmc_error *err);
WASMC_INTERNAL void wasmc_leave(wasmc_entry *e);
WASMC_INTERNAL WASMC_NORETURN void wasmc_raise(int32_t code, uintptr_t fp);
WASMC_INTERNAL WASMC_NORETURN void wasmc_throw(wasmc_vmctx *vm, wasmc_exn *exn, uintptr_t fp);
WASMC_INTERNAL wasmc_exn *wasmc_exn_alloc(wasmc_store *st, wasmc_tag *tag);
WASMC_INTERNAL void wasmc_entry_error(const wasmc_entry *e, wasmc_error *err);
WASMC_INTERNAL const char *wasmc_trap_message(int32_t code);

/* limits.c */
WASMC_INTERNAL void wasmc_limits_init(wasmc_store *st);
/* May STORE instantiate IMG (its limits, its fuel metering)?  Else fills ERR. */
WASMC_INTERNAL bool wasmc_limits_admit(const wasmc_store *st, const wasmc_image *img, wasmc_error *err);
/* Count an instance of H into (SIGN 1) or out of (-1) what STORE holds. */
WASMC_INTERNAL void wasmc_limits_count(wasmc_store *st, const wasmc_image_header *h, int sign);

/* builtins.c */
WASMC_INTERNAL extern const wasmc_builtins wasmc_builtins_table;

#endif
