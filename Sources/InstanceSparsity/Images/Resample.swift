import CKernels

/// Resizing as PIL's `Image.resize(size, Image.BILINEAR)` does it for 8-bit images, which is what
/// torchvision's Resize and RandomResizedCrop run on PIL images (antialiasing is PIL's only mode).
/// PIL's ImagingResample: a triangle filter whose support grows with the downscale factor,
/// weights normalised per output pixel and rounded to 22-bit fixed point, two separable passes
/// (see `bilinear` for their order), rounding to 8 bits between them. Every step below follows it, so the output
/// is PIL's byte for byte (Pillow 13.0, checked against it in ImageTests). The passes themselves
/// run in C (CKernels/Resample.c).
public enum Resample {
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
                let fixed = v * Double(1 << ISP_RESAMPLE_PRECISION_BITS)
                w.values[xx * taps + x] = Int32(fixed < 0 ? fixed - 0.5 : fixed + 0.5)
            }
            w.first.append(xmin)
            w.count.append(max(xmax, 0))
        }
        return w
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
        let c = channels, outStride = window.width * c
        let columns = window.x..<(window.x + window.width), rows = window.y..<(window.y + window.height)
        // A pass that keeps the size is skipped, as PIL skips it (it would copy anyway).
        let horizontal = outWidth == width ? nil : weights(inSize: width, outSize: outWidth)
        let vertical = outHeight == height ? nil : weights(inSize: height, outSize: outHeight)
        /// The input pixels that `outputs` read along one axis.
        func span(_ w: Weights?, _ outputs: Range<Int>) -> Range<Int> {
            guard let w else { return outputs }
            return w.first[outputs.lowerBound]..<(w.first[outputs.upperBound - 1] + w.count[outputs.upperBound - 1])
        }
        // Pillow 13 runs the vertical pass first when the height shrinks by more than twice as
        // many pixels as the width (earlier versions always start horizontally; the order changes
        // the rounding between the passes, by at most one level).
        let verticalFirst = height - outHeight > 0 && height - outHeight > (width - outWidth) * 2
        if verticalFirst {
            let needed = span(horizontal, columns)
            let stride = needed.count * c
            let temporary = UnsafeMutablePointer<UInt8>.allocate(capacity: max(rows.count * stride, 1))
            defer { temporary.deallocate() }
            verticalPass(source + needed.lowerBound * c, stride: rowStride, firstRow: 0, weights: vertical, outputs: rows,
                         bytes: stride, into: temporary, outStride: stride)
            horizontalPass(temporary, stride: stride, firstColumn: needed.lowerBound, rows: rows.count, channels: c,
                           weights: horizontal, outputs: columns, into: destination, outStride: outStride)
        } else {
            let needed = span(vertical, rows)
            let temporary = UnsafeMutablePointer<UInt8>.allocate(capacity: max(needed.count * outStride, 1))
            defer { temporary.deallocate() }
            horizontalPass(source + needed.lowerBound * rowStride, stride: rowStride, firstColumn: 0, rows: needed.count,
                           channels: c, weights: horizontal, outputs: columns, into: temporary, outStride: outStride)
            verticalPass(temporary, stride: outStride, firstRow: needed.lowerBound, weights: vertical, outputs: rows,
                         bytes: outStride, into: destination, outStride: outStride)
        }
    }

    /// Output columns `outputs` of `rows` rows; input column j is at `source + (j - firstColumn) * channels`.
    /// Without weights (no resizing) it copies.
    static func horizontalPass(_ source: UnsafePointer<UInt8>, stride: Int, firstColumn: Int, rows: Int, channels c: Int,
                               weights: Weights?, outputs: Range<Int>, into out: UnsafeMutablePointer<UInt8>, outStride: Int) {
        guard let weights else {
            for y in 0..<rows {
                (out + y * outStride).update(from: source + y * stride + (outputs.lowerBound - firstColumn) * c, count: outStride)
            }
            return
        }
        let first = outputs.map { Int32(weights.first[$0] - firstColumn) }, count = outputs.map { Int32(weights.count[$0]) }
        weights.values.withUnsafeBufferPointer { kk in
            isp_resample_horizontal(source, Int64(stride), Int32(rows), Int32(c), first, count,
                                    kk.baseAddress! + outputs.lowerBound * weights.taps, Int32(weights.taps),
                                    Int32(outputs.count), out, Int64(outStride))
        }
    }

    /// Output rows `outputs`, `bytes` bytes of each; input row j is at `source + (j - firstRow) * stride`.
    /// Without weights (no resizing) it copies.
    static func verticalPass(_ source: UnsafePointer<UInt8>, stride: Int, firstRow: Int, weights: Weights?, outputs: Range<Int>,
                             bytes: Int, into out: UnsafeMutablePointer<UInt8>, outStride: Int) {
        guard let weights else {
            for (i, o) in outputs.enumerated() {
                (out + i * outStride).update(from: source + (o - firstRow) * stride, count: bytes)
            }
            return
        }
        let first = outputs.map { Int32(weights.first[$0] - firstRow) }, count = outputs.map { Int32(weights.count[$0]) }
        var sums = [Int32](repeating: 0, count: bytes)
        weights.values.withUnsafeBufferPointer { kk in
            isp_resample_vertical(source, Int64(stride), first, count, kk.baseAddress! + outputs.lowerBound * weights.taps,
                                  Int32(weights.taps), Int32(outputs.count), Int32(bytes), out, Int64(outStride), &sums)
        }
    }
}
