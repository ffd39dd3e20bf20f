import CKernels

/// Max pooling with a square window; positions in the padding never win (PyTorch pads with
/// -infinity). In training, remembers the winner of each window for the backward pass (in
/// evaluation mode, backward finds them from the input it keeps).
public final class MaxPool2d: Layer, RunsOnEngine {
    public var engine = Engine.default
    public let kernel: Int, stride: Int, padding: Int
    private var y: Tensor?
    private var dx: Tensor?
    private var argmax: [Int32] = []
    private var inputShape: [Int] = []
    private var hasWinners = false
    private var input: Tensor?

    public init(kernel: Int = 2, stride: Int = 2, padding: Int = 0) {
        precondition(padding <= kernel / 2, "a window must overlap the input (padding at most half the kernel)")
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }

    /// Windows along a side of `size` (0 when not even one fits, as PyTorch's floor division says).
    public func outputSize(_ size: Int) -> Int { size + 2 * padding < kernel ? 0 : (size + 2 * padding - kernel) / stride + 1 }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        inputShape = x.shape
        let out = Tensor.reuse(y, shape: [x.shape[0], x.shape[1], outputSize(x.shape[2]), outputSize(x.shape[3])])
        y = out
        if argmax.count < out.count { argmax = [Int32](repeating: 0, count: out.count) }
        input = x
        run(x, into: out, winners: training)
        return out
    }

    /// Pools x into out on the engine's threads, with the winners for backward or without (faster).
    private func run(_ x: Tensor, into out: Tensor, winners: Bool) {
        let planes = x.shape[0] * x.shape[1], ih = x.shape[2], iw = x.shape[3]
        let src = UnsafePointer(x.data), dst = out.data, isa = engine.isa.kernel
        argmax.withUnsafeMutableBufferPointer { am in
            let am = winners ? am.baseAddress! : nil
            engine.forEachShare(of: planes, minimumPerShare: 16) { r, _ in
                pool(src, planes: r, height: ih, width: iw, into: dst, winners: am, isa: isa)
            }
        }
        hasWinners = winners
    }

    /// Pools the planes `planes` of x (each ih x iw) into `out`, the pooling of training and of
    /// batch-1 inference alike. Without `winners`, VGG16's 2x2 stride-2 pools and ResNet's 3x3
    /// stride-2 stem pool run on the vector kernels (`isp_max_pool_2x2`, `isp_max_pool_3x3_stride2`)
    /// with `isa`; with `winners` (for the backward pass), or any other window, window by window,
    /// each window's winning input index stored when asked for.
    func pool(_ x: UnsafePointer<Float>, planes: Range<Int>, height ih: Int, width iw: Int, into out: UnsafeMutablePointer<Float>,
              winners: UnsafeMutablePointer<Int32>?, isa: isp_isa) {
        let k = kernel, s = stride, p = padding, oh = outputSize(ih), ow = outputSize(iw)
        let from = x + planes.lowerBound * ih * iw, to = out + planes.lowerBound * oh * ow
        if winners == nil && k == 2 && s == 2 && p == 0 {
            isp_max_pool_2x2(isa, from, Int32(planes.count), Int32(ih), Int32(iw), to)
            return
        }
        if winners == nil && k == 3 && s == 2 && p == 1 {
            isp_max_pool_3x3_stride2(isa, from, Int32(planes.count), Int32(ih), Int32(iw), to)
            return
        }
        for pl in planes {
            let xin = x + pl * ih * iw, o = out + pl * oh * ow, won = winners.map { $0 + pl * oh * ow }
            for oy in 0..<oh {
                let line = o + oy * ow
                if k == 2 && s == 2 && p == 0 {  // VGG16's pools in training: no inner loops
                    for ox in 0..<ow {
                        let i = 2 * oy * iw + 2 * ox
                        var best = xin[i], bestIndex = i
                        if xin[i + 1] > best { best = xin[i + 1]; bestIndex = i + 1 }
                        if xin[i + iw] > best { best = xin[i + iw]; bestIndex = i + iw }
                        if xin[i + iw + 1] > best { best = xin[i + iw + 1]; bestIndex = i + iw + 1 }
                        line[ox] = best
                        won?[oy * ow + ox] = Int32(bestIndex)
                    }
                    continue
                }
                let rows = poolingWindow(oy, kernel: k, stride: s, padding: p, size: ih)
                for ox in 0..<ow {
                    let columns = poolingWindow(ox, kernel: k, stride: s, padding: p, size: iw)
                    var best = -Float.infinity, bestIndex = rows.lowerBound * iw + columns.lowerBound
                    for iy in rows {
                        for ix in columns where xin[iy * iw + ix] > best { best = xin[iy * iw + ix]; bestIndex = iy * iw + ix }
                    }
                    line[ox] = best
                    won?[oy * ow + ox] = Int32(bestIndex)
                }
            }
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        // An evaluation-mode forward pass skipped the winners: find them now, from the same input.
        if !hasWinners, let input, let y { run(input, into: y, winners: true) }
        let g = Tensor.reuse(dx, shape: inputShape)
        dx = g
        let planes = inputShape[0] * inputShape[1], inPlane = inputShape[2] * inputShape[3]
        let outPlane = dy.count / planes, d = dy.data, gx = g.data
        argmax.withUnsafeBufferPointer { am in
            engine.forEachShare(of: planes, minimumPerShare: 16) { r, _ in
                (gx + r.lowerBound * inPlane).update(repeating: 0, count: r.count * inPlane)
                for pl in r {
                    for o in 0..<outPlane { gx[pl * inPlane + Int(am[pl * outPlane + o])] += d[pl * outPlane + o] }
                }
            }
        }
        return g
    }

    public var lastOutputShape: [Int] { y?.shape ?? [] }
}

