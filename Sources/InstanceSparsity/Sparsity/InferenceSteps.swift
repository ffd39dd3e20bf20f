import Dispatch
import CKernels

/// The inference-only form of the network's operations: batch norm folded into the convolution,
/// the activation fused into its epilogue, buffers allocated once. One image at a time, because
/// the kept channels differ per image.

/// Per-image state threaded through the steps: which input channels the next convolution may
/// read (set by a gate), whether a pruned depthwise convolution skipped the others, and the MACs
/// executed so far.
final class RunContext {
    /// The kept channels of the last gate's map, ascending (nil count: all of them).
    var kept: UnsafeMutablePointer<Int32>
    var keptCount: Int? = nil
    var macs = 0
    /// Split large convolutions across cores (batch-1 latency); off when each core runs its own image.
    var useAllCores = true
    /// The kernels' instruction set and the threads a split runs on (this pass's: the executor's
    /// engine or its `onOneCore` twin, see `SplitChoice`).
    var engine: Engine
    var decide: ((Int, UnsafePointer<Float>, Int, UnsafeMutablePointer<Int32>) -> Int)? = nil
    /// The gates `decide` is asked about; the others keep every channel without measuring.
    var decidedGates: Set<Int> = []
    var keptPerGate: [Int]
    /// Inverted-residual blocks whose expanded map has at least this many floats run by bands of
    /// rows (`BandedBlock`; nil: none do).
    var bandedFloats: Int? = BandedBlock.bandedFloats
    /// Floats of expanded rows a band's window aims at, and the windows of every such block.
    var bandWindowFloats = BandedBlock.windowFloats
    let bandWindows = BandWindows()
    /// How the last convolution left its output map in the cores' caches.
    var mapSplit = MapSplit.mixed
    /// What each step did in this pass when profiling (indexed by `InferenceStep.id`).
    var profile: [StepSample]? = nil
    /// Where a profiling pass's engine (`Engine.timingSplits`) adds what its splits' threads did.
    let splitTimes: UnsafeMutablePointer<isp_split_times>

    /// Runs one step, timing it when profiling.
    @inline(__always)
    func execute(_ step: InferenceStep, _ x: Tensor) -> Tensor {
        guard profile != nil else { return step.run(x, self) }
        let start = DispatchTime.now().uptimeNanoseconds, macsBefore = macs, splitsBefore = splitTimes.pointee
        let y = step.run(x, self)
        profile![step.id].seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        profile![step.id].macs += macs - macsBefore
        profile![step.id].add(splitTimes.pointee, less: splitsBefore)
        return y
    }

    init(maxChannels: Int, gates: Int, engine: Engine) {
        self.engine = engine
        kept = .allocate(capacity: maxChannels)
        keptPerGate = [Int](repeating: 0, count: gates)
        splitTimes = .allocate(capacity: 1)
        splitTimes.initialize(to: isp_split_times())
    }

    deinit { kept.deallocate(); splitTimes.deallocate() }
}

/// One step of one profiled pass: its time, the MACs it executed, and its splits on the pool:
/// how many, and the seconds the caller ran tasks, the busiest worker ran tasks, and the caller
/// then waited for the others.
struct StepSample {
    var seconds = 0.0, macs = 0
    var splits = 0, callerSeconds = 0.0, workerSeconds = 0.0, waitSeconds = 0.0

    mutating func add(_ after: isp_split_times, less before: isp_split_times) {
        splits += Int(after.jobs - before.jobs)
        callerSeconds += Double(after.callerNanoseconds - before.callerNanoseconds) / 1e9
        workerSeconds += Double(after.workerNanoseconds - before.workerNanoseconds) / 1e9
        waitSeconds += Double(after.waitNanoseconds - before.waitNanoseconds) / 1e9
    }
}

protocol InferenceStep: AnyObject {
    /// Position in the executor's flat list of steps, and a name for profiles.
    var id: Int { get set }
    var label: String { get set }
    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor
}

