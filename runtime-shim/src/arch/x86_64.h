/* x86-64: registers from ucontext and the frame-pointer chain.
 * With frame pointers, [rbp] holds the caller's rbp and [rbp+8] the return
 * address (System V psABI, "Stack Frame"). */
#ifndef WASMC_ARCH_X86_64_H
#define WASMC_ARCH_X86_64_H
#include <ucontext.h>

static inline uintptr_t arch_pc(const void *uc) { return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP]; }
static inline uintptr_t arch_fp(const void *uc) { return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.gregs[REG_RBP]; }
static inline uintptr_t arch_sp(const void *uc) { return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.gregs[REG_RSP]; }
/* Given a frame pointer, where the caller's frame pointer and the return address live. */
static inline uintptr_t arch_frame_prev_fp(uintptr_t fp) { return ((const uintptr_t *)fp)[0]; }
static inline uintptr_t arch_frame_ra(uintptr_t fp) { return ((const uintptr_t *)fp)[1]; }
#define ARCH_FRAME_RECORD_LOW 0   /* frame record spans [fp+LOW, fp+HIGH) */
#define ARCH_FRAME_RECORD_HIGH 16
#endif
