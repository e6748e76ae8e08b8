/* wasmc_abi.h -- GENERATED from wasmc/abi.py by `python -m wasmc.abi`; do not edit.
 * The ABI between compiled code, image descriptors and the shim.
 * tests/unit/test_abi.py fails if this file is stale. */
#ifndef WASMC_ABI_H
#define WASMC_ABI_H

#include <stddef.h>
#include <stdint.h>

#if UINTPTR_MAX != 0xFFFFFFFFFFFFFFFFu
#error "wasmc supports 64-bit targets only (abi.PTR == 8)"
#endif

#define WASMC_ABI_VERSION 0x3eb7d9b6

#define WASMC_PTR_SIZE 0x8
#define WASMC_VAL_SIZE 0x10
#define WASMC_PAGE_SIZE 0x10000
#define WASMC_VMCTX_MAGIC 0x636d7377
#define WASMC_IMAGE_MAGIC 0x494d5357
#define WASMC_NO_INDEX 0xffffffffULL
#define WASMC_NO_MAX 0xffffffffffffffffULL
#define WASMC_RESERVATION 0x200010000ULL
#define WASMC_EH_RECORD_SIZE 0x200
#define WASMC_EH_RECORD_PREV 0x1f8
#define WASMC_ARGS_SLOTS 0x400
#define WASMC_VMCTX_FLAG_HAS_MEMORY0 0x1
#define WASMC_MEMORY_FLAG_64 0x1
#define WASMC_MEMORY_FLAG_BOUNDS_CHECKED 0x2
#define WASMC_MEMORY_FLAG_SHARED 0x4
#define WASMC_TABLE_FLAG_64 0x1
#define WASMC_FUNCREF_FLAG_HOST 0x1
#define WASMC_IMAGE_FLAG_GUARD_PAGES 0x1
#define WASMC_IMAGE_FLAG_FUEL 0x2
#define WASMC_VALTYPE_I32 0x7f
#define WASMC_VALTYPE_I64 0x7e
#define WASMC_VALTYPE_F32 0x7d
#define WASMC_VALTYPE_F64 0x7c
#define WASMC_VALTYPE_V128 0x7b
#define WASMC_VALTYPE_FUNCREF 0x70
#define WASMC_VALTYPE_EXTERNREF 0x6f
#define WASMC_VALTYPE_ANYREF 0x6e
#define WASMC_VALTYPE_EXNREF 0x69
#define WASMC_TYPE_KIND_FUNC 0x0
#define WASMC_TYPE_KIND_STRUCT 0x1
#define WASMC_TYPE_KIND_ARRAY 0x2
#define WASMC_EXTERN_FUNC 0x0
#define WASMC_EXTERN_TABLE 0x1
#define WASMC_EXTERN_MEMORY 0x2
#define WASMC_EXTERN_GLOBAL 0x3
#define WASMC_EXTERN_TAG 0x4
#define WASMC_SEG_PASSIVE 0x0
#define WASMC_SEG_ACTIVE 0x1
#define WASMC_SEG_DECLARATIVE 0x2

typedef enum wasmc_trap {
    WASMC_TRAP_NONE = 0, /* no trap */
    WASMC_TRAP_UNREACHABLE = 1, /* unreachable */
    WASMC_TRAP_MEMORY_OOB = 2, /* out of bounds memory access */
    WASMC_TRAP_TABLE_OOB = 3, /* out of bounds table access */
    WASMC_TRAP_INDIRECT_TYPE = 4, /* indirect call type mismatch */
    WASMC_TRAP_UNINITIALIZED = 5, /* uninitialized element */
    WASMC_TRAP_UNDEFINED = 6, /* undefined element */
    WASMC_TRAP_DIV_ZERO = 7, /* integer divide by zero */
    WASMC_TRAP_INT_OVERFLOW = 8, /* integer overflow */
    WASMC_TRAP_BAD_CONVERSION = 9, /* invalid conversion to integer */
    WASMC_TRAP_STACK_EXHAUSTED = 10, /* call stack exhausted */
    WASMC_TRAP_NULL_REFERENCE = 11, /* null reference */
    WASMC_TRAP_NULL_FUNCTION = 12, /* null function reference */
    WASMC_TRAP_HOST = 13, /* host function failed */
    WASMC_TRAP_EXIT = 14, /* guest called proc_exit */
    WASMC_TRAP_UNCAUGHT_EXCEPTION = 15, /* uncaught exception */
    WASMC_TRAP_CAST_FAILURE = 16, /* cast failure */
    WASMC_TRAP_ARRAY_OOB = 17, /* out of bounds array access */
    WASMC_TRAP_NULL_STRUCT = 18, /* null structure reference */
    WASMC_TRAP_NULL_ARRAY = 19, /* null array reference */
    WASMC_TRAP_NULL_I31 = 20, /* null i31 reference */
    WASMC_TRAP_ALLOCATION = 21, /* allocation too large */
    WASMC_TRAP_INTERRUPT = 22, /* interrupted */
    WASMC_TRAP_MISALIGNED = 23, /* misaligned memory access */
    WASMC_TRAP_NULL_EXCEPTION = 24, /* null exception reference */
    WASMC_TRAP_EXCEPTION = 25, /* exception */
    WASMC_TRAP_OUT_OF_FUEL = 26, /* out of fuel */
} wasmc_trap;
#define WASMC_TRAP_COUNT 27
/* The messages, indexed by trap code (the spec interpreter's wording). */
#define WASMC_TRAP_MESSAGES { "no trap", "unreachable", "out of bounds memory access", "out of bounds table access", "indirect call type mismatch", "uninitialized element", "undefined element", "integer divide by zero", "integer overflow", "invalid conversion to integer", "call stack exhausted", "null reference", "null function reference", "host function failed", "guest called proc_exit", "uncaught exception", "cast failure", "out of bounds array access", "null structure reference", "null array reference", "null i31 reference", "allocation too large", "interrupted", "misaligned memory access", "null exception reference", "exception", "out of fuel" }

/* One value slot: parameters and results of array calls and host calls. */
typedef union wasmc_val {
    int32_t i32; int64_t i64; uint32_t f32_bits; uint64_t f64_bits;
    float f32; double f64; uint8_t v128[16]; void *ref;
} wasmc_val;

