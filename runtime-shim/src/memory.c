/* memory.c -- linear memories, tables and globals.
 *
 * Memories: every memory reserves WASMC_RESERVATION bytes (8 GiB) of
 * address space with PROT_NONE and makes only its current size readable
 * and writable.  Growing is an mprotect of the next pages, so the base never
 * moves (compiled code caches it) and fresh pages read as zero.  For a
 * 32-bit memory, base + zext(addr) + offset is always inside the
 * reservation, so compiled code needs no bounds check: an access past the
 * current size hits PROT_NONE pages and becomes a trap.  64-bit memories are
 * bounds-checked by compiled code, so they need no guard: they reserve what
 * they may grow to (their declared maximum, capped by memory64_cap), which
 * can be far beyond 4 GiB.
 *
 * Reservations are recorded in a small table the signal handler reads to
 * classify a fault (inside a memory reservation: out-of-bounds access).
 *
 * Released reservations are kept in a small pool and reused: the range is
 * mapped again in place (MAP_FIXED, PROT_NONE), which drops every page it
 * held, so a reused reservation reads as zero like a fresh one.  Natively
 * this only saves an mmap; under qemu-user it is what keeps long runs
 * alive, because qemu keeps about 49 MiB of bookkeeping per 8 GiB range it
 * has ever seen mapped and never frees it (PLATFORM-NOTES section 6): with
 * the pool, a process that creates and frees memories one after another
 * touches the same few ranges again and again.
 *
 * Tables hold one pointer per element; growing may move the element array
 * (compiled code reloads it on every access).  Memories, tables and globals
 * are reference counted: an instance retains everything it imports.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim.h"

typedef struct memory_obj {
    wasmc_memory mem; /* first: a wasmc_memory* is a memory_obj* */
    uint32_t refcount;
    int slot;
} memory_obj;

typedef struct table_obj {
    wasmc_table tab;
    uint32_t refcount;
    char *key; /* the element type's key (descriptor.valtype_text), or NULL: its plain name */
    uint32_t key_len;
} table_obj;

#define MAX_RESERVATIONS 8192
static struct { _Atomic uintptr_t start, end; } reservations[MAX_RESERVATIONS];
static pthread_mutex_t res_lock = PTHREAD_MUTEX_INITIALIZER;

bool wasmc_addr_in_reservation(uintptr_t a) {
    for (int i = 0; i < MAX_RESERVATIONS; i++) {
        uintptr_t s = atomic_load_explicit(&reservations[i].start, memory_order_acquire);
        if (s && a >= s && a < atomic_load_explicit(&reservations[i].end, memory_order_relaxed)) return true;
    }
    return false;
}

static int add_reservation(uintptr_t start, uintptr_t end) {
    pthread_mutex_lock(&res_lock);
    int slot = -1;
    for (int i = 0; i < MAX_RESERVATIONS; i++)
        if (!atomic_load(&reservations[i].start)) { slot = i; break; }
    if (slot >= 0) {
        atomic_store(&reservations[slot].end, end);
        atomic_store_explicit(&reservations[slot].start, start, memory_order_release);
    }
    pthread_mutex_unlock(&res_lock);
    return slot;
}

static void remove_reservation(int slot) {
    if (slot < 0) return;
    pthread_mutex_lock(&res_lock);
    atomic_store(&reservations[slot].start, 0);
    atomic_store(&reservations[slot].end, 0);
    pthread_mutex_unlock(&res_lock);
}

/* --- the reservation pool --- */

