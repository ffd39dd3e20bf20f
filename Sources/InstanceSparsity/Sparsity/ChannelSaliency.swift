/// Per-layer statistics of channel saliency over a calibration set (method §4): how much the set
/// of important channels changes from image to image (CV across instances), how uneven channels
/// are within one image (dispersion), and how many are nearly silent.
public struct LayerSaliency {
    public var label: String
    public var channels: Int
    /// Mean over channels (with nonzero mean) of std_i s_c(x_i) / mean_i s_c(x_i).
    public var cv: Double
    /// Mean over instances of std_c s_c(x) / mean_c s_c(x).
    public var dispersion: Double
    public var meanSaliency: Double
    /// Share of (instance, channel) pairs with s < 0.01 (silent), s < 0.5 * the instance's mean
    /// saliency in that layer, and s < the mean.
    public var belowAbsolute: Double
    public var belowHalfMean: Double
    public var belowMean: Double
    /// Mean saliency of each channel over the calibration set.
    public var channelMeans: [Float]

    /// Channels silent (saliency 0) on every calibration image: static pruning removes these for free.
    public var deadChannels: Int { channelMeans.filter { $0 == 0 }.count }

    /// Channels by decreasing mean saliency: the static-topk order.
    public var ranking: [Int32] {
        channelMeans.indices.sorted { channelMeans[$0] > channelMeans[$1] }.map { Int32($0) }
    }
}

public enum ChannelSaliency {
    /// Statistics of every gate over the first `count` images of `data` (use a training split:
    /// the test split is for measuring, not choosing). Small batches: every layer keeps its batch of
    /// activations, 2 GB at 200 MobileNetV2 images. Several processes take one batch each per
    /// round and gather the rounds' sums, which are added in batch order on every process: the
    /// same figures as one process, bit for bit.
    public static func analyze(_ network: Network, on data: some DataSplit, count: Int, batchSize: Int = 50,
                               progress: Progress? = nil, processes: ProcessGroup = SingleProcess()) throws -> [LayerSaliency] {
        let maker = BatchMaker(spec: network.spec)
        let batch = Tensor(shape: [0])
        var labels: [Int32] = []
        let gates = network.gates
        for g in gates { g.mask = nil }
        let channels = network.gateChannels
        // One batch's sums: per gate, the sums and the sums of squares of each channel's
        // saliency, then the sum of dispersions and the counts below 0.01, half the mean and the mean.
        let offsets = channels.reduce(into: [0]) { $0.append($0.last! + 2 * $1 + 4) }, record = offsets.last!
        var totals = [Double](repeating: 0, count: record)
        let n = min(count, data.count), batches = Array(0..<n).batches(of: batchSize)
        for round in stride(from: 0, to: batches.count, by: processes.size) {
            let roundBatches = round..<min(round + processes.size, batches.count)
            var records = [Double](repeating: 0, count: roundBatches.count * record)
            let k = round + processes.rank
            if roundBatches.contains(k) {
                try maker.fill(batch, labels: &labels, from: data, indices: batches[k], augmentation: nil)
                _ = network.forward(batch, training: false)
                records.withUnsafeMutableBufferPointer { add(gates, offsets: offsets, to: $0.baseAddress! + (k - round) * record) }
            }
            processes.gather(&records)
            for j in roundBatches.indices { for i in 0..<record { totals[i] += records[(j - round) * record + i] } }
            progress?.advance(batches[roundBatches].reduce(0) { $0 + $1.count })
        }
        let sums = gates.indices.map { Array(totals[offsets[$0]..<(offsets[$0] + channels[$0])]) }
        let squares = gates.indices.map { Array(totals[(offsets[$0] + channels[$0])..<(offsets[$0] + 2 * channels[$0])]) }
        let dispersion = gates.indices.map { totals[offsets[$0] + 2 * channels[$0]] }
        let belowAbsolute = gates.indices.map { totals[offsets[$0] + 2 * channels[$0] + 1] }
        let belowHalf = gates.indices.map { totals[offsets[$0] + 2 * channels[$0] + 2] }
        let belowMean = gates.indices.map { totals[offsets[$0] + 2 * channels[$0] + 3] }
        return gates.indices.map { l in
            let c = sums[l].count, total = Double(n * c)
            var cvSum = 0.0, counted = 0
            var means = [Float]()
            for ch in 0..<c {
                let m = sums[l][ch] / Double(n)
                means.append(Float(m))
                guard m > 0 else { continue }
                let sd = max(squares[l][ch] / Double(n) - m * m, 0).squareRoot()
                cvSum += sd / m; counted += 1
            }
            return LayerSaliency(label: gates[l].label, channels: c, cv: counted > 0 ? cvSum / Double(counted) : 0,
                                 dispersion: dispersion[l] / Double(n), meanSaliency: sums[l].reduce(0, +) / total,
                                 belowAbsolute: belowAbsolute[l] / total, belowHalfMean: belowHalf[l] / total,
                                 belowMean: belowMean[l] / total, channelMeans: means)
        }
    }

    /// Adds the saliency of the batch the gates last saw to `record` (laid out as `analyze` says).
    private static func add(_ gates: [ChannelGate], offsets: [Int], to record: UnsafeMutablePointer<Double>) {
        for (l, g) in gates.enumerated() {
            let s = g.saliency, c = s.shape[1]
            let sums = record + offsets[l], squares = sums + c, figures = sums + 2 * c
            for i in 0..<s.shape[0] {
                let row = s.data + i * c
                var m = 0.0, q = 0.0
                for ch in 0..<c {
                    let v = Double(row[ch])
                    sums[ch] += v; squares[ch] += v * v
                    m += v; q += v * v
                }
                m /= Double(c)
                let sd = max(q / Double(c) - m * m, 0).squareRoot()
                if m > 0 { figures[0] += sd / m }
                for ch in 0..<c {
                    let v = Double(row[ch])
                    if v < 0.01 { figures[1] += 1 }
                    if v < 0.5 * m { figures[2] += 1 }
                    if v < m { figures[3] += 1 }
                }
            }
        }
    }

    /// Indices of the layers to prune: CV >= `cvMin` if given, else the `topK` highest CVs.
    public static func select(_ layers: [LayerSaliency], cvMin: Double?, topK: Int?) -> [Int] {
        if let cvMin { return layers.indices.filter { layers[$0].cv >= cvMin } }
        let k = min(topK ?? (layers.count + 1) / 2, layers.count)
        return Array(layers.indices.sorted { layers[$0].cv > layers[$1].cv }.prefix(k)).sorted()
    }
}
