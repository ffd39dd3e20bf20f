import Foundation

/// Pruning configuration: which policy, at which gates, with what calibration ranking.
public struct PruningPlan {
    public var policy: ThresholdPolicy
    public var gates: Set<Int>
    public var ranking: [[Int32]]?

    /// `ranking`: per gate, its channels in calibration order (most salient first); static-topk
    /// keeps the first ones and needs it for every pruned gate.
    public init(policy: ThresholdPolicy, gates: Set<Int>, ranking: [[Int32]]?) throws {
        if policy.kind == .staticTopK {
            guard let ranking, gates.allSatisfy({ $0 < ranking.count }) else {
                throw InputError("pruning plan", "static-topk needs a channel ranking (calibration order) for every pruned map")
            }
        }
        self.policy = policy; self.gates = gates; self.ranking = ranking
    }

    public func apply(to executor: SparseExecutor) {
        executor.policy = policy
        executor.prunedGates = gates
        executor.ranking = ranking
    }
}

/// Accuracy and executed MACs of every test image, dense and pruned (method "Measures").
public struct PrunedEvaluation {
    public var images: Int
    public var accuracyDense: Double
    public var accuracyPruned: Double
    public var macsDense: Int
    /// MACs executed per image with pruning.
    public var macsExecuted: [Int]
    /// Per pruned gate: the mean share of its channels dropped.
    public var droppedAtGate: [Int: Double]

    public var macsExecutedMean: Double { Double(macsExecuted.reduce(0, +)) / Double(max(images, 1)) }
    public var flopsReduction: Double { 1 - macsExecutedMean / Double(macsDense) }
    public func macsPercentile(_ p: Double) -> Int {
        let sorted = macsExecuted.sorted()
        return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(p * Double(sorted.count - 1) + 0.5))]
    }
    /// Per image: 1 - executed / dense MACs.
    public var perImageReduction: [Double] { macsExecuted.map { 1 - Double($0) / Double(macsDense) } }
}

public enum PrunedEvaluator {
    /// What one pass over the test images gives: per image, correct or not, and MACs executed;
    /// per gate, its channels kept and its channels, each summed over the images.
    public struct Pass {
        public var correct: [Bool]
        public var macs: [Int]
        public var keptAtGate: [Double]
        public var channelsAtGate: [Double]
        public var accuracy: Double { Double(correct.filter { $0 }.count) / Double(max(correct.count, 1)) }

        /// The mean share of channels dropped at gate `g`.
        public func dropped(atGate g: Int) -> Double { 1 - keptAtGate[g] / max(channelsAtGate[g], 1) }
    }

    /// Runs every image through the executor (dense when `plan` is nil), one executor per thread.
    /// Several processes each take a contiguous part of the images and gather the results.
    public static func run(_ network: Network, on data: some DataSplit, plan: PruningPlan?, progress: Progress? = nil,
                           processes: ProcessGroup = SingleProcess()) throws -> Pass {
        let engine = network.engine, mine = processes.share(of: data.count)
        var correct = [Bool](repeating: false, count: data.count), macs = [Int](repeating: 0, count: data.count)
        // Per thread: at each gate, the channels kept and the channels, summed over its images.
        let gates = network.gates.count
        var keptSums = [[Double]](repeating: [Double](repeating: 0, count: gates), count: engine.threads)
        var channelSums = keptSums
        let maker = BatchMaker(spec: network.spec)
        var failures = [Error?](repeating: nil, count: engine.threads)
        failures.withUnsafeMutableBufferPointer { failures in
        keptSums.withUnsafeMutableBufferPointer { keptSums in
        channelSums.withUnsafeMutableBufferPointer { channelSums in
        correct.withUnsafeMutableBufferPointer { correct in
        macs.withUnsafeMutableBufferPointer { macs in
            engine.forEachShare(of: mine.count) { share, scratch in
                let e = SparseExecutor(network), image = Tensor(shape: [0])
                e.useAllCores = false
                plan?.apply(to: e)
                var labels: [Int32] = []
                for i in (mine.lowerBound + share.lowerBound)..<(mine.lowerBound + share.upperBound) {
                    do { try maker.fill(image, labels: &labels, from: data, indices: [i][...], augmentation: nil) } catch {
                        failures[scratch.index] = error
                        return
                    }
                    let r = e.run(image.data)
                    correct[i] = argmax(r.logits) == Int(labels[0])
                    macs[i] = r.macs
                    for (g, k) in r.kept.enumerated() {
                        keptSums[scratch.index][g] += Double(k)
                        channelSums[scratch.index][g] += Double(e.channels(atGate: g))
                    }
                    progress?.advance(processes.size)  // process 0's part is the smallest
                }
            }
        } } } } }
        if let failure = failures.first(where: { $0 != nil }) { throw failure! }
        var kept = (0..<gates).map { g in keptSums.reduce(0) { $0 + $1[g] } }
        var channels = (0..<gates).map { g in channelSums.reduce(0) { $0 + $1[g] } }
        guard processes.size > 1 else { return Pass(correct: correct, macs: macs, keptAtGate: kept, channelsAtGate: channels) }
        var correctValues = correct.map { $0 ? 1.0 : 0 }, macValues = macs.map(Double.init)
        processes.gather(&correctValues)
        processes.gather(&macValues)
        processes.sumAll(&kept)
        processes.sumAll(&channels)
        return Pass(correct: correctValues.map { $0 == 1 }, macs: macValues.map { Int($0) }, keptAtGate: kept, channelsAtGate: channels)
    }

