/* AArch64: registers from ucontext and the frame record chain.
 * x29 (fp) points at a frame record {previous x29, x30 (return address)}
 * (AAPCS64 6.4.6). */
#ifndef WASMC_ARCH_AARCH64_H
#define WASMC_ARCH_AARCH64_H
#include <ucontext.h>

static inline uintptr_t arch_pc(const void *uc) { return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.pc; }
static inline uintptr_t arch_fp(const void *uc) { return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.regs[29]; }
static inline uintptr_t arch_sp(const void *uc) { return (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.sp; }
static inline uintptr_t arch_frame_prev_fp(uintptr_t fp) { return ((const uintptr_t *)fp)[0]; }
static inline uintptr_t arch_frame_ra(uintptr_t fp) { return ((const uintptr_t *)fp)[1]; }
#define ARCH_FRAME_RECORD_LOW 0
#define ARCH_FRAME_RECORD_HIGH 16
#endif