/// A step that writes its result to a buffer (the others return their input, or a step's they
/// ran): one the executor shares with steps whose results are no longer needed when it runs
/// (`SparseExecutor.shareBuffers`).
protocol WritingStep: InferenceStep {
    var out: Tensor { get set }
}

/// A step that measures, as it writes its map, the saliency of the gate on that map (set by the
/// executor): each core the planes it just wrote, in its cache, instead of the gate reading the
/// whole map again in a pass of its own.
protocol MeasuringStep: WritingStep {
    var gate: GateStep? { get set }
}

/// Convolution + folded batch norm + optional ReLU/ReLU6. When the preceding gate dropped input
/// channels, the kernel reads only the kept ones: their weight rows and input planes are never
/// touched, so a dropped channel costs nothing but its entry missing from a list.
final class FusedConv: MeasuringStep {
    var id = 0, label = ""
    let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, groups: Int
    /// The activation's cap (nil: none; .infinity: ReLU), applied last: after the residual when
    /// this convolution ends a residual branch, whose block activation it then is.
    private(set) var cap: Float?
    /// Set while this convolution ends a residual branch: the shortcut's output, added before `cap`
    /// (see `ResidualStep`).
    var residual: Tensor? = nil
    /// outChannels x (inChannels/groups * k * k), BN folded.
    let weight: [Float]
    let bias: Tensor
    /// The same weights for the tiled kernel (`ConvolutionPlan.tiles`), arranged when a plan first
    /// runs this convolution there: one on Winograd's transforms never needs them (torchvision
    /// resnet18 at 224, `isp bench --random-inputs`: peak memory 410 -> 391 MB).
    private(set) lazy var panels: WeightPanels? = ConvolutionPlan.tiles(groups: groups, stride: stride)
        ? WeightPanels(weights: weight, outChannels: outChannels, rows: inChannels * kernel * kernel, engine: engine) : nil
    /// The convolution's forced plan, if a test set one (see `Conv2d.plan`).
    private let forcedPlan: ConvolutionPlan?
    /// The GEMM path's weights of the kept input channels: outChannels x (kept * k * k).
    private let keptWeights = Tensor(shape: [0])
    /// Depthwise convolutions followed by a 1x1 one (`follow`): per channel, what a skipped plane
    /// would hold, activation(bias), subtracted from every output value (empty: nothing).
    let outputShift = Tensor(shape: [0])
    var out = Tensor(shape: [0])
    private let col = Tensor(shape: [0])
    /// Dense convolutions: the tiled kernel with its input staging.
    private let convolution: TiledConvolution?
    /// 3x3 convolutions on Winograd's F(2x2, 3x3), made when a plan first takes them there.
    private lazy var winograd = WinogradConvolution(weights: weight, outChannels: outChannels, inChannels: inChannels, engine: engine)
    private let engine: Engine
    /// Depthwise: the kernel's scratch (`isp_depthwise_scratch`), one part per thread.
    private let scratch = Tensor(shape: [0])
    /// The gate on this convolution's output, if any (set by the executor).
    var gate: GateStep? = nil

    /// `engine`: the executor's, which re-arranges the weights into panels (see `panels`).
    init(conv: Conv2d, bn: BatchNorm2d?, cap: Float?, engine: Engine) {
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
        weight = w; bias = Tensor(shape: [outChannels], values: b)
        forcedPlan = conv.forcedPlan
        convolution = ConvolutionPlan.tiles(groups: groups, stride: stride)
            ? TiledConvolution(inChannels: inChannels, kernel: kernel, stride: stride, padding: padding) : nil
        self.engine = engine
    }

