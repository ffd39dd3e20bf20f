import XCTest
import InstanceSparsity

/// The contract of the sparse path: for any input and any channel masks, its logits equal those
/// of the dense network with the same channels masked to zero, and it executes fewer MACs.
final class SparseExecutorTests: XCTestCase {
    static func makeTrainedLikeNetwork(_ arch: String, width: Float, inputChannels: Int, inputSize: Int,
                                stem: ModelSpec.Stem? = nil, engine: Engine = .default) throws -> Network {
        let net = try Network.make(ModelSpec(architecture: arch, width: width, stem: stem, inputChannels: inputChannels,
                                             inputSize: inputSize, classes: 10), seed: 11, engine: engine)
        var rng = SeededGenerator(seed: 12)
        // Non-trivial batch-norm statistics and affine terms, so folding is really exercised.
        let x = Tensor(shape: [8, inputChannels, inputSize, inputSize])
        for i in 0..<x.count { x[i] = rng.normal() }
        for _ in 0..<5 { _ = net.forward(x, training: true) }
        for (_, bn) in net.batchNorms {
            for c in 0..<bn.channels { bn.weight.value[c] = 0.5 + rng.uniform(); bn.bias.value[c] = rng.normal() * 0.3 }
        }
        return net
    }

    func testSparseMatchesMaskedDenseForRandomMasks() throws {
        try checkSparseMatchesMaskedDense()
    }

    /// Partial channel tiles (width 0.3 gives 19, 38, 77... channels), three input channels and
    /// 36x36 inputs (odd maps such as 9x9, stride-2 maps under 8 wide), on one core and on two.
    func testSparseMatchesMaskedDenseOnOddShapes() throws {
        try checkSparseMatchesMaskedDense(width: 0.3, inputChannels: 3, inputSize: 36)
    }

    /// VGG16 so narrow (width 0.09: 46 channels, 3 tiles, on its 4x4 maps) that its 4x4 layers split
    /// across two cores by rows, which the kernel reads in place as small maps, a row or two a block.
    func testSmallMapsSplitByRowsMatchMaskedDense() throws {
        try checkSparseMatchesMaskedDense(width: 0.09, architectures: ["vgg16"])
        try checkSparseMatchesMaskedDense(width: 0.09, architectures: ["vgg16"], engine: Engine(isa: .avx2))
    }

    /// torchvision's variants: ResNet-18's 7x7 stride-2 stem and padded max pool, MobileNetV2's
    /// stride-2 stem and second stage, VGG16's adaptive 7x7 pool (here from 2x2 maps, repeating
    /// pixels) and its classifier with fused ReLUs; 64x64 inputs, odd channel counts at width 0.3.
    func testSparseMatchesMaskedDenseForImageNetStems() throws {
        try checkSparseMatchesMaskedDense(width: 0.3, inputChannels: 3, inputSize: 64, stem: .imagenet)
    }

    /// MobileNetV2 on maps large enough (192x192 inputs: 96x96 and 48x48 depthwise outputs) that
    /// its depthwise convolutions split by bands of rows, as the expansions before them, at stride 1
    /// and 2, with channels dropped; and on its 12x12 and 6x6 maps split by channel shares, each
    /// projection summing the shares of its input channels on two cores. On both instruction sets.
    func testDepthwiseByRowsMatchesMaskedDense() throws {
        for isa in InstructionSet.supported {
            try checkSparseMatchesMaskedDense(width: 0.3, inputChannels: 3, inputSize: 192, stem: .imagenet, architectures: ["mobilenetv2"],
                                              engine: Engine(isa: isa))
        }
    }

    /// ResNet-18's block outputs (and the stem's) alone: a dropped channel is zero for the next
    /// block's conv1, its 1x1 downsample and its identity add, in both stems.
    func testResNetBlockOutputsPrunedAloneMatchMaskedDense() throws {
        let net = try Network.make(ModelSpec(architecture: "resnet18", width: 0.25, classes: 10), seed: 1)
        let blocks = (1...4).flatMap { stage in (0...1).map { "layer\(stage).\($0)" } }
        let outputs = blocks.map { $0 + ".conv1" }, inner = blocks.map { $0 + ".conv2" }
        XCTAssertEqual(Set(net.gates.map(\.label)), Set(outputs + inner), "old labels kept, one gate per block input")
        XCTAssertEqual(net.gates.count, 16)
        let isOutput = { (g: ChannelGate) in g.label.hasSuffix(".conv1") }
        try checkSparseMatchesMaskedDense(architectures: ["resnet18"], masking: isOutput)
        try checkSparseMatchesMaskedDense(width: 0.3, inputChannels: 3, inputSize: 64, stem: .imagenet,
                                          architectures: ["resnet18"], masking: isOutput)
    }

