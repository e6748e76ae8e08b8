/* instance.c -- stores, instantiation, and calls.
 *
 * Instantiation follows the spec's order: check every import against the
 * descriptor (a LinkError names the first mismatch), build the VMContext,
 * allocate defined memories, tables and element segments, then -- inside a
 * guest entry, because compiled code runs from here on -- run the compiled
 * constant expressions for globals, table initialisers and element items,
 * apply active element and data segments in order and run the start
 * function.
 * Effects of segments applied before a trap stay visible (imported tables
 * and memories are shared), and so the failed instance stays alive in its
 * store.
 *
 * The builtins compiled code calls through vmctx->builtins are in
 * builtins.c; errors are filled by error.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/* --- canonical type ids ---------------------------------------------------
 * Equal type keys (see abi: canonical key) get equal process-wide ids, so a
 * call_indirect check is one integer compare even across modules. */

typedef struct type_entry {
    char *key;
    uint32_t len;
    uint32_t id;
    struct type_entry *next;
} type_entry;

#define TYPE_BUCKETS 1024
static type_entry *type_table[TYPE_BUCKETS];
static uint32_t next_type_id = 1;
static pthread_mutex_t type_lock = PTHREAD_MUTEX_INITIALIZER;

uint32_t wasmc_type_id(const char *key, uint32_t len) {
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < len; i++) h = (h ^ (uint8_t)key[i]) * 1099511628211ull;
    unsigned b = (unsigned)(h % TYPE_BUCKETS);
    pthread_mutex_lock(&type_lock);
    for (type_entry *e = type_table[b]; e; e = e->next) {
        if (e->len == len && memcmp(e->key, key, len) == 0) {
            pthread_mutex_unlock(&type_lock);
            return e->id;
        }
    }
    type_entry *e = malloc(sizeof *e);
    char *k = malloc(len ? len : 1);
    if (!e || !k) {
        pthread_mutex_unlock(&type_lock);
        free(e);
        free(k);
        return 0; /* never equal to a real id: calls through it trap */
    }
    memcpy(k, key, len);
    e->key = k;
    e->len = len;
    e->id = next_type_id++;
    e->next = type_table[b];
    type_table[b] = e;
    pthread_mutex_unlock(&type_lock);
    return e->id;
}

/* --- stores --------------------------------------------------------------- */

wasmc_store *wasmc_store_new(void) {
    wasmc_store *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->max_stack = WASMC_DEFAULT_MAX_STACK;
    wasmc_limits_init(st);
    /* Arguments and results the uniform calling convention (riscv64)
     * passes in memory (compile/lower/calls.py). */
    st->limits.args = calloc(WASMC_ARGS_SLOTS, sizeof(wasmc_val));
    if (!st->limits.args) {
        free(st);
        return NULL;
    }
    return st;
}

/* --- exceptions and tags ---------------------------------------------------- */

wasmc_exn *wasmc_exn_alloc(wasmc_store *st, wasmc_tag *tag) {
    wasmc_exn_obj *o = calloc(1, sizeof *o + (size_t)tag->nparams * sizeof(wasmc_val));
    if (!o) return NULL;
    o->exn.tag = tag;
    o->exn.nvalues = tag->nparams;
    o->next = st->exns;
    st->exns = o;
    return &o->exn;
}

wasmc_exn *wasmc_exn_new(wasmc_store *st, wasmc_tag *tag, const wasmc_val *values) {
    wasmc_exn *x = wasmc_exn_alloc(st, tag);
    if (x && tag->nparams) memcpy((wasmc_val *)(x + 1), values, (size_t)tag->nparams * sizeof(wasmc_val));
    return x;
}

wasmc_tag *wasmc_tag_new(wasmc_store *st, const char *type_key, uint32_t key_len, uint32_t nparams) {
    wasmc_tag_rec *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->tag.type_id = wasmc_type_id(type_key, key_len);
    r->tag.nparams = nparams;
    r->next = st->tags;
    st->tags = r;
    return &r->tag;
}

int32_t wasmc_throw_from_host(wasmc_vmctx *caller, wasmc_exn *exn) {
    if (caller) caller->limits->exn = exn;
    return WASMC_TRAP_EXCEPTION;
}

