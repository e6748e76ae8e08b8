/* path.c -- sandboxed path resolution and the path_* functions.
 *
 * A guest path is always relative to a directory descriptor and must never
 * name anything outside it.  Two resolvers implement that:
 *
 *   openat2  openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: the
 *            kernel refuses absolute paths, ".." above the directory and
 *            symlinks leading out of it (EXDEV, reported as `perm`).
 *   walker   when openat2 is missing (ENOSYS) or WASMC_WASI_NO_OPENAT2=1:
 *            one openat(O_PATH|O_DIRECTORY|O_NOFOLLOW) per component from
 *            the base directory, keeping the chain of opened directories so
 *            ".." pops one level and can never pop the base itself;
 *            symlinks are read with readlinkat and spliced into the rest of
 *            the path (absolute targets refused, at most WASI_MAX_SYMLINKS
 *            expansions: `loop`).  The kernel never follows a symlink for
 *            us, so nothing outside the base is ever reached.
 *
 * Operations on the final component go through (directory fd, name) pairs
 * where name is a single component (never ".."), so every *at() call acts
 * inside the resolved directory.  The final component's symlinks are
 * followed by resolve() itself (re-resolving "<dir>/<target>" from the
 * base), never by the kernel: in particular a trailing slash, which makes
 * the kernel follow a final symlink even with O_NOFOLLOW/AT_SYMLINK_NOFOLLOW,
 * is never passed to a call that looks the name up (open, stat, utimensat,
 * readlink, link source).  Calls that create or remove the final name
 * (mkdir, unlink, rmdir, rename, link target, symlink) do not follow it even
 * with a trailing slash, and get the name with its slash so the kernel
 * applies POSIX's trailing-slash rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wasi_internal.h"
#include "wasi_openat2.h"

#define WASI_MAX_SYMLINKS 40 /* like Linux's MAXSYMLINKS */
#define RESOLVE_FLAGS (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)

/* ---------------------------------------------------------------------------
 * Guest path strings
 * ------------------------------------------------------------------------- */

static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07, min = 0x10000;
        else return 0;
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

/* Copy the guest string [ptr, ptr+len) into a NUL-terminated host string.
 * Errors as wasmtime: fault (out of bounds), noent (empty), inval (NUL
 * byte), ilseq (not UTF-8). */
static int guest_string(const wasi_mem *m, uint32_t ptr, uint32_t len, char **out) {
    *out = NULL;
    if (!wasi_mem_ok(m, ptr, len)) return WASI_EFAULT;
    if (len == 0) return WASI_ENOENT;
    /* Copy first, then check the copy (a shared memory may change). */
    char *p = malloc((size_t)len + 1);
    if (!p) return WASI_ENOMEM;
    memcpy(p, wasi_mem_at(m, ptr), len);
    p[len] = 0;
    int err = memchr(p, 0, len) ? WASI_EINVAL
              : !utf8_valid((const unsigned char *)p, len) ? WASI_EILSEQ : WASI_ESUCCESS;
    if (err) {
        free(p);
        return err;
    }
    *out = p;
    return WASI_ESUCCESS;
}

static char *str_join(const char *a, const char *b, const char *c) {
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *p = malloc(la + lb + lc + 1);
    if (!p) return NULL;
    memcpy(p, a, la);
    memcpy(p + la, b, lb);
    memcpy(p + la + lb, c, lc + 1);
    return p;
}

/* ---------------------------------------------------------------------------
 * Directory resolution
 * ------------------------------------------------------------------------- */

static long sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode) {
    struct wasi_open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = flags;
    how.mode = mode;
    how.resolve = RESOLVE_FLAGS;
    long fd;
    int tries = 0;
    do {
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
        /* EAGAIN: a concurrent rename or mount raced the lookup; retry. */
    } while (fd < 0 && errno == EAGAIN && ++tries < 64);
    return fd;
}

/* WASI errno of a failed openat2: EXDEV is the sandbox refusing an escape. */
static int openat2_errno(int e) { return e == EXDEV ? WASI_EPERM : wasi_errno(e); }

/* The component walker: open directory PATH beneath BASE without ever
 * letting the kernel follow a symlink or climb above BASE. */
