import Dispatch

/// The inference-only form of the network's operations: batch norm folded into the convolution,
/// the activation fused into its epilogue, buffers allocated once. One image at a time, because
/// the kept channels differ per image.

/// Per-image state threaded through the steps: which input channels the next convolution may
/// read (set by a gate), constants of skipped depthwise channels, and the MACs executed so far.
final class RunContext {
    var keep: UnsafeMutablePointer<Int32>
    var keepCount: Int? = nil
    /// For channels a depthwise convolution skipped: the constant its output plane holds.
    var skippedConstant: UnsafeMutablePointer<Float>
    var hasSkippedConstants = false
    var macs = 0
    /// Split large convolutions across cores (batch-1 latency); off when each core runs its own image.
    var useAllCores = true
    var decide: ((Int, UnsafePointer<Float>, Int, UnsafeMutablePointer<Int32>) -> Int)? = nil
    var keptPerGate: [Int]
    /// Seconds spent in each step when profiling (indexed by `InferenceStep.id`).
    var profile: [Double]? = nil

    /// Runs one step, timing it when profiling.
    @inline(__always)
    func execute(_ step: InferenceStep, _ x: Tensor) -> Tensor {
        guard profile != nil else { return step.run(x, self) }
        let start = DispatchTime.now().uptimeNanoseconds
        let y = step.run(x, self)
        profile![step.id] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return y
    }

    init(maxChannels: Int, gates: Int) {
        keep = .allocate(capacity: maxChannels)
        skippedConstant = .allocate(capacity: maxChannels)
        keptPerGate = [Int](repeating: 0, count: gates)
    }

    deinit { keep.deallocate(); skippedConstant.deallocate() }
}

protocol InferenceStep: AnyObject {
    /// Position in the executor's flat list of steps, and a name for profiles.
    var id: Int { get set }
    var label: String { get set }
    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor
}

@inline(__always)
func activate(_ v: Float, _ cap: Float?) -> Float {
    guard let cap else { return v }
    return Swift.min(Swift.max(v, 0), cap)
}

/// Convolution + folded batch norm + optional ReLU/ReLU6. When the preceding gate dropped input
/// channels it unrolls and multiplies only the kept ones: im2col rows and weight rows of dropped
/// channels are never touched.
final class FusedConv: InferenceStep {
    var id = 0, label = ""
    let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, groups: Int
    let cap: Float?
    /// outChannels x (inChannels/groups * k * k), BN folded.
    let weight: [Float]
    /// (inChannels * k * k) x outChannels: the same weights with each input channel's rows
    /// contiguous, so gathering the kept channels is a few block copies.
    let weightByInput: [Float]
    let bias: Tensor
    let panels: WeightPanels?
    private let out = Tensor(shape: [0]), col = Tensor(shape: [0]), gathered = Tensor(shape: [0])
    private let imageBias: Tensor

    init(conv: Conv2d, bn: BatchNorm2d?, cap: Float?) {
        inChannels = conv.inChannels; outChannels = conv.outChannels; kernel = conv.kernel
        stride = conv.stride; padding = conv.padding; groups = conv.groups; self.cap = cap
        let rows = conv.inChannels / conv.groups * conv.kernel * conv.kernel
        var w = conv.weight.value.array, b = conv.bias?.value.array ?? [Float](repeating: 0, count: outChannels)
        if let bn {
            for o in 0..<outChannels {
                let scale = bn.weight.value[o] / (bn.runningVar[o] + bn.eps).squareRoot()
                for j in 0..<rows { w[o * rows + j] *= scale }
                b[o] = (b[o] - bn.runningMean[o]) * scale + bn.bias.value[o]
            }
        }
        weight = w; bias = Tensor(shape: [outChannels], values: b); imageBias = bias.copy()
        var t = [Float](repeating: 0, count: w.count)
        if groups == 1 { for o in 0..<outChannels { for j in 0..<rows { t[j * outChannels + o] = w[o * rows + j] } } }
        weightByInput = groups == 1 ? t : []
        panels = groups == 1 ? WeightPanels(weights: w, outChannels: outChannels, rows: rows) : nil
    }

