/* RISC-V 64: registers from ucontext and the frame chain.
 * s0/fp points just above the saved {ra, previous fp} pair: ra at fp-8,
 * previous fp at fp-16 (RISC-V psABI, "Frame Pointer Convention"). */
#ifndef WASMC_ARCH_RISCV64_H
#define WASMC_ARCH_RISCV64_H
#include <ucontext.h>

#if defined(__GLIBC__)
#define WASMC_RV_GREGS(uc) ((const ucontext_t *)(uc))->uc_mcontext.__gregs
#else
#define WASMC_RV_GREGS(uc) ((const ucontext_t *)(uc))->uc_mcontext.__gregs
#endif
static inline uintptr_t arch_pc(const void *uc) { return (uintptr_t)WASMC_RV_GREGS(uc)[0]; }  /* REG_PC */
static inline uintptr_t arch_fp(const void *uc) { return (uintptr_t)WASMC_RV_GREGS(uc)[8]; }  /* s0 */
static inline uintptr_t arch_sp(const void *uc) { return (uintptr_t)WASMC_RV_GREGS(uc)[2]; }  /* sp */
static inline uintptr_t arch_frame_prev_fp(uintptr_t fp) { return ((const uintptr_t *)fp)[-2]; }
static inline uintptr_t arch_frame_ra(uintptr_t fp) { return ((const uintptr_t *)fp)[-1]; }
#define ARCH_FRAME_RECORD_LOW (-16)
#define ARCH_FRAME_RECORD_HIGH 0
#endif
