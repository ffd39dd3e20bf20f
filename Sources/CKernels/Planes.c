// Copying rows of a plane between two row pitches (an image plane into the interior of a
// zero-bordered plane, the layout the micro-kernel reads, so no tap needs a bounds check, and
// back). The moves themselves are in Rows.h.
// In Swift, without a CPU target and -Ounchecked, the same loop compiled to one scalar copy per
// value with overflow checks: MobileNetV2 w0.5 training spent twice as long in the functions
// making these copies (perf).
#include "CKernels.h"
#include <stddef.h>
#include "Rows.h"

void isp_copy_rows(isp_isa isa, const float *from, int32_t fromPitch, float *to, int32_t toPitch, int32_t rows,
                   int32_t width) {
    if (isa == ISP_AVX512) rows_avx512(from, (size_t)fromPitch, to, (size_t)toPitch, rows, width);
    else rows_avx2(from, (size_t)fromPitch, to, (size_t)toPitch, rows, width);
}
