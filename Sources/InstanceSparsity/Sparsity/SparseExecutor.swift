import Dispatch

/// Runs a trained network one image at a time with instance-wise channel pruning: at each selected
/// gate the policy picks the channels to keep for this image, and the next convolution only reads
/// those. With no policy it is the dense inference path (same code, nothing dropped), so measured
/// speedups compare like with like. It runs on the network's engine.
public final class SparseExecutor {
    public let spec: ModelSpec
    private let steps: [InferenceStep]
    private let allSteps: [InferenceStep]
    private let gateSteps: [GateStep]
    private let context: RunContext
    private let input = Tensor(shape: [0])

    /// nil: dense. Otherwise applied at the gates in `prunedGates`.
    public var policy: ThresholdPolicy?
    public var prunedGates: Set<Int> = []
    /// Per gate, channels by decreasing mean calibration saliency (for `static-topk`).
    public var ranking: [[Int32]]? = nil
    /// Per gate, a fixed keep mask (1 = keep); overrides the policy (used by exactness tests).
    public var forcedMasks: [[Float]]? = nil
    /// Split large convolutions across cores; turn off when running one executor per core.
    public var useAllCores: Bool {
        get { context.useAllCores }
        set { context.useAllCores = newValue }
    }
    /// Inverted-residual blocks whose expanded map has at least this many floats run by bands of
    /// rows on two cores or more (`BandedBlock`); nil: every block step by step. The logits are
    /// the same up to rounding.
    public var bandedFloats: Int? {
        get { context.bandedFloats }
        set { context.bandedFloats = newValue }
    }
    /// Floats of expanded rows each band's window aims at (at least one output row a band).
    public var bandWindowFloats: Int {
        get { context.bandWindowFloats }
        set { context.bandWindowFloats = newValue }
    }
    /// With `useAllCores`, let each pass split across the cores or run its splits on the calling
    /// thread, whichever the last passes found faster (`SplitChoice`; the logits are the same
    /// either way). False: always split.
    public var choosesSplit = true
    /// Passes run so far, and how many of them ran their splits on the calling thread alone.
    public private(set) var passes = 0, passesOnOneCore = 0
    /// For dense passes and for pruned ones (`PrunedEvaluator.latencies` alternates them on one
    /// executor): they gain from the second core by different amounts.
    private var splitChoices = [SplitChoice(), SplitChoice()]
    /// During `warmUp`: a pruning executor's gates keep every channel.
    private var keepsEveryChannel = false
    /// The network's engine, it on one core (`SplitChoice`), and it timing its splits (profiles).
    private let engine: Engine, oneCoreEngine: Engine, timingEngine: Engine

