/* What the processor running onyx can execute, detected once per process. Kernels compiled
 * for wider instruction sets are only called when these say so. */
#ifndef ONYX_CPU_H
#define ONYX_CPU_H

#include <stdbool.h>

typedef struct cpu_features {
    bool avx2_fma; /* AVX2 and FMA3, with the OS saving the YMM state */
    bool avx512f;  /* AVX-512 Foundation, with the OS saving the opmask and ZMM state */
    bool avx512_core; /* avx512f with BW, DQ and VL (Skylake-X and later, Zen 4 and later) */
    bool avx512_vnni; /* avx512_core with VNNI (vpdpbusd on ZMM: int8 dot products) */
    bool avx512_bf16; /* avx512_core with BF16 (vdpbf16ps: bfloat16 dot products) */
    bool avx_vnni;    /* avx2_fma with AVX-VNNI (vpdpbusd on YMM, VEX-encoded) */
} cpu_features;

/* The features of this processor and OS. Thread-safe: detected on the first call. */
const cpu_features *cpu_features_get(void);

#endif
