/* serve.c -- `runner --serve`: the spec-test protocol.
 *
 * The spec-test runner (wasmc/spectest.py) stays on the host; for a foreign
 * architecture it drives this server, running under qemu-user, through
 * wasmc/runtime/remote.py.  The server holds one store, the images it was
 * asked to load and the externs it created or instantiated, each under a
 * small integer handle; the client decides everything else (which import
 * gets which extern, what a result must be).
 *
 * One request per line, one reply per line (a `load` reply is followed by
 * one line per import and export).  Tokens are separated by single spaces;
 * strings (paths, names, messages, type keys) are hex-encoded bytes, value
 * words are hexadecimal, everything else decimal.
 *
 *   memory MIN MAX FLAGS               -> ok H          (MAX "-" = none)
 *   table ELEMTYPE MIN MAX FLAGS       -> ok H          (null-filled; FLAGS: TABLE_FLAG_64)
 *   global VALTYPE MUT KEY LO HI       -> ok H
 *   func KEY NPARAMS NRESULTS          -> ok H          (a host function that does nothing)
 *   load PATH OFFSET SIZE              -> ok M NIMPORTS NEXPORTS
 *                                         then NIMPORTS lines "MODULE NAME KIND"
 *                                         and NEXPORTS lines "NAME KIND"
 *   instantiate M H...                 -> ok I H...     (one extern per import / per export)
 *   call H NWORDS WORD...              -> ok NWORDS WORD...   (two words per value slot)
 *   get H                              -> ok LO HI      (a global's value)
 *   free I                             -> ok freed | ok kept
 *   reset                              -> ok            (a new store; every handle dropped)
 *
 * Failures reply "err LABEL MESSAGE" (LABEL: link, artifact, resource,
 * usage, protocol) and traps "trap CODE MESSAGE".  The server exits at the
 * end of its input.  Guest faults are traps as in any other embedding, so
 * the server survives every test; only the client decides when it ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner.h"

typedef struct handle {
    uint32_t kind;      /* WASMC_EXTERN_* */
    void *ptr;
    uint32_t nparams, nresults; /* functions */
    int owned;          /* created here: released on reset */
} handle;

static handle *handles;
static size_t nhandles, caphandles;
static rn_module *modules;
static size_t nmodules, capmodules;
typedef struct live_instance {
    wasmc_instance *inst; /* NULL once freed */
    uint32_t module;
} live_instance;

static live_instance *instances;
static size_t ninstances, capinstances;
static wasmc_store *store;

