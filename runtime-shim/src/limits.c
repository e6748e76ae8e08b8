/* limits.c -- what a store lets its guest code have: resource limits and fuel.
 *
 * Resource limits (wasmc_store_set_limits) are wasmtime's StoreLimits: bytes
 * per linear memory, elements per table, and how many instances the store
 * may hold and how many memories and tables they may define together.
 *
 *   - Growth beyond a limit fails the way the spec lets any growth fail:
 *     memory.grow and table.grow return -1, and so do the host's
 *     wasmc_store_memory_grow / _table_grow.  The limit is the one of the
 *     store that grows: guest code of its instances, or the host on its
 *     behalf.  A memory shared with another store is held to each store's
 *     limit when that store grows it.
 *   - Instantiation that needs more (one instance, memory or table too many;
 *     a memory or table whose minimum is beyond the limit) fails with
 *     WASMC_ERR_LIMIT before anything is allocated or run.
 *   - Externs the embedder creates itself (wasmc_memory_new, _table_new) are
 *     its own: they count against no limit, but guest code of a limited
 *     store that imports one grows it only as far as the store's limit.
 *
 * Fuel (wasmc_store_set_fuel) is deterministic metering, as wasmtime's.
 * Code built with `wasmc build --fuel` (IMAGE_FLAG_FUEL; compile/lower/
 * fuel.py) subtracts the cost of the Wasm instructions it runs from
 * limits.fuel and traps WASMC_TRAP_OUT_OF_FUEL at a function entry or loop
 * header that finds it <= 0.  Where it traps depends only on the Wasm code
 * and its inputs, never on the machine.  A store starts with INT64_MAX
 * (unmetered in practice: instrumented code runs and counts).  Once fuel is
 * set, every instance of the store must count it: an uninstrumented module
 * would run for free, so it is refused (WASMC_ERR_USAGE, naming the fix).
 */
#include <stdint.h>
#include <stdio.h>

#include "shim.h"

static const wasmc_store_limits no_limits = {WASMC_NO_MAX, WASMC_NO_MAX, WASMC_NO_MAX, WASMC_NO_MAX,
                                             WASMC_NO_MAX};

void wasmc_limits_init(wasmc_store *st) {
    st->res = no_limits;
    st->limits.fuel = INT64_MAX;
    st->fuel_given = INT64_MAX;
}

void wasmc_store_set_limits(wasmc_store *st, const wasmc_store_limits *limits) {
    st->res = limits ? *limits : no_limits;
}

/* --- growth --------------------------------------------------------------- */

int64_t wasmc_store_memory_grow(wasmc_store *st, wasmc_memory *mem, uint64_t delta) {
    uint64_t pages = mem->size / WASMC_PAGE_SIZE, limit = st->res.memory_size / WASMC_PAGE_SIZE;
    if (delta && (delta > limit || pages > limit - delta)) return -1;
    return wasmc_memory_grow(mem, delta);
}

int64_t wasmc_store_table_grow(wasmc_store *st, wasmc_table *tab, uint64_t delta, void *init) {
    uint64_t limit = st->res.table_elements;
    if (delta && (delta > limit || tab->size > limit - delta)) return -1;
    return wasmc_table_grow(tab, delta, init);
}

/* --- instantiation -------------------------------------------------------- */

#define LIMITFAIL(...) do { wasmc_set_error(err, WASMC_ERR_LIMIT, __VA_ARGS__); return false; } while (0)

bool wasmc_limits_admit(const wasmc_store *st, const wasmc_image *img, wasmc_error *err) {
    const wasmc_image_header *h = img->hdr;
    const wasmc_store_limits *r = &st->res;
    if (st->fuel_metered && !(h->flags & WASMC_IMAGE_FLAG_FUEL)) {
        wasmc_set_error(err, WASMC_ERR_USAGE, "the store meters fuel, and this module was built without fuel "
                        "metering: rebuild it with wasmc build --fuel");
        return false;
    }
    uint32_t nmem = h->nmemories - h->nimported_memories, ntab = h->ntables - h->nimported_tables;
    if (st->ninstances >= r->instances)
        LIMITFAIL("one more instance would exceed the store's limit of %llu instances (%llu held)",
                  (unsigned long long)r->instances, (unsigned long long)st->ninstances);
    if (nmem > r->memories || st->nmemories > r->memories - nmem)
        LIMITFAIL("the module defines %u memories and the store's limit is %llu (%llu used)", nmem,
                  (unsigned long long)r->memories, (unsigned long long)st->nmemories);
    if (ntab > r->tables || st->ntables > r->tables - ntab)
        LIMITFAIL("the module defines %u tables and the store's limit is %llu (%llu used)", ntab,
                  (unsigned long long)r->tables, (unsigned long long)st->ntables);
    const wasmc_memory_desc *md = (const wasmc_memory_desc *)(img->base + h->memories);
    for (uint32_t i = h->nimported_memories; i < h->nmemories; i++)
        if (md[i].min > r->memory_size / WASMC_PAGE_SIZE)
            LIMITFAIL("memory %u needs %llu pages, more than the store's limit of %llu bytes per memory", i,
                      (unsigned long long)md[i].min, (unsigned long long)r->memory_size);
    const wasmc_table_desc *td = (const wasmc_table_desc *)(img->base + h->tables);
    for (uint32_t i = h->nimported_tables; i < h->ntables; i++)
        if (td[i].min > r->table_elements)
            LIMITFAIL("table %u needs %llu elements, more than the store's limit of %llu per table", i,
                      (unsigned long long)td[i].min, (unsigned long long)r->table_elements);
    return true;
}

void wasmc_limits_count(wasmc_store *st, const wasmc_image_header *h, int sign) {
    st->ninstances += (uint64_t)(int64_t)sign;
    st->nmemories += (uint64_t)((int64_t)sign * (h->nmemories - h->nimported_memories));
    st->ntables += (uint64_t)((int64_t)sign * (h->ntables - h->nimported_tables));
}

/* --- fuel ----------------------------------------------------------------- */

int wasmc_store_set_fuel(wasmc_store *st, uint64_t fuel, wasmc_error *err) {
    if (err) err->kind = WASMC_OK;
    if (fuel > INT64_MAX) {
        wasmc_set_error(err, WASMC_ERR_USAGE, "fuel must be at most 2**63 - 1");
        return 0;
    }
    for (const wasmc_instance *i = st->instances; i; i = i->next)
        if (!(i->hdr->flags & WASMC_IMAGE_FLAG_FUEL)) {
            wasmc_set_error(err, WASMC_ERR_USAGE, "an instance of this store was built without fuel metering: "
                            "rebuild it with wasmc build --fuel");
            return 0;
        }
    st->fuel_spent_before = wasmc_store_fuel_consumed(st);
    st->fuel_given = (int64_t)fuel;
    st->limits.fuel = (int64_t)fuel;
    st->fuel_metered = true;
    return 1;
}

uint64_t wasmc_store_get_fuel(const wasmc_store *st) {
    return st->limits.fuel > 0 ? (uint64_t)st->limits.fuel : 0;
}

uint64_t wasmc_store_fuel_consumed(const wasmc_store *st) {
    /* limits.fuel only decreases between two set_fuel calls, by what ran (it
     * may end below 0: by what ran after the last check) */
    return st->fuel_spent_before + ((uint64_t)st->fuel_given - (uint64_t)st->limits.fuel);
}
