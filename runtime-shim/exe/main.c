/* main.c -- the runner's command line: `wasmc exec` in C.
 *
 *   APP [--invoke NAME] [--dir HOST[::GUEST]]... [--env K=V]... [--inherit-env]
 *       [--tcplisten HOST:PORT]... [--timeout SECONDS] [--fuel N]
 *       [--max-memory BYTES] [--max-table-elements N] [--max-instances N] [--] [ARGS...]
 *
 * APP is a `wasmc build --exe` executable (the image is embedded in it), or
 * the plain runner given the image's place in a .wasmu by wasmc itself:
 *
 *   runner-ARCH --image FILE:OFFSET:SIZE [--argv0 NAME]
 *               [--preload NAME=FILE:OFFSET:SIZE]... [exec options] [--] [ARGS...]
 *   runner-ARCH --serve          (the spec-test protocol, serve.c)
 *   runner-ARCH --hwcap          (print getauxval(AT_HWCAP): the CPU's features)
 *
 * Options and their order, the messages and the exit codes are those of
 * `wasmc exec` (docs/cli.md): one line on stderr for every failure, 134 for
 * a trap, the guest's proc_exit status as the process status.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"

#define WASI_MODULE "wasi_snapshot_preview1"
#define MAX_LIST 256

typedef struct preload {
    const char *name;
    rn_module mod;
    wasmc_instance *inst;
} preload;

typedef struct options {
    const char *image_spec; /* FILE:OFFSET:SIZE */
    const char *argv0;
    const char *invoke;
    const char *dirs[MAX_LIST];
    int ndirs;
    const char *envs[MAX_LIST];
    int nenvs;
    int inherit_env;
    const char *listens[MAX_LIST];
    int nlistens;
    const char *preload_specs[MAX_LIST];
    int npreloads;
    double timeout;
    int metered;           /* --fuel given */
    uint64_t fuel;
    wasmc_store_limits limits; /* --max-memory, --max-table-elements, --max-instances (else NO_MAX) */
    const char **args;
    int nargs;
} options;

static int usage(const char *fmt, const char *arg) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg);
    rn_fail("usage error", "%s", msg);
    return RN_EXIT_USAGE;
}

/* --- argument parsing ---------------------------------------------------- */

/* A count for --fuel and --max-table-elements, or a size in bytes for
 * --max-memory: decimal digits, and for a size an optional K, M, G or T
 * (powers of 1024), as `wasmc exec` takes them.  At most MAX. */
static int parse_amount(const char *s, int size, uint64_t max, uint64_t *out) {
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9') return 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10) return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (size && *p) {
        const char *units = "KMGT";
        const char *u = strchr(units, *p);
        if (!u || p[1]) return 0;
        for (int k = 0; k <= u - units; k++) {
            if (v > UINT64_MAX / 1024) return 0;
            v *= 1024;
        }
        p++;
    }
    if (*p || v > max) return 0;
    *out = v;
    return 1;
}

static int add(const char **list, int *n, const char *v, const char *opt) {
    if (*n >= MAX_LIST) return usage("too many %s options", opt);
    list[(*n)++] = v;
    return 0;
}

