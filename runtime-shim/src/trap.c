/* trap.c -- entering guest code, and leaving it when it traps.
 *
 * Every host -> guest call goes through wasmc_enter/wasmc_leave around a
 * sigsetjmp: the entry record (on the caller's C stack) is pushed on a
 * thread-local list, so wasm -> host -> wasm nesting works and a trap always
 * unwinds to the innermost entry.  Traps are raised two ways:
 *
 *  - explicitly: compiled code calls the `trap` builtin (division by zero,
 *    failed call_indirect checks, the stack-limit check in every prologue...),
 *    which records the code and siglongjmps;
 *  - by a hardware fault: an access to a memory's guard pages (SIGSEGV /
 *    SIGBUS), or a stack guard page hit by a frame too large for the
 *    prologue check.  The handler treats the fault as a trap ONLY if this
 *    thread is inside an entry and the faulting PC is in a loaded image's
 *    code; otherwise it hands the signal to the previous handler, so faults
 *    in the host (or in Python) behave exactly as without wasmc.
 *
 * Handlers run on a per-thread alternate stack (installed on first entry),
 * with SA_NODEFER so that siglongjmp out of the handler leaves the signal
 * unblocked without saving and restoring the signal mask on every entry
 * (sigsetjmp(..., 0) is cheap; saving the mask would be a syscall per call).
 * siglongjmp is never taken across a host (Python) frame: host functions
 * return a status and the trap is raised by compiled code afterwards.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch/arch.h"
#include "shim.h"

static __thread wasmc_entry *tls_entry;
static __thread uintptr_t tls_stack_lo, tls_stack_hi;
static __thread int tls_altstack_ready;
static __thread int tls_tid;

static struct sigaction prev_action[NSIG];
static pthread_once_t signals_once = PTHREAD_ONCE_INIT;
static int signals_status = -1;
static pthread_key_t altstack_key;

static const char *const trap_messages[] = WASMC_TRAP_MESSAGES; /* from wasmc/abi.py */
/* Compiled code allocates handler records of EH_RECORD_SIZE bytes: the
 * C library's jmp_buf must fit before the link to the previous record. */
_Static_assert(sizeof(jmp_buf) <= WASMC_EH_RECORD_PREV, "jmp_buf does not fit a handler record");
_Static_assert(sizeof trap_messages / sizeof trap_messages[0] == WASMC_TRAP_COUNT,
               "a trap code has no message");

const char *wasmc_trap_message(int32_t code) {
    if (code < 0 || code >= WASMC_TRAP_COUNT) return "unknown trap";
    return trap_messages[code];
}

/* --- the stack of this thread ------------------------------------------ */

static void find_stack_bounds(void) {
    if (tls_stack_hi) return;
    pthread_attr_t attr;
    void *addr = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &addr, &size);
        pthread_attr_destroy(&attr);
    }
    if (addr && size) {
        tls_stack_lo = (uintptr_t)addr;
        tls_stack_hi = (uintptr_t)addr + size;
        /* The main thread's stack grows on demand up to RLIMIT_STACK.  glibc
         * reports that limit; musl (the standalone runner) reports only the
         * part mapped so far, which would leave guest code almost no stack.
         * Take the limit ourselves (8 MiB if it is unlimited). */
        if (getpid() == (pid_t)syscall(SYS_gettid)) {
            struct rlimit rl;
            uint64_t want = 8u << 20;
            if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) want = rl.rlim_cur;
            if (want > tls_stack_hi - tls_stack_lo && want < tls_stack_hi) tls_stack_lo = tls_stack_hi - want;
        }
    } else { /* unknown: allow the default amount below the current frame */
        uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
        tls_stack_hi = sp + 4096;
        tls_stack_lo = sp - (WASMC_DEFAULT_MAX_STACK + 2 * WASMC_STACK_RED_ZONE);
    }
}

/* --- backtraces ---------------------------------------------------------- */

static bool frame_ok(uintptr_t fp) {
    return fp && !(fp & 7) && fp + ARCH_FRAME_RECORD_LOW >= tls_stack_lo &&
           fp + ARCH_FRAME_RECORD_HIGH <= tls_stack_hi;
}

/* Record guest frames starting at PC (inside a guest function whose frame
 * pointer is FP), walking the frame-pointer chain while it stays in guest code. */
static void record_frames(wasmc_entry *e, uintptr_t pc, uintptr_t fp) {
    e->nframes = 0;
    while (e->nframes < WASMC_MAX_FRAMES && wasmc_pc_in_guest(pc)) {
        e->pcs[e->nframes++] = pc;
        if (!frame_ok(fp)) break;
        uintptr_t ra = arch_frame_ra(fp);
        uintptr_t next = arch_frame_prev_fp(fp);
        if (next <= fp) break; /* frames must move towards the stack base */
        pc = ra - 1;           /* inside the call instruction */
        fp = next;
    }
}

