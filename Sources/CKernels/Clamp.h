// The activation clamp of the kernels' epilogues on vectors of 16 (or 8) floats, with a NaN passed
// through: every comparison with it is false. Compiled to one vmaxps and one vminps; the
// llvm.maximum / minimum builtins (which also order -0 below +0) took eight instructions a clamp,
// a third of the depthwise kernel's loop (perf, Intel Xeon AVX-512).
#include <stdint.h>

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef int32_t i16 __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));
typedef int32_t i8 __attribute__((vector_size(32), aligned(4)));

#define CLAMP(name, V, I, ...) \
    static inline __attribute__((always_inline __VA_ARGS__)) V name(V v, V lo, V hi) { \
        const I below = v < lo, above = v > hi; \
        v = (V)(((I)v & ~below) | ((I)lo & below)); \
        return (V)(((I)v & ~above) | ((I)hi & above)); \
    }
CLAMP(clamp16, v16, i16)
CLAMP(clamp8, v8, i8, , target("avx"))  // (a 256-bit argument needs AVX's calling convention)
#undef CLAMP
