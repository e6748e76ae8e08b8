/* The one place that picks per-architecture code (by the C compiler's target). */
#ifndef WASMC_ARCH_H
#define WASMC_ARCH_H
#include <stdint.h>
#if defined(__x86_64__)
#include "x86_64.h"
#elif defined(__aarch64__)
#include "aarch64.h"
#elif defined(__riscv) && __riscv_xlen == 64
#include "riscv64.h"
#else
#error "wasmc's shim supports x86-64, aarch64 and riscv64 only"
#endif
#endif
