/* loader.c -- map an image and check its descriptor before anything uses it.
 *
 * An image comes straight from a .wasmu file: it is mapped read+execute at
 * whatever address the kernel picks (every reference inside it is
 * image-relative, so there is no relocation work), or, when the slice's
 * file offset is not a multiple of the page size, copied into an anonymous
 * mapping that is then made read+execute.
 *
 * Nothing in a descriptor is trusted: every offset, count and index is
 * checked against the image size and the other counts here, once, so that
 * instance.c can use them without further checks.  A failed check is one
 * error line naming the field.
 *
 * Loaded images register their code range in a fixed table that the signal
 * handler reads without locking (a fault counts as a trap only when the PC
 * is in a registered range).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim.h"

#define MAX_IMAGES 4096

static struct {
    _Atomic uintptr_t start, end;
    wasmc_image *_Atomic image;
} registry[MAX_IMAGES];
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

/* The defined function whose code holds image offset OFF, or -1 (a binary
 * search for the last function starting at or before OFF). */
static int64_t function_at(const wasmc_image *img, uint64_t off) {
    const wasmc_func_desc *fd = (const wasmc_func_desc *)(img->base + img->hdr->funcs);
    uint32_t lo = 0, hi = img->hdr->nfuncs - img->hdr->nimported_funcs;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (fd[img->func_order[mid]].code <= off) lo = mid + 1; else hi = mid;
    }
    if (lo == 0) return -1;
    uint32_t d = img->func_order[lo - 1];
    return off < (uint64_t)fd[d].code + fd[d].code_size ? (int64_t)d : -1;
}

bool wasmc_pc_in_guest(uintptr_t pc) {
    for (int i = 0; i < MAX_IMAGES; i++) {
        uintptr_t s = atomic_load_explicit(&registry[i].start, memory_order_acquire);
        if (s && pc >= s && pc < atomic_load_explicit(&registry[i].end, memory_order_relaxed))
            return true;
    }
    return false;
}

const wasmc_image *wasmc_image_for_pc(uintptr_t pc, uint32_t *func_index) {
    for (int i = 0; i < MAX_IMAGES; i++) {
        uintptr_t s = atomic_load_explicit(&registry[i].start, memory_order_acquire);
        if (!s || pc < s || pc >= atomic_load_explicit(&registry[i].end, memory_order_relaxed))
            continue;
        const wasmc_image *img = atomic_load_explicit(&registry[i].image, memory_order_relaxed);
        int64_t d = function_at(img, pc - (uintptr_t)img->base);
        *func_index = d < 0 ? UINT32_MAX : img->hdr->nimported_funcs + (uint32_t)d;
        return img;
    }
    return NULL;
}

static int register_image(wasmc_image *img) {
    pthread_mutex_lock(&registry_lock);
    int slot = -1;
    for (int i = 0; i < MAX_IMAGES; i++) {
        if (!atomic_load(&registry[i].start)) { slot = i; break; }
    }
    if (slot >= 0) {
        atomic_store(&registry[slot].image, img);
        atomic_store(&registry[slot].end, (uintptr_t)img->base + img->hdr->text_end);
        atomic_store_explicit(&registry[slot].start, (uintptr_t)img->base + img->hdr->text_start,
                              memory_order_release);
    }
    pthread_mutex_unlock(&registry_lock);
    return slot;
}

/* A reference to IMG unless its last one is being dropped (then it is about
 * to be unregistered and unmapped).  Called with registry_lock held. */
