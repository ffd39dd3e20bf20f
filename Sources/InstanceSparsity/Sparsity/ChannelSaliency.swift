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
    /// activations, 2 GB at 200 MobileNetV2 images.
    public static func analyze(_ network: Network, on data: some DataSplit, count: Int, batchSize: Int = 50,
                               progress: Progress? = nil) throws -> [LayerSaliency] {
        let maker = BatchMaker(spec: network.spec)
        let batch = Tensor(shape: [0])
        var labels: [Int32] = [], rng = SeededGenerator(seed: 0)
        let gates = network.gates
        var sums = gates.map { _ in [Double]() }, squares = sums
        var dispersion = [Double](repeating: 0, count: gates.count)
        var belowAbsolute = dispersion, belowHalf = dispersion, belowMean = dispersion
        let n = min(count, data.count)
        for g in gates { g.mask = nil }
        var start = 0
        while start < n {
            let end = min(start + batchSize, n)
            try maker.fill(batch, labels: &labels, from: data, indices: Array(start..<end)[...], augment: false, rng: &rng)
            _ = network.forward(batch, training: false)
            for (l, g) in gates.enumerated() {
                let s = g.saliency, c = s.shape[1]
                if sums[l].isEmpty { sums[l] = [Double](repeating: 0, count: c); squares[l] = sums[l] }
                for i in 0..<s.shape[0] {
                    let row = s.data + i * c
                    var m = 0.0, q = 0.0
                    for ch in 0..<c {
                        let v = Double(row[ch])
                        sums[l][ch] += v; squares[l][ch] += v * v
                        m += v; q += v * v
                    }
                    m /= Double(c)
                    let sd = max(q / Double(c) - m * m, 0).squareRoot()
                    if m > 0 { dispersion[l] += sd / m }
                    for ch in 0..<c {
                        let v = Double(row[ch])
                        if v < 0.01 { belowAbsolute[l] += 1 }
                        if v < 0.5 * m { belowHalf[l] += 1 }
                        if v < m { belowMean[l] += 1 }
                    }
                }
            }
            progress?.advance(end - start)
            start = end
        }
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

    /// Indices of the layers to prune: CV >= `cvMin` if given, else the `topK` highest CVs.
    public static func select(_ layers: [LayerSaliency], cvMin: Double?, topK: Int?) -> [Int] {
        if let cvMin { return layers.indices.filter { layers[$0].cv >= cvMin } }
        let k = min(topK ?? (layers.count + 1) / 2, layers.count)
        return Array(layers.indices.sorted { layers[$0].cv > layers[$1].cv }.prefix(k)).sorted()
    }
}
