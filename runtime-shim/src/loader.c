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
    const wasmc_image *_Atomic image;
} registry[MAX_IMAGES];
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

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
        const wasmc_image_header *h = img->hdr;
        const wasmc_func_desc *fd = (const wasmc_func_desc *)(img->base + h->funcs);
        uint32_t ndef = h->nfuncs - h->nimported_funcs;
        uint64_t off = pc - (uintptr_t)img->base;
        /* binary search for the last function starting at or before off */
        uint32_t lo = 0, hi = ndef;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (fd[img->func_order[mid]].code <= off) lo = mid + 1; else hi = mid;
        }
        *func_index = UINT32_MAX;
        if (lo > 0) {
            uint32_t d = img->func_order[lo - 1];
            if (off < (uint64_t)fd[d].code + fd[d].code_size) *func_index = h->nimported_funcs + d;
        }
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
    if (!(h->text_start <= h->text_end && h->text_end <= img->size)) FAIL("code range outside the image");
    if (h->vmctx_size < sizeof(wasmc_vmctx) || h->vmctx_size > (1u << 30)) FAIL("bad VMContext size");
    if (!in_image(c, h->strings, h->strings_size, 1, 1)) FAIL("string table outside the image");
#define TABLE(field, count, type) \
    if (!in_image(c, h->field, h->count, sizeof(type), 4)) FAIL(#field " table outside the image")
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
    TABLE(exports, nexports, wasmc_export_desc);
    TABLE(elems, nelems, wasmc_elem_desc);
    TABLE(datas, ndatas, wasmc_data_desc);
#undef TABLE
    /* VMContext regions must lie inside vmctx_size. */
    uint64_t vs = h->vmctx_size;
    if ((uint64_t)h->vm_memories + (uint64_t)h->nmemories * 16 > vs ||
        (uint64_t)h->vm_tables + (uint64_t)h->ntables * 8 > vs ||
        (uint64_t)h->vm_imported_globals + (uint64_t)h->nimported_globals * 8 > vs ||
        (uint64_t)h->vm_globals + (uint64_t)(h->nglobals - h->nimported_globals) * 16 > vs ||
        (uint64_t)h->vm_defined_funcrefs + (uint64_t)(h->nfuncs - h->nimported_funcs) * sizeof(wasmc_funcref) > vs ||
        (uint64_t)h->vm_funcref_ptrs + (uint64_t)h->nfuncs * 8 > vs ||
        (uint64_t)h->vm_type_ids + (uint64_t)h->ntypes * 4 > vs ||
        h->vm_memories != sizeof(wasmc_vmctx) || h->vm_globals % 16)
        FAIL("VMContext layout does not fit its size");
    const uint8_t *b = img->base;
    const wasmc_type_desc *td = (const wasmc_type_desc *)(b + h->types);
    for (uint32_t i = 0; i < h->ntypes; i++) {
        if (!string_ok(c, td[i].key, td[i].key_len)) FAIL("type %u key outside the string table", i);
        if (!in_image(c, td[i].valtypes, (uint64_t)td[i].nparams + td[i].nresults, 1, 1))
            FAIL("type %u value types outside the image", i);
    }
    uint32_t counts[5] = {0};
    const wasmc_import_desc *id = (const wasmc_import_desc *)(b + h->imports);
    for (uint32_t i = 0; i < h->nimports; i++) {
        if (id[i].kind > WASMC_EXTERN_TAG) FAIL("import %u has a bad kind", i);
        if (!string_ok(c, id[i].module, id[i].module_len) || !string_ok(c, id[i].name, id[i].name_len))
            FAIL("import %u name outside the string table", i);
        if (id[i].index != counts[id[i].kind]++) FAIL("import %u index out of order", i);
        if (id[i].kind == WASMC_EXTERN_FUNC) {
            if (id[i].type >= h->ntypes || td[id[i].type].kind != WASMC_TYPE_KIND_FUNC) FAIL("import %u has a bad type", i);
            if (!code_ok(c, id[i].adapter)) FAIL("import %u adapter outside the code", i);
        }
    }
    if (counts[0] != h->nimported_funcs || counts[1] != h->nimported_tables ||
        counts[2] != h->nimported_memories || counts[3] != h->nimported_globals)
        FAIL("import counts do not match the header");
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
    }
    const wasmc_memory_desc *md = (const wasmc_memory_desc *)(b + h->memories);
    for (uint32_t i = 0; i < h->nmemories; i++)
        if (md[i].max != WASMC_NO_MAX && md[i].max < md[i].min) FAIL("memory %u has max < min", i);
    const wasmc_global_desc *gd = (const wasmc_global_desc *)(b + h->globals);
    for (uint32_t i = 0; i < h->nglobals; i++)
        if (!string_ok(c, gd[i].key, gd[i].key_len)) FAIL("global %u type key outside the string table", i);
    if (h->nglobals > h->nimported_globals && !code_ok(c, h->init_globals)) FAIL("global initialiser outside the code");
    if (h->init_globals && !code_ok(c, h->init_globals)) FAIL("global initialiser outside the code");
    const wasmc_export_desc *ed = (const wasmc_export_desc *)(b + h->exports);
    for (uint32_t i = 0; i < h->nexports; i++) {
        uint32_t limit = ed[i].kind == WASMC_EXTERN_FUNC ? h->nfuncs :
                         ed[i].kind == WASMC_EXTERN_TABLE ? h->ntables :
                         ed[i].kind == WASMC_EXTERN_MEMORY ? h->nmemories :
                         ed[i].kind == WASMC_EXTERN_GLOBAL ? h->nglobals : 0;
        if (ed[i].index >= limit) FAIL("export %u refers to a missing entity", i);
        if (!string_ok(c, ed[i].name, ed[i].name_len)) FAIL("export %u name outside the string table", i);
    }
    const wasmc_elem_desc *el = (const wasmc_elem_desc *)(b + h->elems);
    for (uint32_t i = 0; i < h->nelems; i++) {
        if (el[i].mode > WASMC_SEG_DECLARATIVE) FAIL("element segment %u has a bad mode", i);
        if (el[i].mode == WASMC_SEG_ACTIVE && (el[i].table >= h->ntables || !code_ok(c, el[i].offset_fn)))
            FAIL("element segment %u has a bad table or offset", i);
        if (el[i].funcs) {
            if (!in_image(c, el[i].funcs, el[i].count, 4, 4)) FAIL("element segment %u items outside the image", i);
            const uint32_t *f = (const uint32_t *)(b + el[i].funcs);
            for (uint32_t k = 0; k < el[i].count; k++)
                if (f[k] != WASMC_NO_INDEX && f[k] >= h->nfuncs) FAIL("element segment %u refers to a missing function", i);
        } else if (el[i].count && !code_ok(c, el[i].items_fn)) {
            FAIL("element segment %u item initialiser outside the code", i);
        }
    }
    const wasmc_data_desc *dd = (const wasmc_data_desc *)(b + h->datas);
    for (uint32_t i = 0; i < h->ndatas; i++) {
        if (dd[i].mode == WASMC_SEG_ACTIVE && (dd[i].memory >= h->nmemories || !code_ok(c, dd[i].offset_fn)))
            FAIL("data segment %u has a bad memory or offset", i);
        if (!in_image(c, dd[i].data, dd[i].size, 1, 1)) FAIL("data segment %u bytes outside the image", i);
    }
    if (h->start_func != WASMC_NO_INDEX && h->start_func >= h->nfuncs) FAIL("start function out of range");
    if (h->module_name != WASMC_NO_INDEX && h->module_name >= h->strings_size) FAIL("module name outside the string table");
    return true;
}

static const wasmc_func_desc *order_descs;
static int cmp_code(const void *a, const void *b) {
    uint32_t x = order_descs[*(const uint32_t *)a].code, y = order_descs[*(const uint32_t *)b].code;
    return x < y ? -1 : x > y;
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
    free(img);
}

const wasmc_image_header *wasmc_image_header_of(const wasmc_image *img) { return img->hdr; }
