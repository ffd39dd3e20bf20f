import CKernels

/// How a step's output map lies in the cores' caches after a split: `rows`, each core a band of
/// rows of every channel; `channelShares`, each core the channels of its `Engine.forEachShare`
/// share; `mixed` otherwise (one core, or pieces claimed by whichever core was free).
enum MapSplit { case mixed, rows, channelShares }

/// One dense convolution of one image on the tiled micro-kernel (`isp_conv_tiles`), reading any
/// subset of the input channels. It lays the input out as `TiledLayout` says (zero-bordered planes
/// or unrolled rows, in its own staging buffer) and writes NCHW output directly, bias and
/// activation applied. Batch-1 inference runs every dense convolution through it (one image split
/// across cores); training runs its forward pass through it (each core its own images, several per
/// call on small maps when `batched`).
final class TiledConvolution {
    let inChannels: Int, kernel: Int, stride: Int, padding: Int, batched: Bool
    /// The layouts of `run` and of weight gradients (which read unrolled rows, never small maps).
    private var layout: TiledLayout?, gradientLayout: TiledLayout?
    private let staging = Tensor(shape: [0])
    /// Several images as one row per channel: the kernel's output before it goes to each image's
    /// planes, and dy before its transpose for the weight gradient.
    private let channelRows = Tensor(shape: [0])
    /// Weight gradients: where each weight row (input channel, tap) reads the kernel's input, and
    /// dy transposed into tiles of 16 channels.
    private let rowOffset: UnsafeMutablePointer<Int32>
    private let transposedDy = Tensor(shape: [0])
    /// A split by rows of bordered planes: per share, bordered planes of just the rows it reads
    /// (`sharePlane` floats per channel), so that each core fills its own (see `run`).
    private var shareStaging: [Tensor] = []
    private var sharePlane = 0
    /// Per kept input channel: where its values start in the kernel's input, and its weight rows.
    private let xOffset: UnsafeMutablePointer<Int32>, weightChannel: UnsafeMutablePointer<Int32>

    /// MACs above which a batch-1 convolution is split across cores (measured with `isp bench`).
    /// 128K rather than 256K since stop 41: MobileNetV2 w0.5's stem (147K) and first projection
    /// (131K) on two cores 3.9-4.1 -> 3.0-3.1 us and 2.7 -> 2.2-2.3 us (`--profile`), the pass
    /// 0.260-0.282 -> 0.254-0.257 ms (four alternations, `isp bench`); the shipped models at their
    /// stored points level (Zen 5, AVX-512).
    static let parallelThreshold = 1 << 17
    /// Floats above which a memory-bound pass (padded copy, pooling) is split across cores.
    static let parallelPassThreshold = 1 << 14
    /// Floats above which a gate's own saliency pass is split, one share of the planes per core: a
    /// map written by both cores is half in the other core's cache, so it pays from fewer values.
    static let parallelSaliencyThreshold = 1 << 12
    /// Floats of unrolled input (256 KB) above which the cores of a split unroll it together (see
    /// `unrollsPerShare` in `run`).
    static let sharedUnrollFloats = 1 << 16
    /// Floats of unrolled input a chunk of input channels holds (128 KB; see `runInChunks`).
    static let chunkFloats = 1 << 15
    /// Grid positions a batched call on an unrolled map aims at: each weight loaded is used this
    /// often, rather than 4 times on a 2x2 map.
    static let batchedPositions = 32

    /// How the last `run` left its output in the cores' caches.
    private(set) var outputSplit = MapSplit.mixed
    /// A split by input channels: the sums of shares 1, 2, ... (`outChannels` planes each), and a
    /// zero bias for them.
    private var partialSums: [Tensor] = []
    private let zeroBias = Tensor(shape: [0])

    /// `batched`: calls may take several images (training and batched evaluation).
    init(inChannels: Int, kernel: Int, stride: Int, padding: Int, batched: Bool = false) {
        precondition(stride == 1 || stride == 2, "the micro-kernel reads input at stride 1 or 2")
        self.inChannels = inChannels; self.kernel = kernel; self.stride = stride; self.padding = padding
        self.batched = batched
        xOffset = .allocate(capacity: inChannels); weightChannel = .allocate(capacity: inChannels)
        rowOffset = .allocate(capacity: inChannels * kernel * kernel)
    }

    deinit { xOffset.deallocate(); weightChannel.deallocate(); rowOffset.deallocate() }

    /// How many images one call takes for inputs of this size.
    func imagesPerCall(height ih: Int, width iw: Int, isa: InstructionSet) -> Int { prepare(height: ih, width: iw, isa: isa).images }