/* Per-thread execution limits, shared by every instance entered on that thread. */
typedef struct wasmc_limits {
    uintptr_t stack_limit; /* +0: lowest stack address guest code may use; prologues trap below it */
    int64_t fuel; /* +8: fuel left: code built with fuel metering (IMAGE_FLAG_FUEL) subtracts what it runs and traps 'out of fuel' at a function entry or loop header when it is <= 0 */
    uint64_t interrupt; /* +16: non-zero: an interrupt is pending; guest code traps with 'interrupted' (host-call adapters check it after every host call) */
    void * eh_top; /* +24: innermost exception-handler record of guest code (EH_RECORD_*), or what the current entry started with */
    void * exn; /* +32: the exception being delivered to a handler (struct wasmc_exn *) */
    void * args; /* +40: ARGS_SLOTS VAL slots: arguments and results that the 'uniform' calling convention (riscv64) passes in memory */
} wasmc_limits;

/* A linear memory. Its base never moves: 32-bit memories live in a reservation of RESERVATION bytes and grow in place. */
typedef struct wasmc_memory {
    void * base; /* +0: first byte of the memory */
    uint64_t size; /* +8: current size in bytes (a multiple of PAGE_SIZE) */
    uint64_t max_pages; /* +16: maximum size in pages (declared max, or the implementation limit) */
    uint64_t declared_max; /* +24: maximum in pages as declared (NO_MAX if none): import matching uses it */
    uint64_t reserved; /* +32: bytes of address space reserved at base (0 = none) */
    uint32_t flags; /* +40: MEMORY_FLAG_* */
    uint32_t pad; /* +44 */
} wasmc_memory;

/* A table of references (one pointer per element). */
typedef struct wasmc_table {
    void * elems; /* +0: the elements; may move when the table grows */
    uint64_t size; /* +8: current number of elements */
    uint64_t max; /* +16: maximum number of elements (declared max, or the implementation limit) */
    uint64_t declared_max; /* +24: maximum as declared (NO_MAX if none): import matching uses it */
    uint64_t capacity; /* +32: elements allocated at elems */
    uint32_t elem_type; /* +40: VALTYPE_* of the elements */
    uint32_t flags; /* +44: TABLE_FLAG_* */
} wasmc_table;

/* What a funcref points at: one record per function instance. */
typedef struct wasmc_funcref {
    void * code; /* +0: Wasm-ABI entry: R code(callee_vmctx, caller_vmctx, params...) */
    void * vmctx; /* +8: callee vmctx (for host functions: their HOSTFUNC env) */
    void * array_call; /* +16: array-call trampoline for the function's type */
    uint32_t type_id; /* +24: process-wide canonical type id (call_indirect compares it) */
    uint32_t flags; /* +28: FUNCREF_FLAG_* */
} wasmc_funcref;

/* Environment of a host function; the first field is called by the adapter. */
typedef struct wasmc_hostfunc {
    void * fn; /* +0: int32_t fn(wasmc_hostfunc *env, wasmc_vmctx *caller, wasmc_val *values) */
    void * data; /* +8: owner data (a WASI context, a Python callback handle, ...) */
    uint32_t type_id; /* +16: canonical type id of the function type */
    uint32_t nparams; /* +20 */
    uint32_t nresults; /* +24 */
    uint32_t flags; /* +28 */
} wasmc_hostfunc;

/* An exception tag instance (its identity is its address). */
typedef struct wasmc_tag {
    uint32_t type_id; /* +0: canonical type id of the tag's function type */
    uint32_t nparams; /* +4: payload values of its exceptions */
} wasmc_tag;

/* An exception: its tag and, after this header, nvalues VAL slots of payload. */
typedef struct wasmc_exn {
    struct wasmc_tag * tag; /* +0 */
    uint32_t nvalues; /* +8 */
    uint32_t flags; /* +12 */
} wasmc_exn;

/* Per-instance context; compiled code receives a pointer to it. */
typedef struct wasmc_vmctx {
    uint32_t magic; /* +0: VMCTX_MAGIC */
    uint32_t flags; /* +4: VMCTX_FLAG_* */
    struct wasmc_limits * limits; /* +8: per-thread limits (stack_limit is checked in every prologue) */
    void * builtins; /* +16: const wasmc_builtins * (function pointers into the shim) */
    void * instance; /* +24: the shim's private instance record */
    void * funcrefs; /* +32: wasmc_funcref *[nfuncs]: every function of the index space */
    void * type_ids; /* +40: uint32_t[ntypes]: canonical type id per type index */
    /* module-specific part (VMOffsets) follows; it starts with: */
    struct { void *base; struct wasmc_memory *def; } memories[];
} wasmc_vmctx;