/* Find TAG among the tags STORE's instances can reach: an exported one by
 * its export name, else "tag[i]" of the first instance that has it. */
int32_t wasmc_tag_describe(const wasmc_store *st, const wasmc_tag *tag, char *name, size_t len,
                           const uint8_t **valtypes) {
    for (int pass = 0; pass < 2; pass++)
        for (const wasmc_instance *inst = st->instances; inst; inst = inst->next) {
            const wasmc_image_header *h = inst->hdr;
            const uint8_t *b = (const uint8_t *)h;
            wasmc_tag *const *tags = (wasmc_tag *const *)((const uint8_t *)inst->vmctx + h->vm_tags);
            const wasmc_tag_desc *td = (const wasmc_tag_desc *)(b + h->tags);
            const wasmc_export_desc *ed = (const wasmc_export_desc *)(b + h->exports);
            for (uint32_t i = 0; i < (pass ? h->ntags : h->nexports); i++) {
                uint32_t ti = pass ? i : ed[i].index;
                if ((!pass && ed[i].kind != WASMC_EXTERN_TAG) || tags[ti] != tag) continue;
                if (pass)
                    snprintf(name, len, "tag[%u]", ti);
                else
                    snprintf(name, len, "%.*s", (int)ed[i].name_len, (const char *)b + h->strings + ed[i].name);
                const wasmc_type_desc *ty = (const wasmc_type_desc *)(b + h->types) + td[ti].type;
                *valtypes = b + ty->valtypes;
                return (int32_t)ty->nparams;
            }
        }
    return -1;
}

void wasmc_store_set_max_stack(wasmc_store *st, uint64_t bytes) { st->max_stack = bytes; }

static void instance_free(wasmc_instance *inst) {
    const wasmc_image_header *h = inst->hdr;
    if (inst->memories)
        for (uint32_t i = 0; i < h->nmemories; i++) wasmc_memory_release(inst->memories[i]);
    if (inst->tables)
        for (uint32_t i = 0; i < h->ntables; i++) wasmc_table_release(inst->tables[i]);
    if (inst->imported_globals)
        for (uint32_t i = 0; i < h->nimported_globals; i++) wasmc_global_release(inst->imported_globals[i]);
    if (inst->elems)
        for (uint32_t i = 0; i < h->nelems; i++) free(inst->elems[i].items);
    free(inst->elems);
    free(inst->datas);
    free(inst->memories);
    free(inst->tables);
    free(inst->imported_globals);
    free(inst->host_funcrefs);
    free(inst->defined_globals);
    free(inst->defined_tags);
    free(inst->vmctx);
    wasmc_image_release(inst->image);
    free(inst);
}

void wasmc_store_free(wasmc_store *st) {
    if (!st) return;
    wasmc_instance *i = st->instances;
    while (i) {
        wasmc_instance *n = i->next;
        instance_free(i);
        i = n;
    }
    wasmc_hostfunc_rec *h = st->hostfuncs;
    while (h) {
        wasmc_hostfunc_rec *n = h->next;
        wasmc_image_release(h->adapter_image);
        free(h);
        h = n;
    }
    for (wasmc_exn_obj *x = st->exns, *n; x; x = n) {
        n = x->next;
        free(x);
    }
    for (wasmc_tag_rec *t = st->tags, *n; t; t = n) {
        n = t->next;
        free(t);
    }
    free(st->limits.args);
    free(st);
}

/* What compiled code calls for a host function when no loaded module has
 * an adapter for its type: a trap ("host function failed"), never a jump
 * to address 0.  It takes the Wasm arguments and ignores them; it never
 * returns, so neither the arguments nor the result type matter. */
static void host_without_adapter(void) {
    wasmc_raise(WASMC_TRAP_HOST, (uintptr_t)__builtin_frame_address(0));
}