    var isDepthwise: Bool { groups == inChannels && groups == outChannels && groups > 1 }

    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor {
        let ih = x.shape[2], iw = x.shape[3]
        let oh = (ih + 2 * padding - kernel) / stride + 1, ow = (iw + 2 * padding - kernel) / stride + 1
        out.resize([1, outChannels, oh, ow])
        if isDepthwise { depthwise(x, ih, iw, oh, ow, ctx) } else { dense(x, ih, iw, oh, ow, ctx) }
        return out
    }

    private func dense(_ x: Tensor, _ ih: Int, _ iw: Int, _ oh: Int, _ ow: Int, _ ctx: RunContext) {
        let hw = oh * ow, kk = kernel * kernel, cig = inChannels / groups, cog = outChannels / groups
        // Constants of skipped depthwise channels reach this 1x1 convolution as an extra bias.
        var biasPointer = bias.data
        if ctx.hasSkippedConstants, let kc = ctx.keepCount {
            imageBias.copy(from: bias)
            var k = 0
            for c in 0..<inChannels {
                if k < kc && Int(ctx.keep[k]) == c { k += 1; continue }
                let v = ctx.skippedConstant[c]
                if v != 0 { for o in 0..<outChannels { imageBias[o] += weight[o * inChannels + c] * v } }
            }
            ctx.macs += outChannels * (inChannels - kc)
            biasPointer = imageBias.data
        }
        if let panels, hw <= FusedConv.pixelKernelLimit {
            // Small maps: stream the kept channels' weight rows through the pixel kernel.
            let kc = ctx.keepCount ?? inChannels
            let direct = kernel == 1 && stride == 1 && padding == 0 && ctx.keepCount == nil
            if !direct { im2col(x, channels: ctx.keepCount == nil ? nil : ctx.keep, count: kc, ih, iw, oh, ow) }
            let columns = direct ? x.data : col.data, keep: UnsafePointer<Int32>? = ctx.keepCount == nil ? nil : UnsafePointer(ctx.keep)
            let cap = cap, o = out.data, b = UnsafePointer(biasPointer)
            let macs = outChannels * hw * kc * kk
            panels.data.withUnsafeBufferPointer { wp in
                let body = { (tiles: Range<Int>) in
                    pixelGEMM(pixels: hw, panels: wp.baseAddress!, rows: panels.rows, outChannels: self.outChannels,
                              tiles: tiles, channels: keep, channelCount: kc, rowsPerChannel: kk,
                              col: columns, bias: b, cap: cap, out: o)
                }
                if ctx.useAllCores && macs >= FusedConv.parallelThreshold && panels.tiles >= 2 {
                    parallelRanges(panels.tiles) { body($0) }
                } else {
                    body(0..<panels.tiles)
                }
            }
            ctx.macs += macs
            ctx.keepCount = nil
            ctx.hasSkippedConstants = false
            return
        } else if let kc = ctx.keepCount, groups == 1 {
            let rows = kc * kk
            im2col(x, channels: ctx.keep, count: kc, ih, iw, oh, ow)
            gathered.resize([rows, outChannels])
            weightByInput.withUnsafeBufferPointer { wt in
                for (i, c) in UnsafeBufferPointer(start: ctx.keep, count: kc).enumerated() {
                    (gathered.data + i * kk * outChannels).update(from: wt.baseAddress! + Int(c) * kk * outChannels,
                                                                  count: kk * outChannels)
                }
            }
            let columns = col.data
            multiply(macs: outChannels * hw * rows, hw: hw, ctx: ctx) { r in
                gemm(transA: true, m: self.outChannels, n: r.count, k: rows, a: self.gathered.data, lda: self.outChannels,
                     b: columns + r.lowerBound, ldb: hw, c: self.out.data + r.lowerBound, ldc: hw)
            }
            ctx.macs += outChannels * hw * rows
        } else {
            precondition(ctx.keepCount == nil, "grouped convolutions cannot follow a pruned map")
            let rows = cig * kk
            for g in 0..<groups {
                let direct = kernel == 1 && stride == 1 && padding == 0 && groups == 1
                if !direct { im2col(x, channels: nil, count: cig, ih, iw, oh, ow, firstChannel: g * cig) }
                let b = direct ? x.data : col.data
                weight.withUnsafeBufferPointer { w in
                    multiply(macs: cog * hw * rows, hw: hw, ctx: ctx) { r in
                        gemm(m: cog, n: r.count, k: rows, a: w.baseAddress! + g * cog * rows, lda: rows,
                             b: b + r.lowerBound, ldb: hw, c: self.out.data + g * cog * hw + r.lowerBound, ldc: hw)
                    }
                }
            }
            ctx.macs += outChannels * hw * rows
        }
        epilogue(biasPointer, hw, ctx)
        ctx.keepCount = nil
        ctx.hasSkippedConstants = false
    }