static int walk_dir(int base, const char *path, int *out, int *own) {
    char *rest = malloc(strlen(path) + 1);
    if (!rest) return WASI_ENOMEM;
    strcpy(rest, path);
    int *stack = NULL;
    size_t depth = 0, cap = 0;
    int links = 0, err = WASI_ESUCCESS;
    char *p = rest;
    char comp[NAME_MAX + 1];
    char *target = malloc(PATH_MAX + 1);
    if (!target) {
        free(rest);
        return WASI_ENOMEM;
    }
    for (;;) {
        while (*p == '/') p++;
        if (!*p) break;
        size_t clen = strcspn(p, "/");
        if (clen > NAME_MAX) {
            err = WASI_ENAMETOOLONG;
            goto out;
        }
        memcpy(comp, p, clen);
        comp[clen] = 0;
        p += clen;
        if (strcmp(comp, ".") == 0) continue;
        if (strcmp(comp, "..") == 0) {
            if (depth == 0) {
                err = WASI_EPERM; /* would leave the base directory */
                goto out;
            }
            close(stack[--depth]);
            continue;
        }
        int cur = depth ? stack[depth - 1] : base;
        int fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            if (depth == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                int *ns = realloc(stack, ncap * sizeof(*ns));
                if (!ns) {
                    close(fd);
                    err = WASI_ENOMEM;
                    goto out;
                }
                stack = ns;
                cap = ncap;
            }
            stack[depth++] = fd;
            continue;
        }
        int e = errno;
        if (e == ENOTDIR || e == ELOOP) {
            ssize_t n = readlinkat(cur, comp, target, PATH_MAX + 1);
            if (n >= 0) { /* a symlink: splice its target into the path */
                if (++links > WASI_MAX_SYMLINKS) {
                    err = WASI_ELOOP;
                    goto out;
                }
                if (n > PATH_MAX) {
                    err = WASI_ENAMETOOLONG;
                    goto out;
                }
                if (n == 0) {
                    err = WASI_ENOENT;
                    goto out;
                }
                target[n] = 0;
                if (target[0] == '/') {
                    err = WASI_EPERM; /* absolute target: outside the base */
                    goto out;
                }
                char *nr = str_join(target, "/", p);
                if (!nr) {
                    err = WASI_ENOMEM;
                    goto out;
                }
                free(rest);
                rest = nr;
                p = rest;
                continue;
            }
        }
        err = wasi_errno(e);
        goto out;
    }
out:
    if (err == WASI_ESUCCESS && depth) {
        *out = stack[--depth];
        *own = 1;
    } else if (err == WASI_ESUCCESS) {
        *out = base;
        *own = 0;
    }
    while (depth) close(stack[--depth]);
    free(stack);
    free(rest);
    free(target);
    return err;
}

/* Open directory DIRPATH (relative, may be empty) beneath BASE. */
static int open_dir(wasmc_wasi *ctx, int base, const char *dirpath, int *out, int *own) {
    if (dirpath[0] == 0 || strcmp(dirpath, ".") == 0) {
        *out = base;
        *own = 0;
        return WASI_ESUCCESS;
    }
    if (dirpath[0] == '/') return WASI_EPERM;
    if (ctx->use_openat2) {
        long fd = sys_openat2(base, dirpath, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd >= 0) {
            *out = (int)fd;
            *own = 1;
            return WASI_ESUCCESS;
        }
        if (errno != ENOSYS) return openat2_errno(errno);
        ctx->use_openat2 = 0; /* filtered at runtime: use the walker from now on */
    }
    return walk_dir(base, dirpath, out, own);
}

/* ---------------------------------------------------------------------------
 * Final-component resolution
 * ------------------------------------------------------------------------- */

#define RES_FOLLOW 1       /* follow symlinks in the final component */
#define RES_SLASH_FOLLOW 2 /* ... also when the path ends in '/' (lookups) */

typedef struct wasi_at {
    int dirfd;        /* directory holding the final component */
    int own;          /* dirfd must be closed */
    char *name;       /* final component: one name, "." for the directory itself */
    char *name_slash; /* name plus "/" if the path had trailing slashes */
    int slash;        /* the path had trailing slashes */
} wasi_at;

static void at_free(wasi_at *at) {
    if (at->own && at->dirfd >= 0) close(at->dirfd);
    if (at->name_slash != at->name) free(at->name_slash);
    free(at->name);
    at->dirfd = -1;
    at->own = 0;
    at->name = at->name_slash = NULL;
}