wasmc_funcref *wasmc_hostfunc_new(wasmc_store *st, wasmc_host_callback fn, void *data, const char *key,
                                  uint32_t key_len, uint32_t nparams, uint32_t nresults) {
    wasmc_hostfunc_rec *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->env.fn = (void *)fn;
    r->env.data = data;
    r->env.type_id = wasmc_type_id(key, key_len);
    r->env.nparams = nparams;
    r->env.nresults = nresults;
    /* Compiled code calls a function through its Wasm-ABI entry.  An
     * instance that imports this function uses its own adapter (a copy of
     * this record, see instance_build); this record itself is what the host
     * puts into tables, globals and arguments, so it needs an adapter of its
     * type from some loaded module (kept mapped while the record lives). */
    r->ref.code = wasmc_image_adapter_for(r->env.type_id, &r->adapter_image);
    if (!r->ref.code) r->ref.code = (void *)host_without_adapter;
    r->ref.vmctx = &r->env;
    r->ref.array_call = NULL;
    r->ref.type_id = r->env.type_id;
    r->ref.flags = WASMC_FUNCREF_FLAG_HOST;
    r->next = st->hostfuncs;
    st->hostfuncs = r;
    return &r->ref;
}

/* --- import checks ------------------------------------------------------------ */

static bool limits_match(uint64_t have_min, uint64_t have_max, uint64_t want_min, uint64_t want_max) {
    if (have_min < want_min) return false;
    if (want_max == WASMC_NO_MAX) return true;
    return have_max != WASMC_NO_MAX && have_max <= want_max;
}