static int parse_args(int argc, char **argv, options *o) {
    static const char *positional[4096];
    int npos = 0;
    memset(o, 0, sizeof *o);
    o->limits = (wasmc_store_limits){WASMC_NO_MAX, WASMC_NO_MAX, WASMC_NO_MAX, WASMC_NO_MAX, WASMC_NO_MAX};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++) {
                if (npos >= 4096) return usage("%s", "too many arguments");
                positional[npos++] = argv[i];
            }
            break;
        }
        const char *val = NULL;
        const char *names[] = {"--image", "--argv0", "--invoke", "--dir", "--env", "--tcplisten", "--timeout",
                               "--preload", "--fuel", "--max-memory", "--max-table-elements", "--max-instances",
                               NULL};
        int matched = -1;
        for (int k = 0; names[k]; k++) {
            size_t n = strlen(names[k]);
            if (strncmp(a, names[k], n) == 0 && (a[n] == 0 || a[n] == '=')) {
                matched = k;
                if (a[n] == '=') val = a + n + 1;
                else if (i + 1 < argc) val = argv[++i];
                else return usage("Option '%s' requires an argument.", names[k]);
                break;
            }
        }
        if (matched < 0) {
            if (strcmp(a, "--inherit-env") == 0) { o->inherit_env = 1; continue; }
            if (a[0] == '-' && a[1]) return usage("No such option '%s'.", a);
            if (npos >= 4096) return usage("%s", "too many arguments");
            positional[npos++] = a;
            continue;
        }
        int rc = 0;
        switch (matched) {
        case 0: o->image_spec = val; break;
        case 1: o->argv0 = val; break;
        case 2: o->invoke = val; break;
        case 3: rc = add(o->dirs, &o->ndirs, val, "--dir"); break;
        case 4: rc = add(o->envs, &o->nenvs, val, "--env"); break;
        case 5: rc = add(o->listens, &o->nlistens, val, "--tcplisten"); break;
        case 6: {
            char *end;
            double t = strtod(val, &end);
            if (end == val || *end || !(t > 0) || !isfinite(t) || t > RN_MAX_TIMEOUT)
                return usage("--timeout expects a number of seconds greater than 0 and at most 1e9, got '%s'",
                             val);
            o->timeout = t;
            break;
        }
        case 7: rc = add(o->preload_specs, &o->npreloads, val, "--preload"); break;
        case 8:
            if (!parse_amount(val, 0, INT64_MAX, &o->fuel))
                return usage("--fuel expects a whole number from 0 to 2**63 - 1, got '%s'", val);
            o->metered = 1;
            break;
        case 9:
            if (!parse_amount(val, 1, UINT64_MAX, &o->limits.memory_size))
                return usage("--max-memory expects a size in bytes (a whole number, optionally with K, M, G "
                             "or T), got '%s'", val);
            break;
        case 10:
            if (!parse_amount(val, 0, UINT64_MAX, &o->limits.table_elements))
                return usage("--max-table-elements expects a whole number, got '%s'", val);
            break;
        case 11:
            if (!parse_amount(val, 0, UINT64_MAX, &o->limits.instances))
                return usage("--max-instances expects a whole number, got '%s'", val);
            break;
        }
        if (rc) return rc;
    }
    o->args = positional;
    o->nargs = npos;
    return 0;
}

/* FILE:OFFSET:SIZE (the file name may itself contain colons). */
static int parse_image_spec(const char *spec, char *path, size_t plen, uint64_t *off, uint64_t *size) {
    const char *c2 = strrchr(spec, ':');
    if (!c2 || c2 == spec) return 0;
    const char *c1 = c2 - 1;
    while (c1 > spec && *c1 != ':') c1--;
    if (*c1 != ':' || (size_t)(c1 - spec) >= plen) return 0;
    char *end;
    *off = strtoull(c1 + 1, &end, 10);
    if (end != c2) return 0;
    *size = strtoull(c2 + 1, &end, 10);
    if (*end) return 0;
    memcpy(path, spec, (size_t)(c1 - spec));
    path[c1 - spec] = 0;
    return 1;
}

static int load_spec(const char *spec, rn_module *m) {
    char path[4096];
    uint64_t off, size;
    if (!parse_image_spec(spec, path, sizeof path, &off, &size)) return usage("bad image place '%s'", spec);
    return rn_load(m, path, off, size);
}

/* --- the timeout ------------------------------------------------------------- */

typedef struct timer {
    wasmc_store *store;
    double seconds;
} timer;