static int resolve(wasmc_wasi *ctx, int base, const char *path, int flags, wasi_at *at) {
    at->dirfd = -1;
    at->own = 0;
    at->name = at->name_slash = NULL;
    at->slash = 0;
    char *work = malloc(strlen(path) + 1);
    if (!work) return WASI_ENOMEM;
    strcpy(work, path);
    char *target = malloc(PATH_MAX + 1);
    if (!target) {
        free(work);
        return WASI_ENOMEM;
    }
    int links = 0, err;
    for (;;) {
        size_t len = strlen(work);
        if (len == 0) {
            err = WASI_ENOENT;
            break;
        }
        if (work[0] == '/') {
            err = WASI_EPERM; /* absolute: outside every preopen */
            break;
        }
        int slash = 0;
        while (len > 1 && work[len - 1] == '/') {
            work[--len] = 0;
            slash = 1;
        }
        char *dirpath, *name;
        char *sep = strrchr(work, '/');
        const char *last = sep ? sep + 1 : work;
        if (strcmp(last, ".") == 0 || strcmp(last, "..") == 0) {
            /* "x/.." and "x/." name a directory: resolve all of it and act
             * on "." inside it (never hand ".." to an *at() call). */
            dirpath = malloc(len + 1);
            name = malloc(2);
            if (dirpath) strcpy(dirpath, work);
            if (name) strcpy(name, ".");
        } else {
            size_t dlen = sep ? (size_t)(sep - work) : 0;
            dirpath = malloc(dlen + 1);
            name = malloc(strlen(last) + 1);
            if (dirpath) {
                memcpy(dirpath, work, dlen);
                dirpath[dlen] = 0;
            }
            if (name) strcpy(name, last);
        }
        if (!dirpath || !name) {
            free(dirpath);
            free(name);
            err = WASI_ENOMEM;
            break;
        }
        int dfd = -1, own = 0;
        err = open_dir(ctx, base, dirpath, &dfd, &own);
        if (err) {
            free(dirpath);
            free(name);
            break;
        }
        int follow = (flags & RES_FOLLOW) || (slash && (flags & RES_SLASH_FOLLOW));
        if (follow && strcmp(name, ".") != 0) {
            ssize_t n = readlinkat(dfd, name, target, PATH_MAX + 1);
            if (n >= 0) {
                if (own) close(dfd);
                free(name);
                if (++links > WASI_MAX_SYMLINKS) err = WASI_ELOOP;
                else if (n > PATH_MAX) err = WASI_ENAMETOOLONG;
                else if (n == 0) err = WASI_ENOENT;
                else {
                    target[n] = 0;
                    if (target[0] == '/') err = WASI_EPERM; /* absolute symlink */
                }
                if (err) {
                    free(dirpath);
                    break;
                }
                /* Re-resolve "<dir>/<target>" from the base: the kernel
                 * (or the walker) resolves ".." physically after the
                 * directory part, exactly as following the link would. */
                char *nw = str_join(dirpath, dirpath[0] ? "/" : "", target);
                char *nw2 = nw && slash ? str_join(nw, "/", "") : NULL;
                free(dirpath);
                if (!nw || (slash && !nw2)) {
                    free(nw);
                    err = WASI_ENOMEM;
                    break;
                }
                free(work);
                if (nw2) {
                    free(nw);
                    work = nw2;
                } else {
                    work = nw;
                }
                continue;
            }
            /* EINVAL: not a symlink; ENOENT etc.: the operation reports it. */
        }
        free(dirpath);
        at->dirfd = dfd;
        at->own = own;
        at->name = name;
        at->slash = slash;
        if (slash && strcmp(name, ".") != 0) {
            at->name_slash = str_join(name, "/", "");
            if (!at->name_slash) {
                at_free(at);
                err = WASI_ENOMEM;
                break;
            }
        } else {
            at->name_slash = name;
        }
        err = WASI_ESUCCESS;
        break;
    }
    free(work);
    free(target);
    return err;
}

/* For lookups of a path with a trailing slash: the (already followed) final
 * component must be a directory. */