static bool key_eq(const char *a, uint32_t alen, const char *b, uint32_t blen) {
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* Subtyping of the value types that key strings spell (descriptor.py:
 * valtype_text): names ("i32", "funcref", "externref") and references
 * "(ref null? HEAP)", where a defined type's HEAP is "$" and its canonical
 * key, which says its kind ("$func...", "$struct:...", "$array:..."). */
static bool span_is(const char *s, size_t n, const char *lit) { return n == strlen(lit) && !memcmp(s, lit, n); }
static bool span_starts(const char *s, size_t n, const char *lit) {
    return n >= strlen(lit) && !memcmp(s, lit, strlen(lit));
}

/* Parse reference type key K into nullability and heap text. */
static bool ref_parts(const char *k, size_t n, bool *nullable, const char **heap, size_t *hn) {
    if (span_is(k, n, "funcref") || span_is(k, n, "externref")) {
        *nullable = true;
        *heap = k;
        *hn = n - 3;
        return true;
    }
    if (!span_starts(k, n, "(ref ") || k[n - 1] != ')') return false;
    k += 5, n -= 6;
    *nullable = span_starts(k, n, "null ");
    if (*nullable) k += 5, n -= 5;
    *heap = k;
    *hn = n;
    return true;
}

static bool heap_sub(const char *a, size_t an, const char *b, size_t bn) {
    if (an == bn && !memcmp(a, b, an)) return true;
    bool a_def_func = span_starts(a, an, "$func"), b_def_func = span_starts(b, bn, "$func");
    bool a_struct = span_is(a, an, "struct") || span_starts(a, an, "$struct:");
    bool a_array = span_is(a, an, "array") || span_starts(a, an, "$array:");
    if (span_is(a, an, "nofunc")) return span_is(b, bn, "func") || b_def_func;
    if (a_def_func) return span_is(b, bn, "func");
    if (span_is(a, an, "noextern")) return span_is(b, bn, "extern");
    if (span_is(a, an, "noexn")) return span_is(b, bn, "exn");
    if (span_is(a, an, "none"))
        return span_is(b, bn, "any") || span_is(b, bn, "eq") || span_is(b, bn, "i31") ||
               span_is(b, bn, "struct") || span_is(b, bn, "array") || span_starts(b, bn, "$struct:") ||
               span_starts(b, bn, "$array:");
    if (span_is(a, an, "eq") || span_is(a, an, "i31") || a_struct || a_array)
        return span_is(b, bn, "any") || (span_is(b, bn, "eq") && !span_is(a, an, "eq")) ||
               (span_is(b, bn, "struct") && span_starts(a, an, "$struct:")) ||
               (span_is(b, bn, "array") && span_starts(a, an, "$array:"));
    return false; /* declared GC subtypes of defined types: not executable yet */
}

static bool valtype_sub(const char *a, size_t an, const char *b, size_t bn) {
    if (an == bn && !memcmp(a, b, an)) return true;
    bool na, nb;
    const char *ha, *hb;
    size_t hna, hnb;
    if (!ref_parts(a, an, &na, &ha, &hna) || !ref_parts(b, bn, &nb, &hb, &hnb)) return false;
    return (!na || nb) && heap_sub(ha, hna, hb, hnb);
}

static bool check_import(const wasmc_image *img, uint32_t i, const wasmc_extern *ext, wasmc_error *err) {
    const wasmc_image_header *h = img->hdr;
    const wasmc_import_desc *id = (const wasmc_import_desc *)(img->base + h->imports) + i;
    const char *s = strs(img);
#define LINKFAIL(why) do { wasmc_set_error(err, WASMC_ERR_LINK, "incompatible import type for %.*s::%.*s: %s", \
        (int)id->module_len, s + id->module, (int)id->name_len, s + id->name, why); return false; } while (0)
    if (!ext->ptr) LINKFAIL("no value");
    if (ext->kind != id->kind) LINKFAIL("wrong kind of extern");
    switch (id->kind) {
    case WASMC_EXTERN_FUNC: {
        const wasmc_type_desc *td = (const wasmc_type_desc *)(img->base + h->types) + id->type;
        const wasmc_funcref *f = ext->ptr;
        if (f->type_id != wasmc_type_id(s + td->key, td->key_len)) LINKFAIL("function type mismatch");
        return true;
    }
    case WASMC_EXTERN_TABLE: {
        const wasmc_table_desc *td = (const wasmc_table_desc *)(img->base + h->tables) + id->index;
        const wasmc_table *t = ext->ptr;
        uint32_t kl;
        const char *k = wasmc_table_key(t, &kl);
        if (t->elem_type != td->elem_type || !key_eq(k, kl, s + td->elem_key, td->elem_key_len))
            LINKFAIL("table element type mismatch");
        if ((t->flags & WASMC_TABLE_FLAG_64) != (td->flags & WASMC_TABLE_FLAG_64)) LINKFAIL("table index type mismatch");
        if (!limits_match(t->size, t->declared_max, td->min, td->max)) LINKFAIL("table limits mismatch");
        return true;
    }
    case WASMC_EXTERN_MEMORY: {
        const wasmc_memory_desc *md = (const wasmc_memory_desc *)(img->base + h->memories) + id->index;
        const wasmc_memory *m = ext->ptr;
        if ((m->flags & WASMC_MEMORY_FLAG_64) != (md->flags & WASMC_MEMORY_FLAG_64)) LINKFAIL("memory index type mismatch");
        if (!limits_match(m->size / WASMC_PAGE_SIZE, m->declared_max, md->min, md->max)) LINKFAIL("memory limits mismatch");
        return true;
    }
    case WASMC_EXTERN_GLOBAL: {
        const wasmc_global_desc *gd = (const wasmc_global_desc *)(img->base + h->globals) + id->index;
        const wasmc_global *g = ext->ptr;
        if (g->mutable_ != gd->mutable) LINKFAIL("global mutability mismatch");
        /* an immutable global may be of a subtype; a mutable one of exactly the type */
        if (g->valtype != gd->valtype ||
            !(gd->mutable ? key_eq(g->key, g->key_len, s + gd->key, gd->key_len)
                          : valtype_sub(g->key, g->key_len, s + gd->key, gd->key_len)))
            LINKFAIL("global type mismatch");
        return true;
    }
    case WASMC_EXTERN_TAG: {
        const wasmc_type_desc *td = (const wasmc_type_desc *)(img->base + h->types) + id->type;
        const wasmc_tag *t = ext->ptr;
        if (t->type_id != wasmc_type_id(s + td->key, td->key_len)) LINKFAIL("tag type mismatch");
        return true;
    }
    default:
        LINKFAIL("unknown kind of extern");
    }
#undef LINKFAIL
}

/* --- instantiation -------------------------------------------------------------- */

typedef void (*init_fn)(wasmc_vmctx *);
typedef uint64_t (*offset_fn)(wasmc_vmctx *);
typedef void *(*ref_fn)(wasmc_vmctx *);
typedef void (*items_fn)(wasmc_vmctx *, void **);
typedef void (*tramp_fn)(void *callee, void *code, void *caller, wasmc_val *values);

#define NEWFAIL(kind, ...) do { wasmc_set_error(err, kind, __VA_ARGS__); goto fail; } while (0)