    /// Dense and pruned passes combined into the method's measures.
    public static func evaluate(_ network: Network, on data: some DataSplit, plan: PruningPlan, dense: Pass? = nil,
                                progress: Progress? = nil, processes: ProcessGroup = SingleProcess()) throws -> PrunedEvaluation {
        let d = try dense ?? run(network, on: data, plan: nil, progress: progress, processes: processes)
        let p = try run(network, on: data, plan: plan, progress: progress, processes: processes)
        return PrunedEvaluation(images: data.count, accuracyDense: d.accuracy, accuracyPruned: p.accuracy,
                                macsDense: d.macs.first ?? 0, macsExecuted: p.macs,
                                droppedAtGate: Dictionary(uniqueKeysWithValues: plan.gates.map { ($0, p.dropped(atGate: $0)) }))
    }

    /// Batch-1 latency of the dense network and of `plan`, over the first `images` test images,
    /// `repeats` times each. Dense and pruned runs alternate in blocks of 25 images on one executor
    /// (the policy switched off and on), each block running warm, as a deployment running only one
    /// of them would. (Alternating image by image makes each dense pass evict the weights the
    /// pruned pass keeps in cache, and two executors each evict the other's copy: measured 1.5x and
    /// 1.3x instead of about 1.9x on the shipped model.)
    public static func latencies(_ network: Network, on data: some DataSplit, plan: PruningPlan, images: Int, repeats: Int = 3,
                                 progress: Progress? = nil) throws -> LatencyComparison {
        let e = SparseExecutor(network)
        let maker = BatchMaker(spec: network.spec)
        let n = min(images, data.count)
        let batch = Tensor(shape: [0])
        var labels: [Int32] = []
        try maker.fill(batch, labels: &labels, from: data, indices: Array(0..<n)[...], augmentation: nil)
        let size = batch.count / n
        var onOneCore = [0, 0]  // timed passes whose splits ran on the calling thread alone, dense and pruned
        func time(pruned: Bool, _ i: Int) -> Double {
            if pruned { plan.apply(to: e) } else { e.policy = nil }  // both cheap: no recompilation
            let before = e.passesOnOneCore, start = DispatchTime.now().uptimeNanoseconds
            e.forward(batch.data + i * size)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            onOneCore[pruned ? 1 : 0] += e.passesOnOneCore - before
            return ms
        }
        for i in 0..<50 { _ = time(pruned: false, i % n); _ = time(pruned: true, i % n) }  // warm caches and the thread pool
        onOneCore = [0, 0]
        var denseTimes: [Double] = [], sparseTimes: [Double] = [], blockRatios: [Double] = []
        for _ in 0..<repeats {
            for start in stride(from: 0, to: n, by: 25) {
                let block = start..<min(start + 25, n)
                let dense = block.map { time(pruned: false, $0) }, sparse = block.map { time(pruned: true, $0) }
                denseTimes += dense; sparseTimes += sparse
                blockRatios.append(median(dense) / median(sparse))
                progress?.advance(2 * block.count)
            }
        }
        func summary(_ t: [Double]) -> (median: Double, p90: Double) {
            let sorted = t.sorted()
            return (sorted[sorted.count / 2], sorted[min(sorted.count - 1, Int(0.9 * Double(sorted.count)))])
        }
        let timed = Double(denseTimes.count)
        return LatencyComparison(dense: summary(denseTimes), sparse: summary(sparseTimes), speedup: median(blockRatios),
                                 onOneCore: (Double(onOneCore[0]) / timed, Double(onOneCore[1]) / timed))
    }

    private static func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }

    static func argmax(_ v: [Float]) -> Int { v.indices.max { v[$0] < v[$1] } ?? 0 }
}

/// Batch-1 latencies (ms, median and p90 over every run) of a dense network and its pruned plan,
/// and the speedup: the median over blocks of (dense block median / pruned block median). On a
/// machine whose speed changes from second to second (this VM's by up to 2x, with its neighbours'
/// load), the ratio of the two overall medians also moved with which speed each median fell in;
/// each pair of adjacent blocks (about 25 ms) runs at one speed. What remains is the ratio's own
/// change with the machine's speed: in its slow phases the pruned passes slow down more than the
/// dense ones (the shipped VGG16, three runs within five minutes, AMD Zen 5: 2.01x, 1.88x, 1.60x).
public struct LatencyComparison: Sendable {
    public let dense: (median: Double, p90: Double)
    public let sparse: (median: Double, p90: Double)
    public let speedup: Double
    /// The shares of dense and of pruned passes that ran on one core (`SplitChoice`).
    public let onOneCore: (dense: Double, sparse: Double)
}