    /// Runs `body(pixels)` over all output pixels, split across cores when the product is large
    /// enough to repay the dispatch. Splitting pixels (not output channels) keeps each core's GEMM
    /// as tall as the layer: OpenBLAS is slow on the few-row halves a channel split gives early layers.
    private func multiply(macs: Int, hw: Int, ctx: RunContext, _ body: (Range<Int>) -> Void) {
        if ctx.useAllCores && macs >= FusedConv.parallelThreshold && hw >= 128 {
            parallelRanges(hw / 16, minimumPerTask: 4) { r in body((r.lowerBound * 16)..<(r.upperBound == hw / 16 ? hw : r.upperBound * 16)) }
        } else {
            body(0..<hw)
        }
    }

    /// MACs above which a batch-1 convolution is split across cores (measured with `isp bench`).
    static var parallelThreshold = 1 << 20
    /// Output maps with at most this many pixels use `pixelGEMM` instead of OpenBLAS.
    /// (Measured on VGG16 width 0.5: 3.98 ms with the pixel kernel up to 8x8 maps vs 4.45 ms with
    /// OpenBLAS everywhere; OpenBLAS stays ahead on 16x16 and 32x32 maps.)
    static var pixelKernelLimit = 64

    private func epilogue(_ b: UnsafePointer<Float>, _ hw: Int, _ ctx: RunContext) {
        let o = out.data, cap = cap
        for c in 0..<outChannels {
            let p = o + c * hw, v = b[c]
            if let cap { for j in 0..<hw { p[j] = Swift.min(Swift.max(p[j] + v, 0), cap) } } else { for j in 0..<hw { p[j] += v } }
        }
    }

    /// Unrolls the listed input channels (all when `channels` is nil) of one image.
    private func im2col(_ x: Tensor, channels: UnsafeMutablePointer<Int32>?, count: Int, _ ih: Int, _ iw: Int,
                        _ oh: Int, _ ow: Int, firstChannel: Int = 0) {
        col.resize([count * kernel * kernel, oh * ow])
        InstanceSparsity.im2col(image: x.data, inHeight: ih, inWidth: iw, kernel: kernel, stride: stride, padding: padding,
                                outHeight: oh, outWidth: ow, channels: channels, firstChannel: firstChannel, count: count,
                                into: col.data, rowStride: oh * ow)
    }

    /// Depthwise: kept channels are convolved; a skipped channel's input is zero, so its output is
    /// the constant activation(bias), written out and passed on to the next 1x1 convolution.
    private func depthwise(_ x: Tensor, _ ih: Int, _ iw: Int, _ oh: Int, _ ow: Int, _ ctx: RunContext) {
        let k = kernel, s = stride, p = padding, hw = oh * ow, c = inChannels
        let src = x.data, dst = out.data, cap = cap
        var computed = [Bool](repeating: ctx.keepCount == nil, count: c)
        if let kc = ctx.keepCount { for i in 0..<kc { computed[Int(ctx.keep[i])] = true } }
        weight.withUnsafeBufferPointer { w in
            do {
                let b = bias.data
                let work = { (ch: Int) in
                    let yout = dst + ch * hw
                    guard computed[ch] else {
                        let v = activate(b[ch], cap)
                        yout.update(repeating: v, count: hw)
                        ctx.skippedConstant[ch] = v
                        return
                    }
                    depthwisePlane(input: src + ch * ih * iw, weights: w.baseAddress! + ch * k * k, bias: b[ch],
                                   inHeight: ih, inWidth: iw, kernel: k, stride: s, padding: p, outHeight: oh, outWidth: ow) {
                        yout[$0] = activate($1, cap)
                    }
                }
                if ctx.useAllCores && c * hw * k * k >= FusedConv.parallelThreshold / 4 {
                    parallelRanges(c, minimumPerTask: 8) { r in for ch in r { work(ch) } }
                } else {
                    for ch in 0..<c { work(ch) }
                }
            }
        }
        let kept = ctx.keepCount ?? c
        ctx.macs += kept * hw * k * k
        // The kept list stays set: the projection that follows reads only these channels.
        ctx.hasSkippedConstants = ctx.keepCount != nil
    }
}