    /// The batch-1 classifier (`isp_matrix_vector` on 16-output panels: several sums a lane, a tail
    /// of inputs, tiles in pairs and an odd last one, a last tile of fewer than 16 outputs; split
    /// across cores from 1000 classes) against the training layer's sgemm, with each instruction
    /// set: VGG16 at width 0.3 has 154 features, at 0.299 153, MobileNetV2's ImageNet variant 1280.
    func testClassifierMatchesTheLayerForAnyClassCount() throws {
        var rng = SeededGenerator(seed: 13)
        for isa in InstructionSet.supported {
            for (arch, stem, classes, width) in [("vgg16", ModelSpec.Stem.cifar, 1, Float(0.3)), ("vgg16", .cifar, 17, 0.3),
                                                 ("vgg16", .cifar, 1000, 0.3), ("vgg16", .cifar, 40, 0.299),
                                                 ("mobilenetv2", .imagenet, 1000, 0.3)] {
                let net = try Network.make(ModelSpec(architecture: arch, width: width, stem: stem, classes: classes), seed: 3,
                                           engine: Engine(isa: isa))
                let image = Tensor(shape: [1, 1, 32, 32])
                for i in 0..<image.count { image[i] = rng.normal() }
                let logits = SparseExecutor(net).run(image.data).logits
                XCTAssertEqual(logits.count, classes)
                assertClose(logits, net.forward(image, training: false).array, "\(isa) \(arch) w\(width) \(classes) classes")
            }
        }
    }

    /// Instance-wise pruning on top of static slimming: every slimmable map loses a random share
    /// of its channels (MobileNetV2's removed expanded channels leave constants folded into the
    /// projection's batch norm), then the executor must still match the masked dense network.
    func testSparseMatchesMaskedDenseOnSlimmedNetworks() throws {
        var rng = SeededGenerator(seed: 21)
        func slim(_ net: Network) throws -> Network {
            var kept: ChannelSlimming.Selection = [:]
            for gate in net.slimmableMaps {
                let all = Array(0..<gate.layout!.channels)
                let some = all.filter { _ in rng.uniform() < 0.6 }
                kept[gate.label] = some.isEmpty ? [all.last!] : some
            }
            let slimmed = try net.slimmed(keeping: kept)
            XCTAssertLessThan(slimmed.macsPerImage, net.macsPerImage)
            return slimmed
        }
        try checkSparseMatchesMaskedDense(prepare: slim)
        try checkSparseMatchesMaskedDense(width: 0.3, inputChannels: 3, inputSize: 64, stem: .imagenet, architectures: ["mobilenetv2"], prepare: slim)
    }

    /// MobileNetV2's block inputs alone: the expansion reads only the kept channels while the
    /// identity still adds all of them, in both stems.
    func testMobileNetBlockInputsPrunedAloneMatchMaskedDense() throws {
        let net = try Network.make(ModelSpec(architecture: "mobilenetv2", width: 0.5, classes: 10), seed: 1)
        let expanding = (2...17).map { "features.\($0).conv" }
        XCTAssertEqual(Set(net.gates.map(\.label)), Set(expanding.map { $0 + ".0.0" } + expanding.map { $0 + ".1.0" }),
                       "one gate on each expanding block's input and one on its expanded map")
        let isInput = { (g: ChannelGate) in g.label.hasSuffix(".conv.0.0") }
        try checkSparseMatchesMaskedDense(architectures: ["mobilenetv2"], masking: isInput)
        try checkSparseMatchesMaskedDense(width: 0.3, inputChannels: 3, inputSize: 64, stem: .imagenet,
                                          architectures: ["mobilenetv2"], masking: isInput)
    }

    /// The GEMM path of batch-1 inference (strides above 2, grouped convolutions, 1-wide outputs)
    /// forced on every dense convolution: it too reads only the kept input channels, and adds a
    /// residual branch's shortcut in its epilogue.
    func testGEMMInferencePathMatchesMaskedDense() throws {
        try checkSparseMatchesMaskedDense(width: 0.3, inputChannels: 3, inputSize: 36, prepare: { net in
            net.root.visit { _, layer in
                guard let conv = layer as? Conv2d, !conv.isDepthwise else { return }
                conv.forcedPlan = ConvolutionPlan(forward: .gemm, inputGradient: .gemm, weightGradient: .gemm)
            }
            return net
        })
    }

