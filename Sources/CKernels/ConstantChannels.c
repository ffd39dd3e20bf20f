// The bias a 1x1 convolution takes from the channels a pruned depthwise convolution skipped: each
// skipped channel's output plane is a constant (the activation of its bias), so the convolution
// reads only the kept channels and adds constant x weight column of the skipped ones to its bias.
// Swift, compiled for baseline x86-64, left this loop four-wide without FMA: 6% of a pruned
// MobileNetV2 w0.5 pass (perf, one core, AMD Zen 5), 300 skipped channels x 80 outputs on its 4x4
// maps. Here, with AVX2 and FMA, one core, three alternations (isp bench --profile --prune stored,
// AMD Zen 5): those projections best of three 6.2 -> 4.9 us (480 -> 80 channels) and 11.2 -> 8.7
// us (480 -> 160); all 17 projections 105.6 -> 92.6 us in the quietest round. It reads each
// weight column once: memory-bound, so AVX2 suffices on every CPU.
#include "CKernels.h"
#include <stddef.h>

__attribute__((target("avx2,fma"))) void isp_constant_channels_bias(const float *columns, int32_t outputs, const float *constants,
                                                                  const int32_t *channels, int32_t count, float sign, float *bias) {
    for (int32_t i = 0; i < count; i++) {
        const float *column = columns + (size_t)channels[i] * outputs, v = sign * constants[channels[i]];
        for (int32_t o = 0; o < outputs; o++) bias[o] += column[o] * v;
    }
}