    /// The layout of `run` (or, `forGradient`, of weight gradients) for this input size and the
    /// kernels of `isa`, made on first use with its staging buffer. The small maps the kernel takes
    /// are read in place; one image at a time, other unrolled inputs are packed by the kernel's
    /// blocks where it reads them so faster (`isp_conv_packed_block`).
    private func prepare(height ih: Int, width iw: Int, isa: InstructionSet, forGradient: Bool = false) -> TiledLayout {
        let packedBlock = batched ? 0 : Int(isp_conv_packed_block(isa.kernel))
        if let l = forGradient ? gradientLayout : layout, l.isLayout(height: ih, width: iw, packedBlock: packedBlock) {
            return l
        }
        let outputPixels = ((ih + 2 * padding - kernel) / stride + 1) * ((iw + 2 * padding - kernel) / stride + 1)
        let images = batched ? max(1, TiledConvolution.batchedPositions / max(outputPixels, 1)) : 1
        let l = TiledLayout(kernel: kernel, stride: stride, padding: padding, inputHeight: ih, inputWidth: iw, images: images,
                            packedBlock: packedBlock, smallMaps: forGradient ? nil : isa.kernel)
        if !l.readsInPlace {  // padded: the bordered planes; unrolled: the unrolled rows
            staging.resize([inChannels * (l.mode == .unrolled ? l.plane : l.paddedPlane)])
            staging.zero()  // bordered planes: the borders stay zero, only interiors are ever written
        }
        if forGradient { gradientLayout = l } else { shareStaging = []; layout = l }
        return l
    }

    /// Lists the channels in `weightChannel`, lays out `count` images (`imageStride` floats apart)
    /// for the kernel (in `staging` unless the kernel reads the planes in place), sets `xOffset`,
    /// and returns the kernel's input.
    private func stage(_ x: UnsafePointer<Float>, count: Int, imageStride: Int, height ih: Int, width iw: Int,
                       kept: (UnsafePointer<Int32>, Int)?, layout l: TiledLayout, engine: Engine, split: Bool) -> UnsafePointer<Float> {
        precondition(count >= 1 && count <= l.images, "\(count) images for a layout of \(l.images)")
        let kc = listChannels(kept)
        if l.readsInPlace {
            for i in 0..<kc { xOffset[i] = weightChannel[i] * Int32(l.plane) }
            return x
        }
        // Copy each kept plane into its bordered plane, or unroll it, split across cores when there
        // is enough to copy: bordered planes by rows, unrolled ones by channels. (A convolution
        // split by rows stages its shares' rows itself: `stageShare`.)
        let pad = padding, keptChannel = weightChannel, stagingData = staging.data, isa = engine.isa
        let copy = { (r: Range<Int>) in
            guard l.mode == .unrolled else {
                for i in r {
                    copyIntoBorderedPlane(x + Int(keptChannel[i]) * ih * iw, stagingData + i * l.plane, height: ih, width: iw,
                                          padding: pad, isa: isa)
                }
                return
            }
            self.unroll(x, count: count, imageStride: imageStride, channels: r, of: kc, layout: l, into: stagingData, isa: isa)
        }
        let floats = count * kc * (l.mode == .unrolled ? l.plane / l.images : ih * iw)
        if !split || floats < TiledConvolution.parallelPassThreshold {
            copy(0..<kc)
        } else if l.mode == .padded && count == 1 {
            let wp = iw + 2 * pad
            engine.forEachPiece(of: ih, pieces: engine.threads, keepWarm: true) { rows, _ in
                for i in 0..<kc {
                    isp_copy_rows(isa.kernel, x + Int(keptChannel[i]) * ih * iw + rows.lowerBound * iw, Int32(iw),
                                  stagingData + i * l.plane + (pad + rows.lowerBound) * wp + pad, Int32(wp), Int32(rows.count), Int32(iw))
                }
            }
        } else {
            engine.forEachPiece(of: kc, keepWarm: true) { r, _ in copy(r) }
        }
        for i in 0..<kc { xOffset[i] = Int32(i * l.channelPitch) }
        return UnsafePointer(stagingData)
    }

    /// Lists the kept input channels (all when `kept` is nil) in `weightChannel`; returns how many.
    private func listChannels(_ kept: (UnsafePointer<Int32>, Int)?) -> Int {
        let kc = kept?.1 ?? inChannels
        for i in 0..<kc { weightChannel[i] = kept.map { $0.0[i] } ?? Int32(i) }
        return kc
    }

    /// Unrolls channels `r` of the `kc` listed in `weightChannel` of `count` images (`imageStride`
    /// floats apart) into `staging`, as `l` lays them out.
    private func unroll(_ x: UnsafePointer<Float>, count: Int, imageStride: Int, channels r: Range<Int>, of kc: Int,
                        layout l: TiledLayout, into staging: UnsafeMutablePointer<Float>, isa: InstructionSet) {
        let planeSize = l.inputHeight * l.inputWidth, pixels = l.rows * l.outputWidth
        // Rows of all positions, or blocks of packedBlock positions (see TiledLayout).
        let block = l.packedBlock > 0 ? l.packedBlock : pixels, rowLength = l.packedBlock > 0 ? l.packedBlock : pixels * l.images
        l.gather.withUnsafeBufferPointer { gather in
            for i in r {
                let plane = x + Int(weightChannel[i]) * planeSize, staged = staging + i * l.channelPitch
                for b in 0..<count {
                    isp_unroll_plane(isa.kernel, plane + b * imageStride, Int32(planeSize), gather.baseAddress, Int32(kernel * kernel),
                                     Int32(pixels), Int32(rowLength), Int32(block), Int64(l.blockPitch(kept: kc)), staged + b * pixels)
                }
            }
        }
    }