    /// Winograd's F(2x2, 3x3) forced on every 3x3 convolution at stride 1 that batch-1 inference
    /// runs, whatever its size: odd maps (a last tile row and column half outside: 9x9, 5x5 at 36x36
    /// inputs, the stems' 33x33 at 64x64 inputs), tile rows of fewer and more than 16 tiles, maps
    /// in several bands, the kept input channels only, a residual branch's shortcut and the block
    /// activation in its output transform; on one core and on two, on both instruction sets.
    func testWinogradInferencePathMatchesMaskedDense() throws {
        let winogradWherever = { (net: Network) -> Network in
            net.root.visit { _, layer in
                guard let conv = layer as? Conv2d, conv.kernel == 3, conv.stride == 1, conv.padding == 1, conv.groups == 1 else { return }
                conv.forcedPlan = ConvolutionPlan(forward: .tiled, inputGradient: .tiled, weightGradient: .tiled, inference: .winograd)
            }
            return net
        }
        for isa in InstructionSet.supported {
            try checkSparseMatchesMaskedDense(width: 0.3, inputChannels: 3, inputSize: 36, architectures: ["vgg16", "resnet18"],
                                              engine: Engine(isa: isa), prepare: winogradWherever)
        }
        try checkSparseMatchesMaskedDense(width: 0.3, inputChannels: 3, inputSize: 64, stem: .imagenet, architectures: ["resnet18"],
                                          prepare: winogradWherever)
    }

    /// With a policy the executor measures each gate's saliency where the step writing the map
    /// leaves each core whole planes (a convolution split by channels or a map in one Winograd
    /// band, a pool), or in a pass of its own (after a depthwise convolution, a split by rows):
    /// either way it must keep the channels the policy keeps on the network's own saliency, gate
    /// after gate with the gates before masked, and give that masked network's logits; on one core
    /// and on two; on maps of odd height too (34x34 inputs: the last tile row of a Winograd split
    /// by rows is half a tile).
    func testPolicyKeepsWhatItKeepsOnTheMaskedNetwork() throws {
        let policy = ThresholdPolicy(.mean, alpha: 1)
        for (arch, size) in ModelSpec.architectures.flatMap({ arch in [32, 34].map { (arch, $0) } }) {
            let net = try Self.makeTrainedLikeNetwork(arch, width: 0.5, inputChannels: 1, inputSize: size)
            var rng = SeededGenerator(seed: 5)
            let image = Tensor(shape: [1, 1, size, size])
            for i in 0..<image.count { image[i] = rng.normal() }
            for g in net.gates { g.mask = nil }
            var expected: [Int] = []
            for g in net.gates {
                _ = net.forward(image, training: false)
                let c = g.saliency.shape[1], kept = UnsafeMutablePointer<Int32>.allocate(capacity: c)
                defer { kept.deallocate() }
                let n = policy.select(saliency: g.saliency.data, channels: c, ranking: nil, into: kept, isa: net.engine.isa)
                var mask = [Float](repeating: 0, count: c)
                for i in 0..<n { mask[Int(kept[i])] = 1 }
                g.mask = Tensor(shape: [1, c], values: mask)
                expected.append(n)
            }
            let masked = net.forward(image, training: false).array
            XCTAssertLessThan(expected.reduce(0, +), net.gates.map { $0.saliency.shape[1] }.reduce(0, +), "\(arch): the policy prunes")
            let executor = SparseExecutor(net)
            executor.policy = policy
            executor.prunedGates = Set(net.gates.indices)
            for g in net.gates { g.mask = nil }
            for useAllCores in [true, false] {
                executor.useAllCores = useAllCores
                let sparse = executor.run(image.data)
                XCTAssertEqual(sparse.kept, expected, "\(arch) at \(size), all cores \(useAllCores)")
                assertClose(sparse.logits, masked, "\(arch) at \(size), all cores \(useAllCores)")
            }
        }
    }

    /// Right at a threshold a pass split across the cores keeps what a pass on one core keeps: with
    /// the cut placed exactly at each channel's saliency (as the network measures it, which the
    /// executor's folded maps match to the last bit or so), every gate on a map of 8 wide or more,
    /// splits always taken. Split by rows, each core measures the rows it wrote and the rows' sums
    /// are added after, in the order one core adds them (`isp_row_square_sums`); when each core's
    /// part was summed whole and the parts added, 59 of 2210 such cuts kept another channel count.
    func testSplitAndOneCoreDecideAlikeRightAtTheThreshold() throws {
        for (arch, size) in [("resnet18", 32), ("vgg16", 32), ("resnet18", 34)] {
            let net = try Self.makeTrainedLikeNetwork(arch, width: 0.5, inputChannels: 1, inputSize: size)
            var rng = SeededGenerator(seed: 7)
            let image = Tensor(shape: [1, 1, size, size])
            for i in 0..<image.count { image[i] = rng.normal() }
            for g in net.gates { g.mask = nil }
            _ = net.forward(image, training: false)
            let executor = SparseExecutor(net)
            executor.choosesSplit = false
            var cuts = 0
            for (index, gate) in net.gates.enumerated() where (gate.lastOutputShape.last ?? 0) >= 8 {
                executor.prunedGates = [index]
                for s in Set((0..<gate.saliency.shape[1]).map { gate.saliency[$0] }) where s > 0 {
                    executor.policy = ThresholdPolicy(.absolute, alpha: s)
                    let kept = [true, false].map { all in
                        executor.useAllCores = all
                        return executor.run(image.data).kept[index]
                    }
                    XCTAssertEqual(kept[0], kept[1], "\(arch) at \(size), gate \(index), cut \(s): split and on one core")
                    cuts += 1
                }
            }
            XCTAssertGreaterThan(cuts, 300, arch)
        }
    }