/* Build everything that runs no compiled code.  Returns NULL (and frees) on failure. */
static wasmc_instance *instance_build(wasmc_store *st, wasmc_image *img, const wasmc_extern *imports,
                                      uint32_t nimports, wasmc_error *err) {
    const wasmc_image_header *h = img->hdr;
    const uint8_t *b = img->base;
    wasmc_instance *inst = calloc(1, sizeof *inst);
    if (!inst) { wasmc_set_error(err, WASMC_ERR_RESOURCE, "out of memory"); return NULL; }
    wasmc_image_retain(img);
    inst->image = img;
    inst->hdr = h;
    inst->store = st;
    if (nimports != h->nimports) NEWFAIL(WASMC_ERR_LINK, "expected %u imports, got %u", h->nimports, nimports);
    for (uint32_t i = 0; i < nimports; i++)
        if (!check_import(img, i, &imports[i], err)) goto fail;
    if (!wasmc_limits_admit(st, img, err)) goto fail;

    uint32_t ndef_funcs = h->nfuncs - h->nimported_funcs;
    uint32_t ndef_globals = h->nglobals - h->nimported_globals;
    inst->vmctx = aligned_alloc(16, (h->vmctx_size + 15) / 16 * 16);
    inst->memories = calloc(h->nmemories ? h->nmemories : 1, sizeof(wasmc_memory *));
    inst->tables = calloc(h->ntables ? h->ntables : 1, sizeof(wasmc_table *));
    inst->imported_globals = calloc(h->nimported_globals ? h->nimported_globals : 1, sizeof(wasmc_global *));
    inst->defined_globals = calloc(ndef_globals ? ndef_globals : 1, sizeof(wasmc_global));
    inst->host_funcrefs = calloc(h->nimported_funcs ? h->nimported_funcs : 1, sizeof(wasmc_funcref));
    inst->elems = calloc(h->nelems ? h->nelems : 1, sizeof(wasmc_elem_inst));
    inst->datas = calloc(h->ndatas ? h->ndatas : 1, sizeof(wasmc_data_inst));
    uint32_t ndef_tags = h->ntags - h->nimported_tags;
    inst->defined_tags = calloc(ndef_tags ? ndef_tags : 1, sizeof(wasmc_tag));
    if (!inst->vmctx || !inst->memories || !inst->tables || !inst->imported_globals || !inst->defined_globals ||
        !inst->host_funcrefs || !inst->elems || !inst->datas || !inst->defined_tags)
        NEWFAIL(WASMC_ERR_RESOURCE, "out of memory");
    uint8_t *vm = (uint8_t *)inst->vmctx;
    memset(vm, 0, h->vmctx_size);
    wasmc_vmctx *v = inst->vmctx;
    v->magic = WASMC_VMCTX_MAGIC;
    v->flags = h->nmemories ? WASMC_VMCTX_FLAG_HAS_MEMORY0 : 0;
    v->limits = &st->limits;
    v->builtins = (void *)&wasmc_builtins_table;
    v->instance = inst;
    v->funcrefs = vm + h->vm_funcref_ptrs;
    v->type_ids = vm + h->vm_type_ids;

    /* type ids (computed once per image by the loader) */
    uint32_t *type_ids = (uint32_t *)(vm + h->vm_type_ids);
    memcpy(type_ids, img->type_ids, sizeof(uint32_t) * h->ntypes);

    /* imports */
    const wasmc_import_desc *id = (const wasmc_import_desc *)(b + h->imports);
    wasmc_funcref **fptrs = (wasmc_funcref **)(vm + h->vm_funcref_ptrs);
    void **gptrs = (void **)(vm + h->vm_imported_globals);
    wasmc_table **tptrs = (wasmc_table **)(vm + h->vm_tables);
    for (uint32_t i = 0; i < nimports; i++) {
        const wasmc_extern *x = &imports[i];
        switch (id[i].kind) {
        case WASMC_EXTERN_FUNC: {
            wasmc_funcref *f = x->ptr;
            if (f->flags & WASMC_FUNCREF_FLAG_HOST) {
                /* A host function: calls go through this module's adapter for its type. */
                wasmc_funcref *r = &inst->host_funcrefs[id[i].index];
                *r = *f;
                r->code = (void *)code_at(img, id[i].adapter);
                fptrs[id[i].index] = r;
            } else {
                fptrs[id[i].index] = f;
            }
            break;
        }
        case WASMC_EXTERN_TABLE:
            wasmc_table_retain(x->ptr);
            inst->tables[id[i].index] = x->ptr;
            tptrs[id[i].index] = x->ptr;
            break;
        case WASMC_EXTERN_MEMORY: {
            wasmc_memory *m = x->ptr;
            wasmc_memory_retain(m);
            inst->memories[id[i].index] = m;
            v->memories[id[i].index].base = m->base;
            v->memories[id[i].index].def = m;
            break;
        }
        case WASMC_EXTERN_GLOBAL: {
            wasmc_global *g = x->ptr;
            wasmc_global_retain(g);
            inst->imported_globals[id[i].index] = g;
            gptrs[id[i].index] = g->value;
            break;
        }
        case WASMC_EXTERN_TAG:
            /* a tag is its address: the exporter's record (same store) */
            ((wasmc_tag **)(vm + h->vm_tags))[id[i].index] = x->ptr;
            break;
        }
    }
    /* defined tags */
    const wasmc_tag_desc *tg = (const wasmc_tag_desc *)(b + h->tags);
    for (uint32_t i = 0; i < ndef_tags; i++) {
        const wasmc_type_desc *t = (const wasmc_type_desc *)(b + h->types) + tg[h->nimported_tags + i].type;
        inst->defined_tags[i].type_id = wasmc_type_id(strs(img) + t->key, t->key_len);
        inst->defined_tags[i].nparams = t->nparams;
        ((wasmc_tag **)(vm + h->vm_tags))[h->nimported_tags + i] = &inst->defined_tags[i];
    }
    /* defined memories */
    const wasmc_memory_desc *md = (const wasmc_memory_desc *)(b + h->memories);
    for (uint32_t i = h->nimported_memories; i < h->nmemories; i++) {
        wasmc_memory *m = wasmc_memory_new(md[i].min, md[i].max, md[i].flags, err);
        if (!m) goto fail;
        inst->memories[i] = m;
        v->memories[i].base = m->base;
        v->memories[i].def = m;
    }
    /* defined functions */
    const wasmc_func_desc *fd = (const wasmc_func_desc *)(b + h->funcs);
    wasmc_funcref *defs = (wasmc_funcref *)(vm + h->vm_defined_funcrefs);
    for (uint32_t i = 0; i < ndef_funcs; i++) {
        defs[i].code = (void *)code_at(img, fd[i].code);
        defs[i].vmctx = v;
        defs[i].array_call = (void *)code_at(img, fd[i].array_call);
        defs[i].type_id = type_ids[fd[i].type];
        defs[i].flags = 0;
        fptrs[h->nimported_funcs + i] = &defs[i];
    }
    /* defined globals: records for export; values in the vmctx */
    const wasmc_global_desc *gd = (const wasmc_global_desc *)(b + h->globals);
    for (uint32_t i = 0; i < ndef_globals; i++) {
        wasmc_global *g = &inst->defined_globals[i];
        uint32_t gi = h->nimported_globals + i;
        g->value = (wasmc_val *)(vm + h->vm_globals + 16 * i);
        g->valtype = gd[gi].valtype;
        g->mutable_ = gd[gi].mutable;
        g->key = (char *)strs(img) + gd[gi].key;
        g->key_len = gd[gi].key_len;
        g->owner = inst;
    }
    /* defined tables (null-filled; initialisers run after the globals) */
    const wasmc_table_desc *tb = (const wasmc_table_desc *)(b + h->tables);
    for (uint32_t i = h->nimported_tables; i < h->ntables; i++) {
        wasmc_table *t = wasmc_table_new(tb[i].elem_type, tb[i].min, tb[i].max, NULL, err);
        if (!t) goto fail;
        t->flags = tb[i].flags;
        if (!wasmc_table_set_key(t, strs(img) + tb[i].elem_key, tb[i].elem_key_len)) {
            wasmc_table_release(t);
            wasmc_set_error(err, WASMC_ERR_RESOURCE, "out of memory");
            goto fail;
        }
        inst->tables[i] = t;
        tptrs[i] = t;
    }
    /* element segment instances (items computed by code: in instance_start) */
    const wasmc_elem_desc *el = (const wasmc_elem_desc *)(b + h->elems);
    for (uint32_t i = 0; i < h->nelems; i++) {
        uint32_t n = el[i].count;
        inst->elems[i].items = calloc(n ? n : 1, sizeof(void *));
        if (!inst->elems[i].items) NEWFAIL(WASMC_ERR_RESOURCE, "out of memory");
        inst->elems[i].count = n;
        if (el[i].funcs) {
            const uint32_t *f = (const uint32_t *)(b + el[i].funcs);
            for (uint32_t k = 0; k < n; k++) inst->elems[i].items[k] = f[k] == WASMC_NO_INDEX ? NULL : fptrs[f[k]];
        }
    }
    const wasmc_data_desc *dd = (const wasmc_data_desc *)(b + h->datas);
    for (uint32_t i = 0; i < h->ndatas; i++) {
        inst->datas[i].bytes = b + dd[i].data;
        inst->datas[i].size = dd[i].size;
    }
    return inst;
fail:
    instance_free(inst);
    return NULL;
}

