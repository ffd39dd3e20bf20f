/// Copies examples of a dataset into a normalised batch tensor, optionally with the standard
/// augmentation (random crop from a 4-pixel zero-padded image, random horizontal flip).
public struct BatchMaker {
    public let mean: [Float]
    public let std: [Float]

    public init(spec: ModelSpec) { mean = spec.mean; std = spec.std }

    /// Fills `batch` (resized to B x C x H x W) and `labels` from `indices`. Augmentation draws
    /// come from `rng` sequentially, so the result does not depend on thread scheduling.
    public func fill(_ batch: Tensor, labels: inout [Int32], from data: Dataset, indices: ArraySlice<Int>,
                     augment: Bool, rng: inout SeededGenerator) {
        let c = data.channels, h = data.height, w = data.width, plane = h * w
        batch.resize([indices.count, c, h, w])
        labels.removeAll(keepingCapacity: true)
        var shifts = [(dy: Int, dx: Int, flip: Bool)]()
        for index in indices {
            labels.append(data.labels[index])
            shifts.append(augment ? (Int(rng.next() % 9) - 4, Int(rng.next() % 9) - 4, rng.next() & 1 == 1) : (0, 0, false))
        }
        let order = Array(indices), src = data.images.data, dst = batch.data
        let scale = std.map { 1 / $0 }, shift = mean
        parallelFor(order.count) { i in
            let (dy, dx, flip) = shifts[i]
            for ch in 0..<c {
                let from = src + (order[i] * c + ch) * plane, to = dst + (i * c + ch) * plane
                let background = -shift[ch] * scale[ch]  // a zero pixel, normalised
                for y in 0..<h {
                    let sy = y + dy
                    for x in 0..<w {
                        let sx0 = x + dx, sx = flip ? w - 1 - sx0 : sx0
                        let inside = sy >= 0 && sy < h && sx0 >= 0 && sx0 < w
                        to[y * w + x] = inside ? (from[sy * w + sx] - shift[ch]) * scale[ch] : background
                    }
                }
            }
        }
    }
}