/* Start of every image: what the shim needs to instantiate it. */
typedef struct wasmc_image_header {
    uint32_t magic; /* +0: IMAGE_MAGIC */
    uint32_t abi_version; /* +4: ABI_VERSION of the compiler */
    uint32_t image_size; /* +8: bytes in the image */
    uint32_t flags; /* +12: IMAGE_FLAG_* */
    uint32_t text_start; /* +16: first byte of code */
    uint32_t text_end; /* +20: end of code */
    uint32_t vmctx_size; /* +24: bytes of VMContext */
    uint32_t vm_memories; /* +28: VMOffsets.memories */
    uint32_t vm_tables; /* +32: VMOffsets.tables */
    uint32_t vm_imported_globals; /* +36: VMOffsets.imported_globals */
    uint32_t vm_globals; /* +40: VMOffsets.globals */
    uint32_t vm_defined_funcrefs; /* +44: VMOffsets.defined_funcrefs */
    uint32_t vm_funcref_ptrs; /* +48: VMOffsets.funcref_ptrs */
    uint32_t vm_type_ids; /* +52: VMOffsets.type_id_array */
    uint32_t ntypes; /* +56 */
    uint32_t types; /* +60: offset of TYPE_DESC[ntypes] */
    uint32_t nimports; /* +64 */
    uint32_t imports; /* +68: offset of IMPORT_DESC[nimports] */
    uint32_t nfuncs; /* +72: functions in the index space */
    uint32_t nimported_funcs; /* +76 */
    uint32_t funcs; /* +80: offset of FUNC_DESC[nfuncs - nimported_funcs] */
    uint32_t ntables; /* +84 */
    uint32_t nimported_tables; /* +88 */
    uint32_t tables; /* +92: offset of TABLE_DESC[ntables] */
    uint32_t nmemories; /* +96 */
    uint32_t nimported_memories; /* +100 */
    uint32_t memories; /* +104: offset of MEMORY_DESC[nmemories] */
    uint32_t nglobals; /* +108 */
    uint32_t nimported_globals; /* +112 */
    uint32_t globals; /* +116: offset of GLOBAL_DESC[nglobals] */
    uint32_t nexports; /* +120 */
    uint32_t exports; /* +124: offset of EXPORT_DESC[nexports] */
    uint32_t nelems; /* +128 */
    uint32_t elems; /* +132: offset of ELEM_DESC[nelems] */
    uint32_t ndatas; /* +136 */
    uint32_t datas; /* +140: offset of DATA_DESC[ndatas] */
    uint32_t start_func; /* +144: function index of the start function, or NO_INDEX */
    uint32_t init_globals; /* +148: code offset of void init_globals(vmctx), or 0 */
    uint32_t strings; /* +152: offset of the string blob */
    uint32_t strings_size; /* +156 */
    uint32_t module_name; /* +160: string offset of the module's name, or NO_INDEX */
    uint32_t ntags; /* +164 */
    uint32_t nimported_tags; /* +168 */
    uint32_t tags; /* +172: offset of TAG_DESC[ntags] */
    uint32_t vm_tags; /* +176: VMOffsets.tags */
} wasmc_image_header;

/* One entry of the type section. */
typedef struct wasmc_type_desc {
    uint32_t kind; /* +0: TYPE_KIND_* */
    uint32_t nparams; /* +4 */
    uint32_t nresults; /* +8 */
    uint32_t valtypes; /* +12: offset of nparams+nresults VALTYPE_* bytes */
    uint32_t key; /* +16: string offset of the canonical type key (equal keys = equivalent types) */
    uint32_t key_len; /* +20 */
} wasmc_type_desc;

/* One import. */
typedef struct wasmc_import_desc {
    uint32_t kind; /* +0: EXTERN_* */
    uint32_t module; /* +4: string offset */
    uint32_t module_len; /* +8 */
    uint32_t name; /* +12: string offset */
    uint32_t name_len; /* +16 */
    uint32_t index; /* +20: index in the kind's index space (imports come first) */
    uint32_t type; /* +24: type index for functions and tags */
    uint32_t adapter; /* +28: code offset of the host adapter for this function type (functions) */
} wasmc_import_desc;

/* One defined function. */
typedef struct wasmc_func_desc {
    uint32_t code; /* +0: code offset */
    uint32_t code_size; /* +4: bytes of code */
    uint32_t array_call; /* +8: code offset of the array-call trampoline for its type */
    uint32_t type; /* +12: type index */
    uint32_t name; /* +16: string offset of its name, or NO_INDEX */
    uint32_t name_len; /* +20 */
} wasmc_func_desc;

/* One table (imported ones describe the required type). */
typedef struct wasmc_table_desc {
    uint64_t min; /* +0 */
    uint64_t max; /* +8: NO_MAX if absent */
    uint32_t elem_type; /* +16: VALTYPE_* */
    uint32_t flags; /* +20: TABLE_FLAG_* */
    uint32_t init; /* +24: code offset of ptr init(vmctx) giving the initial element, or 0 (null) */
    uint32_t elem_key; /* +28: string offset of the element type's key (typed references) */
    uint32_t elem_key_len; /* +32 */
    uint32_t pad; /* +36 */
} wasmc_table_desc;

/* One memory. */
typedef struct wasmc_memory_desc {
    uint64_t min; /* +0: pages */
    uint64_t max; /* +8: pages, NO_MAX if absent */
    uint32_t flags; /* +16: MEMORY_FLAG_* */
    uint32_t pad; /* +20 */
} wasmc_memory_desc;

/* One global. */
typedef struct wasmc_global_desc {
    uint32_t valtype; /* +0: VALTYPE_* */
    uint32_t mutable; /* +4 */
    uint32_t key; /* +8: string offset of the value type's key (typed references) */
    uint32_t key_len; /* +12 */
} wasmc_global_desc;

/* One tag (imported ones describe the required type). */
typedef struct wasmc_tag_desc {
    uint32_t type; /* +0: type index (a function type with no results) */
} wasmc_tag_desc;

/* One export. */
typedef struct wasmc_export_desc {
    uint32_t kind; /* +0: EXTERN_* */
    uint32_t index; /* +4 */
    uint32_t name; /* +8: string offset */
    uint32_t name_len; /* +12 */
} wasmc_export_desc;

/* One element segment. */
typedef struct wasmc_elem_desc {
    uint32_t mode; /* +0: SEG_* */
    uint32_t table; /* +4 */
    uint32_t elem_type; /* +8: VALTYPE_* */
    uint32_t offset_fn; /* +12: code offset of uint64_t offset(vmctx) for active segments */
    uint32_t count; /* +16: number of items */
    uint32_t funcs; /* +20: offset of uint32_t[count] function indices (NO_INDEX = null), or 0 */
    uint32_t items_fn; /* +24: code offset of void items(vmctx, void **out) when funcs is 0 */
    uint32_t pad; /* +28 */
} wasmc_elem_desc;

/* One data segment. */
typedef struct wasmc_data_desc {
    uint32_t mode; /* +0: SEG_* */
    uint32_t memory; /* +4 */
    uint32_t offset_fn; /* +8: code offset of uint64_t offset(vmctx) for active segments */
    uint32_t data; /* +12: offset of the bytes */
    uint32_t size; /* +16: number of bytes */
    uint32_t pad; /* +20 */
} wasmc_data_desc;