    /// The evaluator's share of channels dropped at each pruned gate (what `isp tune` leaves idle
    /// gates out by) is the mean of what the executor keeps image by image.
    func testEvaluatorReportsTheSharesDroppedAtEachGate() throws {
        let net = try Self.makeTrainedLikeNetwork("vgg16", width: 0.25, inputChannels: 1, inputSize: 32)
        var rng = SeededGenerator(seed: 6)
        let images = Tensor(shape: [6, 1, 32, 32])
        for i in 0..<images.count { images[i] = rng.normal() }
        let data = Dataset(images: images, labels: [0, 1, 2, 3, 4, 5], classes: 10, name: "random")
        let plan = try PruningPlan(policy: ThresholdPolicy(.mean, alpha: 1), gates: Set(stride(from: 0, to: net.gates.count, by: 2)), ranking: nil)
        let e = try PrunedEvaluator.evaluate(net, on: data, plan: plan)
        XCTAssertEqual(Set(e.droppedAtGate.keys), plan.gates)
        // static-topk without its ranking would keep channels by index: refused.
        XCTAssertThrowsError(try PruningPlan(policy: ThresholdPolicy(.staticTopK, alpha: 0.5), gates: [0], ranking: nil))
        XCTAssertThrowsError(try PruningPlan(policy: ThresholdPolicy(.staticTopK, alpha: 0.5), gates: [1], ranking: [[0, 1]]))
        let executor = SparseExecutor(net)
        plan.apply(to: executor)
        var kept = [Double](repeating: 0, count: net.gates.count), labels: [Int32] = []
        let maker = BatchMaker(spec: net.spec), image = Tensor(shape: [0])
        for i in 0..<data.count {
            try maker.fill(image, labels: &labels, from: data, indices: [i][...], augmentation: nil)
            for (g, k) in executor.run(image.data).kept.enumerated() { kept[g] += Double(k) }
        }
        for (g, share) in e.droppedAtGate {
            let expected = 1 - kept[g] / Double(data.count * executor.channels(atGate: g))
            XCTAssertEqual(share, expected, accuracy: 1e-12, "gate \(g)")
        }
        XCTAssert(e.droppedAtGate.values.contains { $0 > 0 }, "the policy drops channels somewhere")
    }

    /// A pass whose splits all run on the calling thread (`SplitChoice`'s other way) gives the
    /// logits and kept channels of one split across the cores bit for bit: every network, pruned,
    /// on the micro-kernel, depthwise and Winograd paths, and on both instruction sets. The first
    /// passes of a choosing executor alternate between the two ways.
    func testPassesOnOneCoreGiveTheLogitsOfSplitPasses() throws {
        let winogradWherever = { (net: Network) in
            net.root.visit { _, layer in
                guard let conv = layer as? Conv2d, conv.kernel == 3, conv.stride == 1, conv.padding == 1, conv.groups == 1 else { return }
                conv.forcedPlan = ConvolutionPlan(forward: .tiled, inputGradient: .tiled, weightGradient: .tiled, inference: .winograd)
            }
        }
        for isa in InstructionSet.supported {
            for (arch, winograd) in ModelSpec.architectures.map({ ($0, false) }) + [("resnet18", true)] {
                let net = try Self.makeTrainedLikeNetwork(arch, width: 0.5, inputChannels: 3, inputSize: 40, engine: Engine(isa: isa))
                if winograd { winogradWherever(net) }
                let split = SparseExecutor(net), choosing = SparseExecutor(net)
                split.choosesSplit = false
                for e in [split, choosing] {
                    e.policy = ThresholdPolicy(.mean, alpha: 1)
                    e.prunedGates = Set(net.gates.indices)
                }
                var rng = SeededGenerator(seed: 21)
                let image = Tensor(shape: [1, 3, 40, 40])
                for i in 0..<image.count { image[i] = rng.normal() }
                let expected = split.run(image.data)
                for pass in 0..<SplitChoice.warmUp + 4 * SplitChoice.burst {
                    let r = choosing.run(image.data)
                    XCTAssertEqual(r.logits, expected.logits, "\(arch) \(isa) winograd \(winograd), pass \(pass)")
                    XCTAssertEqual(r.kept, expected.kept, "\(arch) \(isa), pass \(pass)")
                }
                XCTAssertEqual(split.passesOnOneCore, 0)
                if net.engine.threads > 1 {
                    XCTAssert((1..<4 * SplitChoice.burst).contains(choosing.passesOnOneCore), "\(arch): both ways were taken")
                }
            }
        }
    }