    /// Per share of a split: bordered planes with the rows its share of the output rows
    /// (`Engine.forEachShare`'s) reads, borders zeroed; or, unrolled, a whole unrolled copy of the
    /// input. Made when the layout or the shares change.
    private func prepareShares(_ l: TiledLayout, shares: Int) {
        guard shareStaging.count != shares else { return }
        let rows = (0..<shares).map { t in
            let first = l.rows * t / shares, end = l.rows * (t + 1) / shares
            return (end - first - 1) * stride + kernel
        }.max()!
        sharePlane = l.mode == .unrolled ? l.plane : rows * (l.inputWidth + 2 * padding)
        shareStaging = (0..<shares).map { _ in Tensor(shape: [inChannels * sharePlane]) }  // zeroed
    }

    /// Copies the input rows that output rows `rows` read, of the `kc` channels `weightChannel`
    /// lists, into the bordered planes of `share`, whose first row is the bordered row output row
    /// `rows.lowerBound` starts at; returns them.
    private func stageShare(_ x: UnsafePointer<Float>, rows: Range<Int>, height ih: Int, width iw: Int, kept kc: Int,
                            share: Int, isa: InstructionSet) -> UnsafePointer<Float> {
        let first = rows.lowerBound * stride, end = (rows.upperBound - 1) * stride + kernel  // bordered rows
        let from = max(first - padding, 0), to = min(end - padding, ih)  // input rows
        let wp = iw + 2 * padding, planes = shareStaging[share].data
        if to > from {
            for i in 0..<kc {
                isp_copy_rows(isa.kernel, x + Int(weightChannel[i]) * ih * iw + from * iw, Int32(iw),
                              planes + i * sharePlane + (from + padding - first) * wp + padding, Int32(wp), Int32(to - from), Int32(iw))
            }
        }
        return UnsafePointer(planes)
    }

    /// Adds the weight gradient of `count` images (`imagesPerCall` at most) into `gradient`, laid
    /// out as `isp_conv_weight_gradient` says (tiles of 16 output channels, then weight rows (input
    /// channel, tap), then 16 lanes), from their input planes `x` and output gradients `dy`
    /// (outChannels planes), one image after another, with the kernels of `engine`. Single-threaded:
    /// in training each thread has its own images.
    func accumulateWeightGradient(_ x: UnsafePointer<Float>, count: Int, height ih: Int, width iw: Int, dy: UnsafePointer<Float>,
                                  outChannels: Int, into gradient: UnsafeMutablePointer<Float>, engine: Engine) {
        let l = prepare(height: ih, width: iw, isa: engine.isa, forGradient: true), kk = kernel * kernel, weightRows = inChannels * kk
        let isa = engine.isa.kernel
        precondition(l.packedBlock == 0 && l.mode != .smallMap, "weight gradients read unrolled rows")
        let source = stage(x, count: count, imageStride: inChannels * ih * iw, height: ih, width: iw, kept: nil, layout: l,
                           engine: engine, split: false)
        let imagePixels = l.rows * l.outputWidth, pixels = count * imagePixels
        let tiles = (outChannels + WeightPanels.tile - 1) / WeightPanels.tile
        // Lanes past the last channel are never written: they only feed gradient entries of
        // channels that do not exist, which nobody reads.
        transposedDy.resize([tiles * pixels * 16])
        for c in 0..<inChannels { for t in 0..<kk { rowOffset[c * kk + t] = xOffset[c] + l.tapOffset[t] } }
        let dyT = transposedDy.data
        if count == 1 {
            isp_transpose_tiles(isa, dy, Int32(outChannels), Int32(pixels), dyT)
        } else {  // each channel's pixels of all the images in one row first, as the input has them
            channelRows.resize([outChannels * pixels])
            TiledConvolution.swapBlocks(dy, channelRows.data, outer: count, inner: outChannels, pixels: imagePixels)
            isp_transpose_tiles(isa, channelRows.data, Int32(outChannels), Int32(pixels), dyT)
        }
        var args = isp_weight_gradient_args(x: source, rowOffset: rowOffset, weightRows: Int32(weightRows),
                                            outputRows: Int32(count * l.rows), rowPitch: Int32(l.rowPitch),
                                            outputWidth: Int32(l.outputWidth), pixelStride: Int32(l.pixelStride),
                                            dyT: dyT, pixels: Int32(pixels), gradient: gradient)
        isp_conv_weight_gradient(isa, &args, 0, Int32(tiles))
    }