static int slash_check(const wasi_at *at) {
    if (!at->slash) return WASI_ESUCCESS;
    struct stat st;
    if (fstatat(at->dirfd, at->name, &st, AT_SYMLINK_NOFOLLOW) != 0) return wasi_errno(errno);
    return S_ISDIR(st.st_mode) ? WASI_ESUCCESS : WASI_ENOTDIR;
}

/* Creating a non-directory (symlink, hard link) at "x/": x must not exist
 * (the kernel then says noent); an existing directory is exist; anything
 * else is notdir (as wasmtime, whereas Linux says EEXIST).  A symlink x
 * counts as what it resolves to, looked up beneath x's directory. */
static int slash_create_check(wasmc_wasi *ctx, const wasi_at *at) {
    if (!at->slash) return WASI_ESUCCESS;
    struct stat st;
    if (fstatat(at->dirfd, at->name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? WASI_ESUCCESS : wasi_errno(errno);
    if (S_ISDIR(st.st_mode)) return WASI_EEXIST;
    if (S_ISLNK(st.st_mode)) {
        wasi_at t;
        if (resolve(ctx, at->dirfd, at->name_slash, RES_SLASH_FOLLOW, &t) == WASI_ESUCCESS) {
            int isdir = fstatat(t.dirfd, t.name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
            at_free(&t);
            if (isdir) return WASI_EEXIST;
        }
    }
    return WASI_ENOTDIR;
}

/* Fetch a guest path and resolve it against directory descriptor FD with
 * RIGHTS.  On success *dir holds a reference (wasi_fd_put it) and *at the
 * resolution (at_free it). */
static int get_path(wasmc_wasi *ctx, const wasi_mem *m, uint32_t fd, uint64_t rights,
                    uint32_t ptr, uint32_t len, int flags, wasi_fd **dir, wasi_at *at) {
    /* The descriptor is checked first (badf/notdir/notcapable win over a bad
     * string, as in wasmtime). */
    int err = wasi_fd_get_dir(ctx, fd, rights, dir);
    if (err) return err;
    char *path;
    err = guest_string(m, ptr, len, &path);
    if (!err) {
        err = resolve(ctx, (*dir)->host, path, flags, at);
        free(path);
    }
    if (err) {
        wasi_fd_put(ctx, *dir);
        *dir = NULL;
    }
    return err;
}

/* ---------------------------------------------------------------------------
 * path_open
 * ------------------------------------------------------------------------- */

static int is_symlink(int dirfd, const char *name) {
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

/* Open PATH beneath BASE with host open flags FL; *out gets the new host
 * descriptor.  WASI errno. */
static int open_beneath(wasmc_wasi *ctx, int base, const char *path, int fl, int follow,
                        int *out) {
    if (!follow) fl |= O_NOFOLLOW;
    if (ctx->use_openat2) {
        if (path[0] == '/') return WASI_EPERM;
        long fd = sys_openat2(base, path, (uint64_t)fl, (fl & O_CREAT) ? 0666 : 0);
        if (fd >= 0) {
            *out = (int)fd;
            return WASI_ESUCCESS;
        }
        if (errno != ENOSYS) return openat2_errno(errno);
        ctx->use_openat2 = 0;
    }
    /* Walker: resolve to (dir, name), then open the single name without
     * following it; POSIX: O_CREAT|O_EXCL never follows a final symlink. */
    int excl = (fl & O_CREAT) && (fl & O_EXCL);
    int rflags = RES_SLASH_FOLLOW | (follow && !excl ? RES_FOLLOW : 0);
    for (int attempt = 0; attempt < WASI_MAX_SYMLINKS; attempt++) {
        wasi_at at;
        int err = resolve(ctx, base, path, rflags, &at);
        if (err) return err;
        int f2 = fl | O_NOFOLLOW;
        if (at.slash) {
            if (fl & O_CREAT) {
                at_free(&at);
                return WASI_EISDIR; /* Linux: creating "name/" is EISDIR */
            }
            f2 |= O_DIRECTORY;
        }
        int fd = openat(at.dirfd, at.name, f2, 0666);
        if (fd >= 0) {
            at_free(&at);
            *out = fd;
            return WASI_ESUCCESS;
        }
        int e = errno;
        /* The name turned into a symlink after resolve() looked at it:
         * resolve again (follow wanted) rather than fail. */
        int again = (e == ELOOP || e == ENOTDIR) && (rflags & RES_FOLLOW || at.slash) &&
                    is_symlink(at.dirfd, at.name);
        at_free(&at);
        if (!again) return wasi_errno(e);
    }
    return WASI_ELOOP;
}

WASI_FN(path_open) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t dirfd = ARG32(0), dirflags = ARG32(1), path_ptr = ARG32(2), path_len = ARG32(3);
    uint32_t oflags = ARG32(4) & 0xffff;
    uint64_t rbase = ARG64(5), rinh = ARG64(6);
    uint32_t fdflags = ARG32(7) & 0xffff, retp = ARG32(8);
    if ((ARG32(4) >> 16) || (ARG32(7) >> 16) || (dirflags & ~WASI_LOOKUP_SYMLINK_FOLLOW) ||
        (oflags & ~WASI_OFLAGS_ALL) || (fdflags & ~WASI_FDFLAGS_ALL) ||
        (rbase & ~WASI_RIGHTS_ALL) || (rinh & ~WASI_RIGHTS_ALL))
        RETURN_ERRNO(WASI_EINVAL);
    if ((oflags & WASI_O_DIRECTORY) && (oflags & (WASI_O_CREAT | WASI_O_EXCL | WASI_O_TRUNC)))
        RETURN_ERRNO(WASI_EINVAL);
    if (!wasi_mem_ok(&m, retp, 4)) RETURN_ERRNO(WASI_EFAULT);

    uint64_t need = WASI_RIGHT_PATH_OPEN;
    if (oflags & WASI_O_CREAT) need |= WASI_RIGHT_PATH_CREATE_FILE;
    if (oflags & WASI_O_TRUNC) need |= WASI_RIGHT_PATH_FILESTAT_SET_SIZE;
    char *path;
    wasi_fd *dir;
    int err = wasi_fd_get_dir(ctx, dirfd, need, &dir);
    if (err) RETURN_ERRNO(err);
    err = guest_string(&m, path_ptr, path_len, &path);
    if (err) {
        wasi_fd_put(ctx, dir);
        RETURN_ERRNO(err);
    }
    uint64_t dbase, dinh;
    uint16_t dflags;
    wasi_fd_state(ctx, dir, &dbase, &dinh, &dflags);
    /* The new descriptor's rights must be inheritable from the directory;
     * synchronous modes need the sync rights (rights::fd_datasync/fd_sync). */
    if (((rbase | rinh) & ~dinh) ||
        ((fdflags & (WASI_FDFLAG_RSYNC | WASI_FDFLAG_SYNC)) && !(dinh & WASI_RIGHT_FD_SYNC)) ||
        ((fdflags & WASI_FDFLAG_DSYNC) && !(dinh & (WASI_RIGHT_FD_SYNC | WASI_RIGHT_FD_DATASYNC)))) {
        free(path);
        wasi_fd_put(ctx, dir);
        RETURN_ERRNO(WASI_ENOTCAPABLE);
    }

    int rd = (rbase & WASI_RIGHTS_READ_ACCESS) != 0;
    int wr = (rbase & WASI_RIGHTS_WRITE_ACCESS) != 0 || (oflags & WASI_O_TRUNC);
    int fl = (wr ? (rd ? O_RDWR : O_WRONLY) : O_RDONLY) | O_CLOEXEC | O_NOCTTY;
    if (oflags & WASI_O_CREAT) fl |= O_CREAT;
    if (oflags & WASI_O_EXCL) fl |= O_EXCL;
    if (oflags & WASI_O_TRUNC) fl |= O_TRUNC;
    if (oflags & WASI_O_DIRECTORY) fl |= O_DIRECTORY;
    if (fdflags & WASI_FDFLAG_APPEND) fl |= O_APPEND;
    if (fdflags & WASI_FDFLAG_NONBLOCK) fl |= O_NONBLOCK;
    if (fdflags & WASI_FDFLAG_SYNC) fl |= O_SYNC;
    if (fdflags & WASI_FDFLAG_RSYNC) fl |= O_RSYNC;
    if (fdflags & WASI_FDFLAG_DSYNC) fl |= O_DSYNC;

    int host = -1;
    err = open_beneath(ctx, dir->host, path, fl, dirflags & WASI_LOOKUP_SYMLINK_FOLLOW, &host);
    free(path);
    wasi_fd_put(ctx, dir);
    if (err) RETURN_ERRNO(err);

    struct stat st;
    if (fstat(host, &st) != 0) {
        err = wasi_errno(errno);
        close(host);
        RETURN_ERRNO(err);
    }
    uint8_t type = wasi_filetype_of_fd(host, &st);
    uint64_t maxb, maxi;
    if (type == WASI_FILETYPE_DIRECTORY) {
        maxb = WASI_RIGHTS_DIR_BASE;
        maxi = WASI_RIGHTS_DIR_INHERITING;
    } else if (type == WASI_FILETYPE_SOCKET_STREAM || type == WASI_FILETYPE_SOCKET_DGRAM) {
        maxb = WASI_RIGHTS_SOCK_BASE;
        maxi = WASI_RIGHTS_SOCK_INHERITING;
    } else {
        maxb = WASI_RIGHTS_FILE_BASE;
        maxi = WASI_RIGHTS_FILE_INHERITING;
    }
    wasi_fd *f = wasi_fd_new(host, type, rbase & maxb, rinh & maxi, (uint16_t)fdflags);
    if (!f) RETURN_ERRNO(WASI_ENOMEM);
    uint32_t newfd;
    err = wasi_fd_install(ctx, f, &newfd);
    if (err) RETURN_ERRNO(err);
    wasi_put_u32(wasi_mem_at(&m, retp), newfd);
    RETURN_ERRNO(WASI_ESUCCESS);
}

/* ---------------------------------------------------------------------------
 * path_filestat_get / path_filestat_set_times
 * ------------------------------------------------------------------------- */

/* stat PATH beneath BASE (lstat semantics unless FOLLOW). */
static int stat_beneath(wasmc_wasi *ctx, int base, const char *path, int follow, struct stat *st) {
    if (ctx->use_openat2) {
        if (path[0] == '/') return WASI_EPERM;
        /* O_PATH|O_NOFOLLOW opens a final symlink itself: fstat is lstat. */
        long h = sys_openat2(base, path, O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW), 0);
        if (h >= 0) {
            int err = fstat((int)h, st) != 0 ? wasi_errno(errno) : WASI_ESUCCESS;
            close((int)h);
            return err;
        }
        if (errno != ENOSYS) return openat2_errno(errno);
        ctx->use_openat2 = 0;
    }
    wasi_at at;
    int err = resolve(ctx, base, path, RES_SLASH_FOLLOW | (follow ? RES_FOLLOW : 0), &at);
    if (err) return err;
    err = slash_check(&at);
    if (!err && fstatat(at.dirfd, at.name, st, AT_SYMLINK_NOFOLLOW) != 0) err = wasi_errno(errno);
    at_free(&at);
    return err;
}

WASI_FN(path_filestat_get) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), flags = ARG32(1), ptr = ARG32(2), len = ARG32(3), out = ARG32(4);
    if (flags & ~WASI_LOOKUP_SYMLINK_FOLLOW) RETURN_ERRNO(WASI_EINVAL);
    if (!wasi_mem_ok(&m, out, WASI_FILESTAT_SIZE)) RETURN_ERRNO(WASI_EFAULT);
    wasi_fd *dir;
    int err = wasi_fd_get_dir(ctx, fd, WASI_RIGHT_PATH_FILESTAT_GET, &dir);
    if (err) RETURN_ERRNO(err);
    char *path;
    err = guest_string(&m, ptr, len, &path);
    struct stat st;
    if (!err) {
        err = stat_beneath(ctx, dir->host, path, flags & WASI_LOOKUP_SYMLINK_FOLLOW, &st);
        free(path);
    }
    wasi_fd_put(ctx, dir);
    if (!err) wasi_put_filestat(wasi_mem_at(&m, out), &st);
    RETURN_ERRNO(err);
}