    public init(_ network: Network) {
        spec = network.spec
        var gates: [GateStep] = []
        var maxChannels = 1
        var all: [InferenceStep] = []
        // The step that wrote the map the next step reads (nil: one that cannot measure it did),
        // in the order the steps run: a gate on that map takes its saliency from it.
        var producer: MeasuringStep? = nil
        func named(_ step: InferenceStep, _ label: String) -> InferenceStep {
            step.id = all.count; step.label = label
            all.append(step)
            switch step {
            case let writer as MeasuringStep: producer = writer
            case let gate as GateStep: producer?.gate = gate
            case let block as ResidualStep: producer = block.last  // not the downsample, compiled after it
            case let block as BandedBlock: producer = block.projection
            default: producer = nil
            }
            return step
        }
        func compile(_ layer: Layer, _ path: String) -> [InferenceStep] {
            func child(_ name: String) -> String { path.isEmpty ? name : path + "." + name }
            switch layer {
            case let seq as Sequential:
                var result: [InferenceStep] = []
                let children = seq.children.map(\.layer), names = seq.children.map(\.name)
                var i = 0
                while i < children.count {
                    if let conv = children[i] as? Conv2d {
                        maxChannels = max(maxChannels, conv.inChannels, conv.outChannels)
                        let bn = i + 1 < children.count ? children[i + 1] as? BatchNorm2d : nil
                        let reluIndex = i + (bn == nil ? 1 : 2)
                        let relu = reluIndex < children.count ? children[reluIndex] as? ReLU : nil
                        let fused = FusedConv(conv: conv, bn: bn, cap: relu?.cap, engine: network.engine)
                        // Only in one sequence is the depthwise convolution's output read by this
                        // convolution alone (a residual block's first convolution shares its input
                        // with the shortcut).
                        if let depthwise = result.last as? FusedConv, depthwise.isDepthwise { fused.follow(depthwise: depthwise) }
                        result.append(named(fused, child(names[i])))
                        i = reluIndex + (relu == nil ? 0 : 1)
                    } else if let linear = children[i] as? Linear {
                        let relu = i + 1 < children.count ? children[i + 1] as? ReLU : nil
                        result.append(named(LinearStep(linear, cap: relu?.cap, engine: network.engine), child(names[i])))
                        i += relu == nil ? 1 : 2
                    } else {
                        result += compile(children[i], child(names[i]))
                        i += 1
                    }
                }
                return BandedBlock.grouping(result) { named($0, path + " (bands)") }
            case let res as Residual:
                let branch = compile(res.branch, res.branchName.map(child) ?? path)
                let shortcut = res.shortcut.map { compile($0, child("downsample")) }
                return [named(ResidualStep(branch: branch, shortcut: shortcut, cap: res.activation?.cap), path + " (add)")]
            case let gate as ChannelGate:
                let g = GateStep(index: gates.count)
                gates.append(g)
                return [named(g, "saliency of " + gate.label)]
            case let pool as MaxPool2d: return [named(MaxPoolStep(pool), path)]
            case is GlobalAvgPool: return [named(GlobalAvgPoolStep(), path)]
            case let pool as AdaptiveAvgPool2d: return [named(AdaptiveAvgPoolStep(size: pool.size), path)]
            case let linear as Linear: return [named(LinearStep(linear, cap: nil, engine: network.engine), path)]
            case is Dropout: return []
            default: preconditionFailure("no inference form for \(type(of: layer))")
            }
        }
        steps = compile(network.root, "")
        SparseExecutor.shareBuffers(steps, input: input)
        allSteps = all
        gateSteps = gates
        context = RunContext(maxChannels: maxChannels, gates: gates.count, engine: network.engine)
        engine = network.engine
        oneCoreEngine = network.engine.onOneCore
        timingEngine = network.engine.timingSplits(into: context.splitTimes)
    }

    /// Gives each writing step an output buffer shared with steps whose results are no longer
    /// needed when it runs, the one freed last first: it was read just before, so it is the
    /// likeliest still in cache. With a buffer of its own, each step's stores found lines last
    /// touched a whole image earlier and fetched them from L3 or memory: a 1x1 convolution of 96
    /// -> 576 channels at 14x14 (mobilenet_v2 at 224), one core, ran 119-122 us with its output in
    /// cache and 163-164 us without (`conv_kernel_bench 96 576 14 300 40 2 [1]`: inputs and
    /// weights through 40 copies, the output kept or cycled too; AMD Zen 5 AVX-512). In the
    /// network, one core: mobilenet_v2 at 224 5.44-5.48 -> 4.55-4.83 ms, peak memory 213 -> 180 MB.
    /// A residual block's input lives until its branch has added it (or its shortcut's output
    /// has been added), so it is not handed out before.
    private static func shareBuffers(_ steps: [InferenceStep], input: Tensor) {
        var free: [Tensor] = []
        func release(_ t: Tensor, unless held: [Tensor]) {
            if !held.contains(where: { $0 === t }) && !free.contains(where: { $0 === t }) { free.append(t) }
        }
        // The buffer `steps` leave their result in when run on `x`; `held`: buffers read later.
        func plan(_ steps: [InferenceStep], _ x: Tensor, held: [Tensor]) -> Tensor {
            var current = x
            for step in steps {
                switch step {
                case let block as ResidualStep:
                    let side = block.shortcut.map { plan($0, current, held: held + [current]) } ?? current
                    let result = plan(block.branch, current, held: held + [current, side])
                    release(current, unless: held)
                    release(side, unless: held)
                    current = result
                case let block as BandedBlock:  // its steps' buffers, which it writes when it runs them one by one
                    current = plan(block.steps, current, held: held)
                case let writer as WritingStep:
                    writer.out = free.popLast() ?? Tensor(shape: [0])
                    release(current, unless: held)
                    current = writer.out
                default:  // a gate: its map passes through
                    continue
                }
            }
            return current
        }
        _ = plan(steps, input, held: [input])
    }