/* The builtins table: compiled code calls these through vmctx->builtins. */
typedef struct wasmc_builtins {
    void (*trap)(struct wasmc_vmctx *, uint32_t); /* raise trap CODE (never returns) */
    int64_t (*memory_grow)(struct wasmc_vmctx *, uint32_t, uint64_t); /* grow memory MEM by DELTA pages; old size in pages, or -1 */
    void (*memory_fill)(struct wasmc_vmctx *, uint32_t, uint64_t, uint32_t, uint64_t); /* memory.fill MEM DST VAL LEN */
    void (*memory_copy)(struct wasmc_vmctx *, uint32_t, uint32_t, uint64_t, uint64_t, uint64_t); /* memory.copy DSTMEM SRCMEM DST SRC LEN */
    void (*memory_init)(struct wasmc_vmctx *, uint32_t, uint32_t, uint64_t, uint32_t, uint32_t); /* memory.init MEM SEG DST SRC LEN */
    void (*data_drop)(struct wasmc_vmctx *, uint32_t); /* data.drop SEG */
    int64_t (*table_grow)(struct wasmc_vmctx *, uint32_t, void *, uint64_t); /* grow table TAB by DELTA filled with INIT; old size, or -1 */
    void (*table_fill)(struct wasmc_vmctx *, uint32_t, uint64_t, void *, uint64_t); /* table.fill TAB DST VAL LEN */
    void (*table_copy)(struct wasmc_vmctx *, uint32_t, uint32_t, uint64_t, uint64_t, uint64_t); /* table.copy DSTTAB SRCTAB DST SRC LEN */
    void (*table_init)(struct wasmc_vmctx *, uint32_t, uint32_t, uint64_t, uint32_t, uint32_t); /* table.init TAB SEG DST SRC LEN */
    void (*elem_drop)(struct wasmc_vmctx *, uint32_t); /* elem.drop SEG */
    void (*host_trap)(struct wasmc_vmctx *, uint32_t); /* a host function returned non-zero STATUS: raise it (never returns) */
    int32_t (*setjmp)(struct wasmc_vmctx *); /* the C library's _setjmp, for handler records (eh.py) */
    void * (*exn_new)(struct wasmc_vmctx *, void *); /* a new exception of tag TAG (payload slots to fill) */
    void (*throw)(struct wasmc_vmctx *, void *); /* throw EXN to the innermost handler (never returns) */
} wasmc_builtins;