static void *timer_main(void *p) {
    timer *t = p;
    struct timespec ts = {(time_t)t->seconds, (long)((t->seconds - floor(t->seconds)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    wasmc_store_interrupt(t->store);
    return NULL;
}

/* --- sockets (--tcplisten) ------------------------------------------------------ */

static int listen_on(const char *addr, int *out) {
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || !colon[1] || (size_t)(colon - addr) >= sizeof host)
        return usage("--tcplisten expects HOST:PORT, got '%s'", addr);
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9') return usage("--tcplisten expects HOST:PORT, got '%s'", addr);
    if (atoi(colon + 1) > 65535) return usage("--tcplisten expects HOST:PORT, got '%s'", addr);
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    int family = AF_INET;
    char *h = host;
    size_t hl = strlen(h);
    if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
        h[hl - 1] = 0;
        h++;
        family = AF_INET6;
    }
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res;
    if (getaddrinfo(h, colon + 1, &hints, &res) != 0) {
        rn_fail("I/O error", "--tcplisten %s: cannot resolve the address", addr);
        return RN_EXIT_IO;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        rn_fail("I/O error", "--tcplisten %s: %s", addr, strerror(e));
        return RN_EXIT_IO;
    }
    freeaddrinfo(res);
    *out = fd;
    return 0;
}

/* --- the guest's exit status ------------------------------------------------------ */

/* The process status for the guest's proc_exit: 0..125 as they are; any
 * other value (as unsigned) is an error, as in wasmtime, because a shell
 * gives 126 and up other meanings (not executable, not found, killed by a
 * signal; 134 is a trap) and the OS would keep only the low 8 bits. */
static int exit_status(const wasmc_wasi *wasi) {
    uint32_t s = (uint32_t)wasmc_wasi_exit_code(wasi);
    if (s <= 125) return (int)s;
    rn_fail("error", "the guest exited with status %u: a WASI exit status must be in 0..125", s);
    return RN_EXIT_INTERNAL;
}

/* --- linking ---------------------------------------------------------------------- */

static int needs_wasi(const rn_module *m) {
    for (uint32_t i = 0; i < m->h->nimports; i++)
        if (strncmp(rn_str(m, rn_import(m, i)->module), "wasi_", 5) == 0) return 1;
    return 0;
}

/* One extern per import of M: WASI functions, or exports of the preloads. */
static int resolve_imports(wasmc_store *st, const rn_module *m, wasmc_wasi *wasi, preload *pre, int npre,
                           wasmc_extern *out) {
    for (uint32_t i = 0; i < m->h->nimports; i++) {
        const wasmc_import_desc *id = rn_import(m, i);
        const char *mod = rn_str(m, id->module), *name = rn_str(m, id->name);
        int ml = (int)id->module_len, nl = (int)id->name_len;
        out[i].kind = id->kind;
        out[i].ptr = NULL;
        if (wasi && id->kind == WASMC_EXTERN_FUNC && id->module_len == strlen(WASI_MODULE) &&
            memcmp(mod, WASI_MODULE, id->module_len) == 0) {
            char fname[64];
            wasmc_host_fn fn;
            const char *sig;
            snprintf(fname, sizeof fname, "%.*s", nl, name);
            if (id->name_len < sizeof fname && wasmc_wasi_lookup(fname, &fn, &sig)) {
                const wasmc_type_desc *td = rn_type(m, id->type);
                out[i].ptr = wasmc_hostfunc_new(st, (wasmc_host_callback)fn, wasi, rn_str(m, td->key), td->key_len,
                                                td->nparams, td->nresults);
            }
        }
        for (int k = 0; k < npre && !out[i].ptr; k++) {
            if (strlen(pre[k].name) != id->module_len || memcmp(pre[k].name, mod, id->module_len) != 0) continue;
            int64_t e = rn_find_export(&pre[k].mod, name, id->name_len);
            if (e >= 0) wasmc_instance_export(pre[k].inst, (uint32_t)e, &out[i]);
        }
        if (!out[i].ptr) {
            rn_fail("link error", "unknown import: %.*s::%.*s (%s) was not provided", ml, mod, nl, name,
                    rn_kind_name(id->kind));
            return RN_EXIT_LINK;
        }
    }
    return 0;
}

static wasmc_instance *instantiate(wasmc_store *st, const rn_module *m, wasmc_wasi *wasi, preload *pre, int npre,
                                   double timeout, int *rc) {
    wasmc_extern *imports = calloc(m->h->nimports ? m->h->nimports : 1, sizeof *imports);
    if (!imports) { rn_fail("error", "out of memory"); *rc = RN_EXIT_INTERNAL; return NULL; }
    *rc = resolve_imports(st, m, wasi, pre, npre, imports);
    if (*rc) { free(imports); return NULL; }
    wasmc_error err;
    wasmc_instance *inst = wasmc_instance_new(st, m->image, imports, m->h->nimports, &err);
    free(imports);
    if (!inst) {
        if (err.kind == WASMC_ERR_TRAP && err.trap == WASMC_TRAP_EXIT && wasi) {
            *rc = exit_status(wasi);
            return NULL;
        }
        *rc = rn_report(&err, st, NULL, timeout);
    }
    return inst;
}

/* Set when the guest called proc_exit: the status is then the process's. */
static int guest_exited;
/* Set when the runner started with its standard output closed: writes there
 * are dropped silently, as `wasmc exec` does. */
static int stdout_closed;

/* Call export INDEX of INST (a function) with VALUES; 0 or an exit code. */
static int call_export(wasmc_store *st, const rn_module *m, wasmc_instance *inst, uint32_t index, wasmc_val *values,
                       wasmc_wasi *wasi, double timeout) {
    wasmc_extern ext;
    if (!wasmc_instance_export(inst, index, &ext) || ext.kind != WASMC_EXTERN_FUNC) return RN_EXIT_INTERNAL;
    wasmc_error err;
    if (wasmc_call(st, ext.ptr, values, &err) == 0) return 0;
    if (err.kind == WASMC_ERR_TRAP && err.trap == WASMC_TRAP_EXIT && wasi) {
        guest_exited = 1;
        return exit_status(wasi);
    }
    return rn_report(&err, st, NULL, timeout);
}

static int is_func_export(const rn_module *m, int64_t e) {
    return e >= 0 && rn_export(m, (uint32_t)e)->kind == WASMC_EXTERN_FUNC;
}

/* --- main --------------------------------------------------------------------------- */

static int run(int argc, char **argv) {
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;

    rn_module m;
    if (o.image_spec) {
        if ((rc = load_spec(o.image_spec, &m))) return rc;
    } else {
        uint64_t off, size;
        if (!rn_find_embedded("/proc/self/exe", &off, &size)) {
            rn_fail("usage error", "this runner holds no module: build one with `wasmc build --exe`, "
                                   "or run an artifact with `wasmc exec --target ARCH`");
            return RN_EXIT_USAGE;
        }
        if ((rc = rn_load(&m, "/proc/self/exe", off, size))) return rc;
    }
    const char *argv0 = o.argv0;
    if (!argv0) {
        const char *slash = strrchr(argv[0], '/');
        argv0 = slash ? slash + 1 : argv[0];
    }

    /* Guest code never returns to a loop that could react to Ctrl-C: let
     * SIGINT end the process at once, as `wasmc exec` does. */
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);

    wasmc_store *st = wasmc_store_new();
    if (!st) { rn_fail("error", "out of memory"); return RN_EXIT_INTERNAL; }
    wasmc_store_set_limits(st, &o.limits);
    if (o.metered) {
        wasmc_error err;
        if (!wasmc_store_set_fuel(st, o.fuel, &err)) return rn_report(&err, st, NULL, 0);
    }
    if (o.timeout > 0) {
        static timer t;
        t.store = st;
        t.seconds = o.timeout;
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, timer_main, &t) != 0) {
            rn_fail("error", "cannot start the --timeout timer");
            return RN_EXIT_INTERNAL;
        }
    }

    /* WASI: when the module imports it or any WASI option is given. */
    wasmc_wasi *wasi = NULL;
    int sockets[MAX_LIST];
    for (int i = 0; i < o.nlistens; i++)
        if ((rc = listen_on(o.listens[i], &sockets[i]))) return rc;
    if (needs_wasi(&m) || o.ndirs || o.nenvs || o.inherit_env || o.nlistens) {
        static wasmc_wasi_preopen pre[MAX_LIST];
        static char hosts[MAX_LIST][4096];
        for (int i = 0; i < o.ndirs; i++) {
            const char *sep = strstr(o.dirs[i], "::");
            size_t hl = sep ? (size_t)(sep - o.dirs[i]) : strlen(o.dirs[i]);
            if (hl >= sizeof hosts[i]) return usage("--dir %s: path too long", o.dirs[i]);
            memcpy(hosts[i], o.dirs[i], hl);
            hosts[i][hl] = 0;
            struct stat sb;
            if (stat(hosts[i], &sb) != 0 || !S_ISDIR(sb.st_mode)) {
                rn_fail("I/O error", "--dir %s: not a directory", hosts[i]);
                return RN_EXIT_IO;
            }
            pre[i].host_path = hosts[i];
            pre[i].guest_path = sep ? sep + 2 : hosts[i];
        }
        static const char *envp[4096];
        int envc = 0;
        extern char **environ;
        if (o.inherit_env)
            for (char **e = environ; *e && envc < 4096 - MAX_LIST; e++) envp[envc++] = *e;
        for (int i = 0; i < o.nenvs; i++) {
            const char *eq = strchr(o.envs[i], '=');
            if (!eq || eq == o.envs[i]) return usage("--env expects K=V, got '%s'", o.envs[i]);
            /* a later K=V replaces an inherited or earlier K */
            size_t kl = (size_t)(eq - o.envs[i]) + 1;
            int k;
            for (k = 0; k < envc; k++)
                if (strncmp(envp[k], o.envs[i], kl) == 0) break;
            envp[k] = o.envs[i];
            if (k == envc) envc++;
        }
        static const char *gargv[4096 + 1];
        gargv[0] = argv0;
        for (int i = 0; i < o.nargs; i++) gargv[i + 1] = o.args[i];
        wasmc_wasi_config cfg = {
            .argc = o.nargs + 1, .argv = gargv, .envc = envc, .envp = envp,
            .npreopens = o.ndirs, .preopens = pre,
            .stdin_fd = 0, .stdout_fd = 1, .stderr_fd = 2,
            .nsockets = o.nlistens, .sockets = sockets,
        };
        char err[512];
        wasi = wasmc_wasi_new(&cfg, err, sizeof err);
        if (!wasi) {
            rn_fail("error", "cannot set up WASI: %s", err);
            return RN_EXIT_INTERNAL;
        }
        for (int i = 0; i < o.nlistens; i++) close(sockets[i]); /* WASI holds duplicates */
    }

    /* --preload NAME=FILE:OFFSET:SIZE, instantiated in order. */
    static preload pre[MAX_LIST];
    for (int i = 0; i < o.npreloads; i++) {
        const char *eq = strchr(o.preload_specs[i], '=');
        if (!eq || eq == o.preload_specs[i] || !eq[1])
            return usage("--preload expects NAME=FILE, got '%s'", o.preload_specs[i]);
        static char names[MAX_LIST][256];
        snprintf(names[i], sizeof names[i], "%.*s", (int)(eq - o.preload_specs[i]), o.preload_specs[i]);
        pre[i].name = names[i];
        if ((rc = load_spec(eq + 1, &pre[i].mod))) return rc;
        pre[i].inst = instantiate(st, &pre[i].mod, wasi, pre, i, o.timeout, &rc);
        if (!pre[i].inst) return rc;
    }

    wasmc_instance *inst = instantiate(st, &m, wasi, pre, o.npreloads, o.timeout, &rc);
    if (!inst) return rc;

    if (o.invoke) {
        int64_t init = rn_find_export(&m, "_initialize", 11);
        if (is_func_export(&m, init)) {
            wasmc_val none[1];
            if ((rc = call_export(st, &m, inst, (uint32_t)init, none, wasi, o.timeout)) || guest_exited) return rc;
        }
        int64_t e = rn_find_export(&m, o.invoke, strlen(o.invoke));
        if (!is_func_export(&m, e)) {
            rn_fail("error", "no exported function named '%s'", o.invoke);
            return RN_EXIT_INTERNAL;
        }
        const wasmc_type_desc *td = rn_func_type(&m, rn_export(&m, (uint32_t)e)->index);
        const uint8_t *vt = m.base + td->valtypes;
        if ((uint32_t)o.nargs != td->nparams) {
            char msg[160];
            snprintf(msg, sizeof msg, "%s takes %u arguments, got %d", o.invoke, td->nparams, o.nargs);
            return usage("%s", msg);
        }
        uint32_t n = td->nparams > td->nresults ? td->nparams : td->nresults;
        wasmc_val *vals = calloc(n ? n : 1, sizeof *vals);
        for (uint32_t i = 0; i < td->nparams; i++) {
            if (!rn_parse_value(vt[i], o.args[i], &vals[i])) {
                char msg[600];
                snprintf(msg, sizeof msg, "argument '%.500s' is not a valid %s", o.args[i],
                         vt[i] == WASMC_VALTYPE_I32 ? "i32" : vt[i] == WASMC_VALTYPE_I64 ? "i64"
                         : vt[i] == WASMC_VALTYPE_F32 ? "f32" : vt[i] == WASMC_VALTYPE_F64 ? "f64"
                         : vt[i] == WASMC_VALTYPE_V128 ? "v128" : "reference");
                return usage("%s", msg);
            }
        }
        if ((rc = call_export(st, &m, inst, (uint32_t)e, vals, wasi, o.timeout)) || guest_exited) return rc;
        int werr = 0; /* the first write error (a full disk, a pipe nobody reads) */
        for (uint32_t i = 0; i < td->nresults; i++) {
            char buf[128];
            rn_format_value(vt[td->nparams + i], &vals[i], buf, sizeof buf);
            if (printf("%s\n", buf) < 0 && !werr) werr = errno;
        }
        if (fflush(stdout) != 0 && !werr) werr = errno;
        if (werr && !stdout_closed) {
            rn_fail("I/O error", "cannot write the standard output: %s", strerror(werr));
            return RN_EXIT_IO;
        }
        return 0;
    }
    int64_t start = rn_find_export(&m, "_start", 6);
    if (!is_func_export(&m, start)) {
        if (!wasi) {
            rn_fail("error", "the module exports no _start; use --invoke NAME");
            return RN_EXIT_INTERNAL;
        }
        return 0;
    }
    wasmc_val none[1];
    return call_export(st, &m, inst, (uint32_t)start, none, wasi, o.timeout);
}