void wasmc_entry_error(const wasmc_entry *e, wasmc_error *err) {
    if (!err) return;
    err->kind = WASMC_ERR_TRAP;
    err->trap = e->trap;
    err->exn = e->trap == WASMC_TRAP_UNCAUGHT_EXCEPTION ? e->exn : NULL;
    err->nframes = 0;
    for (uint32_t i = 0; i < e->nframes; i++) {
        uint32_t f;
        const wasmc_image *img = wasmc_image_for_pc(e->pcs[i], &f);
        if (!img || f == UINT32_MAX) continue;
        err->frames[err->nframes].image = img;
        err->frames[err->nframes].func = f;
        err->nframes++;
    }
    snprintf(err->message, sizeof err->message, "%s", wasmc_trap_message(e->trap));
}

/* --- raising ------------------------------------------------------------ */

void wasmc_raise(int32_t code, uintptr_t fp) {
    wasmc_entry *e = tls_entry;
    if (!e) {
        fprintf(stderr, "wasmc: fatal: trap (%s) outside any guest call\n", wasmc_trap_message(code));
        abort();
    }
    if (code == WASMC_TRAP_INTERRUPT) __atomic_store_n(&e->store->limits.interrupt, 0, __ATOMIC_RELAXED);
    e->trap = code;
    /* fp is the frame of the builtin called by guest code: its record holds
     * the guest caller's frame pointer and the return address into it. */
    if (frame_ok(fp))
        record_frames(e, arch_frame_ra(fp) - 1, arch_frame_prev_fp(fp));
    else
        e->nframes = 0;
    siglongjmp(e->jb, 1);
}

/* Throw EXN from guest code running with VM: to the innermost handler
 * record of the current entry (compile/lower/eh.py pushed it, and its
 * _setjmp returns again with limits->exn set), or, when the entry has none,
 * out of the entry as an uncaught exception.  Handlers of outer entries are
 * never jumped to directly: that would skip the host frames in between. */
void wasmc_throw(wasmc_vmctx *vm, wasmc_exn *exn, uintptr_t fp) {
    wasmc_entry *e = tls_entry;
    wasmc_limits *lim = vm->limits;
    if (e && lim->eh_top != e->saved_eh_top) {
        lim->exn = exn;
        _longjmp(*(jmp_buf *)lim->eh_top, 1);
    }
    if (e) e->exn = exn;
    wasmc_raise(WASMC_TRAP_UNCAUGHT_EXCEPTION, fp);
}

/* --- signals ------------------------------------------------------------ */

static void chain(int sig, siginfo_t *si, void *uc) {
    struct sigaction *p = &prev_action[sig];
    if (p->sa_flags & SA_SIGINFO) {
        p->sa_sigaction(sig, si, uc);
        return;
    }
    if (p->sa_handler == SIG_IGN) return;
    if (p->sa_handler == SIG_DFL) {
        /* Restore the default action and return: the faulting instruction
         * runs again and the process dies with the right signal. */
        signal(sig, SIG_DFL);
        return;
    }
    p->sa_handler(sig);
}

static void handler(int sig, siginfo_t *si, void *uc) {
    wasmc_entry *e = tls_entry;
    uintptr_t pc = arch_pc(uc);
    if (!e || !wasmc_pc_in_guest(pc)) {
        chain(sig, si, uc);
        return;
    }
    int32_t code;
    if (sig == SIGSEGV || sig == SIGBUS) {
        uintptr_t a = (uintptr_t)si->si_addr;
        uintptr_t sp = arch_sp(uc);
        if (wasmc_addr_in_reservation(a))
            code = WASMC_TRAP_MEMORY_OOB;
        else if (a + (1u << 20) >= sp && a <= sp + (64u << 10))
            code = WASMC_TRAP_STACK_EXHAUSTED; /* a stack guard page, near sp */
        else
            code = WASMC_TRAP_MEMORY_OOB;
    } else if (sig == SIGFPE) {
        code = si->si_code == FPE_INTOVF ? WASMC_TRAP_INT_OVERFLOW : WASMC_TRAP_DIV_ZERO;
    } else {
        code = WASMC_TRAP_UNREACHABLE; /* SIGILL: llvm.trap's ud2/brk/unimp */
    }
    e->trap = code;
    record_frames(e, pc, arch_fp(uc));
    siglongjmp(e->jb, 1);
}

/* WASMC_INTERRUPT_SIGNAL, sent by wasmc_store_interrupt to the thread running
 * the store's guest code.  In guest code, it traps at once; anywhere else
 * (a host function, a builtin, the runtime) it only leaves the store's
 * interrupt flag set, which host-call adapters and builtins check on their
 * way back into guest code. */
static void interrupt_handler(int sig, siginfo_t *si, void *uc) {
    wasmc_entry *e = tls_entry;
    if (!e || !__atomic_load_n(&e->store->limits.interrupt, __ATOMIC_RELAXED)) {
        /* Not for us (or a late duplicate): a program's own handler gets it;
         * the default action of SIGURG is to ignore it, so that is all
         * chain() must not do here (it would reinstall SIG_DFL). */
        struct sigaction *p = &prev_action[sig];
        if ((p->sa_flags & SA_SIGINFO) || (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN))
            chain(sig, si, uc);
        return;
    }
    uintptr_t pc = arch_pc(uc);
    if (!wasmc_pc_in_guest(pc)) return;
    __atomic_store_n(&e->store->limits.interrupt, 0, __ATOMIC_RELAXED);
    e->trap = WASMC_TRAP_INTERRUPT;
    record_frames(e, pc, arch_fp(uc));
    siglongjmp(e->jb, 1);
}