/* Layout checks: the C compiler must agree with wasmc/abi.py. */
_Static_assert(offsetof(wasmc_limits, stack_limit) == 0, "wasmc_limits.stack_limit");
_Static_assert(offsetof(wasmc_limits, fuel) == 8, "wasmc_limits.fuel");
_Static_assert(offsetof(wasmc_limits, interrupt) == 16, "wasmc_limits.interrupt");
_Static_assert(offsetof(wasmc_limits, eh_top) == 24, "wasmc_limits.eh_top");
_Static_assert(offsetof(wasmc_limits, exn) == 32, "wasmc_limits.exn");
_Static_assert(offsetof(wasmc_limits, args) == 40, "wasmc_limits.args");
_Static_assert(sizeof(wasmc_limits) == 48, "sizeof wasmc_limits");
_Static_assert(offsetof(wasmc_memory, base) == 0, "wasmc_memory.base");
_Static_assert(offsetof(wasmc_memory, size) == 8, "wasmc_memory.size");
_Static_assert(offsetof(wasmc_memory, max_pages) == 16, "wasmc_memory.max_pages");
_Static_assert(offsetof(wasmc_memory, declared_max) == 24, "wasmc_memory.declared_max");
_Static_assert(offsetof(wasmc_memory, reserved) == 32, "wasmc_memory.reserved");
_Static_assert(offsetof(wasmc_memory, flags) == 40, "wasmc_memory.flags");
_Static_assert(offsetof(wasmc_memory, pad) == 44, "wasmc_memory.pad");
_Static_assert(sizeof(wasmc_memory) == 48, "sizeof wasmc_memory");
_Static_assert(offsetof(wasmc_table, elems) == 0, "wasmc_table.elems");
_Static_assert(offsetof(wasmc_table, size) == 8, "wasmc_table.size");
_Static_assert(offsetof(wasmc_table, max) == 16, "wasmc_table.max");
_Static_assert(offsetof(wasmc_table, declared_max) == 24, "wasmc_table.declared_max");
_Static_assert(offsetof(wasmc_table, capacity) == 32, "wasmc_table.capacity");
_Static_assert(offsetof(wasmc_table, elem_type) == 40, "wasmc_table.elem_type");
_Static_assert(offsetof(wasmc_table, flags) == 44, "wasmc_table.flags");
_Static_assert(sizeof(wasmc_table) == 48, "sizeof wasmc_table");
_Static_assert(offsetof(wasmc_funcref, code) == 0, "wasmc_funcref.code");
_Static_assert(offsetof(wasmc_funcref, vmctx) == 8, "wasmc_funcref.vmctx");
_Static_assert(offsetof(wasmc_funcref, array_call) == 16, "wasmc_funcref.array_call");
_Static_assert(offsetof(wasmc_funcref, type_id) == 24, "wasmc_funcref.type_id");
_Static_assert(offsetof(wasmc_funcref, flags) == 28, "wasmc_funcref.flags");
_Static_assert(sizeof(wasmc_funcref) == 32, "sizeof wasmc_funcref");
_Static_assert(offsetof(wasmc_hostfunc, fn) == 0, "wasmc_hostfunc.fn");
_Static_assert(offsetof(wasmc_hostfunc, data) == 8, "wasmc_hostfunc.data");
_Static_assert(offsetof(wasmc_hostfunc, type_id) == 16, "wasmc_hostfunc.type_id");
_Static_assert(offsetof(wasmc_hostfunc, nparams) == 20, "wasmc_hostfunc.nparams");
_Static_assert(offsetof(wasmc_hostfunc, nresults) == 24, "wasmc_hostfunc.nresults");
_Static_assert(offsetof(wasmc_hostfunc, flags) == 28, "wasmc_hostfunc.flags");
_Static_assert(sizeof(wasmc_hostfunc) == 32, "sizeof wasmc_hostfunc");
_Static_assert(offsetof(wasmc_tag, type_id) == 0, "wasmc_tag.type_id");
_Static_assert(offsetof(wasmc_tag, nparams) == 4, "wasmc_tag.nparams");
_Static_assert(sizeof(wasmc_tag) == 8, "sizeof wasmc_tag");
_Static_assert(offsetof(wasmc_exn, tag) == 0, "wasmc_exn.tag");
_Static_assert(offsetof(wasmc_exn, nvalues) == 8, "wasmc_exn.nvalues");
_Static_assert(offsetof(wasmc_exn, flags) == 12, "wasmc_exn.flags");
_Static_assert(sizeof(wasmc_exn) == 16, "sizeof wasmc_exn");
_Static_assert(offsetof(wasmc_vmctx, magic) == 0, "wasmc_vmctx.magic");
_Static_assert(offsetof(wasmc_vmctx, flags) == 4, "wasmc_vmctx.flags");
_Static_assert(offsetof(wasmc_vmctx, limits) == 8, "wasmc_vmctx.limits");
_Static_assert(offsetof(wasmc_vmctx, builtins) == 16, "wasmc_vmctx.builtins");
_Static_assert(offsetof(wasmc_vmctx, instance) == 24, "wasmc_vmctx.instance");
_Static_assert(offsetof(wasmc_vmctx, funcrefs) == 32, "wasmc_vmctx.funcrefs");
_Static_assert(offsetof(wasmc_vmctx, type_ids) == 40, "wasmc_vmctx.type_ids");
_Static_assert(sizeof(wasmc_vmctx) == 48, "sizeof wasmc_vmctx");
_Static_assert(offsetof(wasmc_image_header, magic) == 0, "wasmc_image_header.magic");
_Static_assert(offsetof(wasmc_image_header, abi_version) == 4, "wasmc_image_header.abi_version");
_Static_assert(offsetof(wasmc_image_header, image_size) == 8, "wasmc_image_header.image_size");
_Static_assert(offsetof(wasmc_image_header, flags) == 12, "wasmc_image_header.flags");
_Static_assert(offsetof(wasmc_image_header, text_start) == 16, "wasmc_image_header.text_start");
_Static_assert(offsetof(wasmc_image_header, text_end) == 20, "wasmc_image_header.text_end");
_Static_assert(offsetof(wasmc_image_header, vmctx_size) == 24, "wasmc_image_header.vmctx_size");
_Static_assert(offsetof(wasmc_image_header, vm_memories) == 28, "wasmc_image_header.vm_memories");
_Static_assert(offsetof(wasmc_image_header, vm_tables) == 32, "wasmc_image_header.vm_tables");
_Static_assert(offsetof(wasmc_image_header, vm_imported_globals) == 36, "wasmc_image_header.vm_imported_globals");
_Static_assert(offsetof(wasmc_image_header, vm_globals) == 40, "wasmc_image_header.vm_globals");
_Static_assert(offsetof(wasmc_image_header, vm_defined_funcrefs) == 44, "wasmc_image_header.vm_defined_funcrefs");
_Static_assert(offsetof(wasmc_image_header, vm_funcref_ptrs) == 48, "wasmc_image_header.vm_funcref_ptrs");
_Static_assert(offsetof(wasmc_image_header, vm_type_ids) == 52, "wasmc_image_header.vm_type_ids");
_Static_assert(offsetof(wasmc_image_header, ntypes) == 56, "wasmc_image_header.ntypes");
_Static_assert(offsetof(wasmc_image_header, types) == 60, "wasmc_image_header.types");
_Static_assert(offsetof(wasmc_image_header, nimports) == 64, "wasmc_image_header.nimports");
_Static_assert(offsetof(wasmc_image_header, imports) == 68, "wasmc_image_header.imports");
_Static_assert(offsetof(wasmc_image_header, nfuncs) == 72, "wasmc_image_header.nfuncs");
_Static_assert(offsetof(wasmc_image_header, nimported_funcs) == 76, "wasmc_image_header.nimported_funcs");
_Static_assert(offsetof(wasmc_image_header, funcs) == 80, "wasmc_image_header.funcs");
_Static_assert(offsetof(wasmc_image_header, ntables) == 84, "wasmc_image_header.ntables");
_Static_assert(offsetof(wasmc_image_header, nimported_tables) == 88, "wasmc_image_header.nimported_tables");
_Static_assert(offsetof(wasmc_image_header, tables) == 92, "wasmc_image_header.tables");
_Static_assert(offsetof(wasmc_image_header, nmemories) == 96, "wasmc_image_header.nmemories");
_Static_assert(offsetof(wasmc_image_header, nimported_memories) == 100, "wasmc_image_header.nimported_memories");
_Static_assert(offsetof(wasmc_image_header, memories) == 104, "wasmc_image_header.memories");
_Static_assert(offsetof(wasmc_image_header, nglobals) == 108, "wasmc_image_header.nglobals");
_Static_assert(offsetof(wasmc_image_header, nimported_globals) == 112, "wasmc_image_header.nimported_globals");
_Static_assert(offsetof(wasmc_image_header, globals) == 116, "wasmc_image_header.globals");
_Static_assert(offsetof(wasmc_image_header, nexports) == 120, "wasmc_image_header.nexports");
_Static_assert(offsetof(wasmc_image_header, exports) == 124, "wasmc_image_header.exports");
_Static_assert(offsetof(wasmc_image_header, nelems) == 128, "wasmc_image_header.nelems");
_Static_assert(offsetof(wasmc_image_header, elems) == 132, "wasmc_image_header.elems");
_Static_assert(offsetof(wasmc_image_header, ndatas) == 136, "wasmc_image_header.ndatas");
_Static_assert(offsetof(wasmc_image_header, datas) == 140, "wasmc_image_header.datas");
_Static_assert(offsetof(wasmc_image_header, start_func) == 144, "wasmc_image_header.start_func");
_Static_assert(offsetof(wasmc_image_header, init_globals) == 148, "wasmc_image_header.init_globals");
_Static_assert(offsetof(wasmc_image_header, strings) == 152, "wasmc_image_header.strings");
_Static_assert(offsetof(wasmc_image_header, strings_size) == 156, "wasmc_image_header.strings_size");
_Static_assert(offsetof(wasmc_image_header, module_name) == 160, "wasmc_image_header.module_name");
_Static_assert(offsetof(wasmc_image_header, ntags) == 164, "wasmc_image_header.ntags");
_Static_assert(offsetof(wasmc_image_header, nimported_tags) == 168, "wasmc_image_header.nimported_tags");
_Static_assert(offsetof(wasmc_image_header, tags) == 172, "wasmc_image_header.tags");
_Static_assert(offsetof(wasmc_image_header, vm_tags) == 176, "wasmc_image_header.vm_tags");
_Static_assert(sizeof(wasmc_image_header) == 180, "sizeof wasmc_image_header");
_Static_assert(offsetof(wasmc_type_desc, kind) == 0, "wasmc_type_desc.kind");
_Static_assert(offsetof(wasmc_type_desc, nparams) == 4, "wasmc_type_desc.nparams");
_Static_assert(offsetof(wasmc_type_desc, nresults) == 8, "wasmc_type_desc.nresults");
_Static_assert(offsetof(wasmc_type_desc, valtypes) == 12, "wasmc_type_desc.valtypes");
_Static_assert(offsetof(wasmc_type_desc, key) == 16, "wasmc_type_desc.key");
_Static_assert(offsetof(wasmc_type_desc, key_len) == 20, "wasmc_type_desc.key_len");
_Static_assert(sizeof(wasmc_type_desc) == 24, "sizeof wasmc_type_desc");
_Static_assert(offsetof(wasmc_import_desc, kind) == 0, "wasmc_import_desc.kind");
_Static_assert(offsetof(wasmc_import_desc, module) == 4, "wasmc_import_desc.module");
_Static_assert(offsetof(wasmc_import_desc, module_len) == 8, "wasmc_import_desc.module_len");
_Static_assert(offsetof(wasmc_import_desc, name) == 12, "wasmc_import_desc.name");
_Static_assert(offsetof(wasmc_import_desc, name_len) == 16, "wasmc_import_desc.name_len");
_Static_assert(offsetof(wasmc_import_desc, index) == 20, "wasmc_import_desc.index");
_Static_assert(offsetof(wasmc_import_desc, type) == 24, "wasmc_import_desc.type");
_Static_assert(offsetof(wasmc_import_desc, adapter) == 28, "wasmc_import_desc.adapter");
_Static_assert(sizeof(wasmc_import_desc) == 32, "sizeof wasmc_import_desc");
_Static_assert(offsetof(wasmc_func_desc, code) == 0, "wasmc_func_desc.code");
_Static_assert(offsetof(wasmc_func_desc, code_size) == 4, "wasmc_func_desc.code_size");
_Static_assert(offsetof(wasmc_func_desc, array_call) == 8, "wasmc_func_desc.array_call");
_Static_assert(offsetof(wasmc_func_desc, type) == 12, "wasmc_func_desc.type");
_Static_assert(offsetof(wasmc_func_desc, name) == 16, "wasmc_func_desc.name");
_Static_assert(offsetof(wasmc_func_desc, name_len) == 20, "wasmc_func_desc.name_len");
_Static_assert(sizeof(wasmc_func_desc) == 24, "sizeof wasmc_func_desc");
_Static_assert(offsetof(wasmc_table_desc, min) == 0, "wasmc_table_desc.min");
_Static_assert(offsetof(wasmc_table_desc, max) == 8, "wasmc_table_desc.max");
_Static_assert(offsetof(wasmc_table_desc, elem_type) == 16, "wasmc_table_desc.elem_type");
_Static_assert(offsetof(wasmc_table_desc, flags) == 20, "wasmc_table_desc.flags");
_Static_assert(offsetof(wasmc_table_desc, init) == 24, "wasmc_table_desc.init");
_Static_assert(offsetof(wasmc_table_desc, elem_key) == 28, "wasmc_table_desc.elem_key");
_Static_assert(offsetof(wasmc_table_desc, elem_key_len) == 32, "wasmc_table_desc.elem_key_len");
_Static_assert(offsetof(wasmc_table_desc, pad) == 36, "wasmc_table_desc.pad");
_Static_assert(sizeof(wasmc_table_desc) == 40, "sizeof wasmc_table_desc");
_Static_assert(offsetof(wasmc_memory_desc, min) == 0, "wasmc_memory_desc.min");
_Static_assert(offsetof(wasmc_memory_desc, max) == 8, "wasmc_memory_desc.max");
_Static_assert(offsetof(wasmc_memory_desc, flags) == 16, "wasmc_memory_desc.flags");
_Static_assert(offsetof(wasmc_memory_desc, pad) == 20, "wasmc_memory_desc.pad");
_Static_assert(sizeof(wasmc_memory_desc) == 24, "sizeof wasmc_memory_desc");
_Static_assert(offsetof(wasmc_global_desc, valtype) == 0, "wasmc_global_desc.valtype");
_Static_assert(offsetof(wasmc_global_desc, mutable) == 4, "wasmc_global_desc.mutable");
_Static_assert(offsetof(wasmc_global_desc, key) == 8, "wasmc_global_desc.key");
_Static_assert(offsetof(wasmc_global_desc, key_len) == 12, "wasmc_global_desc.key_len");
_Static_assert(sizeof(wasmc_global_desc) == 16, "sizeof wasmc_global_desc");
_Static_assert(offsetof(wasmc_tag_desc, type) == 0, "wasmc_tag_desc.type");
_Static_assert(sizeof(wasmc_tag_desc) == 4, "sizeof wasmc_tag_desc");
_Static_assert(offsetof(wasmc_export_desc, kind) == 0, "wasmc_export_desc.kind");
_Static_assert(offsetof(wasmc_export_desc, index) == 4, "wasmc_export_desc.index");
_Static_assert(offsetof(wasmc_export_desc, name) == 8, "wasmc_export_desc.name");
_Static_assert(offsetof(wasmc_export_desc, name_len) == 12, "wasmc_export_desc.name_len");
_Static_assert(sizeof(wasmc_export_desc) == 16, "sizeof wasmc_export_desc");
_Static_assert(offsetof(wasmc_elem_desc, mode) == 0, "wasmc_elem_desc.mode");
_Static_assert(offsetof(wasmc_elem_desc, table) == 4, "wasmc_elem_desc.table");
_Static_assert(offsetof(wasmc_elem_desc, elem_type) == 8, "wasmc_elem_desc.elem_type");
_Static_assert(offsetof(wasmc_elem_desc, offset_fn) == 12, "wasmc_elem_desc.offset_fn");
_Static_assert(offsetof(wasmc_elem_desc, count) == 16, "wasmc_elem_desc.count");
_Static_assert(offsetof(wasmc_elem_desc, funcs) == 20, "wasmc_elem_desc.funcs");
_Static_assert(offsetof(wasmc_elem_desc, items_fn) == 24, "wasmc_elem_desc.items_fn");
_Static_assert(offsetof(wasmc_elem_desc, pad) == 28, "wasmc_elem_desc.pad");
_Static_assert(sizeof(wasmc_elem_desc) == 32, "sizeof wasmc_elem_desc");
_Static_assert(offsetof(wasmc_data_desc, mode) == 0, "wasmc_data_desc.mode");
_Static_assert(offsetof(wasmc_data_desc, memory) == 4, "wasmc_data_desc.memory");
_Static_assert(offsetof(wasmc_data_desc, offset_fn) == 8, "wasmc_data_desc.offset_fn");
_Static_assert(offsetof(wasmc_data_desc, data) == 12, "wasmc_data_desc.data");
_Static_assert(offsetof(wasmc_data_desc, size) == 16, "wasmc_data_desc.size");
_Static_assert(offsetof(wasmc_data_desc, pad) == 20, "wasmc_data_desc.pad");
_Static_assert(sizeof(wasmc_data_desc) == 24, "sizeof wasmc_data_desc");
_Static_assert(sizeof(wasmc_builtins) == 120, "sizeof wasmc_builtins");
_Static_assert(sizeof(wasmc_val) == 16, "sizeof wasmc_val");

