import CKernels

/// Batch normalisation over (N, H, W) per channel. Training uses batch statistics and updates
/// the running ones (momentum 0.1, unbiased variance, as PyTorch); evaluation uses the running ones.
/// A ReLU that follows it in a `Sequential` runs inside it (`cap`).
public final class BatchNorm2d: Layer, RunsOnEngine {
    public var engine = Engine.default
    public let weight: Parameter  // gamma
    public let bias: Parameter    // beta
    public let runningMean: Tensor
    public let runningVar: Tensor
    public var batchesTracked: Int64 = 0
    public let eps: Float = 1e-5
    public let momentum: Float = 0.1

    /// The input, kept for backward, which recomputes the normalised values from it rather than
    /// storing them: one stream less to write in forward, and less memory.
    private var x: Tensor?
    private var y: Tensor?
    private var dx: Tensor?
    /// Per channel, the mean and 1/std the last forward normalised with, and the scale and offset
    /// it applied (y = x * scale + offset, clamped): backward recomputes y from them.
    private let usedMean: Tensor, invStd: Tensor, usedScale: Tensor, usedOffset: Tensor
    private var usedBatchStatistics = false
    /// Per channel: forward's batch means and sums of squared deviations (then the element count),
    /// backward's sums of dy and of dy * (x - mean). In double: processes add them up.
    private let sums: UnsafeMutableBufferPointer<Double>
    /// Elements per channel the last forward's statistics were over (all processes' if synchronised).
    private var elements = 0

    /// Processes whose batches together are the batch the statistics are taken over: the
    /// per-channel sums are added across them in forward and backward (one collective each per
    /// layer and step), so all of them normalise alike, keep the same running statistics, and
    /// compute the gradient one process would on the whole batch (PyTorch's SyncBatchNorm).
    /// Nil: this process's batch alone.
    public var synchronized: ProcessGroup?

    /// The cap of the ReLU (or ReLU6) fused into this norm, nil for none. A `Sequential` fuses a
    /// ReLU that directly follows: the norm clamps its own output to 0...cap and passes the
    /// gradient only where the clamp did, and the ReLU passes values through. That saves the
    /// ReLU's two passes over memory and its output tensor. The fusion is for good: the norm
    /// clamps its output even when called on its own. (A NaN output lets the gradient through,
    /// where a separate ReLU would block it; either way the loss is already NaN.)
    public private(set) var cap: Float? = nil

    func fuse(_ relu: ReLU) {
        cap = relu.cap
        relu.isFused = true
    }

    public init(channels: Int) {
        weight = Parameter(Tensor(shape: [channels], repeating: 1), decays: false)
        bias = Parameter(Tensor(shape: [channels]), decays: false)
        runningMean = Tensor(shape: [channels])
        runningVar = Tensor(shape: [channels], repeating: 1)
        usedMean = Tensor(shape: [channels]); invStd = Tensor(shape: [channels], repeating: 1)
        usedScale = Tensor(shape: [channels]); usedOffset = Tensor(shape: [channels])
        sums = .allocate(capacity: 2 * channels + 1)
        sums.initialize(repeating: 0)
    }

    deinit { sums.deallocate() }

