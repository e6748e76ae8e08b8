/* common.c -- what main.c and serve.c share: loading an image, reading
 * its (already checked) descriptor, reporting errors in wasmc's one-line
 * format, and the textual form of values.
 *
 * Values are printed exactly as `wasmc exec --invoke` prints them (Python's
 * str() of the value): integers in signed decimal, floats in Python's
 * shortest round-trip repr ("0.1", "1e+16", "nan", "-inf"), v128 as one
 * unsigned 128-bit decimal, null references as "null".  Tests compare the
 * outputs of the native and the foreign slices byte for byte, so the two
 * formats must agree.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner.h"

void rn_fail(const char *label, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n') *p = ' ';
    fprintf(stderr, "wasmc: %s: %s\n", label, msg);
}

/* --- images and descriptors ----------------------------------------------- */

void rn_module_init(rn_module *m, wasmc_image *image) {
    m->image = image;
    m->h = wasmc_image_header_of(image);
    m->base = (const uint8_t *)m->h; /* the header is at offset 0 of the image */
}

int rn_load(rn_module *m, const char *path, uint64_t offset, uint64_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        rn_fail("I/O error", "cannot open %s: %s", path, strerror(errno));
        return RN_EXIT_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        rn_fail("I/O error", "cannot read %s: not a regular file", path);
        return RN_EXIT_IO;
    }
    wasmc_error err;
    wasmc_image *img = wasmc_image_map(fd, offset, size, &err);
    close(fd);
    if (!img) {
        rn_fail("bad artifact", "%s: %s", path, err.message);
        return RN_EXIT_ARTIFACT;
    }
    rn_module_init(m, img);
    return 0;
}

const char *rn_str(const rn_module *m, uint32_t off) { return (const char *)m->base + m->h->strings + off; }

const wasmc_type_desc *rn_type(const rn_module *m, uint32_t t) {
    return (const wasmc_type_desc *)(m->base + m->h->types) + t;
}

const wasmc_import_desc *rn_import(const rn_module *m, uint32_t i) {
    return (const wasmc_import_desc *)(m->base + m->h->imports) + i;
}

const wasmc_export_desc *rn_export(const rn_module *m, uint32_t i) {
    return (const wasmc_export_desc *)(m->base + m->h->exports) + i;
}

const wasmc_type_desc *rn_func_type(const rn_module *m, uint32_t f) {
    if (f < m->h->nimported_funcs) {
        for (uint32_t i = 0; i < m->h->nimports; i++) {
            const wasmc_import_desc *id = rn_import(m, i);
            if (id->kind == WASMC_EXTERN_FUNC && id->index == f) return rn_type(m, id->type);
        }
        return NULL;
    }
    const wasmc_func_desc *fd = (const wasmc_func_desc *)(m->base + m->h->funcs) + (f - m->h->nimported_funcs);
    return rn_type(m, fd->type);
}

int64_t rn_find_export(const rn_module *m, const char *name, size_t len) {
    for (uint32_t i = 0; i < m->h->nexports; i++) {
        const wasmc_export_desc *e = rn_export(m, i);
        if (e->name_len == len && memcmp(rn_str(m, e->name), name, len) == 0) return i;
    }
    return -1;
}

const char *rn_kind_name(uint32_t kind) {
    switch (kind) {
    case WASMC_EXTERN_FUNC: return "func";
    case WASMC_EXTERN_TABLE: return "table";
    case WASMC_EXTERN_MEMORY: return "memory";
    case WASMC_EXTERN_GLOBAL: return "global";
    case WASMC_EXTERN_TAG: return "tag";
    default: return "?";
    }
}

/* --- errors ------------------------------------------------------------------ */

/* The name of function F of IMAGE for a backtrace: its name-section or
 * export name from the descriptor, else func[F] (as the Python runtime). */
static void frame_name(const wasmc_frame *fr, char *buf, size_t len) {
    const wasmc_image_header *h = wasmc_image_header_of(fr->image);
    const uint8_t *b = (const uint8_t *)h;
    if (fr->func >= h->nimported_funcs && fr->func < h->nfuncs) {
        const wasmc_func_desc *fd = (const wasmc_func_desc *)(b + h->funcs) + (fr->func - h->nimported_funcs);
        if (fd->name != WASMC_NO_INDEX) {
            snprintf(buf, len, "%.*s", (int)fd->name_len, (const char *)b + h->strings + fd->name);
            return;
        }
    }
    snprintf(buf, len, "func[%u]", fr->func);
}

/* Innermost first, runs of one name collapsed, at most 8 runs
 * (wasmc.errors.format_backtrace). */