/* --- The shim's C API records.  Not part of WASMC_ABI_VERSION: compiled code never
 * sees them (wasmc/abi.py HOST_STRUCTS; runtime/shim.py mirrors them in ctypes). */
#define WASMC_MAX_FRAMES 32

enum wasmc_error_kind {
    WASMC_OK = 0, /* no error */
    WASMC_ERR_ARTIFACT = 1, /* the image is malformed or for another ABI */
    WASMC_ERR_LINK = 2, /* an import does not match */
    WASMC_ERR_TRAP = 3, /* guest code trapped (trap holds the code) */
    WASMC_ERR_RESOURCE = 4, /* out of memory / address space */
    WASMC_ERR_USAGE = 5, /* API misuse (e.g. a store entered from two threads) */
    WASMC_ERR_LIMIT = 6, /* instantiation needs more than a store's limits allow (wasmc_store_set_limits) */
};

/* One Wasm frame of a trap's backtrace. */
typedef struct wasmc_frame {
    const struct wasmc_image * image; /* +0: the image the function belongs to */
    uint32_t func; /* +8: function index (in the module's function index space) */
    uint32_t pad; /* +12 */
} wasmc_frame;

/* What a call that failed reports. */
typedef struct wasmc_error {
    int32_t kind; /* +0: WASMC_ERR_* (WASMC_OK: no error) */
    int32_t trap; /* +4: WASMC_TRAP_* when kind == WASMC_ERR_TRAP */
    uint32_t nframes; /* +8: frames recorded */
    uint32_t pad; /* +12 */
    void * exn; /* +16: trap UNCAUGHT_EXCEPTION: the exception (struct wasmc_exn *, owned by the store) */
    wasmc_frame frames[32]; /* +24: innermost first */
    char message[512]; /* +536: one line, NUL-terminated */
} wasmc_error;