WASI_FN(path_filestat_set_times) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), flags = ARG32(1), ptr = ARG32(2), len = ARG32(3);
    uint64_t atim = ARG64(4), mtim = ARG64(5);
    uint32_t fst = ARG32(6);
    if (flags & ~WASI_LOOKUP_SYMLINK_FOLLOW) RETURN_ERRNO(WASI_EINVAL);
    struct timespec ts[2];
    int err = wasi_timespecs(atim, mtim, fst, ts);
    if (err) RETURN_ERRNO(err);
    wasi_fd *dir;
    wasi_at at;
    err = get_path(ctx, &m, fd, WASI_RIGHT_PATH_FILESTAT_SET_TIMES, ptr, len,
                   RES_SLASH_FOLLOW | ((flags & WASI_LOOKUP_SYMLINK_FOLLOW) ? RES_FOLLOW : 0),
                   &dir, &at);
    if (err) RETURN_ERRNO(err);
    err = slash_check(&at);
    /* The final component was followed by resolve() if asked: never let the
     * kernel follow it. */
    if (!err && utimensat(at.dirfd, at.name, ts, AT_SYMLINK_NOFOLLOW) != 0) err = wasi_errno(errno);
    at_free(&at);
    wasi_fd_put(ctx, dir);
    RETURN_ERRNO(err);
}