    /// Makes this 1x1 convolution the one after `depthwise`, which then writes each of its planes
    /// less the constant k = activation(bias) a skipped plane of it would hold, while this
    /// convolution's bias takes in every channel's constant, W k. A skipped channel then adds
    /// nothing, so the kept channels alone give the exact result: no per-image bias correction.
    /// That correction, its lists built over all the input channels, took 6% of a pruned
    /// MobileNetV2's time (width 1.0, 17 gates, one core: `perf record`, AMD Zen 5). Without it,
    /// four alternations of `isp bench --profile --prune stored`, the quietest: the projections of
    /// features.12-17 8-18 -> 4-12 us, the whole pass 0.943 -> 0.882 ms.
    func follow(depthwise: FusedConv) {
        guard groups == 1 && kernel == 1 && padding == 0 else { return }
        let constants = (0..<inChannels).map { activate(depthwise.bias[$0], depthwise.cap) }
        for o in 0..<outChannels {
            var sum: Float = 0
            for c in 0..<inChannels { sum += weight[o * inChannels + c] * constants[c] }
            bias[o] += sum
        }
        depthwise.outputShift.resize([inChannels])
        depthwise.outputShift.data.update(from: constants, count: inChannels)
    }

    var isDepthwise: Bool { groups == inChannels && groups == outChannels && groups > 1 }

    /// Makes this convolution end a residual branch whose block activation is `blockCap`.
    func endResidualBranch(blockCap: Float?) {
        precondition(!isDepthwise && cap == nil, "a residual branch must end in a dense convolution without activation")
        cap = blockCap
    }

    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor {
        let ih = x.shape[2], iw = x.shape[3]
        let oh = (ih + 2 * padding - kernel) / stride + 1, ow = (iw + 2 * padding - kernel) / stride + 1
        out.resize([1, outChannels, oh, ow])
        let path = inferencePath(outputWidth: ow, engine: ctx.engine)
        if path == .depthwise { depthwise(x, ih, iw, oh, ow, ctx) } else { dense(x, ih, iw, oh, ow, path, ctx) }
        return out
    }

    /// How one image runs here at this output width: the forced plan's path, if a test set one.
    func inferencePath(outputWidth ow: Int, engine: Engine) -> ConvolutionPath {
        (forcedPlan ?? ConvolutionPlan(inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride,
                                       padding: padding, groups: groups, outputWidth: ow, datapathFloats: engine.datapathFloats)).inference
    }

    private func dense(_ x: Tensor, _ ih: Int, _ iw: Int, _ oh: Int, _ ow: Int, _ path: ConvolutionPath, _ ctx: RunContext) {
        let biasPointer = UnsafePointer(bias.data)
        if path == .tiled, let panels = panels {
            tiled(x, ih, iw, panels, biasPointer, ctx)
        } else if path == .winograd {
            precondition(kernel == 3 && stride == 1 && padding == 1 && groups == 1, "a winograd plan for a convolution that cannot run on it")
            ctx.macs += winograd.run(x.data, height: ih, width: iw, kept: ctx.keptCount.map { (UnsafePointer(ctx.kept), $0) },
                                     out: out.data, bias: biasPointer, cap: cap, residual: residual.map { UnsafePointer($0.data) },
                                     saliency: gate?.saliency(of: out, ctx), engine: ctx.engine, split: ctx.useAllCores)
            ctx.mapSplit = winograd.outputSplit
        } else {
            precondition(path == .gemm, "a \(path) plan for a convolution that cannot run on it")
            gemm(x, ih, iw, oh, ow, biasPointer, ctx)
        }
        ctx.keptCount = nil
    }

    /// The tiled micro-kernel over the kept input channels, measuring the saliency of the gate on
    /// its output when that gate decides on this image.
    private func tiled(_ x: Tensor, _ ih: Int, _ iw: Int, _ panels: WeightPanels, _ bias: UnsafePointer<Float>,
                       _ ctx: RunContext) {
        let conv = convolution!
        ctx.macs += conv.run(x.data, height: ih, width: iw, kept: ctx.keptCount.map { (UnsafePointer(ctx.kept), $0) },
                             panels: panels, out: out.data, bias: bias, cap: cap, residual: residual.map { UnsafePointer($0.data) },
                             saliency: gate?.saliency(of: out, ctx), inputSplit: ctx.mapSplit, engine: ctx.engine,
                             split: ctx.useAllCores)
        ctx.mapSplit = conv.outputSplit
    }