/* Everything that runs compiled code: constant expressions (globals, table
 * initialisers, element items), segments and the start function.  It runs
 * inside an entry: segments and the start function may trap, and any fault
 * in compiled code, even in a constant expression, becomes a trap instead of
 * a crash of the host. */
static void instance_start(wasmc_instance *inst) {
    const wasmc_image_header *h = inst->hdr;
    const wasmc_image *img = inst->image;
    const uint8_t *b = img->base;
    wasmc_vmctx *v = inst->vmctx;
    if (h->init_globals) ((init_fn)code_at(img, h->init_globals))(v);
    const wasmc_table_desc *tb = (const wasmc_table_desc *)(b + h->tables);
    for (uint32_t i = h->nimported_tables; i < h->ntables; i++) {
        if (!tb[i].init) continue;
        void *init = ((ref_fn)code_at(img, tb[i].init))(v);
        for (uint64_t k = 0; k < inst->tables[i]->size; k++) ((void **)inst->tables[i]->elems)[k] = init;
    }
    const wasmc_elem_desc *el = (const wasmc_elem_desc *)(b + h->elems);
    for (uint32_t i = 0; i < h->nelems; i++)
        if (!el[i].funcs && el[i].count) ((items_fn)code_at(img, el[i].items_fn))(v, inst->elems[i].items);
    for (uint32_t i = 0; i < h->nelems; i++) {
        if (el[i].mode == WASMC_SEG_ACTIVE) {
            uint64_t off = ((offset_fn)code_at(inst->image, el[i].offset_fn))(v);
            uint32_t n = inst->elems[i].count;
            wasmc_table *t = table_of(v, el[i].table);
            if (!range_ok(off, n, t->size)) wasmc_raise(WASMC_TRAP_TABLE_OOB, 0);
            memcpy((void **)t->elems + off, inst->elems[i].items, (size_t)n * sizeof(void *));
        }
        if (el[i].mode != WASMC_SEG_PASSIVE) inst->elems[i].count = 0;
    }
    const wasmc_data_desc *dd = (const wasmc_data_desc *)(b + h->datas);
    for (uint32_t i = 0; i < h->ndatas; i++) {
        if (dd[i].mode != WASMC_SEG_ACTIVE) continue;
        uint64_t off = ((offset_fn)code_at(inst->image, dd[i].offset_fn))(v);
        wasmc_memory *m = v->memories[dd[i].memory].def;
        if (!range_ok(off, dd[i].size, m->size)) wasmc_raise(WASMC_TRAP_MEMORY_OOB, 0);
        memcpy((uint8_t *)m->base + off, inst->datas[i].bytes, dd[i].size);
        inst->datas[i].size = 0;
    }
    if (h->start_func != WASMC_NO_INDEX) {
        wasmc_funcref *f = ((wasmc_funcref **)v->funcrefs)[h->start_func];
        wasmc_val none[1];
        if (f->flags & WASMC_FUNCREF_FLAG_HOST) {
            wasmc_hostfunc *env = f->vmctx;
            int32_t st = ((wasmc_host_callback)env->fn)(env, v, none);
            if (st) wasmc_raise(st, 0);
        } else {
            ((tramp_fn)f->array_call)(f->vmctx, f->code, v, none);
        }
    }
}