/* ---------------------------------------------------------------------------
 * Directory entries: create, remove, unlink, readlink, symlink, link, rename
 * ------------------------------------------------------------------------- */

WASI_FN(path_create_directory) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    wasi_fd *dir;
    wasi_at at;
    int err = get_path(ctx, &m, ARG32(0), WASI_RIGHT_PATH_CREATE_DIRECTORY, ARG32(1), ARG32(2),
                       0, &dir, &at);
    if (err) RETURN_ERRNO(err);
    if (mkdirat(at.dirfd, at.name_slash, 0777) != 0) err = wasi_errno(errno);
    at_free(&at);
    wasi_fd_put(ctx, dir);
    RETURN_ERRNO(err);
}

WASI_FN(path_remove_directory) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    wasi_fd *dir;
    wasi_at at;
    int err = get_path(ctx, &m, ARG32(0), WASI_RIGHT_PATH_REMOVE_DIRECTORY, ARG32(1), ARG32(2),
                       0, &dir, &at);
    if (err) RETURN_ERRNO(err);
    if (unlinkat(at.dirfd, at.name_slash, AT_REMOVEDIR) != 0)
        err = errno == EEXIST ? WASI_ENOTEMPTY : wasi_errno(errno);
    at_free(&at);
    wasi_fd_put(ctx, dir);
    RETURN_ERRNO(err);
}