static int grow(void **p, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return 1;
    size_t c = *cap ? *cap * 2 : 64;
    void *q = realloc(*p, c * elem);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

static long new_handle(uint32_t kind, void *ptr, uint32_t np, uint32_t nr, int owned) {
    if (!grow((void **)&handles, &caphandles, nhandles, sizeof *handles)) return -1;
    handles[nhandles] = (handle){kind, ptr, np, nr, owned};
    return (long)nhandles++;
}

/* --- replies ------------------------------------------------------------------ */

static void put_hex(const void *data, size_t n) {
    static const char digits[] = "0123456789abcdef";
    const uint8_t *b = data;
    if (n == 0) fputc('-', stdout);
    for (size_t i = 0; i < n; i++) {
        fputc(digits[b[i] >> 4], stdout);
        fputc(digits[b[i] & 15], stdout);
    }
}

static void reply_err(const char *label, const char *msg) {
    printf("err %s ", label);
    put_hex(msg, strlen(msg));
    putchar('\n');
}

static void reply_error(const wasmc_error *err) {
    if (err->kind == WASMC_ERR_TRAP) {
        printf("trap %d ", err->trap);
        put_hex(err->message, strlen(err->message));
        putchar('\n');
        return;
    }
    reply_err(err->kind == WASMC_ERR_LINK ? "link" : err->kind == WASMC_ERR_ARTIFACT ? "artifact"
              : err->kind == WASMC_ERR_USAGE ? "usage" : "resource", err->message);
}

/* --- request parsing ------------------------------------------------------------ */

static char *next_token(char **cur) {
    char *p = *cur;
    if (!p || !*p) return NULL;
    char *sp = strchr(p, ' ');
    if (sp) { *sp = 0; *cur = sp + 1; } else { *cur = p + strlen(p); }
    return p;
}

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode hex token T in place; returns the length or -1. */
static long unhex(char *t) {
    if (strcmp(t, "-") == 0) { t[0] = 0; return 0; }
    size_t n = strlen(t);
    if (n % 2) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(t[2 * i]), lo = hexval(t[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        t[i] = (char)(hi << 4 | lo);
    }
    t[n / 2] = 0;
    return (long)(n / 2);
}

static int num(char **cur, uint64_t *out, int base) {
    char *t = next_token(cur);
    if (!t || !*t) return 0;
    char *end;
    errno = 0;
    *out = strtoull(t, &end, base);
    return !*end && errno == 0;
}

static int opt_max(char **cur, uint64_t *out) {
    char *t = next_token(cur);
    if (!t) return 0;
    if (strcmp(t, "-") == 0) { *out = WASMC_NO_MAX; return 1; }
    char *end;
    *out = strtoull(t, &end, 10);
    return !*end;
}

static handle *get_handle(uint64_t h) { return h < nhandles && handles[h].ptr ? &handles[h] : NULL; }

/* --- requests ---------------------------------------------------------------------- */

static int32_t host_noop(wasmc_hostfunc *env, wasmc_vmctx *caller, wasmc_val *values) { return 0; }

static void do_memory(char *cur) {
    uint64_t min, max, flags;
    if (!num(&cur, &min, 10) || !opt_max(&cur, &max) || !num(&cur, &flags, 10)) return reply_err("protocol", "memory");
    wasmc_error err;
    wasmc_memory *m = wasmc_memory_new(min, max, (uint32_t)flags, &err);
    if (!m) return reply_error(&err);
    printf("ok %ld\n", new_handle(WASMC_EXTERN_MEMORY, m, 0, 0, 1));
}

static void do_table(char *cur) {
    uint64_t et, min, max, flags;
    if (!num(&cur, &et, 10) || !num(&cur, &min, 10) || !opt_max(&cur, &max) || !num(&cur, &flags, 10))
        return reply_err("protocol", "table");
    wasmc_error err;
    wasmc_table *t = wasmc_table_new((uint32_t)et, min, max, NULL, &err);
    if (!t) return reply_error(&err);
    t->flags = (uint32_t)flags & WASMC_TABLE_FLAG_64;
    printf("ok %ld\n", new_handle(WASMC_EXTERN_TABLE, t, 0, 0, 1));
}

static void do_global(char *cur) {
    uint64_t vt, mut, lo, hi;
    char *key;
    long kl;
    if (!num(&cur, &vt, 10) || !num(&cur, &mut, 10) || !(key = next_token(&cur)) || (kl = unhex(key)) < 0 ||
        !num(&cur, &lo, 16) || !num(&cur, &hi, 16))
        return reply_err("protocol", "global");
    wasmc_val v;
    memset(&v, 0, sizeof v);
    memcpy(v.v128, &lo, 8);
    memcpy(v.v128 + 8, &hi, 8);
    wasmc_global *g = wasmc_global_new((uint32_t)vt, (uint32_t)mut, key, (uint32_t)kl, &v);
    if (!g) return reply_err("resource", "cannot create a global");
    printf("ok %ld\n", new_handle(WASMC_EXTERN_GLOBAL, g, 0, 0, 1));
}

static void do_func(char *cur) {
    uint64_t np, nr;
    char *key;
    long kl;
    if (!(key = next_token(&cur)) || (kl = unhex(key)) < 0 || !num(&cur, &np, 10) || !num(&cur, &nr, 10))
        return reply_err("protocol", "func");
    wasmc_funcref *f = wasmc_hostfunc_new(store, host_noop, NULL, key, (uint32_t)kl, (uint32_t)np, (uint32_t)nr);
    if (!f) return reply_err("resource", "cannot create a host function");
    printf("ok %ld\n", new_handle(WASMC_EXTERN_FUNC, f, (uint32_t)np, (uint32_t)nr, 0));
}

static void do_load(char *cur) {
    char *path;
    uint64_t off, size;
    if (!(path = next_token(&cur)) || unhex(path) <= 0 || !num(&cur, &off, 10) || !num(&cur, &size, 10))
        return reply_err("protocol", "load");
    if (!grow((void **)&modules, &capmodules, nmodules, sizeof *modules)) return reply_err("resource", "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return reply_err("artifact", strerror(errno));
    wasmc_error err;
    wasmc_image *img = wasmc_image_map(fd, off, size, &err);
    close(fd);
    if (!img) return reply_error(&err);
    rn_module *m = &modules[nmodules];
    rn_module_init(m, img);
    printf("ok %zu %u %u\n", nmodules++, m->h->nimports, m->h->nexports);
    for (uint32_t i = 0; i < m->h->nimports; i++) {
        const wasmc_import_desc *id = rn_import(m, i);
        put_hex(rn_str(m, id->module), id->module_len);
        putchar(' ');
        put_hex(rn_str(m, id->name), id->name_len);
        printf(" %s\n", rn_kind_name(id->kind));
    }
    for (uint32_t i = 0; i < m->h->nexports; i++) {
        const wasmc_export_desc *e = rn_export(m, i);
        put_hex(rn_str(m, e->name), e->name_len);
        printf(" %s\n", rn_kind_name(e->kind));
    }
}

static void do_instantiate(char *cur) {
    uint64_t mi;
    if (!num(&cur, &mi, 10) || mi >= nmodules) return reply_err("protocol", "instantiate: module");
    rn_module *m = &modules[mi];
    uint32_t n = m->h->nimports;
    wasmc_extern *imports = calloc(n ? n : 1, sizeof *imports);
    if (!imports) return reply_err("resource", "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        uint64_t h;
        handle *x;
        if (!num(&cur, &h, 10) || !(x = get_handle(h))) {
            free(imports);
            return reply_err("protocol", "instantiate: import handle");
        }
        imports[i].kind = x->kind;
        imports[i].ptr = x->ptr;
    }
    if (!grow((void **)&instances, &capinstances, ninstances, sizeof *instances)) {
        free(imports);
        return reply_err("resource", "out of memory");
    }
    wasmc_error err;
    wasmc_instance *inst = wasmc_instance_new(store, m->image, imports, n, &err);
    free(imports);
    if (!inst) return reply_error(&err);
    instances[ninstances] = (live_instance){inst, (uint32_t)mi};
    printf("ok %zu", ninstances++);
    for (uint32_t i = 0; i < m->h->nexports; i++) {
        wasmc_extern x;
        long h = 0;
        if (wasmc_instance_export(inst, i, &x)) {
            uint32_t np = 0, nr = 0;
            if (x.kind == WASMC_EXTERN_FUNC) {
                const wasmc_type_desc *td = rn_func_type(m, rn_export(m, i)->index);
                if (td) np = td->nparams, nr = td->nresults;
            }
            h = new_handle(x.kind, x.ptr, np, nr, 0);
        }
        printf(" %ld", h);
    }
    putchar('\n');
}

static void do_call(char *cur) {
    uint64_t h, nw;
    handle *x;
    if (!num(&cur, &h, 10) || !(x = get_handle(h)) || x->kind != WASMC_EXTERN_FUNC || !num(&cur, &nw, 10) ||
        nw != 2ull * x->nparams)
        return reply_err("protocol", "call");
    uint32_t slots = x->nparams > x->nresults ? x->nparams : x->nresults;
    wasmc_val *vals = calloc(slots ? slots : 1, sizeof *vals);
    if (!vals) return reply_err("resource", "out of memory");
    for (uint64_t i = 0; i < nw; i++) {
        uint64_t w;
        if (!num(&cur, &w, 16)) {
            free(vals);
            return reply_err("protocol", "call: word");
        }
        memcpy((uint8_t *)&vals[i / 2] + 8 * (i % 2), &w, 8);
    }
    wasmc_error err;
    if (wasmc_call(store, x->ptr, vals, &err) != 0) {
        free(vals);
        return reply_error(&err);
    }
    printf("ok %u", 2 * x->nresults);
    for (uint32_t i = 0; i < 2 * x->nresults; i++) {
        uint64_t w;
        memcpy(&w, (uint8_t *)&vals[i / 2] + 8 * (i % 2), 8);
        printf(" %llx", (unsigned long long)w);
    }
    putchar('\n');
    free(vals);
}

static void do_get(char *cur) {
    uint64_t h;
    handle *x;
    if (!num(&cur, &h, 10) || !(x = get_handle(h)) || x->kind != WASMC_EXTERN_GLOBAL)
        return reply_err("protocol", "get");
    const wasmc_global *g = x->ptr;
    uint64_t lo, hi;
    memcpy(&lo, g->value->v128, 8);
    memcpy(&hi, g->value->v128 + 8, 8);
    printf("ok %llx %llx\n", (unsigned long long)lo, (unsigned long long)hi);
}

/* An instance can be freed before its store only if nothing outside it can
 * hold one of its functions: the client vouches that no other instance
 * imports its exports; here we check that it imports no table and no
 * reference-typed global it could have stored its functions into. */
static int freeable(const rn_module *m) {
    const wasmc_global_desc *gd = (const wasmc_global_desc *)(m->base + m->h->globals);
    for (uint32_t i = 0; i < m->h->nimports; i++) {
        const wasmc_import_desc *id = rn_import(m, i);
        if (id->kind == WASMC_EXTERN_TABLE || id->kind == WASMC_EXTERN_TAG) return 0;
        if (id->kind == WASMC_EXTERN_GLOBAL) {
            uint32_t vt = gd[id->index].valtype;
            if (vt != WASMC_VALTYPE_I32 && vt != WASMC_VALTYPE_I64 && vt != WASMC_VALTYPE_F32 &&
                vt != WASMC_VALTYPE_F64 && vt != WASMC_VALTYPE_V128)
                return 0;
        }
    }
    return 1;
}

static void do_free(char *cur) {
    uint64_t i;
    if (!num(&cur, &i, 10) || i >= ninstances || !instances[i].inst) return reply_err("protocol", "free");
    const rn_module *m = &modules[instances[i].module];
    if (!freeable(m)) {
        printf("ok kept\n");
        return;
    }
    /* Its exports' handles die with it. */
    wasmc_instance *inst = instances[i].inst;
    for (uint32_t e = 0; e < m->h->nexports; e++) {
        wasmc_extern x;
        if (!wasmc_instance_export(inst, e, &x)) continue;
        for (size_t k = 0; k < nhandles; k++)
            if (handles[k].ptr == x.ptr && !handles[k].owned) handles[k].ptr = NULL;
    }
    wasmc_instance_free(store, inst);
    instances[i].inst = NULL;
    printf("ok freed\n");
}

static void do_reset(void) {
    if (store) wasmc_store_free(store);
    for (size_t k = 0; k < nhandles; k++) {
        if (!handles[k].owned || !handles[k].ptr) continue;
        switch (handles[k].kind) {
        case WASMC_EXTERN_MEMORY: wasmc_memory_release(handles[k].ptr); break;
        case WASMC_EXTERN_TABLE: wasmc_table_release(handles[k].ptr); break;
        case WASMC_EXTERN_GLOBAL: wasmc_global_release(handles[k].ptr); break;
        }
    }
    for (size_t k = 0; k < nmodules; k++) wasmc_image_release(modules[k].image);
    nhandles = nmodules = ninstances = 0;
    store = wasmc_store_new();
}

int rn_serve(void) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    do_reset();
    if (!store) return RN_EXIT_INTERNAL;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n') line[--n] = 0;
        char *cur = line;
        char *cmd = next_token(&cur);
        if (!cmd) reply_err("protocol", "empty request");
        else if (!strcmp(cmd, "memory")) do_memory(cur);
        else if (!strcmp(cmd, "table")) do_table(cur);
        else if (!strcmp(cmd, "global")) do_global(cur);
        else if (!strcmp(cmd, "func")) do_func(cur);
        else if (!strcmp(cmd, "load")) do_load(cur);
        else if (!strcmp(cmd, "instantiate")) do_instantiate(cur);
        else if (!strcmp(cmd, "call")) do_call(cur);
        else if (!strcmp(cmd, "get")) do_get(cur);
        else if (!strcmp(cmd, "free")) do_free(cur);
        else if (!strcmp(cmd, "reset")) { do_reset(); printf("ok\n"); }
        else reply_err("protocol", "unknown request");
        fflush(stdout);
    }
    free(line);
    return 0;
}
