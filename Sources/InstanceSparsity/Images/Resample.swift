/// Resizing as PIL's `Image.resize(size, Image.BILINEAR)` does it for 8-bit images, which is what
/// torchvision's Resize and RandomResizedCrop run on PIL images (antialiasing is PIL's only mode).
/// PIL's ImagingResample: a triangle filter whose support grows with the downscale factor,
/// weights normalised per output pixel and rounded to 22-bit fixed point, two separable passes,
/// horizontal first, rounding to 8 bits between them. Every step below follows it, so the output
/// is PIL's byte for byte (checked against PIL in ImageTests).
public enum Resample {
    static let precisionBits = 22

    /// Per output pixel: the first input pixel, how many follow, and their fixed-point weights
    /// (`taps` slots per output pixel).
    struct Weights {
        var first: [Int]
        var count: [Int]
        var values: [Int32]
        var taps: Int
    }

    /// PIL's precompute_coeffs and normalize_coeffs_8bpc for an input of `inSize` pixels mapped
    /// onto `outSize`.
    static func weights(inSize: Int, outSize: Int) -> Weights {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = 1.0 * filterScale  // the bilinear filter's support is 1
        let taps = Int(support.rounded(.up)) * 2 + 1
        var w = Weights(first: [], count: [], values: [Int32](repeating: 0, count: outSize * taps), taps: taps)
        var k = [Double](repeating: 0, count: taps)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            // C's (int) truncates toward zero, as Int(_: Double) does.
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var sum = 0.0
            for x in 0..<max(xmax, 0) {
                let t = abs((Double(x + xmin) - center + 0.5) * (1 / filterScale))
                k[x] = t < 1 ? 1 - t : 0
                sum += k[x]
            }
            for x in 0..<max(xmax, 0) {
                let v = sum != 0 ? k[x] / sum : k[x]
                let fixed = v * Double(1 << precisionBits)
                w.values[xx * taps + x] = Int32(fixed < 0 ? fixed - 0.5 : fixed + 0.5)
            }
            w.first.append(xmin)
            w.count.append(max(xmax, 0))
        }
        return w
    }

    @inline(__always)
    static func clip8(_ v: Int32) -> UInt8 {
        if v >= (1 << precisionBits) << 8 { return 255 }
        if v <= 0 { return 0 }
        return UInt8(truncatingIfNeeded: v >> Int32(precisionBits))
    }

    /// Resizes the `width` x `height` image at `source` (rows `rowStride` bytes apart, `channels`
    /// interleaved) to `outWidth` x `outHeight`, and writes only the output pixels in `window`
    /// (x, y, width, height), rows packed, to `destination`. A window of the resized image is
    /// what Resize followed by CenterCrop keeps; computing only it gives the same bytes.
    public static func bilinear(_ source: UnsafePointer<UInt8>, width: Int, height: Int, rowStride: Int, channels: Int,
                                outWidth: Int, outHeight: Int,
                                window: (x: Int, y: Int, width: Int, height: Int),
                                into destination: UnsafeMutablePointer<UInt8>) {
        precondition(window.x >= 0 && window.y >= 0 && window.x + window.width <= outWidth
                     && window.y + window.height <= outHeight, "window outside the output")
        let c = channels
        let vertical = weights(inSize: height, outSize: outHeight)
        // The input rows the window's output rows read.
        let firstRow = vertical.first[window.y]
        let lastRow = vertical.first[window.y + window.height - 1] + vertical.count[window.y + window.height - 1]
        let rows = lastRow - firstRow

        // Horizontal pass into `temporary` (rows firstRow..<lastRow, the window's columns), skipped
        // when the width does not change, as PIL skips it.
        let temporaryStride = window.width * c
        let temporary = UnsafeMutablePointer<UInt8>.allocate(capacity: max(rows * temporaryStride, 1))
        defer { temporary.deallocate() }
        if outWidth == width {
            for y in 0..<rows {
                (temporary + y * temporaryStride).update(from: source + (firstRow + y) * rowStride + window.x * c,
                                                         count: temporaryStride)
            }
        } else {
            let horizontal = weights(inSize: width, outSize: outWidth)
            horizontal.values.withUnsafeBufferPointer { kk in
                for y in 0..<rows {
                    let row = source + (firstRow + y) * rowStride, out = temporary + y * temporaryStride
                    for xx in 0..<window.width {
                        let o = window.x + xx, first = horizontal.first[o], n = horizontal.count[o]
                        let k = kk.baseAddress! + o * horizontal.taps, p = row + first * c
                        for ch in 0..<c {
                            var sum: Int32 = 1 << Int32(precisionBits - 1)
                            for x in 0..<n { sum &+= Int32(p[x * c + ch]) &* k[x] }
                            out[xx * c + ch] = clip8(sum)
                        }
                    }
                }
            }
        }

        // Vertical pass from `temporary` into the window.
        if outHeight == height {
            for y in 0..<window.height {
                (destination + y * temporaryStride).update(from: temporary + (window.y + y - firstRow) * temporaryStride,
                                                           count: temporaryStride)
            }
            return
        }
        vertical.values.withUnsafeBufferPointer { kk in
            for yy in 0..<window.height {
                let o = window.y + yy, first = vertical.first[o] - firstRow, n = vertical.count[o]
                let k = kk.baseAddress! + o * vertical.taps, out = destination + yy * temporaryStride
                for i in 0..<temporaryStride {
                    var sum: Int32 = 1 << Int32(precisionBits - 1)
                    let p = temporary + first * temporaryStride + i
                    for y in 0..<n { sum &+= Int32(p[y * temporaryStride]) &* k[y] }
                    out[i] = clip8(sum)
                }
            }
        }
    }
}