wasmc_instance *wasmc_instance_new(wasmc_store *st, wasmc_image *img, const wasmc_extern *imports,
                                   uint32_t nimports, wasmc_error *err) {
    if (err) err->kind = WASMC_OK;
    wasmc_instance *volatile inst = instance_build(st, img, imports, nimports, err);
    if (!inst) return NULL;
    inst->next = st->instances;
    st->instances = inst;
    wasmc_limits_count(st, inst->hdr, 1);
    wasmc_entry e;
    if (!wasmc_enter(st, &e, err)) return NULL;
    if (sigsetjmp(e.jb, 0) == 0) {
        instance_start(inst);
        wasmc_leave(&e);
        return inst;
    }
    wasmc_leave(&e);
    wasmc_entry_error(&e, err);
    return NULL;
}

int wasmc_instance_export(const wasmc_instance *inst, uint32_t index, wasmc_extern *out) {
    const wasmc_image_header *h = inst->hdr;
    if (index >= h->nexports) return 0;
    const wasmc_export_desc *ed = (const wasmc_export_desc *)(inst->image->base + h->exports) + index;
    uint8_t *vm = (uint8_t *)inst->vmctx;
    out->kind = ed->kind;
    switch (ed->kind) {
    case WASMC_EXTERN_FUNC:
        out->ptr = ((wasmc_funcref **)(vm + h->vm_funcref_ptrs))[ed->index];
        return 1;
    case WASMC_EXTERN_TABLE:
        out->ptr = inst->tables[ed->index];
        return 1;
    case WASMC_EXTERN_MEMORY:
        out->ptr = inst->memories[ed->index];
        return 1;
    case WASMC_EXTERN_GLOBAL:
        out->ptr = ed->index < h->nimported_globals ? (void *)inst->imported_globals[ed->index]
                                                    : (void *)&inst->defined_globals[ed->index - h->nimported_globals];
        return 1;
    case WASMC_EXTERN_TAG:
        out->ptr = ((wasmc_tag **)(vm + h->vm_tags))[ed->index];
        return 1;
    default:
        return 0;
    }
}