/* An extern passed as an import or obtained from an export. */
typedef struct wasmc_extern {
    uint32_t kind; /* +0: EXTERN_* */
    uint32_t pad; /* +4 */
    void * ptr; /* +8: wasmc_funcref *, wasmc_table *, wasmc_memory *, wasmc_global * or wasmc_tag * */
} wasmc_extern;

/* A global.  value points at where the value lives: storage for a host-created global, the owning instance's VMContext slot for an exported defined global (those records belong to the instance and live as long as its store; retain/release do nothing for them). */
typedef struct wasmc_global {
    wasmc_val * value; /* +0: the value's slot */
    uint32_t valtype; /* +8: VALTYPE_* */
    uint32_t mutable_; /* +12: 1 if mutable */
    uint32_t refcount; /* +16: host-created globals only */
    uint32_t key_len; /* +20 */
    char * key; /* +24: the value type's text (typed references are matched by it) */
    struct wasmc_instance * owner; /* +32: the defining instance, or NULL if host-created */
    wasmc_val storage; /* +40: the value of a host-created global */
} wasmc_global;

/* One import, export or function type of a loaded image, read from its checked descriptor (wasmc_image_import/_export/_type fill it).  Strings are UTF-8, not NUL-terminated, and live as long as the image. */
typedef struct wasmc_extern_type {
    uint32_t kind; /* +0: EXTERN_* */
    uint32_t index; /* +4: index in the kind's index space (wasmc_image_type: the type index) */
    const char * module; /* +8: imports: the module name; NULL otherwise */
    const char * name; /* +16: imports and exports: the name; NULL otherwise */
    uint32_t module_len; /* +24 */
    uint32_t name_len; /* +28 */
    uint32_t type_index; /* +32: functions and tags: their type index; NO_INDEX otherwise */
    uint32_t nparams; /* +36: functions and tags */
    const uint8_t * valtypes; /* +40: functions and tags: nparams + nresults VALTYPE_* codes */
    uint32_t nresults; /* +48: functions and tags */
    uint32_t valtype; /* +52: tables: the element type; globals: the value type (VALTYPE_*) */
    const char * type_key; /* +56: functions and tags: the canonical type key; tables and globals: the element or value type's text */
    uint32_t type_key_len; /* +64 */
    uint32_t flags; /* +68: tables: TABLE_FLAG_*; memories: MEMORY_FLAG_* */
    uint32_t mutable_; /* +72: globals: 1 if mutable */
    uint32_t pad; /* +76 */
    uint64_t min; /* +80: tables: elements; memories: pages */
    uint64_t max; /* +88: NO_MAX if none */
} wasmc_extern_type;

