import CKernels

/// Loops shared by the training layers and the inference steps.

/// The output columns ox whose input column ox*s + kx - p falls inside a row of width `iw`.
@inline(__always)
func validColumns(kx: Int, stride s: Int, padding p: Int, inWidth iw: Int, outWidth ow: Int) -> Range<Int> {
    let first = min(ow, max(0, (p - kx + s - 1) / s))
    return first..<max(first, min(ow, (iw - 1 + p - kx) / s + 1))
}

/// Unrolls input channels of one image (C x ih x iw at `image`) for a k x k convolution: row
/// (i, ky, kx) of `dst` (rows `rowStride` floats apart) holds the oh x ow input pixels under kernel
/// tap (ky, kx) of the i-th listed channel, zeros where the tap falls in the padding. The listed
/// channels are `channels[0..<count]`, or `firstChannel..<firstChannel+count` when nil.
@inline(__always)
func im2col(image: UnsafePointer<Float>, inHeight ih: Int, inWidth iw: Int, kernel k: Int, stride s: Int, padding p: Int,
            outHeight oh: Int, outWidth ow: Int, channels: UnsafePointer<Int32>?, firstChannel: Int, count: Int,
            into dst: UnsafeMutablePointer<Float>, rowStride: Int) {
    for i in 0..<count {
        let plane = image + (channels.map { Int($0[i]) } ?? firstChannel + i) * ih * iw
        for ky in 0..<k {
            for kx in 0..<k {
                let row = dst + ((i * k + ky) * k + kx) * rowStride
                let valid = validColumns(kx: kx, stride: s, padding: p, inWidth: iw, outWidth: ow)
                for oy in 0..<oh {
                    let iy = oy * s + ky - p, line = row + oy * ow
                    guard iy >= 0 && iy < ih else { line.update(repeating: 0, count: ow); continue }
                    let inLine = plane + iy * iw + kx - p
                    line.update(repeating: 0, count: valid.lowerBound)
                    if s == 1 {
                        (line + valid.lowerBound).update(from: inLine + valid.lowerBound, count: valid.count)
                    } else {
                        for ox in valid { line[ox] = inLine[ox * s] }
                    }
                    (line + valid.upperBound).update(repeating: 0, count: ow - valid.upperBound)
                }
            }
        }
    }
}

/// Copies an ih x iw plane into the interior of a zero-bordered plane (row pitch iw + 2p) whose
/// border the caller keeps zero.
@inline(__always)
func copyIntoBorderedPlane(_ from: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>, height ih: Int, width iw: Int, padding p: Int,
                           isa: InstructionSet) {
    let wp = iw + 2 * p
    isp_copy_rows(isa.kernel, from, Int32(iw), to + p * wp + p, Int32(wp), Int32(ih), Int32(iw))
}

/// The inverse of `copyIntoBorderedPlane`: the interior of a bordered plane back to an ih x iw plane.
@inline(__always)
func copyOutOfBorderedPlane(_ from: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>, height ih: Int, width iw: Int, padding p: Int,
                            isa: InstructionSet) {
    let wp = iw + 2 * p
    isp_copy_rows(isa.kernel, from + p * wp + p, Int32(wp), to, Int32(iw), Int32(ih), Int32(iw))
}

/// Floats of a zero-bordered plane for the depthwise backward kernel (with the slack a stride-2
/// vector may read past the end).
@inline(__always)
func depthwisePaddedCount(inHeight ih: Int, inWidth iw: Int, padding p: Int) -> Int { (ih + 2 * p) * (iw + 2 * p) + 32 }

/// The arguments of `isp_depthwise` for images of `perImage` channels (plane j uses channel
/// j % perImage), over the listed `planes` (nil: all), the activation clamped to `cap` (nil:
/// none), then `shift` of the channel subtracted (nil: none). Shared by training and inference.
func depthwiseArguments(x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, weights: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, kernel k: Int, stride s: Int, padding p: Int, inHeight ih: Int,
                        inWidth iw: Int, outHeight oh: Int, outWidth ow: Int, perImage: Int, cap: Float?,
                        planes: UnsafePointer<Int32>? = nil, shift: UnsafePointer<Float>? = nil) -> isp_depthwise_args {
    precondition(k % 2 == 1 && p == k / 2 && k * k <= Int(ISP_DEPTHWISE_MAX_TAPS),
                 "the depthwise kernel takes odd sizes up to 7 x 7 with padding k / 2 (see ConvolutionPlan)")
    let (low, high) = clampBounds(cap)
    return isp_depthwise_args(x: x, out: out, planes: planes, w: weights, bias: bias, shift: shift, perImage: Int32(perImage), k: Int32(k),
                              stride: Int32(s), padding: Int32(p), ih: Int32(ih), iw: Int32(iw), oh: Int32(oh), ow: Int32(ow),
                              low: low, high: high)
}