#define POOL_MAX 16
static void *pool[POOL_MAX];
static int pool_len;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static void *reservation_get(void) {
    void *p = NULL;
    pthread_mutex_lock(&pool_lock);
    if (pool_len) p = pool[--pool_len];
    pthread_mutex_unlock(&pool_lock);
    if (p) return p;
    p = mmap(NULL, WASMC_RESERVATION, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void reservation_put(void *p);

/* Give back a memory's range: to the pool if it is a standard reservation. */
static void release_range(void *p, uint64_t size) {
    if (size == WASMC_RESERVATION)
        reservation_put(p);
    else
        munmap(p, size);
}

static void reservation_put(void *p) {
    /* Map the range afresh: the old pages (and their contents) are gone. */
    if (mmap(p, WASMC_RESERVATION, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0)
        != p) {
        munmap(p, WASMC_RESERVATION);
        return;
    }
    pthread_mutex_lock(&pool_lock);
    if (pool_len < POOL_MAX) {
        pool[pool_len++] = p;
        p = NULL;
    }
    pthread_mutex_unlock(&pool_lock);
    if (p) munmap(p, WASMC_RESERVATION);
}

/* How much address space a 64-bit memory reserves when it declares no
 * smaller maximum: WASMC_MEMORY64_RESERVE bytes (an environment variable,
 * e.g. for running under qemu-user, where every reserved GiB costs host
 * memory), else 64 GiB.  A 64-bit memory is bounds-checked by compiled code
 * and never moves, so this is the most it can grow to. */
static uint64_t memory64_cap(void) {
    static uint64_t cap;
    if (!cap) {
        uint64_t c = 64ull << 30;
        const char *e = getenv("WASMC_MEMORY64_RESERVE");
        if (e && *e) {
            char *end;
            unsigned long long v = strtoull(e, &end, 10);
            uint64_t mul = *end == 'G' ? 1ull << 30 : *end == 'M' ? 1ull << 20 : 1;
            if (v && v * mul / mul == v) c = v * mul;
        }
        cap = (c + WASMC_PAGE_SIZE - 1) / WASMC_PAGE_SIZE * WASMC_PAGE_SIZE;
    }
    return cap;
}

wasmc_memory *wasmc_memory_new(uint64_t min_pages, uint64_t max_pages, uint32_t flags, wasmc_error *err) {
    uint64_t declared_max = max_pages;
    if (max_pages != WASMC_NO_MAX && min_pages > max_pages) {
        wasmc_set_error(err, WASMC_ERR_USAGE, "memory minimum of %llu pages is larger than its maximum of %llu",
                        (unsigned long long)min_pages, (unsigned long long)max_pages);
        return NULL;
    }
    /* 32-bit: the fixed guarded reservation, 4 GiB addressable.  64-bit:
     * only what it may grow to (capped), with no guard: compiled code
     * checks its bounds. */
    int is64 = (flags & WASMC_MEMORY_FLAG_64) != 0;
    uint64_t reserve = WASMC_RESERVATION, limit = 65536;
    if (is64) {
        uint64_t cap_pages = memory64_cap() / WASMC_PAGE_SIZE;
        limit = max_pages != WASMC_NO_MAX && max_pages < cap_pages ? max_pages : cap_pages;
        if (limit < min_pages) limit = min_pages; /* reported below if it cannot be reserved */
        reserve = limit * WASMC_PAGE_SIZE;
        if (!reserve) reserve = WASMC_PAGE_SIZE;
    }
    if (max_pages == WASMC_NO_MAX || max_pages > limit) max_pages = limit;
    if (min_pages > max_pages) {
        wasmc_set_error(err, WASMC_ERR_RESOURCE, "memory of %llu pages exceeds the implementation limit",
                        (unsigned long long)min_pages);
        return NULL;
    }
    memory_obj *m = calloc(1, sizeof *m);
    if (!m) { wasmc_set_error(err, WASMC_ERR_RESOURCE, "out of memory"); return NULL; }
    void *base;
    if (reserve == WASMC_RESERVATION) {
        base = reservation_get();
    } else {
        base = mmap(NULL, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (base == MAP_FAILED) base = NULL;
    }
    if (!base) {
        wasmc_set_error(err, WASMC_ERR_RESOURCE, "cannot reserve %llu bytes of address space for a memory: %s",
                        (unsigned long long)reserve, strerror(errno));
        free(m);
        return NULL;
    }
    uint64_t bytes = min_pages * WASMC_PAGE_SIZE;
    if (bytes && mprotect(base, bytes, PROT_READ | PROT_WRITE) != 0) {
        wasmc_set_error(err, WASMC_ERR_RESOURCE, "cannot commit %llu bytes of memory: %s",
                        (unsigned long long)bytes, strerror(errno));
        release_range(base, reserve);
        free(m);
        return NULL;
    }
    m->mem.base = base;
    m->mem.size = bytes;
    m->mem.max_pages = max_pages;
    m->mem.declared_max = declared_max;
    m->mem.reserved = reserve;
    m->mem.flags = flags;
    m->refcount = 1;
    m->slot = add_reservation((uintptr_t)base, (uintptr_t)base + reserve);
    return &m->mem;
}

int64_t wasmc_memory_grow(wasmc_memory *mem, uint64_t delta) {
    uint64_t old = mem->size / WASMC_PAGE_SIZE;
    if (delta == 0) return (int64_t)old;
    if (delta > mem->max_pages || old > mem->max_pages - delta) return -1;
    uint64_t new_bytes = (old + delta) * WASMC_PAGE_SIZE;
    if (new_bytes > mem->reserved) return -1;
    if (mprotect((uint8_t *)mem->base + mem->size, delta * WASMC_PAGE_SIZE, PROT_READ | PROT_WRITE) != 0)
        return -1;
    mem->size = new_bytes;
    return (int64_t)old;
}

void wasmc_memory_retain(wasmc_memory *mem) {
    __atomic_add_fetch(&((memory_obj *)mem)->refcount, 1, __ATOMIC_RELAXED);
}

void wasmc_memory_release(wasmc_memory *mem) {
    if (!mem) return;
    memory_obj *m = (memory_obj *)mem;
    if (__atomic_sub_fetch(&m->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    remove_reservation(m->slot);
    release_range(m->mem.base, m->mem.reserved);
    free(m);
}

/* --- tables --- */

wasmc_table *wasmc_table_new(uint32_t elem_type, uint64_t min, uint64_t max, void *init, wasmc_error *err) {
    uint64_t declared_max = max;
    if (max == WASMC_NO_MAX || max > WASMC_MAX_TABLE_ELEMS) max = WASMC_MAX_TABLE_ELEMS;
    if (min > max) {
        wasmc_set_error(err, WASMC_ERR_RESOURCE, "table of %llu elements exceeds the implementation limit",
                        (unsigned long long)min);
        return NULL;
    }
    table_obj *t = calloc(1, sizeof *t);
    void **elems = calloc(min ? min : 1, sizeof(void *));
    if (!t || !elems) {
        free(t);
        free(elems);
        wasmc_set_error(err, WASMC_ERR_RESOURCE, "out of memory");
        return NULL;
    }
    for (uint64_t i = 0; i < min; i++) elems[i] = init;
    t->tab.elems = elems;
    t->tab.size = min;
    t->tab.max = max;
    t->tab.declared_max = declared_max;
    t->tab.capacity = min ? min : 1;
    t->tab.elem_type = elem_type;
    t->refcount = 1;
    return &t->tab;
}

int64_t wasmc_table_grow(wasmc_table *tab, uint64_t delta, void *init) {
    uint64_t old = tab->size;
    if (delta > tab->max || old > tab->max - delta) return -1;
    uint64_t n = old + delta;
    if (n > tab->capacity) {
        uint64_t cap = tab->capacity * 2 > n ? tab->capacity * 2 : n;
        if (cap > tab->max) cap = tab->max;
        void **e = realloc(tab->elems, cap * sizeof(void *));
        if (!e) return -1;
        tab->elems = e;
        tab->capacity = cap;
    }
    void **e = tab->elems;
    for (uint64_t i = old; i < n; i++) e[i] = init;
    tab->size = n;
    return (int64_t)old;
}

int wasmc_table_get(const wasmc_table *tab, uint64_t i, void **out) {
    if (i >= tab->size) return 0;
    *out = ((void **)tab->elems)[i];
    return 1;
}

int wasmc_table_set(wasmc_table *tab, uint64_t i, void *v) {
    if (i >= tab->size) return 0;
    ((void **)tab->elems)[i] = v;
    return 1;
}

bool wasmc_table_set_key(wasmc_table *tab, const char *key, uint32_t len) {
    table_obj *t = (table_obj *)tab;
    char *k = malloc(len ? len : 1);
    if (!k) return false;
    memcpy(k, key, len);
    free(t->key);
    t->key = k;
    t->key_len = len;
    return true;
}

const char *wasmc_table_key(const wasmc_table *tab, uint32_t *len) {
    const table_obj *t = (const table_obj *)tab;
    if (t->key) {
        *len = t->key_len;
        return t->key;
    }
    const char *name = tab->elem_type == WASMC_VALTYPE_EXTERNREF ? "externref" : "funcref";
    *len = (uint32_t)strlen(name);
    return name;
}

void wasmc_table_retain(wasmc_table *tab) {
    __atomic_add_fetch(&((table_obj *)tab)->refcount, 1, __ATOMIC_RELAXED);
}

void wasmc_table_release(wasmc_table *tab) {
    if (!tab) return;
    table_obj *t = (table_obj *)tab;
    if (__atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    free(t->tab.elems);
    free(t->key);
    free(t);
}

/* --- globals --- */

wasmc_global *wasmc_global_new(uint32_t valtype, uint32_t is_mutable, const char *key, uint32_t key_len,
                               const wasmc_val *init) {
    wasmc_global *g = aligned_alloc(16, (sizeof *g + 15) / 16 * 16);
    if (!g) return NULL;
    memset(g, 0, sizeof *g);
    g->key = malloc(key_len + 1);
    if (!g->key) { free(g); return NULL; }
    memcpy(g->key, key, key_len);
    g->key[key_len] = 0;
    g->key_len = key_len;
    g->valtype = valtype;
    g->mutable_ = is_mutable;
    g->refcount = 1;
    g->value = &g->storage;
    if (init) g->storage = *init;
    return g;
}

void wasmc_global_retain(wasmc_global *g) {
    if (!g->owner) __atomic_add_fetch(&g->refcount, 1, __ATOMIC_RELAXED);
}

void wasmc_global_release(wasmc_global *g) {
    if (!g || g->owner) return;
    if (__atomic_sub_fetch(&g->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    free(g->key);
    free(g);
}
