// The activation clamp of the kernels' epilogues on vectors of 16 floats, with a NaN passed
// through: every comparison with it is false. Compiled to one vmaxps and one vminps; the
// llvm.maximum / minimum builtins (which also order -0 below +0) took eight instructions a clamp,
// a third of the depthwise kernel's loop (perf, Intel Xeon AVX-512).
#include <stdint.h>

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef int32_t i16 __attribute__((vector_size(64), aligned(4)));

static inline __attribute__((always_inline)) v16 clamp16(v16 v, v16 lo, v16 hi) {
    const i16 below = v < lo, above = v > hi;
    v = (v16)(((i16)v & ~below) | ((i16)lo & below));
    return (v16)(((i16)v & ~above) | ((i16)hi & above));
}