    /// A 1x1 convolution of one image split by input channels, share t of the `kc` listed channels
    /// on the core that holds them (`Engine.forEachShare`'s shares): share 0 writes bias + its sum
    /// (+ residual) to `out`, the others their sums to `partialSums`; then the caller adds them
    /// and applies the activation, and measures the gate's saliency if one asks. (Both cores
    /// adding, each its share of the output channels, measured level on mobilenet_v2 at 224's
    /// 28x28 and 14x14 projections: stop 73, ab-variants.txt.)
    private func sumInputChannelShares(_ input: UnsafePointer<isp_conv_input>, kept kc: Int, grid: Int, width: Int,
                                       panels: WeightPanels, out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, cap: Float?,
                                       residual: UnsafePointer<Float>?, saliency: OutputSaliency?, engine: Engine) {
        let outChannels = panels.outChannels, floats = outChannels * grid, isa = engine.isa.kernel
        let shares = min(engine.threads, kc)
        if partialSums.count != shares - 1 || partialSums.first?.count != floats {
            partialSums = (1..<shares).map { _ in Tensor(shape: [floats]) }
        }
        if zeroBias.count < outChannels { zeroBias.resize([outChannels]); zeroBias.zero() }
        engine.forEachShare(of: kc, keepWarm: true) { channels, workspace in
            var own = input.pointee
            own.xOffset += channels.lowerBound; own.weightChannel += channels.lowerBound
            own.channels = Int32(channels.count)
            let first = channels.lowerBound == 0
            var output = isp_conv_output(out: first ? out : partialSums[workspace.index - 1].data, plane: Int32(grid),
                                         bias: first ? bias : UnsafePointer(zeroBias.data), low: -.infinity, high: .infinity,
                                         residual: first ? residual : nil)
            isp_conv_tiles(isa, &own, panels.data, Int32(panels.rows), Int32(outChannels), 0, Int32(panels.tiles), 0,
                           Int32(grid), 0, &output)
        }
        let (low, high) = clampBounds(cap)
        for partial in partialSums {
            let p = partial.data
            for j in 0..<floats { out[j] += p[j] }
        }
        if cap != nil { for j in 0..<floats { out[j] = min(max(out[j], low), high) } }
        if let saliency {
            ChannelGate.measure(out, planes: 0..<outChannels, height: grid / width, width: width, into: saliency.norms.data,
                                isa: engine.isa)
            saliency.map = out
        }
    }

    /// `to` = the blocks of `pixels` floats of `from`, from order (outer, inner) to (inner, outer):
    /// between one plane per image and channel and one row per channel for all the images.
    private static func swapBlocks(_ from: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>, outer: Int, inner: Int, pixels: Int) {
        for o in 0..<outer {
            for i in 0..<inner { (to + (i * outer + o) * pixels).update(from: from + (o * inner + i) * pixels, count: pixels) }
        }
    }