wasmc_vmctx *wasmc_instance_vmctx(const wasmc_instance *inst) { return inst->vmctx; }

void wasmc_instance_free(wasmc_store *st, wasmc_instance *inst) {
    for (wasmc_instance **p = &st->instances; *p; p = &(*p)->next) {
        if (*p == inst) {
            *p = inst->next;
            wasmc_limits_count(st, inst->hdr, -1);
            instance_free(inst);
            return;
        }
    }
}

/* --- calls ------------------------------------------------------------------------ */

int32_t wasmc_call(wasmc_store *st, const wasmc_funcref *f, wasmc_val *values, wasmc_error *err) {
    if (err) err->kind = WASMC_OK;
    if (f->flags & WASMC_FUNCREF_FLAG_HOST) {
        /* A host function called from the host: no guest caller, no memory. */
        wasmc_hostfunc *env = f->vmctx;
        int32_t s = ((wasmc_host_callback)env->fn)(env, NULL, values);
        if (s) {
            wasmc_set_error(err, WASMC_ERR_TRAP, "%s", wasmc_trap_message(s));
            err->trap = s;
        }
        return s;
    }
    wasmc_entry e;
    if (!wasmc_enter(st, &e, err)) return -1;
    if (sigsetjmp(e.jb, 0) == 0) {
        /* An interrupt requested before this call, or one whose signal
         * landed in the runtime on the way in, ends the call here. */
        if (__atomic_load_n(&st->limits.interrupt, __ATOMIC_RELAXED)) wasmc_raise(WASMC_TRAP_INTERRUPT, 0);
        ((tramp_fn)f->array_call)(f->vmctx, f->code, f->vmctx, values);
        wasmc_leave(&e);
        return 0;
    }
    wasmc_leave(&e);
    wasmc_entry_error(&e, err);
    return e.trap;
}