static void format_backtrace(const wasmc_error *err, char *out, size_t len) {
    char names[WASMC_MAX_FRAMES][128];
    uint32_t n = err->nframes < WASMC_MAX_FRAMES ? err->nframes : WASMC_MAX_FRAMES;
    for (uint32_t i = 0; i < n; i++) frame_name(&err->frames[i], names[i], sizeof names[i]);
    size_t used = 0;
    int runs = 0;
    out[0] = 0;
    for (uint32_t i = 0; i < n;) {
        uint32_t j = i + 1;
        while (j < n && strcmp(names[j], names[i]) == 0) j++;
        if (runs == 8) {
            snprintf(out + used, len - used, " <- ...");
            return;
        }
        int w = j - i == 1 ? snprintf(out + used, len - used, "%s%s", runs ? " <- " : "", names[i])
                           : snprintf(out + used, len - used, "%s%s x%u", runs ? " <- " : "", names[i], j - i);
        if (w < 0 || (size_t)w >= len - used) return;
        used += (size_t)w;
        runs++;
        i = j;
    }
}

/* "uncaught exception: tag NAME (v1, v2)", as the Python API words it. */
static void describe_exception(const wasmc_error *err, const wasmc_store *st, char *msg, size_t len) {
    const wasmc_exn *x = (const wasmc_exn *)err->exn;
    char name[128];
    const uint8_t *vt;
    int32_t n = st ? wasmc_tag_describe(st, x->tag, name, sizeof name, &vt) : -1;
    if (n < 0 || (uint32_t)n != x->nvalues) {
        snprintf(msg, len, "%s", err->message);
        return;
    }
    size_t used = (size_t)snprintf(msg, len, "uncaught exception: tag %s (", name);
    const wasmc_val *vals = (const wasmc_val *)(x + 1);
    for (int32_t i = 0; i < n && used < len; i++) {
        char v[64];
        if (vt[i] >= WASMC_VALTYPE_V128) /* i32 i64 f32 f64 v128: 0x7f..0x7b */
            rn_format_value(vt[i], &vals[i], v, sizeof v);
        else
            snprintf(v, sizeof v, "%s", vals[i].ref ? "<ref>" : "None");
        used += (size_t)snprintf(msg + used, len - used, "%s%s", i ? ", " : "", v);
    }
    if (used < len) snprintf(msg + used, len - used, ")");
}

int rn_report(const wasmc_error *err, const wasmc_store *store, const char *what, double timeout) {
    switch (err->kind) {
    case WASMC_ERR_TRAP: {
        char bt[2048] = "";
        if (err->nframes) format_backtrace(err, bt, sizeof bt);
        char msg[512];
        if (err->trap == WASMC_TRAP_INTERRUPT && timeout > 0)
            snprintf(msg, sizeof msg, "interrupted after the --timeout of %g s", timeout);
        else if (err->trap == WASMC_TRAP_UNCAUGHT_EXCEPTION && err->exn)
            describe_exception(err, store, msg, sizeof msg);
        else
            snprintf(msg, sizeof msg, "%s", err->message);
        if (bt[0])
            rn_fail("trap", "%s (backtrace: %s)", msg, bt);
        else
            rn_fail("trap", "%s", msg);
        return RN_EXIT_TRAP;
    }
    case WASMC_ERR_LINK:
        rn_fail("link error", "%s", err->message);
        return RN_EXIT_LINK;
    case WASMC_ERR_LIMIT:
        rn_fail("resource limit exceeded", "%s", err->message);
        return RN_EXIT_LINK;
    case WASMC_ERR_USAGE:
        rn_fail("usage error", "%s", err->message);
        return RN_EXIT_USAGE;
    case WASMC_ERR_ARTIFACT:
        rn_fail("bad artifact", "%s%s%s", what ? what : "", what ? ": " : "", err->message);
        return RN_EXIT_ARTIFACT;
    default:
        rn_fail("instantiation error", "%s", err->message);
        return RN_EXIT_LINK;
    }
}

/* --- values -------------------------------------------------------------------- */

/* An integer of BITS bits, given signed or unsigned, in the bases Python's
 * int(s, 0) accepts (0x, 0o, 0b prefixes; underscores between digits). */
static int parse_int(const char *s, int bits, uint64_t *out) {
    char clean[128];
    size_t n = 0;
    const char *p = s;
    while (*p == ' ' || *p == '\t') p++;
    int neg = 0;
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) base = 16, p += 2;
    else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) base = 8, p += 2;
    else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) base = 2, p += 2;
    for (; *p && *p != ' ' && *p != '\t'; p++) {
        if (*p == '_' && n > 0 && p[1] && p[1] != '_') continue;
        if (n + 1 >= sizeof clean) return 0;
        clean[n++] = *p;
    }
    while (*p == ' ' || *p == '\t') p++;
    if (*p || n == 0) return 0;
    clean[n] = 0;
    if (base == 10 && n > 1 && clean[0] == '0') return 0; /* Python refuses "012" */
    errno = 0;
    char *end;
    unsigned long long v = strtoull(clean, &end, base);
    if (*end || errno == ERANGE || clean[0] == '-' || clean[0] == '+') return 0;
    uint64_t umax = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
    if (neg) {
        uint64_t lim = 1ull << (bits - 1); /* |minimum| */
        if (v > lim) return 0;
        *out = (uint64_t)(-(int64_t)(v - 1) - 1) & umax;
    } else {
        if (v > umax) return 0;
        *out = v;
    }
    return 1;
}

