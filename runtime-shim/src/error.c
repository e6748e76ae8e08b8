/* error.c -- filling a wasmc_error.
 *
 * The one helper every other file of the shim uses to report a failure:
 * it has no dependencies of its own, so loader.c, memory.c, trap.c and
 * instance.c all depend on it and it on none of them.
 */
#include <stdio.h>

#include "shim.h"

void wasmc_set_error(wasmc_error *err, int kind, const char *fmt, ...) {
    if (!err) return;
    err->kind = kind;
    err->trap = 0;
    err->nframes = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}