/* The signal goes to the kernel thread id, not a pthread_t: if the owner
 * thread ends meanwhile, tgkill fails or (after tid reuse) reaches a thread
 * with no pending interrupt, which ignores it; pthread_kill on a thread that
 * has been joined would be undefined behaviour. */
void wasmc_store_interrupt(wasmc_store *st) {
    __atomic_store_n(&st->limits.interrupt, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&st->depth, __ATOMIC_SEQ_CST) > 0) {
        int tid = __atomic_load_n(&st->owner_tid, __ATOMIC_RELAXED);
        if (tid > 0) syscall(SYS_tgkill, getpid(), tid, WASMC_INTERRUPT_SIGNAL);
    }
}

/* A forked child's only thread has a new kernel id. */
static void forget_tid(void) { tls_tid = 0; }

static void free_altstack(void *p) {
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap((uint8_t *)p - 4096, WASMC_ALTSTACK_SIZE + 4096);
}

static void install_signals(void) {
    if (pthread_key_create(&altstack_key, free_altstack) != 0) return;
    if (pthread_atfork(NULL, NULL, forget_tid) != 0) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    /* SA_SIGINFO: we need the faulting address and the PC (ucontext).
     * SA_ONSTACK: a stack overflow leaves no room on the normal stack.
     * SA_NODEFER: we leave the handler by siglongjmp without restoring the
     * signal mask, so the signal must not be blocked while it runs. */
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, &prev_action[sigs[i]]) != 0) return;
    /* The interrupt signal may land in a host system call: restart it. */
    sa.sa_sigaction = interrupt_handler;
    sa.sa_flags |= SA_RESTART;
    if (sigaction(WASMC_INTERRUPT_SIGNAL, &sa, &prev_action[WASMC_INTERRUPT_SIGNAL]) != 0) return;
    signals_status = 0;
}

int wasmc_signals_init(void) {
    pthread_once(&signals_once, install_signals);
    return signals_status;
}

int wasmc_runtime_init(void) { return wasmc_signals_init(); }

static bool ensure_altstack(void) {
    if (tls_altstack_ready) return true;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_size >= WASMC_ALTSTACK_SIZE) {
        tls_altstack_ready = 1; /* the thread already has a big enough one */
        return true;
    }
    /* One guard page below the alternate stack. */
    uint8_t *p = mmap(NULL, WASMC_ALTSTACK_SIZE + 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    mprotect(p, 4096, PROT_NONE);
    stack_t ss = {.ss_sp = p + 4096, .ss_size = WASMC_ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(p, WASMC_ALTSTACK_SIZE + 4096);
        return false;
    }
    pthread_setspecific(altstack_key, p + 4096);
    tls_altstack_ready = 1;
    return true;
}

/* --- entries ------------------------------------------------------------ */

bool wasmc_enter(wasmc_store *st, wasmc_entry *e, wasmc_error *err) {
    if (wasmc_signals_init() != 0 || !ensure_altstack()) {
        wasmc_set_error(err, WASMC_ERR_RESOURCE, "cannot set up trap handling for this thread");
        return false;
    }
    unsigned long self = (unsigned long)pthread_self();
    if (st->depth > 0 && st->owner != self) {
        wasmc_set_error(err, WASMC_ERR_USAGE, "store is already running guest code on another thread");
        return false;
    }
    e->store = st;
    e->trap = 0;
    e->nframes = 0;
    e->exn = NULL;
    e->saved_limit = st->limits.stack_limit;
    e->saved_eh_top = st->limits.eh_top;
    if (st->depth == 0) {
        find_stack_bounds();
        uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
        uintptr_t lim = tls_stack_lo + WASMC_STACK_RED_ZONE;
        if (sp > st->max_stack && sp - st->max_stack > lim) lim = sp - st->max_stack;
        st->limits.stack_limit = lim;
        st->owner = self;
        if (!tls_tid) tls_tid = (int)syscall(SYS_gettid);
        __atomic_store_n(&st->owner_tid, tls_tid, __ATOMIC_RELAXED);
    }
    /* Only this thread writes depth; wasmc_store_interrupt reads it from others. */
    __atomic_store_n(&st->depth, st->depth + 1, __ATOMIC_RELEASE);
    e->prev = tls_entry;
    tls_entry = e;
    return true;
}

void wasmc_leave(wasmc_entry *e) {
    wasmc_store *st = e->store;
    tls_entry = e->prev;
    __atomic_store_n(&st->depth, st->depth - 1, __ATOMIC_RELEASE);
    st->limits.stack_limit = e->saved_limit;
    /* A trap leaves guest code without popping its handler records. */
    st->limits.eh_top = e->saved_eh_top;
}