static int parse_u128(const char *s, uint64_t *lo, uint64_t *hi) {
    unsigned __int128 v = 0;
    const char *p = s;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) base = 16, p += 2;
    if (!*p) return 0;
    for (; *p; p++) {
        int d;
        if (*p == '_') continue;
        if (*p >= '0' && *p <= '9') d = *p - '0';
        else if (base == 16 && *p >= 'a' && *p <= 'f') d = *p - 'a' + 10;
        else if (base == 16 && *p >= 'A' && *p <= 'F') d = *p - 'A' + 10;
        else return 0;
        if (d >= base) return 0;
        unsigned __int128 next = v * (unsigned)base + (unsigned)d;
        if (next / (unsigned)base != v) return 0; /* beyond 128 bits */
        v = next;
    }
    *lo = (uint64_t)v;
    *hi = (uint64_t)(v >> 64);
    return 1;
}

int rn_parse_value(uint8_t t, const char *s, wasmc_val *out) {
    uint64_t u;
    memset(out, 0, sizeof *out);
    switch (t) {
    case WASMC_VALTYPE_I32:
        if (!parse_int(s, 32, &u)) return 0;
        out->i32 = (int32_t)(uint32_t)u;
        return 1;
    case WASMC_VALTYPE_I64:
        if (!parse_int(s, 64, &u)) return 0;
        out->i64 = (int64_t)u;
        return 1;
    case WASMC_VALTYPE_F32:
    case WASMC_VALTYPE_F64: {
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        if (end == s || *end) return 0;
        if (t == WASMC_VALTYPE_F32) out->f32 = (float)d;
        else out->f64 = d;
        return 1;
    }
    case WASMC_VALTYPE_V128: {
        uint64_t lo, hi;
        if (!parse_u128(s, &lo, &hi)) return 0;
        memcpy(out->v128, &lo, 8);
        memcpy(out->v128 + 8, &hi, 8);
        return 1;
    }
    default:
        return 0;
    }
}

/* Python's repr() of a float: the shortest digits that read back exactly,
 * fixed notation for exponents -4..15, else d.ddde+XX. */
static void format_double(double x, char *buf, size_t len) {
    if (isnan(x)) { snprintf(buf, len, "nan"); return; }
    if (isinf(x)) { snprintf(buf, len, x < 0 ? "-inf" : "inf"); return; }
    char e[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, x);
        if (strtod(e, NULL) == x) break;
    }
    /* e is "[-]d[.ddd]e[+-]XX": split digits and exponent */
    char digits[32];
    size_t nd = 0;
    const char *p = e;
    int neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int exp = atoi(p + 1);
    char out[64];
    size_t o = 0;
    if (neg) out[o++] = '-';
    if (exp < -4 || exp >= 16) {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (size_t i = 1; i < nd; i++) out[o++] = digits[i];
        }
        snprintf(out + o, sizeof out - o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -exp - 1; i++) out[o++] = '0';
        for (size_t i = 0; i < nd; i++) out[o++] = digits[i];
        out[o] = 0;
    } else {
        for (int i = 0; i <= exp; i++) out[o++] = (size_t)i < nd ? digits[i] : '0';
        out[o++] = '.';
        if ((size_t)exp + 1 < nd)
            for (size_t i = (size_t)exp + 1; i < nd; i++) out[o++] = digits[i];
        else
            out[o++] = '0';
        out[o] = 0;
    }
    snprintf(buf, len, "%s", out);
}

void rn_format_value(uint8_t t, const wasmc_val *v, char *buf, size_t len) {
    switch (t) {
    case WASMC_VALTYPE_I32: snprintf(buf, len, "%d", v->i32); return;
    case WASMC_VALTYPE_I64: snprintf(buf, len, "%lld", (long long)v->i64); return;
    case WASMC_VALTYPE_F32: format_double((double)v->f32, buf, len); return;
    case WASMC_VALTYPE_F64: format_double(v->f64, buf, len); return;
    case WASMC_VALTYPE_V128: {
        uint64_t lo, hi;
        memcpy(&lo, v->v128, 8);
        memcpy(&hi, v->v128 + 8, 8);
        unsigned __int128 x = ((unsigned __int128)hi << 64) | lo;
        char tmp[48];
        int n = 0;
        do {
            tmp[n++] = (char)('0' + (int)(x % 10));
            x /= 10;
        } while (x);
        size_t o = 0;
        while (n && o + 1 < len) buf[o++] = tmp[--n];
        buf[o] = 0;
        return;
    }
    default:
        snprintf(buf, len, "%s", v->ref ? "<ref>" : "null");
        return;
    }
}