/// Where a gate sits: measures each channel's saliency and lets the policy pick what to keep.
final class GateStep: InferenceStep {
    var id = 0, label = ""
    let index: Int
    let saliency = Tensor(shape: [0])

    init(index: Int) { self.index = index }

    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor {
        let c = x.shape[1], hw = x.shape[2] * x.shape[3]
        saliency.resize([c])
        let scale = 1 / Float(hw).squareRoot()
        for ch in 0..<c {
            let p = x.data + ch * hw
            var acc: Float = 0
            for j in 0..<hw { acc += p[j] * p[j] }
            saliency[ch] = acc.squareRoot() * scale
        }
        if let decide = ctx.decide {
            ctx.macs += c * hw  // measuring saliency is work too
            let kept = decide(index, saliency.data, c, ctx.keep)
            ctx.keptPerGate[index] = kept
            ctx.keepCount = kept < c ? kept : nil
        } else {
            ctx.keptPerGate[index] = c
        }
        return x
    }
}

final class MaxPoolStep: InferenceStep {
    var id = 0, label = ""
    let kernel: Int, stride: Int
    private let out = Tensor(shape: [0])
    init(kernel: Int, stride: Int) { self.kernel = kernel; self.stride = stride }

    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor {
        let c = x.shape[1], ih = x.shape[2], iw = x.shape[3]
        let oh = (ih - kernel) / stride + 1, ow = (iw - kernel) / stride + 1
        out.resize([1, c, oh, ow])
        for ch in 0..<c {
            let xin = x.data + ch * ih * iw, o = out.data + ch * oh * ow
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var best = -Float.infinity
                    for ky in 0..<kernel { for kx in 0..<kernel { best = Swift.max(best, xin[(oy * stride + ky) * iw + ox * stride + kx]) } }
                    o[oy * ow + ox] = best
                }
            }
        }
        return out
    }
}

final class GlobalAvgPoolStep: InferenceStep {
    var id = 0, label = ""
    private let out = Tensor(shape: [0])
    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor {
        let c = x.shape[1], hw = x.shape[2] * x.shape[3]
        out.resize([1, c])
        for ch in 0..<c {
            var acc: Float = 0
            for j in 0..<hw { acc += x.data[ch * hw + j] }
            out[ch] = acc / Float(hw)
        }
        return out
    }
}

final class LinearStep: InferenceStep {
    var id = 0, label = ""
    let weight: [Float], bias: [Float], inFeatures: Int, outFeatures: Int
    private let out = Tensor(shape: [0])
    init(_ l: Linear) {
        weight = l.weight.value.array; bias = l.bias.value.array
        inFeatures = l.weight.value.shape[1]; outFeatures = l.weight.value.shape[0]
    }

    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor {
        out.resize([1, outFeatures])
        for o in 0..<outFeatures {
            var acc = bias[o]
            for i in 0..<inFeatures { acc += weight[o * inFeatures + i] * x[i] }
            out[o] = acc
        }
        ctx.macs += inFeatures * outFeatures
        return out
    }
}

/// activation(branch(x) + shortcut(x)).
final class ResidualStep: InferenceStep {
    var id = 0, label = ""
    let branch: [InferenceStep], shortcut: [InferenceStep]?, relu: Bool
    private let out = Tensor(shape: [0])
    init(branch: [InferenceStep], shortcut: [InferenceStep]?, relu: Bool) {
        self.branch = branch; self.shortcut = shortcut; self.relu = relu
    }

    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor {
        let main = branch.reduce(x) { ctx.execute($1, $0) }
        let side = shortcut?.reduce(x) { ctx.execute($1, $0) } ?? x
        out.resize(main.shape)
        let a = main.data, b = side.data, o = out.data
        if relu { for i in 0..<out.count { o[i] = Swift.max(a[i] + b[i], 0) } } else { for i in 0..<out.count { o[i] = a[i] + b[i] } }
        return out
    }
}
