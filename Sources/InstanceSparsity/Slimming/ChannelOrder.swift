/// Channels of the pruned maps ordered by how often an operating point keeps them (`isp reorder`).
///
/// Why: a pruned convolution reads the weight rows of the kept input channels only, and where the
/// kept channels of an image are scattered (each 9 rows of 64 bytes per tile for a 3x3 kernel,
/// then a gap), the hardware prefetchers lose the stream: on VGG16 w0.5's 4x4 and 2x2 maps, whose
/// weights come from L3, 42 of 256 channels listed as they fall took 1.19-1.28x the time of 42
/// whose rows are one run (4x4; 2x2 with 72 kept 1.18-1.25x: benchmarks/conv_kernel_bench.c 256
/// 256 4 300 4 3 0 1 0 42, with and without KEPT_RUN=weights; one core, AMD Zen 5 AVX-512,
/// 2026-12-07). Feature decay leaves each map a core of channels most images keep, many no image
/// keeps and a few in between, so with the most often kept first an image's kept channels fall in
/// a few runs: at the shipped VGG16's stored point, per image, 30-48 runs -> 2.5-28 on its 4x4 and
/// 2x2 maps (1000 training images), and its pruned passes took 0.930x the time with AVX-512
/// (benchmarks/interleave.py, 30 blocks of 20; ResNet-18 0.980x; MobileNetV2, whose projections
/// read 1x1 rows, 1.003x). A chain that puts after each channel the one most often kept where it
/// is dropped (a greedy tour on those shares) cut the runs of VGG16's deeper maps further (28 ->
/// 16 on its last) but not the time (1.029, 0.978 two cores; 1.044, 1.010 one).
/// Reordering a map permutes the output channels of the layers that make it and the input
/// channels of the one that reads it: the network computes the same function (up to the order of
/// the reader's float sums) and keeps the same channels of every image.
public enum ChannelOrder {
    /// Per slimmable map that `plan` prunes (by label): for each of the first `count` images of
    /// `data`, which of its channels the plan's policy keeps, measured on the dense network (no
    /// masks, in batches): the pruned network's deeper maps differ a little, which may change an
    /// order, never a result.
    public static func keptChannels(_ network: Network, plan: PruningPlan, on data: some DataSplit, count: Int,
                                    batchSize: Int = 50, progress: Progress? = nil) throws -> [String: [[Bool]]] {
        let maker = BatchMaker(spec: network.spec)
        let batch = Tensor(shape: [0])
        var labels: [Int32] = []
        let gates = network.gates
        for gate in gates { gate.mask = nil }
        let pruned = gates.indices.filter { plan.gates.contains($0) && gates[$0].layout != nil }
        var kept = Dictionary(uniqueKeysWithValues: pruned.map { (gates[$0].label, [[Bool]]()) })
        let list = UnsafeMutablePointer<Int32>.allocate(capacity: pruned.map { gates[$0].layout!.channels }.max() ?? 0)
        defer { list.deallocate() }
        for indices in Array(0..<min(count, data.count)).batches(of: batchSize) {
            try maker.fill(batch, labels: &labels, from: data, indices: indices, augmentation: nil)
            _ = network.forward(batch, training: false)
            for g in pruned {
                let s = gates[g].saliency, c = s.shape[1]
                for i in 0..<s.shape[0] {
                    let n = plan.policy.select(saliency: s.data + i * c, channels: c, ranking: plan.ranking?[g], into: list,
                                               isa: network.engine.isa)
                    var row = [Bool](repeating: false, count: c)
                    for j in 0..<n { row[Int(list[j])] = true }
                    kept[gates[g].label]!.append(row)
                }
            }
            progress?.advance(indices.count)
        }
        return kept
    }

    /// Each map's channels, those kept on the most images first (ties: the lower index first).
    public static func mostOftenKeptFirst(_ kept: [String: [[Bool]]]) -> ChannelSlimming.Selection {
        kept.mapValues { rows in
            let channels = rows.first?.count ?? 0
            let counts = (0..<channels).map { c in rows.reduce(0) { $0 + ($1[c] ? 1 : 0) } }
            return (0..<channels).sorted { (-counts[$0], $0) < (-counts[$1], $1) }
        }
    }

    /// The mean over images of the runs their kept channels form with the channels in `order`
    /// (nil: as they are): how many gaps a pruned convolution meets in its weight rows.
    public static func meanRuns(_ rows: [[Bool]], order: [Int]? = nil) -> Double {
        guard !rows.isEmpty else { return 0 }
        let total = rows.reduce(0) { sum, row in
            let ordered = order.map { $0.map { row[$0] } } ?? row
            return sum + zip([false] + ordered, ordered).filter { !$0 && $1 }.count
        }
        return Double(total) / Double(rows.count)
    }
}