static bool retain_if_alive(wasmc_image *img) {
    uint32_t n = __atomic_load_n(&img->refcount, __ATOMIC_RELAXED);
    while (n) {
        if (__atomic_compare_exchange_n(&img->refcount, &n, n + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return true;
    }
    return false;
}

void *wasmc_image_adapter_for(uint32_t type_id, wasmc_image **owner) {
    void *found = NULL;
    pthread_mutex_lock(&registry_lock);
    for (int i = 0; i < MAX_IMAGES && !found; i++) {
        wasmc_image *img = (wasmc_image *)atomic_load(&registry[i].image);
        if (!img) continue;
        const wasmc_image_header *h = img->hdr;
        const wasmc_import_desc *id = (const wasmc_import_desc *)(img->base + h->imports);
        for (uint32_t k = 0; k < h->nimports; k++) {
            if (id[k].kind == WASMC_EXTERN_FUNC && img->type_ids[id[k].type] == type_id && retain_if_alive(img)) {
                *owner = img;
                found = img->base + id[k].adapter;
                break;
            }
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return found;
}

static void unregister_image(wasmc_image *img) {
    if (img->registry_slot < 0) return;
    pthread_mutex_lock(&registry_lock);
    atomic_store(&registry[img->registry_slot].start, 0);
    atomic_store(&registry[img->registry_slot].end, 0);
    atomic_store(&registry[img->registry_slot].image, NULL);
    pthread_mutex_unlock(&registry_lock);
}

/* --- descriptor checks ------------------------------------------------- */

typedef struct {
    const wasmc_image *img;
    wasmc_error *err;
} checker;

#define FAIL(...) do { wasmc_set_error(c->err, WASMC_ERR_ARTIFACT, __VA_ARGS__); return false; } while (0)

static bool in_image(const checker *c, uint64_t off, uint64_t count, uint64_t size, uint64_t align) {
    if (count == 0) return true;
    if (align > 1 && off % align) return false;
    if (off > c->img->size) return false;
    if (size && count > (c->img->size - off) / size) return false;
    return true;
}

static bool code_ok(const checker *c, uint32_t off) {
    const wasmc_image_header *h = c->img->hdr;
    return off >= h->text_start && off < h->text_end;
}

static bool string_ok(const checker *c, uint32_t off, uint32_t len) {
    const wasmc_image_header *h = c->img->hdr;
    return off <= h->strings_size && len <= h->strings_size - off;
}

/* Descriptor tables, strings and data follow the code (descriptor.py lays
 * the image out that way): nothing described may overlap the code. */
static bool after_code(const checker *c, uint64_t off, uint64_t count) {
    return count == 0 || off >= c->img->hdr->text_end;
}

/* The text name of a value type code in a canonical type key, or NULL for
 * codes only GC types use (their keys are "gc:..."). */
static const char *valtype_name(uint8_t code) {
    switch (code) {
    case WASMC_VALTYPE_I32: return "i32";
    case WASMC_VALTYPE_I64: return "i64";
    case WASMC_VALTYPE_F32: return "f32";
    case WASMC_VALTYPE_F64: return "f64";
    case WASMC_VALTYPE_V128: return "v128";
    case WASMC_VALTYPE_FUNCREF: return "funcref";
    case WASMC_VALTYPE_EXTERNREF: return "externref";
    default: return NULL;
    }
}

static bool valtype_known(uint32_t code) {
    return (code <= 0xFF && valtype_name((uint8_t)code) != NULL) || code == WASMC_VALTYPE_ANYREF ||
           code == WASMC_VALTYPE_EXNREF;
}

static bool is_ref(uint32_t code) {
    return code == WASMC_VALTYPE_FUNCREF || code == WASMC_VALTYPE_EXTERNREF || code == WASMC_VALTYPE_ANYREF ||
           code == WASMC_VALTYPE_EXNREF;
}

/* Consume S from the key at *P (before END). */
static bool key_take(const char **p, const char *end, const char *s) {
    size_t n = strlen(s);
    if ((size_t)(end - *p) < n || memcmp(*p, s, n) != 0) return false;
    *p += n;
    return true;
}

static bool key_list(const char **p, const char *end, const uint8_t *codes, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        const char *name = valtype_name(codes[i]);
        if (!name || (i && !key_take(p, end, ",")) || !key_take(p, end, name)) return false;
    }
    return true;
}

/* A plain function type's key spells out its value types
 * (abi.func_type_key: "func(i32,i64)->(f32)"); it must agree with the
 * type's value type codes, which the host uses to marshal calls. */
static bool type_key_ok(const checker *c, const wasmc_type_desc *td) {
    const char *p = strs(c->img) + td->key, *end = p + td->key_len;
    if (key_take(&p, end, "gc:")) return true; /* GC-canonical keys: compared, not parsed */
    const uint8_t *vt = c->img->base + td->valtypes;
    return td->kind == WASMC_TYPE_KIND_FUNC && key_take(&p, end, "func(") && key_list(&p, end, vt, td->nparams) &&
           key_take(&p, end, ")->(") && key_list(&p, end, vt + td->nparams, td->nresults) &&
           key_take(&p, end, ")") && p == end;
}

/* A global's or table's type key is its value type's text: a plain name
 * must be the one of its code; typed references are written "(ref ...)". */
static bool valtype_key_ok(const checker *c, uint32_t code, uint32_t key, uint32_t len) {
    const char *p = strs(c->img) + key, *end = p + len;
    const char *name = code <= 0xFF ? valtype_name((uint8_t)code) : NULL;
    if (name && key_take(&p, end, name) && p == end) return true;
    p = strs(c->img) + key;
    return is_ref(code) && key_take(&p, end, "(ref");
}

static bool func_type_desc(const wasmc_image *img, uint32_t funcidx, uint32_t *typeidx);

/* Limits a valid module can declare (the spec's; the shim may refuse less
 * at instantiation): 2^16 pages for a 32-bit memory, 2^48 for memory64. */
static bool limits_valid(uint64_t min, uint64_t max, uint64_t bound) {
    return min <= bound && (max == WASMC_NO_MAX || max <= bound);
}

typedef struct { uint64_t off, size, align; } region;

static int cmp_region(const void *a, const void *b) {
    uint64_t x = ((const region *)a)->off, y = ((const region *)b)->off;
    return x < y ? -1 : x > y;
}

/* The descriptor is packed densely after the code (compile/descriptor.py:
 * every record table (8-aligned), type value list, element index list
 * (4-aligned), data segment and the string table starts where the one
 * before it ends, rounded up to its own alignment, and the strings end the
 * image).  So the described regions must tile that part of the image
 * exactly: a count or offset changed by corruption leaves a gap or an
 * overlap even where every single reference is still in bounds (one element
 * segment fewer would otherwise just be missing). */
static bool check_dense(checker *c) {
    const wasmc_image_header *h = c->img->hdr;
    const uint8_t *b = c->img->base;
    const wasmc_type_desc *td = (const wasmc_type_desc *)(b + h->types);
    const wasmc_elem_desc *el = (const wasmc_elem_desc *)(b + h->elems);
    const wasmc_data_desc *dd = (const wasmc_data_desc *)(b + h->datas);
    uint64_t cap = 11 + (uint64_t)h->ntypes + h->nelems + h->ndatas, n = 0;
    region *r = malloc(cap * sizeof *r);
    if (!r) { wasmc_set_error(c->err, WASMC_ERR_RESOURCE, "out of memory"); return false; }
#define ADD(o, sz, a) \
    do { uint64_t sz_ = (sz); if (sz_ != 0) { r[n].off = (o); r[n].size = sz_; r[n].align = (a); n++; } } while (0)
    ADD(h->types, (uint64_t)h->ntypes * sizeof(wasmc_type_desc), 8);
    ADD(h->imports, (uint64_t)h->nimports * sizeof(wasmc_import_desc), 8);
    ADD(h->funcs, (uint64_t)(h->nfuncs - h->nimported_funcs) * sizeof(wasmc_func_desc), 8);
    ADD(h->tables, (uint64_t)h->ntables * sizeof(wasmc_table_desc), 8);
    ADD(h->memories, (uint64_t)h->nmemories * sizeof(wasmc_memory_desc), 8);
    ADD(h->globals, (uint64_t)h->nglobals * sizeof(wasmc_global_desc), 8);
    ADD(h->tags, (uint64_t)h->ntags * sizeof(wasmc_tag_desc), 8);
    ADD(h->exports, (uint64_t)h->nexports * sizeof(wasmc_export_desc), 8);
    ADD(h->elems, (uint64_t)h->nelems * sizeof(wasmc_elem_desc), 8);
    ADD(h->datas, (uint64_t)h->ndatas * sizeof(wasmc_data_desc), 8);
    ADD(h->strings, (uint64_t)h->strings_size, 1);
    for (uint32_t i = 0; i < h->ntypes; i++)
        if (td[i].kind == WASMC_TYPE_KIND_FUNC) ADD(td[i].valtypes, (uint64_t)td[i].nparams + td[i].nresults, 1);
    for (uint32_t i = 0; i < h->nelems; i++)
        if (el[i].funcs) ADD(el[i].funcs, (uint64_t)el[i].count * 4, 4);
    for (uint32_t i = 0; i < h->ndatas; i++) ADD(dd[i].data, (uint64_t)dd[i].size, 1);
#undef ADD
    qsort(r, n, sizeof *r, cmp_region);
    bool ok = true;
    for (uint64_t i = 1; i < n && ok; i++) {
        uint64_t end = r[i - 1].off + r[i - 1].size;
        ok = r[i].off == (end + r[i].align - 1) / r[i].align * r[i].align;
    }
    if (n && r[n - 1].off + r[n - 1].size != c->img->size) ok = false;
    free(r);
    if (!ok) FAIL("descriptor regions overlap or leave gaps (a count or offset is wrong)");
    return true;
}

static bool check_descriptor(checker *c) {
    const wasmc_image *img = c->img;
    const wasmc_image_header *h = img->hdr;
    if (img->size < sizeof(wasmc_image_header)) FAIL("image too small (%llu bytes)", (unsigned long long)img->size);
    if (h->magic != WASMC_IMAGE_MAGIC) FAIL("image has a bad magic number");
    if (h->abi_version != WASMC_ABI_VERSION)
        FAIL("image was compiled for ABI %#x but this runtime has ABI %#x (rebuild the artifact)",
             h->abi_version, (unsigned)WASMC_ABI_VERSION);
    if (h->image_size != img->size) FAIL("image size field %u does not match the slice size %llu",
                                         h->image_size, (unsigned long long)img->size);
    if (h->flags & ~(uint32_t)(WASMC_IMAGE_FLAG_GUARD_PAGES | WASMC_IMAGE_FLAG_FUEL))
        FAIL("image has unknown flags %#x", h->flags);
    if (!(sizeof(wasmc_image_header) <= h->text_start && h->text_start <= h->text_end && h->text_end <= img->size))
        FAIL("code range outside the image");
    if (h->vmctx_size < sizeof(wasmc_vmctx) || h->vmctx_size > (1u << 30)) FAIL("bad VMContext size");
    if (!in_image(c, h->strings, h->strings_size, 1, 1) || !after_code(c, h->strings, h->strings_size))
        FAIL("string table outside the image");
    /* Beyond bounds, the checks hold the descriptor to the one form the
     * compiler writes (an absent thing has offset 0, a field a record's kind
     * does not use is 0), so that a changed offset or index is refused even
     * where it would still be in bounds. */
#define TABLE(field, count, type) \
    if (!in_image(c, h->field, h->count, sizeof(type), 4) || !after_code(c, h->field, h->count) || \
        (h->count == 0 && h->field != 0)) \
        FAIL(#field " table outside the image")
    TABLE(types, ntypes, wasmc_type_desc);
    TABLE(imports, nimports, wasmc_import_desc);
    if (h->nimported_funcs > h->nfuncs) FAIL("more imported functions than functions");
    TABLE(funcs, nfuncs - h->nimported_funcs, wasmc_func_desc);
    if (h->nimported_tables > h->ntables) FAIL("bad table counts");
    TABLE(tables, ntables, wasmc_table_desc);
    if (h->nimported_memories > h->nmemories) FAIL("bad memory counts");
    TABLE(memories, nmemories, wasmc_memory_desc);
    if (h->nimported_globals > h->nglobals) FAIL("bad global counts");
    TABLE(globals, nglobals, wasmc_global_desc);
    if (h->nimported_tags > h->ntags) FAIL("bad tag counts");
    TABLE(tags, ntags, wasmc_tag_desc);
    TABLE(exports, nexports, wasmc_export_desc);
    TABLE(elems, nelems, wasmc_elem_desc);
    TABLE(datas, ndatas, wasmc_data_desc);
#undef TABLE
    /* The VMContext layout is a function of the counts (abi.VMOffsets, which
     * compiled code was built with): recompute it, so a count or offset that
     * disagrees with the others is refused instead of misplacing a region. */
    uint64_t vo = sizeof(wasmc_vmctx);
    bool layout_ok = h->vm_memories == vo;
    vo += (uint64_t)h->nmemories * 16;
    layout_ok &= h->vm_tables == vo;
    vo += (uint64_t)h->ntables * 8;
    layout_ok &= h->vm_imported_globals == vo;
    vo = (vo + (uint64_t)h->nimported_globals * 8 + 15) / 16 * 16;
    layout_ok &= h->vm_globals == vo;
    vo += (uint64_t)(h->nglobals - h->nimported_globals) * 16;
    layout_ok &= h->vm_defined_funcrefs == vo;
    vo += (uint64_t)(h->nfuncs - h->nimported_funcs) * sizeof(wasmc_funcref);
    layout_ok &= h->vm_funcref_ptrs == vo;
    vo += (uint64_t)h->nfuncs * 8;
    layout_ok &= h->vm_type_ids == vo;
    vo = (vo + (uint64_t)h->ntypes * 4 + 7) / 8 * 8;
    layout_ok &= h->vm_tags == vo;
    vo = (vo + (uint64_t)h->ntags * 8 + 15) / 16 * 16;
    if (!layout_ok || h->vmctx_size != vo) FAIL("VMContext layout does not match the counts");
    const uint8_t *b = img->base;
    const wasmc_type_desc *td = (const wasmc_type_desc *)(b + h->types);
    for (uint32_t i = 0; i < h->ntypes; i++) {
        if (td[i].kind > WASMC_TYPE_KIND_ARRAY) FAIL("type %u has a bad kind", i);
        if (!string_ok(c, td[i].key, td[i].key_len)) FAIL("type %u key outside the string table", i);
        uint64_t nvt = td[i].kind == WASMC_TYPE_KIND_FUNC ? (uint64_t)td[i].nparams + td[i].nresults : 0;
        if (!in_image(c, td[i].valtypes, nvt, 1, 1) || !after_code(c, td[i].valtypes, nvt) ||
            (nvt == 0 && td[i].valtypes != 0))
            FAIL("type %u value types outside the image", i);
        for (uint64_t k = 0; k < nvt; k++)
            if (!valtype_known(b[td[i].valtypes + k])) FAIL("type %u has an unknown value type", i);
        if (!type_key_ok(c, &td[i])) FAIL("type %u key does not match its value types", i);
    }
    uint32_t counts[5] = {0};
    const wasmc_import_desc *id = (const wasmc_import_desc *)(b + h->imports);
    for (uint32_t i = 0; i < h->nimports; i++) {
        if (id[i].kind > WASMC_EXTERN_TAG) FAIL("import %u has a bad kind", i);
        if (!string_ok(c, id[i].module, id[i].module_len) || !string_ok(c, id[i].name, id[i].name_len))
            FAIL("import %u name outside the string table", i);
        if (id[i].index != counts[id[i].kind]++) FAIL("import %u index out of order", i);
        if (id[i].kind == WASMC_EXTERN_FUNC || id[i].kind == WASMC_EXTERN_TAG)
            if (id[i].type >= h->ntypes || td[id[i].type].kind != WASMC_TYPE_KIND_FUNC) FAIL("import %u has a bad type", i);
        if (id[i].kind != WASMC_EXTERN_FUNC && id[i].kind != WASMC_EXTERN_TAG && id[i].type != 0)
            FAIL("import %u has a type index its kind does not use", i);
        if (id[i].kind == WASMC_EXTERN_FUNC ? !code_ok(c, id[i].adapter) : id[i].adapter != 0)
            FAIL("import %u adapter outside the code", i);
    }
    if (counts[0] != h->nimported_funcs || counts[1] != h->nimported_tables ||
        counts[2] != h->nimported_memories || counts[3] != h->nimported_globals || counts[4] != h->nimported_tags)
        FAIL("import counts do not match the header");
    const wasmc_tag_desc *tg = (const wasmc_tag_desc *)(b + h->tags);
    for (uint32_t i = 0; i < h->ntags; i++)
        if (tg[i].type >= h->ntypes || td[tg[i].type].kind != WASMC_TYPE_KIND_FUNC || td[tg[i].type].nresults)
            FAIL("tag %u has a bad type", i);
    for (uint32_t i = 0; i < h->nimports; i++)
        if (id[i].kind == WASMC_EXTERN_TAG && id[i].type != tg[id[i].index].type)
            FAIL("import %u's type differs from its tag's", i);
    const wasmc_func_desc *fd = (const wasmc_func_desc *)(b + h->funcs);
    for (uint32_t i = 0; i < h->nfuncs - h->nimported_funcs; i++) {
        if (!code_ok(c, fd[i].code) || fd[i].code_size > h->text_end - fd[i].code) FAIL("function %u code outside the code range", i);
        if (!code_ok(c, fd[i].array_call)) FAIL("function %u trampoline outside the code range", i);
        if (fd[i].type >= h->ntypes || td[fd[i].type].kind != WASMC_TYPE_KIND_FUNC) FAIL("function %u has a bad type", i);
        if (fd[i].name != WASMC_NO_INDEX && !string_ok(c, fd[i].name, fd[i].name_len)) FAIL("function %u name outside the string table", i);
    }
    const wasmc_table_desc *tb = (const wasmc_table_desc *)(b + h->tables);
    for (uint32_t i = 0; i < h->ntables; i++) {
        if (tb[i].init && !code_ok(c, tb[i].init)) FAIL("table %u initialiser outside the code", i);
        if (!string_ok(c, tb[i].elem_key, tb[i].elem_key_len)) FAIL("table %u type key outside the string table", i);
        if (tb[i].max != WASMC_NO_MAX && tb[i].max < tb[i].min) FAIL("table %u has max < min", i);
        if (tb[i].flags & ~(uint32_t)WASMC_TABLE_FLAG_64) FAIL("table %u has unknown flags", i);
        if (!(tb[i].flags & WASMC_TABLE_FLAG_64) && !limits_valid(tb[i].min, tb[i].max, UINT32_MAX))
            FAIL("table %u has limits beyond a 32-bit table's", i);
        if (!is_ref(tb[i].elem_type) || !valtype_key_ok(c, tb[i].elem_type, tb[i].elem_key, tb[i].elem_key_len))
            FAIL("table %u has a bad element type", i);
    }
    const wasmc_memory_desc *md = (const wasmc_memory_desc *)(b + h->memories);
    for (uint32_t i = 0; i < h->nmemories; i++) {
        if (md[i].max != WASMC_NO_MAX && md[i].max < md[i].min) FAIL("memory %u has max < min", i);
        if (md[i].flags & ~(uint32_t)(WASMC_MEMORY_FLAG_64 | WASMC_MEMORY_FLAG_BOUNDS_CHECKED | WASMC_MEMORY_FLAG_SHARED))
            FAIL("memory %u has unknown flags", i);
        if (!limits_valid(md[i].min, md[i].max, md[i].flags & WASMC_MEMORY_FLAG_64 ? 1ull << 48 : 1ull << 16))
            FAIL("memory %u has limits beyond what its index type allows", i);
    }
    const wasmc_global_desc *gd = (const wasmc_global_desc *)(b + h->globals);
    for (uint32_t i = 0; i < h->nglobals; i++) {
        if (!string_ok(c, gd[i].key, gd[i].key_len)) FAIL("global %u type key outside the string table", i);
        if (gd[i].mutable > 1 || !valtype_known(gd[i].valtype) || !valtype_key_ok(c, gd[i].valtype, gd[i].key, gd[i].key_len))
            FAIL("global %u has a bad type", i);
    }
    if (h->nglobals > h->nimported_globals && !code_ok(c, h->init_globals)) FAIL("global initialiser outside the code");
    if (h->init_globals && !code_ok(c, h->init_globals)) FAIL("global initialiser outside the code");
    const wasmc_export_desc *ed = (const wasmc_export_desc *)(b + h->exports);
    for (uint32_t i = 0; i < h->nexports; i++) {
        uint32_t limit = ed[i].kind == WASMC_EXTERN_FUNC ? h->nfuncs :
                         ed[i].kind == WASMC_EXTERN_TABLE ? h->ntables :
                         ed[i].kind == WASMC_EXTERN_MEMORY ? h->nmemories :
                         ed[i].kind == WASMC_EXTERN_GLOBAL ? h->nglobals :
                         ed[i].kind == WASMC_EXTERN_TAG ? h->ntags : 0;
        if (ed[i].index >= limit) FAIL("export %u refers to a missing entity", i);
        if (!string_ok(c, ed[i].name, ed[i].name_len)) FAIL("export %u name outside the string table", i);
    }
    const wasmc_elem_desc *el = (const wasmc_elem_desc *)(b + h->elems);
    for (uint32_t i = 0; i < h->nelems; i++) {
        if (el[i].mode > WASMC_SEG_DECLARATIVE) FAIL("element segment %u has a bad mode", i);
        if (el[i].mode == WASMC_SEG_ACTIVE ? el[i].table >= h->ntables || !code_ok(c, el[i].offset_fn)
                                           : el[i].offset_fn != 0)
            FAIL("element segment %u has a bad table or offset", i);
        if (!is_ref(el[i].elem_type)) FAIL("element segment %u has a bad element type", i);
        if (el[i].funcs && el[i].items_fn) FAIL("element segment %u has both items and an item initialiser", i);
        if (el[i].funcs) {
            if (!in_image(c, el[i].funcs, el[i].count, 4, 4) || !after_code(c, el[i].funcs, el[i].count))
                FAIL("element segment %u items outside the image", i);
            const uint32_t *f = (const uint32_t *)(b + el[i].funcs);
            for (uint32_t k = 0; k < el[i].count; k++)
                if (f[k] != WASMC_NO_INDEX && f[k] >= h->nfuncs) FAIL("element segment %u refers to a missing function", i);
        } else if (el[i].count && !code_ok(c, el[i].items_fn)) {
            FAIL("element segment %u item initialiser outside the code", i);
        }
    }
    const wasmc_data_desc *dd = (const wasmc_data_desc *)(b + h->datas);
    for (uint32_t i = 0; i < h->ndatas; i++) {
        if (dd[i].mode > WASMC_SEG_ACTIVE) FAIL("data segment %u has a bad mode", i);
        if (dd[i].mode == WASMC_SEG_ACTIVE ? dd[i].memory >= h->nmemories || !code_ok(c, dd[i].offset_fn)
                                           : dd[i].offset_fn != 0)
            FAIL("data segment %u has a bad memory or offset", i);
        if (!in_image(c, dd[i].data, dd[i].size, 1, 1) || !after_code(c, dd[i].data, dd[i].size) ||
            (dd[i].size == 0 && dd[i].data != 0))
            FAIL("data segment %u bytes outside the image", i);
    }
    if (h->start_func != WASMC_NO_INDEX) {
        /* The shim calls it with no value slots to spare: it must be [] -> []. */
        uint32_t t;
        if (h->start_func >= h->nfuncs || !func_type_desc(img, h->start_func, &t) || td[t].nparams || td[t].nresults)
            FAIL("start function out of range or not of type [] -> []");
    }
    if (h->module_name != WASMC_NO_INDEX && h->module_name >= h->strings_size) FAIL("module name outside the string table");
    return check_dense(c);
}

static const wasmc_func_desc *order_descs;
static int cmp_code(const void *a, const void *b) {
    uint32_t x = order_descs[*(const uint32_t *)a].code, y = order_descs[*(const uint32_t *)b].code;
    return x < y ? -1 : x > y;
}

/* Code offsets can be checked for where they point, not for what they
 * point at (a slice is native code: docs/container.md, "Trust").  But
 * functions never overlap, and nothing else the descriptor points at
 * (trampolines, adapters, initialisers) lies inside a function: an offset
 * that breaks either rule is damage.  Needs img->func_order. */
static bool check_code_layout(checker *c) {
    const wasmc_image *img = c->img;
    const wasmc_image_header *h = img->hdr;
    const uint8_t *b = img->base;
    const wasmc_func_desc *fd = (const wasmc_func_desc *)(b + h->funcs);
    uint32_t ndef = h->nfuncs - h->nimported_funcs;
    for (uint32_t k = 1; k < ndef; k++) {
        const wasmc_func_desc *x = &fd[img->func_order[k - 1]], *y = &fd[img->func_order[k]];
        if ((uint64_t)x->code + x->code_size > y->code) FAIL("functions %u and %u overlap", img->func_order[k - 1],
                                                               img->func_order[k]);
    }
#define OUTSIDE(off, ...) if ((off) && function_at(img, (off)) >= 0) FAIL(__VA_ARGS__)
    for (uint32_t i = 0; i < ndef; i++) OUTSIDE(fd[i].array_call, "function %u trampoline inside a function", i);
    const wasmc_import_desc *id = (const wasmc_import_desc *)(b + h->imports);
    for (uint32_t i = 0; i < h->nimports; i++) OUTSIDE(id[i].adapter, "import %u adapter inside a function", i);
    OUTSIDE(h->init_globals, "global initialiser inside a function");
    const wasmc_table_desc *tb = (const wasmc_table_desc *)(b + h->tables);
    for (uint32_t i = 0; i < h->ntables; i++) OUTSIDE(tb[i].init, "table %u initialiser inside a function", i);
    const wasmc_elem_desc *el = (const wasmc_elem_desc *)(b + h->elems);
    for (uint32_t i = 0; i < h->nelems; i++) {
        OUTSIDE(el[i].offset_fn, "element segment %u offset inside a function", i);
        OUTSIDE(el[i].items_fn, "element segment %u item initialiser inside a function", i);
    }
    const wasmc_data_desc *dd = (const wasmc_data_desc *)(b + h->datas);
    for (uint32_t i = 0; i < h->ndatas; i++) OUTSIDE(dd[i].offset_fn, "data segment %u offset inside a function", i);
#undef OUTSIDE
    return true;
}

static wasmc_image *finish(wasmc_image *img, wasmc_error *err) {
    img->hdr = (const wasmc_image_header *)img->base;
    img->refcount = 1;
    img->registry_slot = -1;
    checker c = {img, err};
    if (!check_descriptor(&c)) {
        wasmc_image_release(img);
        return NULL;
    }
    uint32_t ndef = img->hdr->nfuncs - img->hdr->nimported_funcs;
    img->func_order = malloc(sizeof(uint32_t) * (ndef ? ndef : 1));
    if (!img->func_order) {
        wasmc_set_error(err, WASMC_ERR_RESOURCE, "out of memory");
        wasmc_image_release(img);
        return NULL;
    }
    for (uint32_t i = 0; i < ndef; i++) img->func_order[i] = i;
    static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&sort_lock);
    order_descs = (const wasmc_func_desc *)(img->base + img->hdr->funcs);
    qsort(img->func_order, ndef, sizeof(uint32_t), cmp_code);
    pthread_mutex_unlock(&sort_lock);
    if (!check_code_layout(&c)) {
        wasmc_image_release(img);
        return NULL;
    }
    const wasmc_type_desc *td = (const wasmc_type_desc *)(img->base + img->hdr->types);
    img->type_ids = malloc(sizeof(uint32_t) * (img->hdr->ntypes ? img->hdr->ntypes : 1));
    if (!img->type_ids) {
        wasmc_set_error(err, WASMC_ERR_RESOURCE, "out of memory");
        wasmc_image_release(img);
        return NULL;
    }
    for (uint32_t i = 0; i < img->hdr->ntypes; i++) img->type_ids[i] = wasmc_type_id(strs(img) + td[i].key, td[i].key_len);
    img->registry_slot = register_image(img);
    if (img->registry_slot < 0) {
        wasmc_set_error(err, WASMC_ERR_RESOURCE, "too many images loaded (limit %d)", MAX_IMAGES);
        wasmc_image_release(img);
        return NULL;
    }
    return img;
}

/* What both ways of loading an image check first. */
static bool image_args_ok(uint64_t size, wasmc_error *err) {
    if (wasmc_signals_init() != 0) {
        wasmc_set_error(err, WASMC_ERR_RESOURCE, "cannot install signal handlers");
        return false;
    }
    if (size < sizeof(wasmc_image_header) || size > (1ull << 32)) {
        wasmc_set_error(err, WASMC_ERR_ARTIFACT, "image size %llu out of range", (unsigned long long)size);
        return false;
    }
    return true;
}

wasmc_image *wasmc_image_map(int fd, uint64_t offset, uint64_t size, wasmc_error *err) {
    if (!image_args_ok(size, err)) return NULL;
    long page = sysconf(_SC_PAGESIZE);
    wasmc_image *img = calloc(1, sizeof *img);
    if (!img) { wasmc_set_error(err, WASMC_ERR_RESOURCE, "out of memory"); return NULL; }
    img->size = size;
    img->mapped = 1;
    img->registry_slot = -1;
    if (page > 0 && offset % (uint64_t)page == 0) {
        void *p = mmap(NULL, size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, (off_t)offset);
        if (p == MAP_FAILED) {
            wasmc_set_error(err, WASMC_ERR_RESOURCE, "cannot map image: %s", strerror(errno));
            free(img);
            return NULL;
        }
        img->base = p;
    } else {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            wasmc_set_error(err, WASMC_ERR_RESOURCE, "cannot map image: %s", strerror(errno));
            free(img);
            return NULL;
        }
        uint64_t done = 0;
        while (done < size) {
            ssize_t n = pread(fd, (uint8_t *)p + done, size - done, (off_t)(offset + done));
            if (n <= 0) {
                wasmc_set_error(err, WASMC_ERR_ARTIFACT, "cannot read image: %s", n < 0 ? strerror(errno) : "file truncated");
                munmap(p, size);
                free(img);
                return NULL;
            }
            done += (uint64_t)n;
        }
        if (mprotect(p, size, PROT_READ | PROT_EXEC) != 0) {
            wasmc_set_error(err, WASMC_ERR_RESOURCE, "cannot protect image: %s", strerror(errno));
            munmap(p, size);
            free(img);
            return NULL;
        }
        img->base = p;
    }
    return finish(img, err);
}

wasmc_image *wasmc_image_copy(const void *data, uint64_t size, wasmc_error *err) {
    if (!image_args_ok(size, err)) return NULL;
    wasmc_image *img = calloc(1, sizeof *img);
    if (!img) { wasmc_set_error(err, WASMC_ERR_RESOURCE, "out of memory"); return NULL; }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        wasmc_set_error(err, WASMC_ERR_RESOURCE, "cannot map image: %s", strerror(errno));
        free(img);
        return NULL;
    }
    memcpy(p, data, size);
    if (mprotect(p, size, PROT_READ | PROT_EXEC) != 0) {
        wasmc_set_error(err, WASMC_ERR_RESOURCE, "cannot protect image: %s", strerror(errno));
        munmap(p, size);
        free(img);
        return NULL;
    }
    img->base = p;
    img->size = size;
    img->mapped = 1;
    img->registry_slot = -1;
    return finish(img, err);
}

void wasmc_image_retain(wasmc_image *img) { __atomic_add_fetch(&img->refcount, 1, __ATOMIC_RELAXED); }

void wasmc_image_release(wasmc_image *img) {
    if (!img) return;
    if (__atomic_sub_fetch(&img->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    unregister_image(img);
    if (img->base) munmap(img->base, img->size);
    free(img->func_order);
    free(img->type_ids);
    free(img);
}

const wasmc_image_header *wasmc_image_header_of(const wasmc_image *img) { return img->hdr; }

/* --- the interface, from the checked descriptor -------------------------- */

/* The type index of function FUNCIDX (imports first; the checks above
 * keep import indices in order, so the FUNCIDX-th function import is it). */
static bool func_type_desc(const wasmc_image *img, uint32_t funcidx, uint32_t *typeidx) {
    const wasmc_image_header *h = img->hdr;
    if (funcidx >= h->nfuncs) return false;
    if (funcidx >= h->nimported_funcs) {
        *typeidx = ((const wasmc_func_desc *)(img->base + h->funcs))[funcidx - h->nimported_funcs].type;
        return true;
    }
    const wasmc_import_desc *id = (const wasmc_import_desc *)(img->base + h->imports);
    for (uint32_t i = 0; i < h->nimports; i++)
        if (id[i].kind == WASMC_EXTERN_FUNC && id[i].index == funcidx) {
            *typeidx = id[i].type;
            return true;
        }
    return false;
}

static void fill_func_type(const wasmc_image *img, uint32_t typeidx, wasmc_extern_type *out) {
    const wasmc_type_desc *td = (const wasmc_type_desc *)(img->base + img->hdr->types) + typeidx;
    out->type_index = typeidx;
    out->nparams = td->nparams;
    out->nresults = td->nresults;
    out->valtypes = img->base + td->valtypes;
    out->type_key = strs(img) + td->key;
    out->type_key_len = td->key_len;
}

/* The type of entity INDEX of KIND (OUT's kind and index are set). */
static void fill_entity_type(const wasmc_image *img, wasmc_extern_type *out) {
    const wasmc_image_header *h = img->hdr;
    uint32_t t;
    switch (out->kind) {
    case WASMC_EXTERN_FUNC:
        if (func_type_desc(img, out->index, &t)) fill_func_type(img, t, out);
        break;
    case WASMC_EXTERN_TABLE: {
        const wasmc_table_desc *td = (const wasmc_table_desc *)(img->base + h->tables) + out->index;
        out->min = td->min;
        out->max = td->max;
        out->flags = td->flags;
        out->valtype = td->elem_type;
        out->type_key = strs(img) + td->elem_key;
        out->type_key_len = td->elem_key_len;
        break;
    }
    case WASMC_EXTERN_MEMORY: {
        const wasmc_memory_desc *md = (const wasmc_memory_desc *)(img->base + h->memories) + out->index;
        out->min = md->min;
        out->max = md->max;
        out->flags = md->flags;
        break;
    }
    case WASMC_EXTERN_GLOBAL: {
        const wasmc_global_desc *gd = (const wasmc_global_desc *)(img->base + h->globals) + out->index;
        out->valtype = gd->valtype;
        out->mutable_ = gd->mutable;
        out->type_key = strs(img) + gd->key;
        out->type_key_len = gd->key_len;
        break;
    }
    case WASMC_EXTERN_TAG:
        fill_func_type(img, ((const wasmc_tag_desc *)(img->base + h->tags))[out->index].type, out);
        break;
    }
}

static void clear(wasmc_extern_type *out, uint32_t kind, uint32_t index) {
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->index = index;
    out->type_index = WASMC_NO_INDEX;
    out->max = WASMC_NO_MAX;
}

int wasmc_image_import(const wasmc_image *img, uint32_t i, wasmc_extern_type *out) {
    if (i >= img->hdr->nimports) return 0;
    const wasmc_import_desc *id = (const wasmc_import_desc *)(img->base + img->hdr->imports) + i;
    clear(out, id->kind, id->index);
    out->module = strs(img) + id->module;
    out->module_len = id->module_len;
    out->name = strs(img) + id->name;
    out->name_len = id->name_len;
    if (id->kind == WASMC_EXTERN_FUNC || id->kind == WASMC_EXTERN_TAG) fill_func_type(img, id->type, out);
    else fill_entity_type(img, out);
    return 1;
}

int wasmc_image_export(const wasmc_image *img, uint32_t i, wasmc_extern_type *out) {
    if (i >= img->hdr->nexports) return 0;
    const wasmc_export_desc *ed = (const wasmc_export_desc *)(img->base + img->hdr->exports) + i;
    clear(out, ed->kind, ed->index);
    out->name = strs(img) + ed->name;
    out->name_len = ed->name_len;
    fill_entity_type(img, out);
    return 1;
}

int wasmc_image_type(const wasmc_image *img, uint32_t typeidx, wasmc_extern_type *out) {
    if (typeidx >= img->hdr->ntypes) return 0;
    const wasmc_type_desc *td = (const wasmc_type_desc *)(img->base + img->hdr->types) + typeidx;
    if (td->kind != WASMC_TYPE_KIND_FUNC) return 0;
    clear(out, WASMC_EXTERN_FUNC, typeidx);
    fill_func_type(img, typeidx, out);
    return 1;
}

const char *wasmc_image_func_name(const wasmc_image *img, uint32_t funcidx, uint32_t *len) {
    const wasmc_image_header *h = img->hdr;
    if (funcidx >= h->nfuncs || funcidx < h->nimported_funcs) return NULL;
    const wasmc_func_desc *fd = (const wasmc_func_desc *)(img->base + h->funcs) + (funcidx - h->nimported_funcs);
    if (fd->name == WASMC_NO_INDEX) return NULL;
    *len = fd->name_len;
    return strs(img) + fd->name;
}