    /// im2col and one OpenBLAS GEMM per group: grouped (not depthwise) convolutions, strides above
    /// 2, outputs under `ConvolutionPlan.narrowestTiledOutput` wide. Without groups it reads only the
    /// kept input channels: their rows of the unrolled input and their columns of the weights.
    private func gemm(_ x: Tensor, _ ih: Int, _ iw: Int, _ oh: Int, _ ow: Int, _ b: UnsafePointer<Float>, _ ctx: RunContext) {
        precondition(ctx.keptCount == nil || groups == 1, "grouped convolutions cannot follow a pruned map")
        let hw = oh * ow, cig = inChannels / groups, cog = outChannels / groups, kk = kernel * kernel
        let kept = ctx.keptCount ?? cig, rows = kept * kk
        col.resize([rows, hw])
        weight.withUnsafeBufferPointer { all in
            var w = all.baseAddress!
            if let kc = ctx.keptCount {  // the kept channels' weights, side by side
                keptWeights.resize([outChannels, rows])
                for o in 0..<outChannels {
                    for i in 0..<kc {
                        (keptWeights.data + o * rows + i * kk).update(from: w + (o * cig + Int(ctx.kept[i])) * kk, count: kk)
                    }
                }
                w = UnsafePointer(keptWeights.data)
            }
            for g in 0..<groups {
                InstanceSparsity.im2col(image: x.data, inHeight: ih, inWidth: iw, kernel: kernel, stride: stride, padding: padding,
                                        outHeight: oh, outWidth: ow, channels: ctx.keptCount.map { _ in UnsafePointer(ctx.kept) },
                                        firstChannel: g * cig, count: kept, into: col.data, rowStride: hw)
                InstanceSparsity.gemm(m: cog, n: hw, k: rows, a: w + g * cog * rows, lda: rows,
                                      b: col.data, ldb: hw, c: out.data + g * cog * hw, ldc: hw)
            }
        }
        ctx.macs += outChannels * hw * rows
        ctx.mapSplit = .mixed
        let o = out.data, cap = cap, side = residual?.data
        for c in 0..<outChannels {
            let p = o + c * hw, v = b[c]
            if let side {
                for j in 0..<hw { p[j] = activate(p[j] + v + side[c * hw + j], cap) }
            } else {
                for j in 0..<hw { p[j] = activate(p[j] + v, cap) }
            }
        }
    }