    /// A profile times each step's splits on the pool: the caller's and the busiest worker's tasks
    /// and the caller's wait, within the step's own time; steps on the calling thread have none.
    /// Profiled passes give the logits of plain ones, and the MACs are the mean over the images.
    func testProfileTimesTheSplitsOfEachStep() throws {
        let net = try Self.makeTrainedLikeNetwork("vgg16", width: 0.5, inputChannels: 3, inputSize: 32, engine: Engine())
        let executor = SparseExecutor(net)
        executor.policy = ThresholdPolicy(.max, alpha: 0.5)
        executor.prunedGates = Set(net.gates.indices)
        var rng = SeededGenerator(seed: 5)
        let images = Tensor(shape: [2, 3, 32, 32])
        for i in 0..<images.count { images[i] = rng.normal() }
        let size = 3 * 32 * 32
        let first = executor.run(images.data), second = executor.run(images.data + size)
        let twoImages = executor.profile(images.data, runs: 2, images: 2)
        XCTAssertEqual(executor.run(images.data).logits, first.logits, "profiling leaves the passes as they were")
        XCTAssertEqual(twoImages.reduce(0) { $0 + $1.macs }, (first.macs + second.macs) / 2, accuracy: twoImages.count,
                       "MACs: the mean of the images'")
        // One run, so that each step's figures are those of one pass (medians of several need not add up).
        let steps = executor.profile(images.data, runs: 1)
        let split = steps.filter { $0.splits > 0 }
        if net.engine.threads > 1 {
            XCTAssertFalse(split.isEmpty, "the 32x32 convolutions split: \(steps.map(\.label))")
        } else {
            XCTAssertTrue(split.isEmpty, "one thread: nothing splits")
        }
        for step in split {
            XCTAssertGreaterThan(step.callerSeconds, 0, step.label)
            XCTAssertGreaterThan(step.workerSeconds, 0, step.label)
            XCTAssertGreaterThanOrEqual(step.waitSeconds, 0, step.label)
            XCTAssertLessThanOrEqual(step.callerSeconds + step.waitSeconds, step.seconds * 1.0001, "\(step.label): the split is within the step")
        }
        for step in steps where step.splits == 0 {
            XCTAssertEqual(step.callerSeconds + step.workerSeconds + step.waitSeconds, 0, step.label)
        }
    }