    public var channels: Int { weight.value.count }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let n = x.shape[0], c = channels, hw = x.count / (n * c)
        precondition(x.shape[1] == c, "batch norm expects \(c) channels, got shape \(x.shape)")
        let out = Tensor.reuse(y, shape: x.shape)
        y = out; self.x = x
        usedBatchStatistics = training
        let src = x.data, dst = out.data
        let gamma = weight.value.data, beta = bias.value.data
        let rm = runningMean.data, rv = runningVar.data, eps = eps, momentum = momentum
        let istd = invStd.data, means = usedMean.data, scales = usedScale.data, offsets = usedOffset.data
        let (low, high) = clampBounds(cap)
        // Per channel, the batch mean and the sum of squared deviations from it.
        let means64 = sums.baseAddress!, squares64 = means64 + c
        var m = n * hw
        if training {
            engine.forEachPiece(of: c, pieces: c) { items, _ in
                for ch in items {
                    // One pass of sums shifted by the channel's first value (which keeps them small
                    // next to the spread), per plane in float, across the batch in double.
                    let shift = src[ch * hw]
                    var s: Double = 0, q: Double = 0
                    for i in 0..<n {
                        var ps: Float = 0, pq: Float = 0
                        isp_shifted_sums(src + (i * c + ch) * hw, Int64(hw), shift, &ps, &pq)
                        s += Double(ps); q += Double(pq)
                    }
                    let shiftedMean = s / Double(m)
                    means64[ch] = Double(shift) + shiftedMean; squares64[ch] = max(q - s * shiftedMean, 0)
                }
            }
            if let group = synchronized { m = combine(over: group, elements: m) }
        }
        elements = m
        engine.forEachPiece(of: c, pieces: c) { items, _ in
            for ch in items {
                var mean: Float = 0, variance: Float = 0
                if training {
                    let squares = squares64[ch]
                    mean = Float(means64[ch]); variance = Float(squares / Double(m))
                    let unbiased = m > 1 ? Float(squares / Double(m - 1)) : variance
                    rm[ch] = (1 - momentum) * rm[ch] + momentum * mean
                    rv[ch] = (1 - momentum) * rv[ch] + momentum * unbiased
                } else {
                    mean = rm[ch]; variance = rv[ch]
                }
                let inv = 1 / (variance + eps).squareRoot()
                let scale = gamma[ch] * inv, offset = beta[ch] - mean * scale
                istd[ch] = inv; means[ch] = mean; scales[ch] = scale; offsets[ch] = offset
                for i in 0..<n {
                    let off = (i * c + ch) * hw
                    isp_normalize(src + off, dst + off, Int64(hw), scale, offset, low, high)
                }
            }
        }
        if training { batchesTracked += 1 }
        return out
    }

    /// Every process's per-channel mean and squared deviations (in `sums`, over `elements` each)
    /// turned into the whole batch's, and the whole batch's element count. Sums of squares about
    /// zero are added in double, which keeps the digits that subtracting the mean cancels.
    private func combine(over group: ProcessGroup, elements: Int) -> Int {
        let c = channels, means = sums.baseAddress!, squares = means + c, m = Double(elements)
        for ch in 0..<c {
            squares[ch] += m * means[ch] * means[ch]
            means[ch] *= m
        }
        means[2 * c] = m
        group.sumAll(means, count: 2 * c + 1)
        let total = means[2 * c]
        for ch in 0..<c {
            means[ch] /= total
            squares[ch] = max(squares[ch] - total * means[ch] * means[ch], 0)
        }
        return Int(total)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let input = x!
        let n = dy.shape[0], c = channels, hw = dy.count / (n * c)
        let g = Tensor.reuse(dx, shape: dy.shape)
        dx = g
        let d = dy.data, src = input.data, gx = g.data
        let gg = weight.grad.data, gb = bias.grad.data
        let batchStats = usedBatchStatistics
        let istd = invStd.data, means = usedMean.data, scales = usedScale.data, offsets = usedOffset.data
        // With a fused ReLU, dy reaches the norm only where its output lies strictly inside 0...cap.
        let (low, high) = clampBounds(cap)
        // Per channel, the sums of dy and of dy * (x - mean) over this process's batch.
        let sums = sums.baseAddress!
        engine.forEachPiece(of: c, pieces: c) { items, _ in
            for ch in items {
                let mean = means[ch], scale = scales[ch], offset = offsets[ch]
                var sumDy: Float = 0, sumDyCentred: Float = 0
                for i in 0..<n {
                    let off = (i * c + ch) * hw
                    var s: Float = 0, centred: Float = 0
                    isp_normalize_sums(d + off, src + off, Int64(hw), scale, offset, low, high, mean, &s, &centred)
                    sumDy += s; sumDyCentred += centred
                }
                // The parameters' gradients over this batch; processes add theirs up with the others.
                gb[ch] += sumDy
                gg[ch] += sumDyCentred * istd[ch]
                sums[ch] = Double(sumDy); sums[c + ch] = Double(sumDyCentred)
            }
        }
        // The input's gradient needs the sums over the whole batch when its statistics were.
        if batchStats { synchronized?.sumAll(sums, count: 2 * c) }
        let m = Float(elements)
        engine.forEachPiece(of: c, pieces: c) { items, _ in
            for ch in items {
                let mean = means[ch], inv = istd[ch], scale = scales[ch], offset = offsets[ch]
                let sumDy = Float(sums[ch]), sumDyXhat = Float(sums[c + ch]) * inv
                // With batch statistics the mean and variance depend on x too; in eval mode they are constants.
                let meanDy = batchStats ? sumDy / m : 0, meanDyXhat = batchStats ? sumDyXhat / m : 0
                let slope = inv * meanDyXhat
                for i in 0..<n {
                    let off = (i * c + ch) * hw
                    isp_normalize_backward(d + off, src + off, gx + off, Int64(hw), scale, offset, low, high, meanDy, mean, slope)
                }
            }
        }
        return g
    }

    public var parameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }
    public var buffers: [(name: String, tensor: Tensor)] { [("running_mean", runningMean), ("running_var", runningVar)] }
    public var lastOutputShape: [Int] { y?.shape ?? [] }
}