    /// Depthwise: only kept channels are convolved. A skipped channel's input is zero, so its output
    /// would be the constant activation(bias); the 1x1 convolution that follows has it in its bias
    /// (see `follow`) and reads only the kept channels, so skipped planes are never written.
    private func depthwise(_ x: Tensor, _ ih: Int, _ iw: Int, _ oh: Int, _ ow: Int, _ ctx: RunContext) {
        let c = inChannels, kept = ctx.keptCount ?? c, pruned = ctx.keptCount != nil
        precondition(!pruned || outputShift.count == c, "a pruned depthwise convolution must be followed by a 1x1 convolution")
        var split = MapSplit.mixed
        weight.withUnsafeBufferPointer { w in
            var args = depthwiseArguments(x: x.data, out: out.data, weights: w.baseAddress!, bias: bias.data, kernel: kernel,
                                          stride: stride, padding: padding, inHeight: ih, inWidth: iw, outHeight: oh,
                                          outWidth: ow, perImage: c, cap: cap, planes: pruned ? UnsafePointer(ctx.kept) : nil,
                                          shift: outputShift.count == c ? UnsafePointer(outputShift.data) : nil)
            // Scratch of this executor's own (executors may run side by side on one engine), one
            // part per thread, a cache line apart: threads writing one line slowed each other down
            // more than the split saved.
            let isa = ctx.engine.isa.kernel, part = Int(isp_depthwise_scratch(&args)) + 16
            scratch.resize([ctx.engine.threads * part])
            func work(_ channels: Range<Int>, _ rows: Range<Int>, _ thread: Int) {
                isp_depthwise(isa, &args, Int32(channels.lowerBound), Int32(channels.upperBound), Int32(rows.lowerBound),
                              Int32(rows.upperBound), self.scratch.data + thread * part)
            }
            // Split from 32K multiply-adds: on one core, MobileNetV2 w0.5's stride-2 layers to 8x8
            // and 4x4 (55K and 41K) read the expansion's channels from both cores' caches, 2.9 and
            // 4.3 us; split by channels 1.9 and 2.5 (isp bench --profile, two cores, Zen 5, stop 41).
            if !ctx.useAllCores || kept * oh * ow * kernel * kernel < TiledConvolution.parallelThreshold / 4 {
                work(0..<kept, 0..<oh, 0)
            } else if ctx.mapSplit == .rows && oh * ow >= 2048 {
                // The convolution before wrote its map in bands of rows, one per core: each core
                // convolves its band (and the rows around it), reading what it wrote, and leaves
                // bands for the projection after it, which splits by rows too. By channels, each
                // core read half of every band from the other core's cache. torchvision mobilenet_v2
                // at 224, alternating: 5.19-5.31 -> 4.92-5.26 ms (its stride-2 depthwise at 112x112
                // 0.31-0.33 -> 0.20-0.22 ms, the projections after it 20-30% faster). Only on large
                // maps: on 28x28 and smaller each channel's fixed cost, paid on both cores, outweighed
                // it (+6-23 us a layer).
                ctx.engine.forEachPiece(of: oh, pieces: ctx.engine.threads, keepWarm: true) { r, workspace in
                    work(0..<kept, r, workspace.index)
                }
            } else {
                // Fixed shares of the channels, so that the projection after it can sum each share
                // on the core that holds it (`TiledConvolution.run`).
                ctx.engine.forEachShare(of: kept, keepWarm: true) { r, workspace in work(r, 0..<oh, workspace.index) }
                split = .channelShares
            }
        }
        ctx.macs += kept * oh * ow * kernel * kernel
        // The kept list stays set: the projection that follows reads only these channels.
        ctx.mapSplit = split
    }
}

/// A gate's saliency measured by the step that writes the gate's map (`MeasuringStep`), each core
/// measuring the planes it wrote while they are in its cache, when each core wrote whole planes;
/// `map`: the map measured, until the gate has read it.
final class OutputSaliency {
    let norms = Tensor(shape: [0])
    /// Setting it says the planes' saliency is in `norms` whole, not by rows (`expectRows`).
    var map: UnsafeMutablePointer<Float>? = nil { didSet { byRows = false } }
    /// Or, where the cores wrote rows of every plane (a convolution split by rows), the sums of
    /// squares (height x channels) each core measured of the rows it wrote, while they are in its
    /// cache: a block of rows it wrote whole as one sum at the block's first row
    /// (`isp_block_square_sums`, `blockWhole[b]` 1), the rows of a block a split cut each apart
    /// (`isp_row_square_sums`, `rowMeasured[r]` 1). What crosses to the gate's core is then about
    /// what the two cores' sums were (see Reductions.c).
    let sums = Tensor(shape: [0]), blockWhole = Tensor(shape: [0]), rowMeasured = Tensor(shape: [0])
    private(set) var byRows = false
    private var height = 0, width = 0
    /// Rows a block (Reductions.c's SALIENCY_BLOCK).
    private static let blockRows = Int(isp_saliency_block())

    /// Before a split by rows of `map` (`channels` planes of height x width): each core will measure
    /// the rows it wrote (`measureRows`).
    func expectRows(of map: UnsafeMutablePointer<Float>, channels: Int, height: Int, width: Int) {
        self.map = map; byRows = true  // after `map`, which clears it
        self.height = height; self.width = width
        sums.resize([height, channels])
        blockWhole.resize([(height + Self.blockRows - 1) / Self.blockRows])
        blockWhole.zero()
        rowMeasured.resize([height])
        rowMeasured.zero()
    }