    /// The split goes the other way when that way's median time per multiply-add over its last
    /// `probeWindow` scored passes is 10% below the median of the chosen way's last `window`; the
    /// last `burst` passes of every `probeInterval` try the other way (sooner right after a change
    /// of way; up to `longestInterval` apart while it is `distantRatio` slower), and the first
    /// pass after a change of way is not scored.
    func testSplitChoiceFollowsTheFasterWay() {
        var choice = SplitChoice()
        var last: Bool? = nil
        // The first pass after a change of way takes `firstAfterChange` times as long (a cold cache).
        func passes(_ n: Int, pool: Double, caller: Double, firstAfterChange: Double = 100) -> [Bool] {
            (0..<n).map { _ in
                let way = choice.next()
                let seconds = way ? pool : caller
                choice.record(usesPool: way, seconds: last == way ? seconds : seconds * firstAfterChange, macs: 1000)
                last = way
                return way
            }
        }
        XCTAssertEqual(passes(SplitChoice.warmUp, pool: 1, caller: 2), [Bool](repeating: true, count: SplitChoice.warmUp),
                       "the first passes split")
        let start = passes(4 * SplitChoice.burst, pool: 1, caller: 2)
        XCTAssertEqual(Array(start.prefix(3 * SplitChoice.burst)), (0..<3).flatMap { [Bool](repeating: $0 % 2 == 0, count: SplitChoice.burst) },
                       "bursts alternate first")
        XCTAssertTrue(choice.usesPool)
        let near = passes(4 * SplitChoice.probeInterval, pool: 1, caller: 1.3)
        XCTAssertEqual(near.filter { !$0 }.count, 4 * SplitChoice.burst, "within distantRatio, one burst in probeInterval on the caller")
        _ = passes(4 * SplitChoice.longestInterval, pool: 1, caller: 2)  // the cycle grows
        let quiet = passes(4 * SplitChoice.longestInterval, pool: 1, caller: 2)
        XCTAssert((3 * SplitChoice.burst...5 * SplitChoice.burst).contains(quiet.filter { !$0 }.count),
                  "the caller twice as slow: one burst in longestInterval (\(quiet.filter { !$0 }.count) passes)")
        XCTAssertTrue(choice.usesPool)
        _ = passes(SplitChoice.window / 2, pool: 3, caller: 2)
        XCTAssertTrue(choice.usesPool, "a short stretch of slow passes does not switch")
        _ = passes(3 * SplitChoice.probeInterval, pool: 1.5, caller: 1.4)
        XCTAssertTrue(choice.usesPool, "7% faster is within the margin")
        _ = passes(3 * SplitChoice.probeInterval, pool: 2, caller: 1)
        XCTAssertFalse(choice.usesPool, "the pool became twice as slow; the cold first passes did not hide it")
        let far = passes(2 * SplitChoice.longestInterval, pool: 2, caller: 1)
        XCTAssert((SplitChoice.burst..<(2 * SplitChoice.longestInterval / SplitChoice.probeInterval) * SplitChoice.burst)
                    .contains(far.filter { $0 }.count), "the pool is still tried, less often than every probeInterval")
        _ = passes(SplitChoice.longestInterval + 3 * SplitChoice.probeInterval, pool: 1, caller: 2)
        XCTAssertTrue(choice.usesPool, "and taken back when it is faster again, at the next probe")
        var slow = 0
        while choice.usesPool && slow < 2 * SplitChoice.probeInterval { _ = passes(1, pool: 3, caller: 1); slow += 1 }
        XCTAssertFalse(choice.usesPool, "a stretch of slow split passes (a neighbour spinning on the other core) moves to the caller")
        _ = passes(2 * SplitChoice.firstInterval, pool: 1, caller: 2)
        XCTAssertTrue(choice.usesPool, "and once it is over the pool is tried again soon, not a whole probeInterval later")
    }

    func testVGGRefusesInputsItWouldPoolAway() {
        XCTAssertThrowsError(try Network.make(ModelSpec(architecture: "vgg16", inputSize: 28)))
    }

    /// The AVX2 kernels, whose unrolled inputs (maps under 8 wide but the 2x2 and 4x4 ones of 3x3
    /// convolutions at stride 1, read in place) are packed by blocks of 6 positions; also on
    /// MobileNetV2's 6x6 maps at 192x192 input, whose 1x1 convolutions to 5 tiles or more read their
    /// kept input channels from a block-major packed copy, and on ResNet-18's 7x7 maps at 224x224
    /// input, whose unrolled inputs (154 channels) the cores pack together.
    func testAVX2KernelMatchesMaskedDense() throws {
        try checkSparseMatchesMaskedDense(engine: Engine(isa: .avx2))
        try checkSparseMatchesMaskedDense(width: 0.3, inputChannels: 3, inputSize: 192, stem: .imagenet, architectures: ["mobilenetv2"],
                                          engine: Engine(isa: .avx2))
        try checkSparseMatchesMaskedDense(width: 0.3, inputChannels: 3, inputSize: 224, stem: .imagenet, architectures: ["resnet18"],
                                          engine: Engine(isa: .avx2))
    }

    /// Masks keeping one run of consecutive channels that starts past the first and may end before
    /// the last, at every gate: the kernels then step from plane to plane and weight row to row
    /// instead of reading their tables (`contiguous_channels` in ConvTiles.c), from a first channel
    /// other than 0. On both instruction sets.
    func testSparseMatchesMaskedDenseForRunsOfChannels() throws {
        for isa in InstructionSet.supported {
            try checkSparseMatchesMaskedDense(architectures: ["mobilenetv2", "resnet18"], engine: Engine(isa: isa),
                                              mask: { channels, trial in
                                                  let first = 1 + trial % 2, end = channels - trial / 2
                                                  return (0..<channels).map { $0 >= first && $0 < end ? 1 : 0 }
                                              })
        }
    }