/* Fill each closed standard descriptor with an O_PATH placeholder (on
 * /dev/null), which can neither read nor write: nothing the runner or the
 * guest opens later can then take the number 0, 1 or 2, where output meant
 * for the terminal would land in it.  WASI treats an O_PATH descriptor as a
 * closed slot, so the guest sees the stream closed (badf), as the user asked.
 * wasmc does the same before it starts a runner under qemu-user, so an
 * O_PATH descriptor found here counts as closed too. */
static void hold_stdio(void) {
    for (int fd = 0; fd < 3; fd++) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0 && !(fl & O_PATH)) continue;
        if (fd == 1) stdout_closed = 1;
        if (fl >= 0) continue;
        int ph = open("/dev/null", O_PATH);
        if (ph < 0) ph = open("/", O_PATH);
        if (ph >= 0 && ph != fd) {
            dup2(ph, fd);
            close(ph);
        }
    }
}

int main(int argc, char **argv) {
    hold_stdio();
    if (argc == 2 && strcmp(argv[1], "--serve") == 0) return rn_serve();
    if (argc == 2 && strcmp(argv[1], "--hwcap") == 0) {
        /* What this CPU (or the one qemu-user emulates) offers: wasmc picks
         * the tier of a foreign slice from it (targets/*.toml hwcap_bits). */
        printf("%#lx\n", getauxval(AT_HWCAP));
        return 0;
    }
    int rc = run(argc, argv);
    fflush(stdout);
    /* _exit: a guest thread-less process has nothing to clean up, and the
     * store's memories are freed by the kernel far faster than by munmap. */
    _exit(rc);
}