    /// out = clamp(conv(x) + bias (+ residual), 0 if `cap` is set, cap) over the input channels
    /// `kept` (list and count, ascending; nil: all), for `count` consecutive images
    /// (`imagesPerCall` at most; more than one only without a residual), with the kernels of
    /// `engine`. `split`: spread the work over the engine's threads, kept warm for the next step
    /// (batch-1 inference). `saliency` (one image): each core also measures the output it wrote,
    /// while it is in its cache, for the gate this map feeds (whole planes, or its rows' sums of
    /// squares for the gate to add). `inputSplit`: how the step before left `x` in the cores'
    /// caches. Returns the MACs executed.
    func run(_ x: UnsafePointer<Float>, count: Int = 1, height ih: Int, width iw: Int, kept: (UnsafePointer<Int32>, Int)?,
             panels: WeightPanels, out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, cap: Float?,
             residual: UnsafePointer<Float>?, saliency: OutputSaliency? = nil, inputSplit: MapSplit = .mixed, engine: Engine,
             split: Bool) -> Int {
        precondition(count == 1 || residual == nil, "a residual is added one image at a time")
        precondition(count == 1 || saliency == nil, "the saliency of one image at a time")
        let l = prepare(height: ih, width: iw, isa: engine.isa), kc = kept?.1 ?? inChannels, kk = kernel * kernel
        let oh = l.rows * count, ow = l.outputWidth, outChannels = panels.outChannels
        let macs = outChannels * oh * ow * kc * kk
        let (low, high) = clampBounds(cap)
        let tiles = panels.tiles, grid = l.grid(images: count), isa = engine.isa.kernel, block = Int(isp_conv_block(isa))
        // Work along the grid comes in units: output rows (bordered planes, whose row y starts at
        // grid position y * rowPitch and output pixel y * outputWidth; small maps, the rows of all
        // `count` images) or blocks of positions.
        let units = l.unitsAreRows ? l.rows * count : (grid + block - 1) / block
        // How the work is split across cores (see the comments at each case). A map a gate
        // measures goes by channels whenever there are two tiles per core, so that each core
        // measures whole planes it just wrote (see `measure`): measured after a split by rows
        // instead, each core read half its planes from the other's cache. MobileNetV2 w0.5 at
        // lambda 1e-3 pruned, three alternations, 0.645-0.653 -> 0.598-0.612 ms; the shipped
        // models, two: MobileNetV2 0.737 -> 0.695-0.708, ResNet-18 0.487-0.491 -> 0.469-0.475,
        // VGG16 0.527-0.531 -> 0.513-0.516 ms (isp bench --profile --prune stored, Intel Xeon AVX-512).
        // 1x1 convolutions on maps under 2048 positions go by channels too: split by rows, the
        // second share of MobileNetV2 w0.5's 32x32 expansions took 40% longer than the first (each
        // half alone ran in the same time; the depthwise after them splits by channels there).
        // Dense, three alternations: MobileNetV2 w0.5 0.744-0.762 -> 0.692-0.709 ms, mobilenet_v2
        // at 224 (whose larger maps stay split by rows, as the depthwise after them is) 4.70-4.80
        // -> 4.42-4.71 ms; pruned at its stored point unchanged (isp bench, Intel Xeon AVX-512).
        // A 1x1 convolution on a small map whose input channels the cores hold in shares (the
        // depthwise convolution before it split so) splits by those input channels: each core sums
        // over the planes in its own cache, and the sums are added after. Split by output channels
        // or positions, each core read half its input from the other's cache, and MobileNetV2
        // w0.5's projections on 8x8 and 16x16 maps ran slower on two cores than on one (6.5 -> 10.0
        // and 8.7 -> 10.3 us; isp bench --profile, one core by taskset, Intel Xeon AVX-512). So,
        // three alternations: MobileNetV2 w0.5 0.674-0.687 -> 0.625-0.643 ms, mobilenet_v2 at 224
        // 4.28-4.36 -> 4.06-4.26 ms. Not from 1024 positions: on 32x32 maps adding the sums cost
        // more than the split saved (14.2 -> 18.5 us). From 128 positions only when the input is
        // at least 128 KB: split by output channels, each core reads every input plane, so the
        // depthwise convolution that next overwrites those planes must first take each line back
        // from the other core's cache, which costs 7 ns a line with the vCPUs close and 28 far
        // apart (`benchmarks/line_handoff.c` "A writes again", 1.1 alone). The projections alone
        // ran 6-11 us faster by output channels (stop 43, AMD Zen 5), but mobilenet_v2 at 224's
        // stride-1 depthwise steps on 14x14 and 28x28 maps paid it: 15-34 us each close, 72-150
        // far (one vCPU's whole share, 2352-3528 lines at 28 ns); by input channels 14-22 close,
        // 21-42 far (isp bench --profile, AVX2). Whole passes, AVX2, alternating blocks in ten pairs of processes, each
        // pair of blocks labelled by `pingpong.c` (AMD Zen 4, 2026-12-06): mobilenet_v2 at 224
        // 0.995x close and 0.927x far (4.22 -> 4.20 and 6.42 -> 5.93 ms); the stored MobileNetV2
        // pruned 1.001x and 1.011x. MobileNetV2 w0.5's 16x16 inputs (24K floats) stay by output
        // channels: by input channels 1.016x close, 0.964x far. Under 128 positions (7x7 at 224,
        // 8x8 at 32x32) the input-channel split always: by output channels the 7x7 ones gained 1-6
        // us each, but the 8x8 ones lost 0.5.
        // Unrolled maps go by output channels where the kernel sums in chunks (AVX2): each core then
        // runs all of a tile's blocks on each chunk of its weights, and reads half the weights. By
        // positions (a 7x7 grid is 9 units of 6), each core ran 4-5 blocks a chunk and read all of
        // them: torchvision resnet18 at 224's 7x7 convolutions together, two cores, 9.5-14.0 ms
        // (median 9.9) against 10.3-12.7 (median 11.3), lower in six alternations of seven (isp
        // bench --profile, AMD Zen 3). Without chunks, stop 45 found no difference (2.9-3.3 ms a layer).
        enum Split { case none, rows, channels, inputChannels }
        let threads = engine.threads
        let division: Split = !split || macs < TiledConvolution.parallelThreshold ? .none
            : inputSplit == .channelShares && l.mode == .pointwise && (grid < 128 || grid < 1024 && kc * grid >= 1 << 15) && count == 1 && kc >= 2 * threads ? .inputChannels
            : (saliency != nil || (l.mode == .pointwise && grid < 2048) || (l.mode == .unrolled && count == 1 && isp_conv_chunks(isa) != 0))
                && tiles >= 2 * threads ? .channels
            : units >= 4 * threads || (tiles < 2 * threads && units >= 2 * threads) ? .rows : .channels
        // Bordered planes split by rows: each core copies the rows its share reads into bordered
        // planes of its own, inside the split, instead of all cores filling shared planes in a split
        // before it. ResNet-18 w0.5's 32x32 convolutions on two cores: the shared copy took 13-14 us
        // against 8.3 on one core, and the compute split waited for it. With this and the caller's
        // fixed share (`Engine.forEachShare`), three alternations, dense: ResNet-18 w0.5 1.41-1.46
        // -> 1.29-1.33 ms, VGG16 w0.5 0.885-0.903 -> 0.848-0.879 ms, MobileNetV2 unchanged; pruned
        // at their stored points, two: VGG16 0.497-0.524 -> 0.484-0.511, ResNet-18 0.591-0.612 ->
        // 0.571-0.594 ms (isp bench, Intel Xeon AVX-512).
        // Unrolled maps split by output channels: each core unrolls the whole input into a copy of
        // its own, inside the split, and reads that, instead of half of a shared copy from the
        // other core's cache. When the VM's two vCPUs were far apart (ping-pong round trip 360-410
        // ns), VGG16 w0.5's 4x4 and 2x2 layers ran no faster on two cores than on one (2x2: 28.5
        // us on both; ONNX Runtime 20). Alternating, that phase (AMD Zen 5 AVX-512, isp bench):
        // dense VGG16 w0.5 0.545-0.584 -> 0.489-0.502 ms (12 rounds), ResNet-18 w0.5 0.872-0.882 ->
        // 0.823-0.830 (4); at the stored points ResNet-18 0.650-0.665 -> 0.637-0.648, VGG16 the same
        // (0.349-0.355 against 0.350-0.363); with the vCPUs close (115-145 ns) no change (VGG16
        // 0.390-0.399 against 0.392-0.400).
        // Not inputs of more than `sharedUnrollFloats`: the copy is a pass over all of it, and the
        // cores share it (each unrolls a part; half of what each reads is the other's). torchvision
        // resnet18 at 224, its 7x7 layers' four 3x3 convolutions on two cores (AMD Zen 3 AVX2, isp
        // bench --profile, four alternations): 6.8-9.7 ms each core its copy, 6.6-8.8 shared.
        let unrollsPerShare = division == .channels && l.mode == .unrolled && count == 1
            && kc * l.plane <= TiledConvolution.sharedUnrollFloats
        let stagesPerShare = division == .rows && l.mode == .padded && !l.readsInPlace || unrollsPerShare
        let source: UnsafePointer<Float>
        if stagesPerShare {
            prepareShares(l, shares: unrollsPerShare ? threads : min(threads, units))
            for i in 0..<listChannels(kept) { xOffset[i] = Int32(i * (unrollsPerShare ? l.channelPitch : sharePlane)) }
            source = UnsafePointer(shareStaging[0].data)  // each share reads its own
        } else {
            source = stage(x, count: count, imageStride: inChannels * ih * iw, height: ih, width: iw, kept: kept, layout: l,
                           engine: engine, split: split)
        }
        // Several images: the kernel writes one row per channel, spread to the images' planes below.
        if count > 1 { channelRows.resize([outChannels * oh * ow]) }
        // Unrolled inputs of more than two chunks go through every tile in chunks of input channels
        // (see `runInChunks`), unless the kernel chunks them itself. With AVX2 it does, and these
        // chunks on top of its own did not help: torchvision resnet18 at 224 on AMD Zen 3, its 7x7
        // layers' convolutions, one core, 16.6-18.8 ms with them, 14.7-18.4 without (isp bench
        // --profile, two alternations); whole passes on two cores against neither, six order-flipped
        // pairs, 1.085 with them and 1.002 without (medians).
        let chunkChannels = isp_conv_chunks(isa) == 0 && l.mode == .unrolled && count == 1
            && kc * kk * grid > 2 * TiledConvolution.chunkFloats
            ? max(1, TiledConvolution.chunkFloats / (kk * grid)) : nil
        if chunkChannels != nil && zeroBias.count < outChannels { zeroBias.resize([outChannels]); zeroBias.zero() }
        l.tapOffset.withUnsafeBufferPointer { taps in
            let input = isp_conv_input(x: source, xOffset: xOffset, weightChannel: weightChannel, channels: Int32(kc),
                                       tapOffset: taps.baseAddress, taps: Int32(kk), pixelStride: Int32(l.pixelStride),
                                       blockPitch: Int32(l.blockPitch(kept: kc)), rowWidth: Int32(l.rowByRow ? ow : 0),
                                       rowPitch: Int32(l.rowPitch), mapWidth: Int32(l.mode == .smallMap ? ow : 0),
                                       imageStride: Int32(inChannels * ih * iw))
            var output = isp_conv_output(out: count > 1 ? channelRows.data : out, plane: Int32(oh * ow), bias: bias,
                                         low: low, high: high, residual: residual)
            // Local functions, not closures held in constants (here and in the other batch-1 steps):
            // those that captured a `var` (`output`, the depthwise step's arguments) got a heap box
            // made and freed on every call. Two cores, against the closures (benchmarks/interleave.py,
            // 40 blocks of 25, AMD Zen 5 AVX-512, 2026-12-07): this function's, ResNet-18 w0.25 0.967x
            // the time; then the other steps', the shipped MobileNetV2 0.990x dense and 0.985x at its
            // stored point, VGG16's stored point 0.987x.
            func run(_ input: UnsafePointer<isp_conv_input>, _ t: Range<Int>, _ q: Range<Int>, _ shift: Int) {
                isp_conv_tiles(isa, input, panels.data, Int32(panels.rows), Int32(outChannels), Int32(t.lowerBound),
                               Int32(t.upperBound), Int32(q.lowerBound), Int32(q.upperBound), Int32(shift), &output)
            }
            // The tiles reread the whole input, one pair of tiles after another: unrolled, ResNet-18's
            // 7x7 layers at 224 (512 channels x 9 taps x 49 positions, 0.9 MB) did not stay in L2
            // beside each pair's weights (0.6 MB), and every pair fetched it again from L3. In chunks
            // of input channels instead, each chunk is summed into the output by every tile while
            // it is in cache: the first with the bias (and residual), the others added to what the
            // output holds, the activation with the last. Those layers, one core, alternating (isp
            // bench --profile, AMD Zen 5 AVX-512, a noisy VM): lower in five rounds of six, such as
            // 1.54-1.60 -> 1.35-1.41 and 1.71-1.74 -> 1.42-1.45 ms; chunks of 256 KB gained less,
            // 64 KB lost. Two cores, lower in two rounds of three (0.96-1.11 -> 0.79-0.89 ms).
            func runInChunks(_ input: UnsafePointer<isp_conv_input>, _ t: Range<Int>, _ chunk: Int) {
                var first = 0
                while first < kc {
                    let end = min(kc, first + chunk)
                    var part = input.pointee
                    part.xOffset += first; part.weightChannel += first; part.channels = Int32(end - first)
                    var partOutput = output
                    if first > 0 { partOutput.bias = UnsafePointer(self.zeroBias.data); partOutput.residual = UnsafePointer(out) }
                    if end < kc { partOutput.low = -.infinity; partOutput.high = .infinity }
                    isp_conv_tiles(isa, &part, panels.data, Int32(panels.rows), Int32(outChannels), Int32(t.lowerBound),
                                   Int32(t.upperBound), 0, Int32(grid), 0, &partOutput)
                    first = end
                }
            }
            // Output rows `u` from bordered planes whose first row is the one output row `first` starts at.
            func runUnits(_ input: UnsafePointer<isp_conv_input>, _ t: Range<Int>, _ u: Range<Int>, _ first: Int) {
                if let chunk = chunkChannels, u == 0..<units {
                    return runInChunks(input, t, chunk)
                }
                if l.unitsAreRows {
                    run(input, t, ((u.lowerBound - first) * ow)..<((u.upperBound - first) * ow), first * ow)
                } else {
                    run(input, t, (u.lowerBound * block)..<min(grid, u.upperBound * block), 0)
                }
            }
            // The saliency of tiles `t`'s channels, once written, by the core that wrote their
            // whole planes (the saliency of a plane is one sum over all of it: `isp_plane_norms`).
            // Against measuring in a pass of its own, with the same shares, after this split:
            // MobileNetV2 w0.5's gates on 8x8 and 4x4 maps 2.3-3.0 -> 0.2-0.6 us, their
            // convolutions 0.5-0.8 us slower (isp bench --profile --prune stored).
            func measure(_ t: Range<Int>) {
                guard let saliency else { return }
                let channels = (t.lowerBound * 16)..<min(outChannels, t.upperBound * 16)
                ChannelGate.measure(out, planes: channels, height: oh, width: ow, into: saliency.norms.data, isa: engine.isa)
            }
            // Split by rows (VGG16 w0.5's first convolution, whose 2 tiles do not go by channels), each
            // core adds up its own rows of every plane, as Winograd's tile rows do. Measured in a pass
            // of its own after the split instead, that gate took 1.8-1.9 us on two cores; the
            // convolution and its gate together, medians of 12 alternations, 10.95 -> 10.3 us (isp
            // bench --profile --prune stored, AMD Zen 4 AVX-512).
            func measureShare(_ pixels: Range<Int>) {  // the output pixels this share wrote
                saliency?.measureRows(of: out, channels: outChannels, pixels: pixels)
            }
            if division == .rows, let saliency {
                precondition(l.unitsAreRows || grid == oh * ow, "grid positions are the output pixels")
                saliency.expectRows(of: out, channels: outChannels, height: oh, width: ow)
            } else if division != .inputChannels {
                saliency?.map = out
            }
            outputSplit = division == .rows ? .rows : .mixed
            withUnsafePointer(to: input) { input in
                switch division {
                case .none:
                    runUnits(input, 0..<tiles, 0..<units, 0)
                    measure(0..<tiles)
                case .rows:
                    // One contiguous share of rows (or grid positions) per core, the caller's the
                    // first: each core then reads mostly what it wrote the step before, instead of
                    // half its input from the other core's cache. Quiet machine, 3 alternations,
                    // against two pieces a core claimed in turn: VGG16 w0.5 dense 1.007-1.013 ->
                    // 0.969-0.997 ms, pruned 0.555-0.562 -> 0.528-0.539 ms; ResNet-18 w0.25 dense
                    // 0.559-0.567 -> 0.525-0.535 ms; then for MobileNetV2's pointwise grids too: dense
                    // 0.936-1.000 -> 0.905-0.925 ms, pruned 0.891-0.943 -> 0.861-0.887 ms (Intel Xeon
                    // AVX-512). The price: a share whose core was preempted after starting it is not
                    // taken over by the other.
                    // Grids of a few units also split so when there are fewer than two tiles per
                    // core, which would leave each core the one-tile blocks (MobileNetV2 w0.5's 8x8
                    // projections to 2 tiles: 12.9-24.6 -> 11.0-19.6 us).
                    // A grid run straight through splits into equal runs of positions, not of whole
                    // blocks: a 64-position map's 5 blocks of 13 went 2 and 3 to the cores.
                    guard l.unitsAreRows else {
                        return engine.forEachShare(of: grid, keepWarm: true) { q, workspace in
                            run(input, 0..<tiles, q, 0)
                            measureShare(q)
                        }
                    }
                    engine.forEachShare(of: units, keepWarm: true) { rows, workspace in
                        if stagesPerShare {
                            var own = input.pointee
                            own.x = stageShare(x, rows: rows, height: ih, width: iw, kept: kc, share: workspace.index, isa: engine.isa)
                            runUnits(&own, 0..<tiles, rows, rows.lowerBound)
                        } else {
                            runUnits(input, 0..<tiles, rows, 0)
                        }
                        measureShare((rows.lowerBound * ow)..<(rows.upperBound * ow))
                    }
                case .inputChannels:
                    sumInputChannelShares(input, kept: kc, grid: grid, width: ow, panels: panels, out: out, bias: bias, cap: cap,
                                          residual: residual, saliency: saliency, engine: engine)
                case .channels:
                    // The output channels, one share per core: maps a gate measures (above), and small
                    // maps (dense MobileNetV2 w0.5, three alternations, 0.774-0.785 -> 0.751-0.761 ms).
                    func shareInput(_ share: Int) -> isp_conv_input {
                        var own = input.pointee
                        if unrollsPerShare {
                            let staged = self.shareStaging[share].data
                            self.unroll(x, count: 1, imageStride: 0, channels: 0..<kc, of: kc, layout: l, into: staged, isa: engine.isa)
                            own.x = UnsafePointer(staged)
                        }
                        return own
                    }
                    guard saliency == nil && tiles % threads != 0 && !l.unitsAreRows else {
                        return engine.forEachPiece(of: tiles, pieces: engine.threads, keepWarm: true) { r, workspace in
                            var own = shareInput(workspace.index)
                            runUnits(&own, r, 0..<units, 0)
                            measure(r)
                        }
                    }
                    // Tiles that do not divide evenly (5 tiles: 2 and 3 a core) are shared by
                    // positions too: each core takes an equal run of (tile, position) in tile order,
                    // the tile on the boundary split between them. MobileNetV2 w0.5 (its 80-channel
                    // layers), three alternations: 0.684-0.692 -> 0.680-0.682 ms (isp bench, Intel
                    // Xeon AVX-512).
                    engine.forEachShare(of: tiles * grid, keepWarm: true) { r, workspace in
                        var own = shareInput(workspace.index)
                        var at = r.lowerBound
                        while at < r.upperBound {
                            let tile = at / grid, q = at % grid
                            if q == 0 && r.upperBound >= (tile + 1) * grid {  // whole tiles, in one call
                                let whole = r.upperBound / grid
                                run(&own, tile..<whole, 0..<grid, 0)
                                at = whole * grid
                            } else {  // part of a tile
                                let end = min(r.upperBound, (tile + 1) * grid)
                                run(&own, tile..<(tile + 1), q..<(end - tile * grid), 0)
                                at = end
                            }
                        }
                    }
                }
            }
        }
        if count > 1 {
            TiledConvolution.swapBlocks(channelRows.data, out, outer: outChannels, inner: count, pixels: l.rows * ow)
        }
        return macs
    }
}