/* A store's resource limits, as wasmtime's StoreLimits (NO_MAX: none).  Growth beyond one fails as the spec allows (memory.grow and table.grow return -1); instantiation that needs more fails with WASMC_ERR_LIMIT. */
typedef struct wasmc_store_limits {
    uint64_t memory_size; /* +0: bytes one linear memory may have */
    uint64_t table_elements; /* +8: elements one table may have */
    uint64_t instances; /* +16: instances the store may hold */
    uint64_t tables; /* +24: tables its instances may define, together */
    uint64_t memories; /* +32: memories its instances may define, together */
} wasmc_store_limits;

_Static_assert(offsetof(wasmc_frame, image) == 0, "wasmc_frame.image");
_Static_assert(offsetof(wasmc_frame, func) == 8, "wasmc_frame.func");
_Static_assert(offsetof(wasmc_frame, pad) == 12, "wasmc_frame.pad");
_Static_assert(sizeof(wasmc_frame) == 16, "sizeof wasmc_frame");
_Static_assert(offsetof(wasmc_error, kind) == 0, "wasmc_error.kind");
_Static_assert(offsetof(wasmc_error, trap) == 4, "wasmc_error.trap");
_Static_assert(offsetof(wasmc_error, nframes) == 8, "wasmc_error.nframes");
_Static_assert(offsetof(wasmc_error, pad) == 12, "wasmc_error.pad");
_Static_assert(offsetof(wasmc_error, exn) == 16, "wasmc_error.exn");
_Static_assert(offsetof(wasmc_error, frames) == 24, "wasmc_error.frames");
_Static_assert(offsetof(wasmc_error, message) == 536, "wasmc_error.message");
_Static_assert(sizeof(wasmc_error) == 1048, "sizeof wasmc_error");
_Static_assert(offsetof(wasmc_extern, kind) == 0, "wasmc_extern.kind");
_Static_assert(offsetof(wasmc_extern, pad) == 4, "wasmc_extern.pad");
_Static_assert(offsetof(wasmc_extern, ptr) == 8, "wasmc_extern.ptr");
_Static_assert(sizeof(wasmc_extern) == 16, "sizeof wasmc_extern");
_Static_assert(offsetof(wasmc_global, value) == 0, "wasmc_global.value");
_Static_assert(offsetof(wasmc_global, valtype) == 8, "wasmc_global.valtype");
_Static_assert(offsetof(wasmc_global, mutable_) == 12, "wasmc_global.mutable_");
_Static_assert(offsetof(wasmc_global, refcount) == 16, "wasmc_global.refcount");
_Static_assert(offsetof(wasmc_global, key_len) == 20, "wasmc_global.key_len");
_Static_assert(offsetof(wasmc_global, key) == 24, "wasmc_global.key");
_Static_assert(offsetof(wasmc_global, owner) == 32, "wasmc_global.owner");
_Static_assert(offsetof(wasmc_global, storage) == 40, "wasmc_global.storage");
_Static_assert(sizeof(wasmc_global) == 56, "sizeof wasmc_global");
_Static_assert(offsetof(wasmc_extern_type, kind) == 0, "wasmc_extern_type.kind");
_Static_assert(offsetof(wasmc_extern_type, index) == 4, "wasmc_extern_type.index");
_Static_assert(offsetof(wasmc_extern_type, module) == 8, "wasmc_extern_type.module");
_Static_assert(offsetof(wasmc_extern_type, name) == 16, "wasmc_extern_type.name");
_Static_assert(offsetof(wasmc_extern_type, module_len) == 24, "wasmc_extern_type.module_len");
_Static_assert(offsetof(wasmc_extern_type, name_len) == 28, "wasmc_extern_type.name_len");
_Static_assert(offsetof(wasmc_extern_type, type_index) == 32, "wasmc_extern_type.type_index");
_Static_assert(offsetof(wasmc_extern_type, nparams) == 36, "wasmc_extern_type.nparams");
_Static_assert(offsetof(wasmc_extern_type, valtypes) == 40, "wasmc_extern_type.valtypes");
_Static_assert(offsetof(wasmc_extern_type, nresults) == 48, "wasmc_extern_type.nresults");
_Static_assert(offsetof(wasmc_extern_type, valtype) == 52, "wasmc_extern_type.valtype");
_Static_assert(offsetof(wasmc_extern_type, type_key) == 56, "wasmc_extern_type.type_key");
_Static_assert(offsetof(wasmc_extern_type, type_key_len) == 64, "wasmc_extern_type.type_key_len");
_Static_assert(offsetof(wasmc_extern_type, flags) == 68, "wasmc_extern_type.flags");
_Static_assert(offsetof(wasmc_extern_type, mutable_) == 72, "wasmc_extern_type.mutable_");
_Static_assert(offsetof(wasmc_extern_type, pad) == 76, "wasmc_extern_type.pad");
_Static_assert(offsetof(wasmc_extern_type, min) == 80, "wasmc_extern_type.min");
_Static_assert(offsetof(wasmc_extern_type, max) == 88, "wasmc_extern_type.max");
_Static_assert(sizeof(wasmc_extern_type) == 96, "sizeof wasmc_extern_type");
_Static_assert(offsetof(wasmc_store_limits, memory_size) == 0, "wasmc_store_limits.memory_size");
_Static_assert(offsetof(wasmc_store_limits, table_elements) == 8, "wasmc_store_limits.table_elements");
_Static_assert(offsetof(wasmc_store_limits, instances) == 16, "wasmc_store_limits.instances");
_Static_assert(offsetof(wasmc_store_limits, tables) == 24, "wasmc_store_limits.tables");
_Static_assert(offsetof(wasmc_store_limits, memories) == 32, "wasmc_store_limits.memories");
_Static_assert(sizeof(wasmc_store_limits) == 40, "sizeof wasmc_store_limits");

#endif /* WASMC_ABI_H */