/// The input rows (or columns) under window `o` of a pooling layer, clipped to the input.
@inline(__always)
func poolingWindow(_ o: Int, kernel k: Int, stride s: Int, padding p: Int, size: Int) -> Range<Int> {
    max(0, o * s - p)..<min(size, o * s - p + k)
}

/// The input rows (or columns) averaged into output `o` of `outputs` by adaptive average pooling:
/// PyTorch's bins, floor(o * n / outputs) ..< ceil((o + 1) * n / outputs). They overlap when the
/// input is not a multiple of the output, and repeat input pixels when it is smaller.
@inline(__always)
func adaptiveBin(_ o: Int, outputs: Int, size n: Int) -> Range<Int> {
    (o * n / outputs)..<(((o + 1) * n + outputs - 1) / outputs)
}

/// Adaptive average pooling to a fixed `size` x `size` map whatever the input size (VGG16's
/// ImageNet variant: 7x7 before its first linear layer).
public final class AdaptiveAvgPool2d: Layer {
    public let size: Int
    private var y: Tensor?
    private var dx: Tensor?
    private var inputShape: [Int] = []

    public init(size: Int) { self.size = size }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        inputShape = x.shape
        let out = Tensor.reuse(y, shape: [x.shape[0], x.shape[1], size, size])
        y = out
        adaptiveAveragePool(x.data, planes: x.shape[0] * x.shape[1], height: x.shape[2], width: x.shape[3], size: size, into: out.data)
        return out
    }

    /// Each output's gradient is shared equally by the pixels of its bin.
    public func backward(_ dy: Tensor) -> Tensor {
        let g = Tensor.reuse(dx, shape: inputShape)
        dx = g
        g.zero()
        let planes = inputShape[0] * inputShape[1], ih = inputShape[2], iw = inputShape[3], n = size
        for pl in 0..<planes {
            let gx = g.data + pl * ih * iw, d = dy.data + pl * n * n
            for oy in 0..<n {
                let rows = adaptiveBin(oy, outputs: n, size: ih)
                for ox in 0..<n {
                    let columns = adaptiveBin(ox, outputs: n, size: iw)
                    let v = d[oy * n + ox] / Float(rows.count * columns.count)
                    for iy in rows { for ix in columns { gx[iy * iw + ix] += v } }
                }
            }
        }
        return g
    }

    public var lastOutputShape: [Int] { y?.shape ?? [] }
}

/// The forward pass of `AdaptiveAvgPool2d` on `planes` planes (shared with inference).
func adaptiveAveragePool(_ x: UnsafePointer<Float>, planes: Int, height ih: Int, width iw: Int, size n: Int,
                         into out: UnsafeMutablePointer<Float>) {
    for pl in 0..<planes {
        let xin = x + pl * ih * iw, o = out + pl * n * n
        for oy in 0..<n {
            let rows = adaptiveBin(oy, outputs: n, size: ih)
            for ox in 0..<n {
                let columns = adaptiveBin(ox, outputs: n, size: iw)
                var acc: Float = 0
                for iy in rows { for ix in columns { acc += xin[iy * iw + ix] } }
                o[oy * n + ox] = acc / Float(rows.count * columns.count)
            }
        }
    }
}

/// Mean over each channel's H x W: N x C x H x W -> N x C.
public final class GlobalAvgPool: Layer {
    private var y: Tensor?
    private var dx: Tensor?
    private var inputShape: [Int] = []

    public init() {}

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3]
        let out = Tensor.reuse(y, shape: [x.shape[0], x.shape[1]])
        y = out
        isp_plane_means(x.data, Int64(planes), Int64(hw), out.data)
        return out
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let g = Tensor.reuse(dx, shape: inputShape)
        dx = g
        let planes = inputShape[0] * inputShape[1], hw = inputShape[2] * inputShape[3]
        let scale = 1 / Float(hw)
        for pl in 0..<planes { (g.data + pl * hw).update(repeating: dy.data[pl] * scale, count: hw) }
        return g
    }

    public var lastOutputShape: [Int] { y?.shape ?? [] }
}
