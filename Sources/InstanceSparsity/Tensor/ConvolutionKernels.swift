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

/// One channel of a depthwise k x k convolution: returns bias + sum of taps for each output pixel
/// through `emit(index, value)`.
@inline(__always)
func depthwisePlane(input xin: UnsafePointer<Float>, weights wk: UnsafePointer<Float>, bias: Float,
                    inHeight ih: Int, inWidth iw: Int, kernel k: Int, stride s: Int, padding p: Int,
                    outHeight oh: Int, outWidth ow: Int, emit: (Int, Float) -> Void) {
    for oy in 0..<oh {
        for ox in 0..<ow {
            var acc = bias
            for ky in 0..<k {
                let iy = oy * s + ky - p
                if iy < 0 || iy >= ih { continue }
                for kx in 0..<k {
                    let ix = ox * s + kx - p
                    if ix >= 0 && ix < iw { acc += wk[ky * k + kx] * xin[iy * iw + ix] }
                }
            }
            emit(oy * ow + ox, acc)
        }
    }
}