    /// The rows of `map` wholly inside `pixels` (a run of positions of every plane), on the core
    /// that wrote them: the blocks among them whole, the others row by row. A row a split cut in
    /// two is left to `finishRows`.
    func measureRows(of map: UnsafePointer<Float>, channels: Int, pixels: Range<Int>) {
        let first = (pixels.lowerBound + width - 1) / width, end = pixels.upperBound / width, b = Self.blockRows
        guard first < end else { return }
        // Whole blocks: from the first block start at or after `first` to the last block end at or
        // before `end` (the last block ends at the plane's end).
        let wholeStart = (first + b - 1) / b * b, wholeEnd = max(wholeStart, end == height ? end : end / b * b)
        guard wholeStart < wholeEnd else { return measure(map, channels: channels, rows: first..<end) }
        isp_block_square_sums(map + wholeStart * width, Int32(channels), Int64(height * width), Int32(wholeEnd - wholeStart),
                              Int32(width), sums.data + wholeStart * channels, Int64(channels))
        for block in (wholeStart / b)..<((wholeEnd + b - 1) / b) { blockWhole[block] = 1 }
        measure(map, channels: channels, rows: first..<wholeStart)
        measure(map, channels: channels, rows: wholeEnd..<end)
    }

    private func measure(_ map: UnsafePointer<Float>, channels: Int, rows: Range<Int>) {
        guard !rows.isEmpty else { return }
        isp_row_square_sums(map + rows.lowerBound * width, Int32(channels), Int64(height * width), Int32(rows.count), Int32(width),
                            sums.data + rows.lowerBound * channels, Int64(channels))
        for r in rows { rowMeasured[r] = 1 }
    }

    /// The saliency of the `channels` planes of `map` into `norms`, the rows no core measured (a
    /// row a split cut in two, a share no thread ran) measured now.
    func finishRows(of map: UnsafePointer<Float>, channels: Int) {
        func missing(_ r: Int) -> Bool { blockWhole[r / Self.blockRows] == 0 && rowMeasured[r] == 0 }
        var r = 0
        while r < height {
            guard missing(r) else { r += 1; continue }
            var end = r + 1
            while end < height && missing(end) { end += 1 }
            measure(map, channels: channels, rows: r..<end)
            r = end
        }
        ChannelGate.measure(rowSums: sums.data, wholeBlocks: blockWhole.data, channels: channels, height: height, width: width,
                            into: norms.data)
    }
}

/// Where a gate sits: measures each channel's saliency and lets the policy pick what to keep.
/// The dense path (no policy) and gates the policy does not prune skip the measurement: nothing
/// would read it (the shipped MobileNetV2's stored operating point prunes 12 of its 32 maps).
final class GateStep: InferenceStep {
    var id = 0, label = ""
    let index: Int
    private let measured = OutputSaliency()
    private(set) var channels = 0

    init(index: Int) { self.index = index }

    /// Where the step writing `map` may measure it: this gate's, when the gate decides on
    /// this image (nil otherwise: nothing would read it).
    func saliency(of map: Tensor, _ ctx: RunContext) -> OutputSaliency? {
        guard ctx.decide != nil, ctx.decidedGates.contains(index) else { return nil }
        measured.norms.resize([map.shape[1]])
        return measured
    }

    /// This image keeps every one of the map's `c` channels: the gate does not decide on it (also
    /// called by a `BandedBlock`, which never writes the gate's map whole).
    func passes(channels c: Int, _ ctx: RunContext) {
        channels = c
        measured.map = nil
        ctx.keptPerGate[index] = c
    }

    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor {
        let c = x.shape[1], hw = x.shape[2] * x.shape[3]
        channels = c
        let measuredBefore = measured.map == x.data, byRows = measured.byRows
        measured.map = nil
        guard let decide = ctx.decide, ctx.decidedGates.contains(index) else {
            passes(channels: c, ctx)
            return x
        }
        let s = measured.norms
        if measuredBefore && byRows {  // the rows' sums of squares
            measured.finishRows(of: x.data, channels: c)
        } else if !measuredBefore {  // in a pass of its own, one share of the planes per core
            s.resize([c])
            let planes = UnsafePointer(x.data), norms = s.data, isa = ctx.engine.isa, height = x.shape[2], width = x.shape[3]
            func measure(_ r: Range<Int>) { ChannelGate.measure(planes, planes: r, height: height, width: width, into: norms, isa: isa) }
            if ctx.useAllCores && c * hw >= TiledConvolution.parallelSaliencyThreshold {
                ctx.engine.forEachPiece(of: c, pieces: ctx.engine.threads, keepWarm: true) { r, _ in measure(r) }
            } else {
                measure(0..<c)
            }
        }
        ctx.macs += c * hw  // measuring saliency is work too
        let kept = decide(index, s.data, c, ctx.kept)
        ctx.keptPerGate[index] = kept
        ctx.keptCount = kept < c ? kept : nil
        return x
    }
}

