/* qemu_icount.c -- a qemu-user TCG plugin that counts executed guest
 * instructions, for `make bench` (wasmc/tools/bench.py).
 *
 * Wall-clock times under qemu-user are emulation times, and noisy on a
 * shared machine; the number of guest instructions a program executes is
 * exact and repeatable, so the A/B suites compare those.
 *
 *     qemu-aarch64 -plugin ./qemu_icount.so,out=FILE prog ...
 *
 * Every translated block adds its instruction count to one counter each
 * time it runs (an inline add, no callback per instruction); at exit the
 * total is written to FILE.  Only the few declarations of the plugin API
 * this needs are spelled out here (QEMU's plugin API version 1, which
 * Debian's qemu-user 7.2 provides).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct {
    const char *target_name;
    struct {
        int min, cur;
    } version;
    _Bool system_emulation;
    union {
        struct {
            int smp_vcpus, max_vcpus;
        } system;
    } u;
} qemu_info_t;

#define EXPORT __attribute__((visibility("default")))
#define INLINE_ADD_U64 0

EXPORT int qemu_plugin_version = 1;

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
                                           void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb *));
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, int op, void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t, void *), void *userdata);

static uint64_t executed;
static char out_path[4096] = "/dev/stderr";

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    qemu_plugin_register_vcpu_tb_exec_inline(tb, INLINE_ADD_U64, &executed, qemu_plugin_tb_n_insns(tb));
}

static void on_exit(qemu_plugin_id_t id, void *unused) {
    FILE *f = fopen(out_path, "w");
    if (!f) return;
    fprintf(f, "%llu\n", (unsigned long long)executed);
    fclose(f);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], "out=", 4) == 0) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit, NULL);
    return 0;
}