WASI_FN(path_unlink_file) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    wasi_fd *dir;
    wasi_at at;
    int err = get_path(ctx, &m, ARG32(0), WASI_RIGHT_PATH_UNLINK_FILE, ARG32(1), ARG32(2), 0,
                       &dir, &at);
    if (err) RETURN_ERRNO(err);
    if (unlinkat(at.dirfd, at.name_slash, 0) != 0) err = wasi_errno(errno);
    at_free(&at);
    wasi_fd_put(ctx, dir);
    RETURN_ERRNO(err);
}

WASI_FN(path_readlink) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t fd = ARG32(0), ptr = ARG32(1), len = ARG32(2), buf = ARG32(3), buf_len = ARG32(4);
    uint32_t outp = ARG32(5);
    if (!wasi_mem_ok(&m, buf, buf_len) || !wasi_mem_ok(&m, outp, 4)) RETURN_ERRNO(WASI_EFAULT);
    wasi_fd *dir;
    wasi_at at;
    int err = get_path(ctx, &m, fd, WASI_RIGHT_PATH_READLINK, ptr, len, RES_SLASH_FOLLOW, &dir,
                       &at);
    if (err) RETURN_ERRNO(err);
    char *tmp = malloc(PATH_MAX + 1);
    ssize_t n = -1;
    if (!tmp) err = WASI_ENOMEM;
    else if (at.slash) {
        /* "x/" names what x resolves to, which is not a symlink. */
        err = slash_check(&at);
        if (!err) err = WASI_EINVAL;
    } else {
        n = readlinkat(at.dirfd, at.name, tmp, PATH_MAX + 1);
        if (n < 0) err = wasi_errno(errno);
        else if (n > PATH_MAX) err = WASI_ENAMETOOLONG;
    }
    at_free(&at);
    wasi_fd_put(ctx, dir);
    if (!err) {
        /* The spec: the first buf_len bytes of the contents. */
        uint32_t k = (uint64_t)n < buf_len ? (uint32_t)n : buf_len;
        memcpy(wasi_mem_at(&m, buf), tmp, k);
        wasi_put_u32(wasi_mem_at(&m, outp), k);
    }
    free(tmp);
    RETURN_ERRNO(err);
}

