/// Normalisation (x - mean) / std per channel, from a model's spec, and the standard augmentation
/// of small images (random crop from the image zero-padded by 4, random horizontal flip), shared
/// by every kind of split.
public struct BatchMaker {
    public let mean: [Float]
    public let std: [Float]

    public init(spec: ModelSpec) { mean = spec.mean; std = spec.std }

    public init(mean: [Float], std: [Float]) { self.mean = mean; self.std = std }

    /// Fills `batch` and `labels` with the examples of `data` at `indices` (see `DataSplit.fill`).
    public func fill(_ batch: Tensor, labels: inout [Int32], from data: some DataSplit, indices: ArraySlice<Int>,
                     augmentation: Augmentation?) throws {
        try data.fill(batch, labels: &labels, indices: indices, augmentation: augmentation, normalization: self)
    }

    /// One example's pad-4 crop offset and flip: three draws.
    public typealias Shift = (dy: Int, dx: Int, flip: Bool)
    public static let noShift: Shift = (0, 0, false)

    public static func drawShift(_ rng: inout SeededGenerator) -> Shift {
        (Int(rng.next() % 9) - 4, Int(rng.next() % 9) - 4, rng.next() & 1 == 1)
    }

    /// Copies one unnormalised C x H x W example from `from` to `to`, shifted (pixels shifted in
    /// from outside are zero before normalisation), flipped and normalised.
    public func copy(_ from: UnsafePointer<Float>, to: UnsafeMutablePointer<Float>, channels c: Int, height h: Int,
                     width w: Int, shift: Shift) {
        let plane = h * w
        for ch in 0..<c {
            let src = from + ch * plane, dst = to + ch * plane
            let scale = 1 / std[ch], offset = mean[ch]
            let background = -offset * scale  // a zero pixel, normalised
            for y in 0..<h {
                let sy = y + shift.dy
                for x in 0..<w {
                    let sx0 = x + shift.dx, sx = shift.flip ? w - 1 - sx0 : sx0
                    let inside = sy >= 0 && sy < h && sx0 >= 0 && sx0 < w
                    dst[y * w + x] = inside ? (src[sy * w + sx] - offset) * scale : background
                }
            }
        }
    }
}

/// The random augmentation of training images, drawn image by image: image `index` draws from its
/// own generator, seeded from the epoch's augmentation seed and the index, so how an image is
/// augmented depends only on (seed, epoch, index), not on the batch it lands in, the batch size,
/// or the thread or process that fills it.
public struct Augmentation {
    public let seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    public func generator(forImage index: Int) -> SeededGenerator {
        SeededGenerator(seed: seed, item: index)
    }

    /// The image's pad-4 crop offset and flip.
    public func shift(forImage index: Int) -> BatchMaker.Shift {
        var generator = generator(forImage: index)
        return BatchMaker.drawShift(&generator)
    }
}
