import CKernels

/// 2-D convolution over NCHW, square kernel, with stride, zero padding, groups and optional bias.
///
/// Shapes: x is N x C x H x W, the weights outChannels x (C / groups) x k x k, y is N x outChannels
/// x outH x outW with outH = (H + 2 padding - k) / stride + 1. `ConvolutionPlan` decides which
/// algorithm runs each direction; below, one function per algorithm and direction:
/// - tiled (the batch-1 micro-kernel, `TiledConvolution`): forward with images claimed by whichever
///   core is free, several images per call on maps under 8 wide; the input gradient as a forward
///   convolution of dy; the weight gradient on a kernel over the same input layout, each core
///   summing a fixed share of the images so the result does not depend on timing.
/// - gemm: a chunk of images is unrolled (im2col) into a matrix whose rows are (input channel, ky,
///   kx) and whose columns are (image, output pixel), so tiny feature maps still give OpenBLAS
///   wide matrices; col2im brings the input gradient back.
/// - depthwise (groups == channels): too little work per channel for GEMM; direct loops per plane,
///   forward and one backward pass for both gradients.
/// - winograd (3x3, stride 1, padding 1; `WinogradConvolution`): F(2x2, 3x3), 16 multiply-adds per
///   input channel and 2x2 output pixels instead of 36, in all three directions: the forward pass,
///   the input gradient as the forward convolution of dy with the weights transposed and flipped,
///   and the weight gradient summed over the tiles in the transformed domain.
public final class Conv2d: Layer, RunsOnEngine {
    public let weight: Parameter  // outChannels x (inChannels / groups) x k x k
    public let bias: Parameter?
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, groups: Int
    public var engine = Engine.default

    /// False for a network's first layer: nobody reads the gradient of the images, so `backward`
    /// computes only the parameter gradients and returns an empty tensor.
    public var propagatesGradient = true

    private var x: Tensor?
    private var y: Tensor?
    private var dx: Tensor?
    private var inH = 0, inW = 0, outH = 0, outW = 0

    /// On the GEMM path, output maps of at least this many pixels get one GEMM per image (wide
    /// enough on their own), which writes NCHW directly instead of going through a scatter copy.
    static let perImageColumns = 256

    /// Column-buffer budget in floats; bounds memory while keeping GEMMs wide.
    private static let columnBudget = 1 << 22

    /// Forward on the micro-kernel: its weights, re-arranged every pass, one convolution per thread
    /// of the engine (each keeps its own staging), and the bias it adds (zeros when the layer has none).
    private lazy var panels = WeightPanels(outChannels: outChannels, rows: inChannels * kernel * kernel)
    private lazy var tiledPerThread = (0..<engine.threads).map { _ in
        TiledConvolution(inChannels: inChannels, kernel: kernel, stride: stride, padding: padding, batched: true)
    }
    private lazy var zeroBias = Tensor(shape: [outChannels])

    /// The input gradient on the micro-kernel: dy convolved with the weights transposed (input and
    /// output channels swapped) and flipped, padded k - 1 - p; no column matrix to scatter back.
    private lazy var flippedPanels = WeightPanels(outChannels: inChannels, rows: outChannels * kernel * kernel)
    private lazy var tiledBackwardPerThread = (0..<engine.threads).map { _ in
        TiledConvolution(inChannels: outChannels, kernel: kernel, stride: 1, padding: kernel - 1 - padding, batched: true)
    }
    private lazy var zeroInputBias = Tensor(shape: [inChannels])