final class MaxPoolStep: MeasuringStep {
    /// Maps of at least this many floats pool on every core. A pool is a few microseconds, about
    /// what a split costs: VGG16 w0.5's pool of 64 planes of 16x16 (16384 floats) took 3.3 us split
    /// by planes on two cores and 1.9 us on the caller alone, of 32 planes of 32x32 3.0 and 3.1
    /// (isp bench --profile --prune stored, AMD Zen 4, five alternations); the next convolution
    /// took no longer for it.
    static let parallelFloats = 1 << 16
    var id = 0, label = ""
    var gate: GateStep? = nil
    let pool: MaxPool2d
    var out = Tensor(shape: [0])
    init(_ pool: MaxPool2d) { self.pool = pool }

    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor {
        let c = x.shape[1], ih = x.shape[2], iw = x.shape[3], oh = pool.outputSize(ih), ow = pool.outputSize(iw)
        out.resize([1, c, oh, ow])
        let src = UnsafePointer(x.data), dst = out.data, pool = pool, engine = ctx.engine
        // Each core measures the planes it pooled for the gate on this map, as a convolution does.
        let saliency = gate?.saliency(of: out, ctx)
        saliency?.map = dst
        func planes(_ r: Range<Int>) {
            pool.pool(src, planes: r, height: ih, width: iw, into: dst, winners: nil, isa: engine.isa.kernel)
            if let saliency { ChannelGate.measure(dst, planes: r, height: oh, width: ow, into: saliency.norms.data, isa: engine.isa) }
        }
        if ctx.useAllCores && c * ih * iw >= MaxPoolStep.parallelFloats {
            ctx.engine.forEachPiece(of: c, keepWarm: true) { r, _ in planes(r) }
        } else {
            planes(0..<c)
        }
        ctx.mapSplit = .mixed  // not the split of the convolution before it
        return out
    }
}

final class GlobalAvgPoolStep: WritingStep {
    var id = 0, label = ""
    var out = Tensor(shape: [0])
    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor {
        let c = x.shape[1], hw = x.shape[2] * x.shape[3]
        out.resize([1, c])
        let planes = UnsafePointer(x.data), means = out.data
        // Split by channels on two cores, each core's planes mostly those it wrote: MobileNetV2
        // w0.5's 1280 planes of 16, 8.4 -> 5.5 us (isp bench --profile, Intel Xeon AVX-512).
        func average(_ r: Range<Int>) {  // as the training layer
            isp_plane_means(planes + r.lowerBound * hw, Int64(r.count), Int64(hw), means + r.lowerBound)
        }
        if ctx.useAllCores && c * hw >= TiledConvolution.parallelSaliencyThreshold {
            ctx.engine.forEachShare(of: c, keepWarm: true) { r, _ in average(r) }
        } else {
            average(0..<c)
        }
        return out
    }
}

final class AdaptiveAvgPoolStep: WritingStep {
    var id = 0, label = ""
    let size: Int
    var out = Tensor(shape: [0])
    init(size: Int) { self.size = size }

    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor {
        out.resize([1, x.shape[1], size, size])
        adaptiveAveragePool(x.data, planes: x.shape[1], height: x.shape[2], width: x.shape[3], size: size, into: out.data)
        return out
    }
}

