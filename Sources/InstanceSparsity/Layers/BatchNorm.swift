import CKernels

/// Batch normalisation over (N, H, W) per channel. Training uses batch statistics and updates
/// the running ones (momentum 0.1, unbiased variance, as PyTorch); evaluation uses the running ones.
public final class BatchNorm2d: Layer {
    public let weight: Parameter  // gamma
    public let bias: Parameter    // beta
    public let runningMean: Tensor
    public let runningVar: Tensor
    public var batchesTracked: Int64 = 0
    public let eps: Float = 1e-5
    public let momentum: Float = 0.1

    private var xhat: Tensor?
    private var y: Tensor?
    private var dx: Tensor?
    private var invStd: [Float]
    private var usedBatchStatistics = false

    public init(channels: Int) {
        weight = Parameter(Tensor(shape: [channels], repeating: 1), decays: false)
        bias = Parameter(Tensor(shape: [channels]), decays: false)
        runningMean = Tensor(shape: [channels])
        runningVar = Tensor(shape: [channels], repeating: 1)
        invStd = [Float](repeating: 1, count: channels)
    }

    public var channels: Int { weight.value.count }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let n = x.shape[0], c = channels, hw = x.count / (n * c), m = n * hw
        precondition(x.shape[1] == c, "batch norm expects \(c) channels, got shape \(x.shape)")
        let out = Tensor.reuse(y, shape: x.shape), xh = Tensor.reuse(xhat, shape: x.shape)
        y = out; xhat = xh
        usedBatchStatistics = training
        let src = x.data, dst = out.data, xhp = xh.data
        let gamma = weight.value.data, beta = bias.value.data
        let rm = runningMean.data, rv = runningVar.data, eps = eps, momentum = momentum
        invStd.withUnsafeMutableBufferPointer { istd in
            let istd = istd.baseAddress!
            parallelFor(c) { ch in
                var mean: Float = 0, variance: Float = 0
                if training {
                    // Per-plane float sums, added up in double across the batch.
                    var s: Double = 0
                    for i in 0..<n { s += Double(isp_sum(src + (i * c + ch) * hw, Int64(hw))) }
                    let mu = s / Double(m)
                    var v: Double = 0
                    for i in 0..<n { v += Double(isp_squared_deviations(src + (i * c + ch) * hw, Int64(hw), Float(mu))) }
                    mean = Float(mu); variance = Float(v / Double(m))
                    let unbiased = m > 1 ? Float(v / Double(m - 1)) : variance
                    rm[ch] = (1 - momentum) * rm[ch] + momentum * mean
                    rv[ch] = (1 - momentum) * rv[ch] + momentum * unbiased
                } else {
                    mean = rm[ch]; variance = rv[ch]
                }
                let inv = 1 / (variance + eps).squareRoot()
                istd[ch] = inv
                let g = gamma[ch], b = beta[ch]
                for i in 0..<n {
                    let off = (i * c + ch) * hw
                    for j in 0..<hw {
                        let v = (src[off + j] - mean) * inv
                        xhp[off + j] = v
                        dst[off + j] = v * g + b
                    }
                }
            }
        }
        if training { batchesTracked += 1 }
        return out
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let xh = xhat!
        let n = dy.shape[0], c = channels, hw = dy.count / (n * c), m = Float(n * hw)
        let g = Tensor.reuse(dx, shape: dy.shape)
        dx = g
        let d = dy.data, xhp = xh.data, gx = g.data
        let gamma = weight.value.data, gg = weight.grad.data, gb = bias.grad.data
        let batchStats = usedBatchStatistics
        invStd.withUnsafeBufferPointer { istd in
            parallelFor(c) { ch in
                var sumDy: Float = 0, sumDyXhat: Float = 0
                for i in 0..<n {
                    let off = (i * c + ch) * hw
                    sumDy += isp_sum(d + off, Int64(hw))
                    sumDyXhat += isp_dot(d + off, xhp + off, Int64(hw))
                }
                gb[ch] += sumDy
                gg[ch] += sumDyXhat
                let scale = gamma[ch] * istd[ch]
                // With batch statistics the mean and variance depend on x too; in eval mode they are constants.
                let meanDy = batchStats ? sumDy / m : 0, meanDyXhat = batchStats ? sumDyXhat / m : 0
                for i in 0..<n {
                    let off = (i * c + ch) * hw
                    for j in 0..<hw { gx[off + j] = scale * (d[off + j] - meanDy - xhp[off + j] * meanDyXhat) }
                }
            }
        }
        return g
    }

    public var parameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }
    public var buffers: [(name: String, tensor: Tensor)] { [("running_mean", runningMean), ("running_var", runningVar)] }
    public var lastOutputShape: [Int] { y?.shape ?? [] }
}