WASI_FN(path_symlink) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t tptr = ARG32(0), tlen = ARG32(1), fd = ARG32(2), ptr = ARG32(3), len = ARG32(4);
    char *target;
    int err = guest_string(&m, tptr, tlen, &target);
    if (err) RETURN_ERRNO(err);
    if (target[0] == '/') {
        /* An absolute target could only ever point outside the sandbox
         * (wasmtime refuses these too). */
        free(target);
        RETURN_ERRNO(WASI_EPERM);
    }
    wasi_fd *dir;
    wasi_at at;
    err = get_path(ctx, &m, fd, WASI_RIGHT_PATH_SYMLINK, ptr, len, 0, &dir, &at);
    if (!err) {
        err = slash_create_check(ctx, &at);
        if (!err && symlinkat(target, at.dirfd, at.name_slash) != 0) err = wasi_errno(errno);
        at_free(&at);
        wasi_fd_put(ctx, dir);
    }
    free(target);
    RETURN_ERRNO(err);
}

WASI_FN(path_link) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t ofd = ARG32(0), oflags = ARG32(1), optr = ARG32(2), olen = ARG32(3);
    uint32_t nfd = ARG32(4), nptr = ARG32(5), nlen = ARG32(6);
    if (oflags & ~WASI_LOOKUP_SYMLINK_FOLLOW) RETURN_ERRNO(WASI_EINVAL);
    /* Following the source symlink is refused like wasmtime does: linkat's
     * AT_SYMLINK_FOLLOW would let the kernel follow it unchecked. */
    if (oflags & WASI_LOOKUP_SYMLINK_FOLLOW) RETURN_ERRNO(WASI_EINVAL);
    wasi_fd *odir, *ndir;
    wasi_at oat, nat;
    int err = get_path(ctx, &m, ofd, WASI_RIGHT_PATH_LINK_SOURCE, optr, olen, RES_SLASH_FOLLOW,
                       &odir, &oat);
    if (err) RETURN_ERRNO(err);
    err = get_path(ctx, &m, nfd, WASI_RIGHT_PATH_LINK_TARGET, nptr, nlen, 0, &ndir, &nat);
    if (err) {
        at_free(&oat);
        wasi_fd_put(ctx, odir);
        RETURN_ERRNO(err);
    }
    if (oat.slash) {
        /* "x/" is a directory (hard links to directories: perm) or an error. */
        err = slash_check(&oat);
        if (!err) err = WASI_EPERM;
    } else if ((err = slash_create_check(ctx, &nat)) != WASI_ESUCCESS) {
        /* err set */
    } else if (linkat(oat.dirfd, oat.name, nat.dirfd, nat.name_slash, 0) != 0) {
        err = wasi_errno(errno);
    }
    at_free(&oat);
    at_free(&nat);
    wasi_fd_put(ctx, odir);
    wasi_fd_put(ctx, ndir);
    RETURN_ERRNO(err);
}

WASI_FN(path_rename) {
    NEED_MEM(m);
    wasmc_wasi *ctx = CTX;
    uint32_t ofd = ARG32(0), optr = ARG32(1), olen = ARG32(2);
    uint32_t nfd = ARG32(3), nptr = ARG32(4), nlen = ARG32(5);
    wasi_fd *odir, *ndir;
    wasi_at oat, nat;
    int err = get_path(ctx, &m, ofd, WASI_RIGHT_PATH_RENAME_SOURCE, optr, olen, 0, &odir, &oat);
    if (err) RETURN_ERRNO(err);
    err = get_path(ctx, &m, nfd, WASI_RIGHT_PATH_RENAME_TARGET, nptr, nlen, 0, &ndir, &nat);
    if (err) {
        at_free(&oat);
        wasi_fd_put(ctx, odir);
        RETURN_ERRNO(err);
    }
    if (renameat(oat.dirfd, oat.name_slash, nat.dirfd, nat.name_slash) != 0) err = wasi_errno(errno);
    at_free(&oat);
    at_free(&nat);
    wasi_fd_put(ctx, odir);
    wasi_fd_put(ctx, ndir);
    RETURN_ERRNO(err);
}