    public struct Result {
        public var logits: [Float]
        public var macs: Int
        /// Channels kept at each gate (all of them where nothing was pruned).
        public var kept: [Int]
    }

    /// Logits of one normalised image (C x H x W values).
    public func run(_ image: UnsafePointer<Float>) -> Result {
        let logits = forward(image)
        return Result(logits: logits.array, macs: context.macs, kept: context.keptPerGate)
    }

    /// Runs `passes` passes on a blank image that count nowhere (not in `passes`, not in the split
    /// choice's timings), so that the next image is timed as every later one: the first passes of an
    /// executor allocate its buffers, fault in their pages and start the thread pool: `isp predict`
    /// reported the shipped models' first image at 10.9-23.7 ms and the next at 0.7-2.6 (AMD Zen 3,
    /// 2026-12-07); with `Classifier`'s warm-up, 1.0-2.2 and 0.8-2.2.
    ///
    /// A pruning executor keeps every channel in these passes, so that its buffers reach the sizes
    /// the densest image needs (a blank image keeps few).
    public func warmUp(passes count: Int = 2) {
        precondition(count >= 0, "warmUp: \(count) passes")
        let blank = Tensor(shape: [spec.inputChannels, spec.inputSize, spec.inputSize])
        let chooses = choosesSplit, counted = passes
        choosesSplit = false; keepsEveryChannel = true
        for _ in 0..<count { forward(blank.data) }
        choosesSplit = chooses; keepsEveryChannel = false; passes = counted
    }

    /// The same without copying results out: for timing.
    @discardableResult
    public func forward(_ image: UnsafePointer<Float>) -> Tensor {
        let shape = [1, spec.inputChannels, spec.inputSize, spec.inputSize]
        // The first step reads the image where it lies when that is on a cache line, as the
        // kernels' vector loads need (a Tensor's own storage always is), instead of a copy:
        // mobilenet_v2 at 224 copied 602 KB a pass (1.0-1.1% of a one-core pass's samples in
        // `perf`). Its passes without the copy, AVX2 (benchmarks/interleave.py, AMD Zen 4): one
        // core 0.990x and 0.986x the time, two cores 0.992x, 1.005x and 1.000x (within noise).
        let x: Tensor
        if UInt(bitPattern: image) % 64 == 0 {
            x = Tensor(borrowing: UnsafeMutablePointer(mutating: image), shape: shape)
        } else {
            input.resize(shape)
            input.data.update(from: image, count: input.count)
            x = input
        }
        context.macs = 0
        context.keptCount = nil
        context.mapSplit = .mixed  // the image is nobody's output: no core holds its rows
        context.decide = makeDecision()
        context.decidedGates = forcedMasks != nil ? Set(gateSteps.indices) : policy != nil ? prunedGates : []
        let choosing = choosesSplit && context.useAllCores && engine.threads > 1 && context.profile == nil
        let kind = context.decidedGates.isEmpty ? 0 : 1
        let usesPool = choosing ? splitChoices[kind].next() : true
        context.engine = !usesPool ? oneCoreEngine : context.profile != nil ? timingEngine : engine
        let start = DispatchTime.now().uptimeNanoseconds
        let logits = steps.reduce(x) { context.execute($1, $0) }
        if choosing {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            splitChoices[kind].record(usesPool: usesPool, seconds: seconds, macs: context.macs)
        }
        passes += 1
        if !usesPool { passesOnOneCore += 1 }
        return logits
    }