    /// Random masks at the gates `masking` accepts (the others keep every channel), or the masks
    /// `mask` gives for a gate's channel count and the trial.
    func checkSparseMatchesMaskedDense(width: Float = 0.25, inputChannels: Int = 1, inputSize: Int = 32,
                                       stem: ModelSpec.Stem? = nil, architectures: [String] = ModelSpec.architectures,
                                       masking: (ChannelGate) -> Bool = { _ in true }, engine: Engine = .default,
                                       mask: ((Int, Int) -> [Float])? = nil,
                                       prepare: (Network) throws -> Network = { $0 }) throws {
        for arch in architectures {
            let net = try prepare(Self.makeTrainedLikeNetwork(arch, width: width, inputChannels: inputChannels, inputSize: inputSize, stem: stem,
                                                              engine: engine))
            XCTAssertEqual(net.engine.isa, engine.isa)
            XCTAssertEqual(net.spec.stem, stem ?? .cifar)
            let executor = SparseExecutor(net)
            var rng = SeededGenerator(seed: 13)
            let image = Tensor(shape: [1, inputChannels, inputSize, inputSize])
            for trial in 0..<4 {
                executor.useAllCores = trial % 2 == 0
                for i in 0..<image.count { image[i] = rng.normal() }
                // Dense path first: it must equal the network itself.
                executor.forcedMasks = nil
                executor.policy = nil
                let dense = executor.run(image.data)
                for g in net.gates { g.mask = nil }
                let reference = net.forward(image, training: false).array
                assertClose(dense.logits, reference, "\(arch) dense")

                // Random masks keeping 0%..100% of channels (trial 0 drops every channel somewhere).
                var masks: [[Float]] = []
                for (gi, g) in net.gates.enumerated() {
                    let channels = g.saliency.shape[1]
                    let keepProbability: Float = !masking(g) ? 1 : trial == 0 && gi == 1 ? 0 : rng.uniform()
                    masks.append(mask?(channels, trial) ?? (0..<channels).map { _ in rng.uniform() < keepProbability ? 1 : 0 })
                    g.mask = Tensor(shape: [1, channels], values: masks.last!)
                }
                executor.forcedMasks = masks
                let sparse = executor.run(image.data)
                let masked = net.forward(image, training: false).array
                assertClose(sparse.logits, masked, "\(arch) trial \(trial)")
                XCTAssertLessThan(sparse.macs, dense.macs, "\(arch): dropping channels must remove work")
                XCTAssertEqual(sparse.kept, masks.map { Int($0.reduce(0, +)) })
            }
            for g in net.gates { g.mask = nil }
        }
    }

    func testPoliciesSelectAsDefined() {
        let s: [Float] = [0.1, 2.0, 0.0, 1.0, 0.5]
        let kept = UnsafeMutablePointer<Int32>.allocate(capacity: 5)
        defer { kept.deallocate() }
        for isa in InstructionSet.supported {
            func select(_ p: ThresholdPolicy, ranking: [Int32]? = nil) -> [Int32] {
                let n = s.withUnsafeBufferPointer { p.select(saliency: $0.baseAddress!, channels: 5, ranking: ranking, into: kept, isa: isa) }
                return Array(UnsafeBufferPointer(start: kept, count: n))
            }
            XCTAssertEqual(select(.init(.mean, alpha: 1)), [1, 3])         // mean 0.72
            XCTAssertEqual(select(.init(.max, alpha: 0.4)), [1, 3])        // 0.8
            XCTAssertEqual(select(.init(.absolute, alpha: 0.3)), [1, 3, 4])
            // Squared saliencies 4, 1, 0.25, 0.01, 0 (total 5.26): 4 alone is 76%.
            XCTAssertEqual(select(.init(.energy, alpha: 0.7)), [1])
            XCTAssertEqual(select(.init(.energy, alpha: 0.8)), [1, 3])
            XCTAssertEqual(select(.init(.staticTopK, alpha: 0.4), ranking: [3, 4, 1, 0, 2]), [3, 4])
            XCTAssertEqual(select(.init(.mean, alpha: 100)), [1], "at least one channel is kept")
        }
    }