/// y = activation(W x + b), with the ReLU that directly follows the layer, if any.
final class LinearStep: WritingStep {
    var id = 0, label = ""
    /// W as 16-output panels: each core streams whole tiles (`isp_matrix_vector`).
    let panels: WeightPanels
    let bias: Tensor, cap: Float?
    var out = Tensor(shape: [0])
    init(_ l: Linear, cap: Float?, engine: Engine) {
        panels = WeightPanels(outChannels: l.outFeatures, rows: l.inFeatures)
        panels.load(l.weight.value.data, engine: engine)
        bias = l.bias.value.copy(); self.cap = cap
    }

    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor {
        let inputs = panels.rows, outputs = panels.outChannels
        precondition(x.count == inputs, "linear expects \(inputs) features, got shape \(x.shape)")
        out.resize([1, outputs])
        let w = UnsafePointer(panels.data), input = UnsafePointer(x.data), y = out.data, cap = cap, isa = ctx.engine.isa.kernel
        y.update(from: bias.data, count: outputs)
        func tiles(_ t: Range<Int>) {
            isp_matrix_vector(isa, w, input, Int32(inputs), Int32(outputs), Int32(t.lowerBound), Int32(t.upperBound), y)
            for o in (16 * t.lowerBound)..<min(outputs, 16 * t.upperBound) { y[o] = activate(y[o], cap) }
        }
        // Tiles on both cores: VGG16's ImageNet classifier reads 400 MB of weights per image, which
        // two cores stream faster than one.
        if ctx.useAllCores && inputs * outputs >= TiledConvolution.parallelThreshold {
            ctx.engine.forEachPiece(of: panels.tiles, keepWarm: true) { t, _ in tiles(t) }
        } else {
            tiles(0..<panels.tiles)
        }
        ctx.macs += inputs * outputs
        return out
    }
}

/// activation(branch(x) + shortcut(x)).
/// A residual block. The branch's last convolution adds the shortcut in its epilogue, before the
/// block's ReLU, so the sum costs no pass of its own.
final class ResidualStep: InferenceStep {
    var id = 0, label = ""
    let branch: [InferenceStep], shortcut: [InferenceStep]?
    /// The branch's last convolution, which writes the block's output.
    let last: FusedConv

    /// `cap`: the block's ReLU (nil: none; .infinity: plain ReLU).
    init(branch: [InferenceStep], shortcut: [InferenceStep]?, cap: Float?) {
        guard let last = branch.last as? FusedConv ?? (branch.last as? BandedBlock)?.projection else {
            preconditionFailure("a residual branch must end in a convolution")
        }
        self.branch = branch; self.shortcut = shortcut; self.last = last
        last.endResidualBranch(blockCap: cap)
    }

    /// A gate on the block's input (ResNet-18's block outputs) dropped channels for the rest of
    /// the network, as the masked network's zeros: the downsample reads only the kept channels,
    /// like the branch's first convolution, and the identity adds zero for the dropped ones.
    func run(_ x: Tensor, _ ctx: RunContext) -> Tensor {
        let keptCount = ctx.keptCount
        let side: Tensor
        if let shortcut {
            side = shortcut.reduce(x) { ctx.execute($1, $0) }
            ctx.keptCount = keptCount  // the downsample consumed the kept list; conv1 reads it too
        } else {
            if let keptCount { zeroDroppedChannels(x, kept: ctx.kept, count: keptCount) }
            side = x
        }
        last.residual = side
        defer { last.residual = nil }
        return branch.reduce(x) { ctx.execute($1, $0) }
    }

    /// Zeroes in place the planes of `x` not in the sorted list `kept`: the previous block's output,
    /// read only by this block, whose branch never touches dropped planes.
    private func zeroDroppedChannels(_ x: Tensor, kept: UnsafePointer<Int32>, count: Int) {
        let hw = x.shape[2] * x.shape[3]
        var k = 0
        for c in 0..<x.shape[1] {
            if k < count && Int(kept[k]) == c { k += 1; continue }
            (x.data + c * hw).update(repeating: 0, count: hw)
        }
    }
}