    /// Winograd's transforms: the forward pass and (on the same bands) the weight gradient, and the
    /// input gradient; U re-made from the weights every pass.
    private lazy var winograd = WinogradConvolution(outChannels: outChannels, inChannels: inChannels)
    private lazy var winogradBackward = WinogradConvolution(outChannels: inChannels, inChannels: outChannels)

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                groups: Int = 1, bias: Bool = false, rng: inout SeededGenerator) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "channels not divisible by groups")
        if groups == inChannels && groups == outChannels && groups > 1 {  // the depthwise kernels' limits
            precondition(kernel * kernel <= Int(ISP_DEPTHWISE_MAX_TAPS) && (stride == 1 || stride == 2),
                         "depthwise convolutions are at most 7x7 with stride 1 or 2")
        }
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.groups = groups
        let fanIn = inChannels / groups * kernel * kernel
        let fanOut = outChannels / groups * kernel * kernel
        // Kaiming normal (fan_out, ReLU gain), the usual choice for conv nets trained from scratch.
        let w = Tensor(shape: [outChannels, inChannels / groups, kernel, kernel])
        let std = (2 / Float(fanOut)).squareRoot()
        for i in 0..<w.count { w[i] = rng.normal() * std }
        weight = Parameter(w, decays: true)
        if bias {
            let b = Tensor(shape: [outChannels])
            let bound = 1 / Float(fanIn).squareRoot()
            for i in 0..<b.count { b[i] = (rng.uniform() * 2 - 1) * bound }
            self.bias = Parameter(b, decays: false)
        } else {
            self.bias = nil
        }
    }

    public var isDepthwise: Bool { groups == inChannels && groups == outChannels && groups > 1 }

    /// Set by tests to run a given path; nil: the plan `ConvolutionPlan` makes for the shape.
    public var forcedPlan: ConvolutionPlan?

    /// How this convolution runs at output width `outputWidth`.
    public func plan(outputWidth: Int) -> ConvolutionPlan {
        forcedPlan ?? ConvolutionPlan(inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride,
                                      padding: padding, groups: groups, outputWidth: outputWidth, datapathFloats: engine.datapathFloats)
    }

    public func outputSize(_ size: Int) -> Int { (size + 2 * padding - kernel) / stride + 1 }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        precondition(input.shape.count == 4 && input.shape[1] == inChannels,
                     "conv expects \(inChannels) input channels, got shape \(input.shape)")
        let n = input.shape[0]
        inH = input.shape[2]; inW = input.shape[3]
        outH = outputSize(inH); outW = outputSize(inW)
        x = input
        let out = Tensor.reuse(y, shape: [n, outChannels, outH, outW])
        y = out
        switch plan(outputWidth: outW).forward {
        case .tiled: tiledForward(input, out)
        case .gemm: gemmForward(input, out)
        case .depthwise: depthwiseForward(input, out)
        case .winograd: winogradForward(input, out)
        }
        return out
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let input = x!, plan = plan(outputWidth: outW)
        let g = Tensor.reuse(dx, shape: propagatesGradient || plan.forward == .depthwise ? input.shape : [0])
        dx = g
        if let b = bias { biasGradient(dy, into: b.grad.data) }
        if plan.forward == .depthwise {  // one pass for both gradients; it writes every value of dx
            depthwiseBackward(input, dy, g)
            return g
        }
        switch plan.weightGradient {
        case .tiled: tiledWeightGradient(input, dy)
        case .winograd: winograd.accumulateWeightGradient(input.data, dy: dy.data, count: input.shape[0], height: inH, width: inW,
                                                          into: weight.grad.data, engine: engine)
        default: gemmWeightGradient(input, dy)
        }
        guard propagatesGradient else { return g }
        switch plan.inputGradient {
        case .tiled: tiledInputGradient(dy, g)  // writes every value of dx
        case .winograd: winogradInputGradient(dy, g)  // so does this
        default: g.zero(); gemmInputGradient(dy, g)  // col2im accumulates
        }
        return g
    }

    /// db[c] += sum of dy over images and pixels of channel c.
    private func biasGradient(_ dy: Tensor, into db: UnsafeMutablePointer<Float>) {
        let hw = outH * outW, n = dy.shape[0]
        for c in 0..<outChannels {
            var s: Float = 0
            for i in 0..<n { let p = dy.data + (i * outChannels + c) * hw; for j in 0..<hw { s += p[j] } }
            db[c] += s
        }
    }

    // MARK: Tiled path

    private func tiledForward(_ input: Tensor, _ out: Tensor) {
        panels.load(weight.value.data, engine: engine)
        convolveEachImage(input, height: inH, width: inW, into: out, tiledPerThread, panels, bias: self.bias?.value.data ?? zeroBias.data)
    }

    private func tiledWeightGradient(_ input: Tensor, _ dy: Tensor) {
        let rows = rowsPerGroup, tiles = (outChannels + WeightPanels.tile - 1) / WeightPanels.tile, count = tiles * rows * 16
        let n = input.shape[0], inCount = inChannels * inH * inW, outCount = outChannels * outH * outW
        let convolutions = tiledPerThread
        engine.forEachShare(of: n) { images, scratch in
            let sums = scratch.weightGradient(count), convolution = convolutions[scratch.index]
            let perCall = convolution.imagesPerCall(height: inH, width: inW, isa: engine.isa)
            for i in Swift.stride(from: images.lowerBound, to: images.upperBound, by: perCall) {
                convolution.accumulateWeightGradient(input.data + i * inCount, count: min(perCall, images.upperBound - i),
                                                     height: inH, width: inW, dy: dy.data + i * outCount,
                                                     outChannels: outChannels, into: sums, engine: engine)
            }
        }
        // Each core's sums, tile-major, into the weight gradient (outChannels x rows), in core order.
        let shares = min(n, engine.threads), gradient = weight.grad.data
        WeightPanels.splitTiles(outChannels: outChannels, rows: rows, engine: engine) { first, channels in
            for t in 0..<shares {
                isp_untile_add(engine.isa.kernel, engine.workspaces[t].weightGradientSums + first * rows, Int32(channels), Int32(rows), gradient + first * rows)
            }
        }
    }

    private func tiledInputGradient(_ dy: Tensor, _ dx: Tensor) {
        flippedPanels.loadFlipped(weight.value.data, layerOutputs: outChannels, taps: kernel * kernel, engine: engine)
        convolveEachImage(dy, height: outH, width: outW, into: dx, tiledBackwardPerThread, flippedPanels, bias: zeroInputBias.data)
    }

    /// Each core convolves its share of the images of `source` into `destination`, with its own
    /// convolution of `convolutions` (their lazy properties are read here, not on two threads at once).
    private func convolveEachImage(_ source: Tensor, height: Int, width: Int, into destination: Tensor,
                                   _ convolutions: [TiledConvolution], _ panels: WeightPanels, bias: UnsafePointer<Float>) {
        let n = source.shape[0], sourceCount = source.count / n, destinationCount = destination.count / n
        let perCall = convolutions[0].imagesPerCall(height: height, width: width, isa: engine.isa)
        engine.forEachPiece(of: n, pieces: (n + perCall - 1) / perCall) { images, scratch in
            _ = convolutions[scratch.index].run(source.data + images.lowerBound * sourceCount, count: images.count, height: height,
                                                width: width, kept: nil, panels: panels,
                                                out: destination.data + images.lowerBound * destinationCount,
                                                bias: bias, cap: nil, residual: nil, engine: engine, split: false)
        }
    }

    // MARK: Winograd path

    private func winogradForward(_ input: Tensor, _ out: Tensor) {
        winograd.load(weight.value.data, engine: engine)
        winograd.runImages(input.data, count: input.shape[0], height: inH, width: inW, out: out.data,
                           bias: self.bias?.value.data ?? zeroBias.data, engine: engine)
    }

    private func winogradInputGradient(_ dy: Tensor, _ dx: Tensor) {
        winogradBackward.load(weight.value.data, flipped: true, engine: engine)
        winogradBackward.runImages(dy.data, count: dy.shape[0], height: outH, width: outW, out: dx.data, bias: zeroInputBias.data,
                                   engine: engine)
    }

    // MARK: GEMM path
    //
    // Each core takes a contiguous share of the batch and runs its own single-threaded GEMMs on
    // private scratch buffers: no synchronisation inside a layer and no idle spinning BLAS
    // threads, which cost more than a fifth of the time when OpenBLAS split each GEMM itself.

    private var rowsPerGroup: Int { inChannels / groups * kernel * kernel }

    /// Each core takes a contiguous share of the n images (`perShare` once per share, with the
    /// core's scratch space) and walks it in chunks whose column matrix fits `columnBudget`:
    /// `body(first image, images, im2col buffer, product buffer, what perShare returned)`.
    private func forEachChunk<Share>(of n: Int, perShare: (Range<Int>, Workspace) -> Share,
                                     _ body: (Int, Int, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Share) -> Void) {
        let hw = outH * outW, rows = rowsPerGroup, outputs = outChannels / groups, threads = engine.threads
        let chunk = max(1, min((n + threads - 1) / threads, Conv2d.columnBudget / max(rows * hw, 1)))
        engine.forEachShare(of: n) { share, scratch in
            let state = perShare(share, scratch)
            for n0 in Swift.stride(from: share.lowerBound, to: share.upperBound, by: chunk) {
                let nb = min(chunk, share.upperBound - n0)
                body(n0, nb, scratch.columns(rows * nb * hw), scratch.product(outputs * nb * hw), state)
            }
        }
    }

    private func gemmForward(_ input: Tensor, _ out: Tensor) {
        let hw = outH * outW, cog = outChannels / groups, rows = rowsPerGroup
        forEachChunk(of: input.shape[0], perShare: { _, _ in () }) { n0, nb, col, tmp, _ in
            let cols = nb * hw
            for g in 0..<groups {
                im2col(input, firstImage: n0, images: nb, group: g, into: col)
                if hw >= Conv2d.perImageColumns {
                    // Wide maps: one GEMM per image straight into its NCHW slice, no scatter.
                    for i in 0..<nb {
                        let o = out.data + ((n0 + i) * outChannels + g * cog) * hw
                        if let b = bias { for co in 0..<cog { (o + co * hw).update(repeating: b.value.data[g * cog + co], count: hw) } }
                        gemm(m: cog, n: hw, k: rows, a: weight.value.data + g * cog * rows, lda: rows,
                             b: col + i * hw, ldb: cols, beta: bias == nil ? 0 : 1, c: o, ldc: hw)
                    }
                    continue
                }
                gemm(m: cog, n: cols, k: rows, a: weight.value.data + g * cog * rows, lda: rows,
                     b: col, ldb: cols, c: tmp, ldc: cols)
                // (channel, image, pixel) back to NCHW, adding the bias.
                for co in 0..<cog {
                    let c = g * cog + co, b = bias?.value.data[c] ?? 0
                    for i in 0..<nb {
                        let src = tmp + co * cols + i * hw, dst = out.data + ((n0 + i) * outChannels + c) * hw
                        for j in 0..<hw { dst[j] = src[j] + b }
                    }
                }
            }
        }
    }

    /// dW += dy x im2col(x)^T, image chunk by image chunk, each core on its share of the images.
    private func gemmWeightGradient(_ input: Tensor, _ dy: Tensor) {
        let n = input.shape[0], hw = outH * outW, cog = outChannels / groups, rows = rowsPerGroup
        let weightCount = weight.value.count
        // Share 0 accumulates straight into the gradient; the others into private copies summed below.
        let gradientOfShare = { (share: Range<Int>, scratch: Workspace) in
            share.lowerBound == 0 ? self.weight.grad.data : scratch.weightGradient(weightCount)
        }
        forEachChunk(of: n, perShare: gradientOfShare) { n0, nb, col, tmp, dW in
            let cols = nb * hw
            for g in 0..<groups {
                let wOffset = g * cog * rows
                im2col(input, firstImage: n0, images: nb, group: g, into: col)
                if hw >= Conv2d.perImageColumns {  // wide maps: dy read in place, one GEMM per image
                    for i in 0..<nb {
                        let d = dy.data + ((n0 + i) * outChannels + g * cog) * hw
                        gemm(transB: true, m: cog, n: rows, k: hw, a: d, lda: hw, b: col + i * hw, ldb: cols,
                             beta: 1, c: dW + wOffset, ldc: rows)
                    }
                    continue
                }
                gatherOutputGradient(dy, firstImage: n0, images: nb, group: g, into: tmp)
                gemm(transB: true, m: cog, n: rows, k: cols, a: tmp, lda: cols, b: col, ldb: cols,
                     beta: 1, c: dW + wOffset, ldc: rows)
            }
        }
        engine.sumWeightGradients(into: weight.grad.data, count: weightCount, shares: min(n, engine.threads))
    }

    /// dx += col2im(W^T x dy), into a zeroed `dx`, each core on its share of the images.
    private func gemmInputGradient(_ dy: Tensor, _ dx: Tensor) {
        let hw = outH * outW, cog = outChannels / groups, rows = rowsPerGroup
        forEachChunk(of: dy.shape[0], perShare: { _, _ in () }) { n0, nb, col, tmp, _ in
            let cols = nb * hw
            for g in 0..<groups {
                let w = weight.value.data + g * cog * rows
                if hw >= Conv2d.perImageColumns {  // wide maps: dy read in place, one GEMM per image
                    for i in 0..<nb {
                        let d = dy.data + ((n0 + i) * outChannels + g * cog) * hw
                        gemm(transA: true, m: rows, n: hw, k: cog, a: w, lda: rows, b: d, ldb: hw, c: col + i * hw, ldc: cols)
                    }
                } else {
                    gatherOutputGradient(dy, firstImage: n0, images: nb, group: g, into: tmp)
                    gemm(transA: true, m: rows, n: cols, k: cog, a: w, lda: rows, b: tmp, ldb: cols, c: col, ldc: cols)
                }
                col2im(col, firstImage: n0, images: nb, group: g, into: dx)
            }
        }
    }

    /// dy of images n0..<n0+nb, one group's channels, as rows (channel) of columns (image, pixel).
    private func gatherOutputGradient(_ dy: Tensor, firstImage n0: Int, images nb: Int, group g: Int,
                                      into tmp: UnsafeMutablePointer<Float>) {
        let hw = outH * outW, cog = outChannels / groups, cols = nb * hw
        for co in 0..<cog {
            for i in 0..<nb {
                (tmp + co * cols + i * hw).update(from: dy.data + ((n0 + i) * outChannels + g * cog + co) * hw, count: hw)
            }
        }
    }

    /// Unrolls images n0..<n0+nb of one group: rows (c, ky, kx), columns (image, oy, ox).
    private func im2col(_ input: Tensor, firstImage n0: Int, images nb: Int, group g: Int,
                        into col: UnsafeMutablePointer<Float>) {
        let cig = inChannels / groups, hw = outH * outW
        for i in 0..<nb {
            InstanceSparsity.im2col(image: input.data + (n0 + i) * inChannels * inH * inW, inHeight: inH, inWidth: inW,
                                    kernel: kernel, stride: stride, padding: padding, outHeight: outH, outWidth: outW,
                                    channels: nil, firstChannel: g * cig, count: cig, into: col + i * hw, rowStride: nb * hw)
        }
    }

    /// The transpose of im2col: adds each column entry back to the input pixel it came from.
    private func col2im(_ col: UnsafeMutablePointer<Float>, firstImage n0: Int, images nb: Int, group g: Int,
                        into dx: Tensor) {
        let cig = inChannels / groups, k = kernel, s = stride, p = padding
        let ih = inH, iw = inW, oh = outH, ow = outW, hw = oh * ow, cols = nb * hw
        for row in 0..<(cig * k * k) {
            let c = row / (k * k), ky = (row / k) % k, kx = row % k
            let valid = validColumns(kx: kx, stride: s, padding: p, inWidth: iw, outWidth: ow)
            for i in 0..<nb {
                let plane = dx.data + ((n0 + i) * inChannels + g * cig + c) * ih * iw
                let src = col + row * cols + i * hw
                for oy in 0..<oh {
                    let iy = oy * s + ky - p
                    guard iy >= 0 && iy < ih else { continue }
                    let inLine = plane + iy * iw + kx - p, line = src + oy * ow
                    if s == 1 {
                        for ox in valid { inLine[ox] += line[ox] }
                    } else {
                        for ox in valid { inLine[ox * s] += line[ox] }
                    }
                }
            }
        }
    }

    // MARK: Depthwise path

    private func depthwiseForward(_ input: Tensor, _ out: Tensor) {
        var args = depthwiseArguments(x: input.data, out: out.data, weights: weight.value.data, bias: bias?.value.data,
                                      kernel: kernel, stride: stride, padding: padding, inHeight: inH, inWidth: inW,
                                      outHeight: outH, outWidth: outW, perImage: inChannels, cap: nil)
        let isa = engine.isa.kernel, scratchCount = Int(isp_depthwise_scratch(&args))
        engine.forEachShare(of: input.shape[0] * inChannels) { planes, workspace in
            isp_depthwise(isa, &args, Int32(planes.lowerBound), Int32(planes.upperBound), 0, Int32(self.outH), workspace.columns(scratchCount))
        }
    }

    private func depthwiseBackward(_ input: Tensor, _ dy: Tensor, _ dx: Tensor) {
        let n = input.shape[0], c = inChannels, k = kernel
        let (ih, iw, oh, ow, s, p) = (inH, inW, outH, outW, stride, padding)
        let src = input.data, d = dy.data, gx = dx.data, w = weight.value.data, gw = weight.grad.data
        let paddedCount = depthwisePaddedCount(inHeight: ih, inWidth: iw, padding: p), isa = engine.isa
        // Split over channels: each share owns its channels' weight gradients and planes of dx.
        engine.forEachShare(of: c) { channels, scratch in
            let padded = scratch.columns(2 * paddedCount), paddedGradient = padded + paddedCount
            padded.update(repeating: 0, count: paddedCount)  // the border stays zero across planes
            for ch in channels {
                for i in 0..<n {
                    let plane = i * c + ch
                    copyIntoBorderedPlane(src + plane * ih * iw, padded, height: ih, width: iw, padding: p, isa: isa)
                    paddedGradient.update(repeating: 0, count: paddedCount)
                    isp_depthwise_plane_backward(isa.kernel, padded, paddedGradient, Int32(iw + 2 * p), w + ch * k * k, gw + ch * k * k,
                                                 Int32(k), Int32(s), Int32(oh), Int32(ow), d + plane * oh * ow)
                    copyOutOfBorderedPlane(paddedGradient, gx + plane * ih * iw, height: ih, width: iw, padding: p, isa: isa)
                }
            }
        }
    }

    public var parameters: [(name: String, parameter: Parameter)] {
        bias.map { [("weight", weight), ("bias", $0)] } ?? [("weight", weight)]
    }
    public var macsPerImage: Int { outChannels * outH * outW * (inChannels / groups) * kernel * kernel }
    public var lastOutputShape: [Int] { y?.shape ?? [] }
}