    /// The energy cut is a selection, not a sort: it must keep exactly the set the definition
    /// gives (the fewest largest channels reaching the share; ties at the cut all kept), on
    /// random saliencies with zeros and repeated values, every size from 1 to 600 channels (the
    /// 16-wide selection and its tail), on both instruction sets; the max policy on the same.
    func testEnergyKeepsTheFewestLargestChannelsReachingTheShare() {
        var rng = SeededGenerator(seed: 7)
        let kept = UnsafeMutablePointer<Int32>.allocate(capacity: 600)
        defer { kept.deallocate() }
        for c in 1...600 {
            let isa = InstructionSet.supported[c % InstructionSet.supported.count]
            // Quantised values: many exact ties; a third of the channels silent.
            let s = (0..<c).map { _ in Float.random(in: 0...1, using: &rng) < 0.33 ? 0 : Float(Int.random(in: 1...40, using: &rng)) / 8 }
            let alpha = Float.random(in: 0.5...0.9999, using: &rng)
            func select(_ kind: ThresholdPolicy.Kind) -> [Int32] {
                let n = s.withUnsafeBufferPointer {
                    ThresholdPolicy(kind, alpha: alpha).select(saliency: $0.baseAddress!, channels: c, ranking: nil, into: kept, isa: isa)
                }
                return Array(UnsafeBufferPointer(start: kept, count: n))
            }
            let got = select(.energy), largest = s.max()!
            let expectedMax = largest == 0 ? [0] : (0..<c).filter { s[$0] >= alpha * largest && s[$0] > 0 }.map { Int32($0) }
            XCTAssertEqual(select(.max), expectedMax, "max policy, \(c) channels, alpha \(alpha)")
            // Reference: squares in decreasing order, summed in double until the share is reached.
            let squares = s.map { Double($0 * $0) }, total = squares.reduce(0, +)
            var expected: [Int32]
            if total == 0 {
                expected = [0]
            } else {
                var acc = 0.0, cut = 0.0
                for v in squares.sorted(by: >) { acc += v; cut = v; if acc >= Double(alpha) * total { break } }
                expected = (0..<c).filter { squares[$0] >= cut && s[$0] > 0 }.map { Int32($0) }
            }
            XCTAssertEqual(got, expected, "\(c) channels, alpha \(alpha)")
        }
    }
}

/// `BandedBlock`: MobileNetV2's blocks run band by band of rows on two cores give the logits of the
/// same blocks run step by step up to rounding, with every instruction set, at stride 1 and 2, on
/// maps of odd sizes, in bands of one row (windows of one float: at least a row a band) and of
/// several (the default windows, and windows of 2000 floats: two to six rows on these maps); a
/// pass on one core, or one that prunes, goes step by step (its gates need whole maps).
final class BandedBlockTests: XCTestCase {
    func testBandsGiveTheLogitsOfStepByStep() throws {
        for isa in InstructionSet.supported {
            for (width, size, window) in [(Float(0.3), 64, Int?(1)), (0.5, 36, 2000), (1.0, 112, 1), (1.0, 112, 2000), (1.0, 112, nil)] {
                let net = try SparseExecutorTests.makeTrainedLikeNetwork("mobilenetv2", width: width, inputChannels: 3, inputSize: size,
                                                                         stem: .imagenet, engine: Engine(isa: isa))
                let banded = SparseExecutor(net), stepwise = SparseExecutor(net)
                banded.bandedFloats = 0
                if let window { banded.bandWindowFloats = window }
                stepwise.bandedFloats = nil
                let what = "\(isa) w\(width) \(size)px, windows of \(banded.bandWindowFloats) floats"
                var rng = SeededGenerator(seed: 21)
                let image = Tensor(shape: [1, 3, size, size])
                for trial in 0..<4 {
                    for i in 0..<image.count { image[i] = rng.normal() }
                    banded.useAllCores = trial % 2 == 0
                    stepwise.useAllCores = banded.useAllCores
                    let a = banded.run(image.data), b = stepwise.run(image.data)
                    assertClose(a.logits, b.logits, "\(what) trial \(trial)")
                    if !banded.useAllCores { XCTAssertEqual(a.logits, b.logits, "\(what): one core goes step by step") }
                    XCTAssertEqual(a.macs, b.macs)
                    XCTAssertEqual(a.kept, b.kept)
                    assertClose(a.logits, net.forward(image, training: false).array, "\(what): the network")
                }
                // The bands did run (two threads): the profile lists each block as one step, "(bands)".
                banded.useAllCores = true; stepwise.useAllCores = true
                let labels = banded.profile(image.data, runs: 1).map(\.label)
                if net.engine.threads > 1 {
                    XCTAssertTrue(labels.contains("features.2.conv (bands)") && labels.contains("features.3.conv (bands)"), "\(labels)")
                    XCTAssertFalse(labels.contains("features.2.conv.1.0"), "a block run by bands lists no step of its own")
                }
                // Pruned passes: each gate keeps a random half.
                let masks = net.gates.map { g in (0..<g.saliency.shape[1]).map { _ in Float(rng.uniform() < 0.5 ? 1 : 0) } }
                banded.forcedMasks = masks; stepwise.forcedMasks = masks
                let a = banded.run(image.data), b = stepwise.run(image.data)
                XCTAssertEqual(a.logits, b.logits, "\(what) pruned: step by step both")
                XCTAssertEqual(a.macs, b.macs)
            }
        }
    }
}