    /// One step of a profile: medians per pass (see `profile`).
    public struct StepProfile {
        public var label: String
        public var seconds: Double
        /// The mean over the passes (pruned images keep different channels).
        public var macs: Int
        /// Splits on the pool (0: the step ran on the calling thread), the seconds the caller ran
        /// their tasks, the busiest worker ran them, and the caller then waited.
        public var splits: Int, callerSeconds: Double, workerSeconds: Double, waitSeconds: Double
    }

    /// Times `runs` forward passes, of the `images` images (C x H x W each) from `image` in turn,
    /// and returns for every step the median of its seconds per pass (a residual block's own time
    /// includes its branch, which is also listed step by step; an inverted-residual block run by
    /// bands is one step, "(bands)"), and likewise of its splits' threads' times. The median, not
    /// the mean: on a shared machine one preempted pass in 60 otherwise made a 0.02 ms step read 0.9
    /// ms. Over several images because a pruned pass's steps depend on the image: VGG16 w0.5's
    /// stored point on one image summed to 0.169 ms where its passes took 0.193-0.206 (AMD Zen 5).
    public func profile(_ image: UnsafePointer<Float>, runs: Int, images: Int = 1) -> [StepProfile] {
        precondition(runs >= 1 && images >= 1, "profile: \(runs) runs of \(images) images")
        var samples = [[StepSample]](repeating: [], count: allSteps.count)
        let size = spec.inputChannels * spec.inputSize * spec.inputSize
        for r in 0..<runs {
            context.profile = [StepSample](repeating: StepSample(), count: allSteps.count)
            forward(image + (r % images) * size)
            for (i, step) in context.profile!.enumerated() { samples[i].append(step) }
        }
        context.profile = nil
        func median(_ i: Int, _ value: (StepSample) -> Double) -> Double { samples[i].map(value).sorted()[runs / 2] }
        func macs(_ i: Int) -> Int { samples[i].reduce(0) { $0 + $1.macs } / runs }
        // Left out: the steps of a `BandedBlock` that went by bands (they never ran), or the block
        // itself where its steps ran one by one (they are listed).
        func ran(_ step: InferenceStep) -> Bool { macs(step.id) > 0 || samples[step.id].contains { $0.seconds > 0 } }
        return allSteps.filter { step in ran(step) && !((step as? BandedBlock)?.steps.contains(where: ran) ?? false) }
            .map { step in
                let i = step.id
                return StepProfile(label: step.label, seconds: median(i, \.seconds), macs: macs(i),
                                   splits: Int(median(i) { Double($0.splits) }), callerSeconds: median(i, \.callerSeconds),
                                   workerSeconds: median(i, \.workerSeconds), waitSeconds: median(i, \.waitSeconds))
            }
    }

    /// Channels of the map at gate `g` (known after the first image).
    public func channels(atGate g: Int) -> Int { gateSteps[g].channels }

    private func makeDecision() -> ((Int, UnsafePointer<Float>, Int, UnsafeMutablePointer<Int32>) -> Int)? {
        if keepsEveryChannel && forcedMasks == nil && policy != nil {
            return { _, _, c, kept in
                for i in 0..<c { kept[i] = Int32(i) }
                return c
            }
        }
        if let masks = forcedMasks {
            return { gate, _, c, kept in
                var n = 0
                for i in 0..<c where masks[gate][i] != 0 { kept[n] = Int32(i); n += 1 }
                return n
            }
        }
        guard let policy else { return nil }
        let ranking = ranking, isa = context.engine.isa
        return { gate, s, c, kept in
            policy.select(saliency: s, channels: c, ranking: ranking?[gate], into: kept, isa: isa)
        }
    }
}
