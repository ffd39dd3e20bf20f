/// Static channel removal: which channels of the slimmable maps (`Network.slimmableMaps`) to
/// keep, by one of two criteria, and the smaller dense network without the others.
///
/// Removing a channel means the network computes as if that channel of the map were zero on
/// every image (the gate's mask set to 0 for good), so the slimmed network equals the original
/// with those channels masked, on every input. Whether that changes the original's outputs
/// depends on the criterion: channels silent on the calibration images change nothing on those
/// images, and possibly something on others.
public enum ChannelSlimming {
    /// Kept channels of each slimmable map, ascending, by map name.
    public typealias Selection = [String: [Int]]

    /// Keeps the channels that are not silent on the first `count` images of `data` (a training
    /// split: the test split is for measuring): silent means saliency 0, i.e. zero at every pixel
    /// after the map's ReLU, on every one of those images. A map silent everywhere keeps its
    /// first channel (a convolution needs an input; the kept channel is zero, so nothing changes).
    public static func nonSilent(_ network: Network, calibration data: some DataSplit, count: Int,
                                 progress: Progress? = nil) throws -> Selection {
        let statistics = try ChannelSaliency.analyze(network, on: data, count: count, progress: progress)
        var kept: Selection = [:]
        for (gate, layer) in zip(network.gates, statistics) where gate.layout != nil {
            let active = layer.channelMeans.indices.filter { layer.channelMeans[$0] > 0 }
            kept[gate.label] = active.isEmpty ? [0] : active
        }
        return kept
    }

    /// The fewest channels Network Slimming leaves in a map of `channels`: a tenth, rounded up.
    /// The paper prunes by one global threshold on the scales and keeps no floor; a map cut to one
    /// or two channels starves every layer after it, and fine-tuning cannot widen it again.
    public static func scaleFloor(channels: Int) -> Int { (channels + 9) / 10 }

    /// Network Slimming (Liu et al., ICCV 2017): removes the channels whose batch-norm scale |gamma|
    /// (of the norm that makes the map) is smallest, globally across the slimmable maps, until the
    /// network's MACs per image are at most `macsFraction` of the original's, keeping at least
    /// `scaleFloor` channels per map. Ties go to the earlier map and channel.
    public static func largestScales(_ network: Network, macsFraction: Double) throws -> Selection {
        let maps = network.slimmableMaps, macs = MACModel(network)
        var candidates: [(scale: Float, map: Int, channel: Int)] = []
        for (m, gate) in maps.enumerated() {
            let gamma = (network.layer(at: gate.layout!.norm) as! BatchNorm2d).weight.value
            let order = (0..<gamma.count).sorted { (abs(gamma[$0]), $0) < (abs(gamma[$1]), $1) }
            for c in order.dropLast(scaleFloor(channels: gamma.count)) { candidates.append((abs(gamma[c]), m, c)) }
        }
        candidates.sort { ($0.scale, $0.map, $0.channel) < ($1.scale, $1.map, $1.channel) }
        func counts(removing k: Int) -> [Int] {
            var counts = maps.map { $0.layout!.channels }
            for e in candidates.prefix(k) { counts[e.map] -= 1 }
            return counts
        }
        let target = macsFraction * Double(macs.total)
        guard macs.macs(counts(removing: candidates.count)) <= target else {
            throw SlimmingError.unreachable(macsFraction: macsFraction, floor: macs.macs(counts(removing: candidates.count)) / Double(macs.total))
        }
        // MACs fall as channels go: the smallest k that meets the target, by bisection.
        var low = 0, high = candidates.count
        while low < high {
            let mid = (low + high) / 2
            if macs.macs(counts(removing: mid)) <= target { high = mid } else { low = mid + 1 }
        }
        var removed = maps.map { _ in Set<Int>() }
        for e in candidates.prefix(low) { removed[e.map].insert(e.channel) }
        var kept: Selection = [:]
        for (m, gate) in maps.enumerated() { kept[gate.label] = (0..<gate.layout!.channels).filter { !removed[m].contains($0) } }
        return kept
    }
}

extension ChannelSlimming {
    /// The original and the slimmed network on the same images: what removing the channels cost.
    public struct Comparison {
        public var images: Int
        public var accuracyOriginal: Double, accuracySlimmed: Double
        /// Share of images on which both predict the same class.
        public var agreement: Double
        /// Share of images on which some removed channel was not silent in the original (on those
        /// the two networks can differ; on the others they compute the same logits).
        public var activeRemoved: Double
    }

    /// Runs both networks on every image of `data` (evaluation mode, no masks).
    public static func compare(_ original: Network, _ slimmed: Network, kept: Selection, on data: some DataSplit,
                               batchSize: Int = 100, progress: Progress? = nil) throws -> Comparison {
        let removed: [(gate: ChannelGate, channels: [Int])] = original.slimmableMaps.compactMap { gate in
            kept[gate.label].map { keep in (gate, Array(Set(0..<gate.layout!.channels).subtracting(keep)).sorted()) }
        }
        for gate in original.gates { gate.mask = nil }
        for gate in slimmed.gates { gate.mask = nil }
        let batches = BatchStream(data, maker: BatchMaker(spec: original.spec), order: Array(0..<data.count), batchSize: batchSize,
                                  augmentation: nil)
        var right = (original: 0, slimmed: 0), agreeing = 0, active = 0
        while let (batch, labels) = try batches.next() {
            let a = original.forward(batch, training: false), classes = a.shape[1]
            let predicted = labels.indices.map { PrunedEvaluator.argmax(Array(UnsafeBufferPointer(start: a.data + $0 * classes, count: classes))) }
            for i in labels.indices {
                let touched = removed.contains { map in
                    let s = map.gate.saliency, c = s.shape[1]
                    return map.channels.contains { s[i * c + $0] > 0 }
                }
                if touched { active += 1 }
            }
            let b = slimmed.forward(batch, training: false)
            for (i, label) in labels.enumerated() {
                let p = PrunedEvaluator.argmax(Array(UnsafeBufferPointer(start: b.data + i * classes, count: classes)))
                if predicted[i] == Int(label) { right.original += 1 }
                if p == Int(label) { right.slimmed += 1 }
                if p == predicted[i] { agreeing += 1 }
            }
            progress?.advance(labels.count)
        }
        let n = Double(max(data.count, 1))
        return Comparison(images: data.count, accuracyOriginal: Double(right.original) / n, accuracySlimmed: Double(right.slimmed) / n,
                          agreement: Double(agreeing) / n, activeRemoved: Double(active) / n)
    }
}

public enum SlimmingError: Error, CustomStringConvertible {
    case unreachable(macsFraction: Double, floor: Double)

    public var description: String {
        switch self {
        case let .unreachable(fraction, floor):
            return String(format: "cannot slim to %.3g of the MACs: keeping a tenth of each slimmable map's channels leaves %.3g (the other layers are not slimmed)", fraction, floor)
        }
    }
}

/// MACs per image as a function of the slimmable maps' channel counts, without building the
/// network: a layer's MACs are proportional to its input and output channel counts, so each
/// layer scales by the kept share of every map it makes, carries or reads.
struct MACModel {
    let total: Int
    private let layers: [(macs: Int, maps: [Int])]
    private let channels: [Int]

    init(_ network: Network) {
        total = network.macsPerImage  // also records each layer's shapes
        let maps = network.slimmableMaps.map { $0.layout! }
        channels = maps.map(\.channels)
        var layers: [(Int, [Int])] = []
        network.root.visit { path, layer in
            guard layer.children.isEmpty, layer.macsPerImage > 0 else { return }
            let touching = maps.indices.filter { maps[$0].outputLayers.contains(path) || maps[$0].reader == path }
            layers.append((layer.macsPerImage, touching))
        }
        self.layers = layers
    }

    func macs(_ counts: [Int]) -> Double {
        layers.reduce(0) { sum, layer in
            sum + layer.maps.reduce(Double(layer.macs)) { $0 * Double(counts[$1]) / Double(channels[$1]) }
        }
    }
}

extension Network {
    /// A new network with only the `kept` channels of the named slimmable maps (ascending indices;
    /// maps not named keep all of theirs): the weights of the layers that make, carry and read
    /// each map sliced, every other weight copied, and the new counts recorded in its spec.
    /// A removed channel of a map with carriers (MobileNetV2's expanded map) reaches the reader as
    /// the constant the carriers make of a zero plane; it is folded into the running mean of the
    /// reader's batch norm, so the result equals this network with those channels masked to zero.
    public func slimmed(keeping kept: ChannelSlimming.Selection) throws -> Network {
        for gate in slimmableMaps {
            guard let keep = kept[gate.label] else { continue }
            precondition(!keep.isEmpty && zip(keep, keep.dropFirst()).allSatisfy { $0 < $1 } && keep.last! < gate.layout!.channels,
                         "\(gate.label): kept channels must be ascending indices below \(gate.layout!.channels)")
        }
        return try rearranged(kept)
    }

    /// A new network whose named slimmable maps hold the same channels in the given order (each a
    /// permutation of the map's channels; maps not named keep theirs): the weights of the layers
    /// that make, carry and read each map permuted alike. It computes what this network computes,
    /// but for the order in which the reader sums its input channels (float rounding); the channels
    /// an image keeps are the same ones, at their new places. See `ChannelOrder`.
    public func reordered(_ order: ChannelSlimming.Selection) throws -> Network {
        for gate in slimmableMaps {
            guard let channels = order[gate.label] else { continue }
            precondition(channels.sorted() == Array(0..<gate.layout!.channels), "\(gate.label): not a permutation of its \(gate.layout!.channels) channels")
        }
        return try rearranged(order)
    }

    /// The network with the listed channels of each named slimmable map, in the order listed
    /// (distinct indices), for `slimmed` and `reordered`.
    private func rearranged(_ kept: ChannelSlimming.Selection) throws -> Network {
        let maps = slimmableMaps
        precondition(Set(kept.keys).isSubset(of: maps.map(\.label)), "not slimmable maps: \(Set(kept.keys).subtracting(maps.map(\.label)))")
        var slimSpec = spec
        var rows: [String: [Int]] = [:], columns: [String: [Int]] = [:]
        for gate in maps {
            let layout = gate.layout!, keep = kept[gate.label] ?? Array(0..<layout.channels)
            // Recorded where the count changes (or was recorded before): an unchanged map needs no record.
            if keep.count < layout.channels || spec.channels[gate.label] != nil { slimSpec.channels[gate.label] = keep.count }
            for path in layout.outputLayers { rows[path] = keep }
            columns[layout.reader] = keep
        }
        let slim = try Network.make(slimSpec, engine: engine)
        let source = Dictionary(uniqueKeysWithValues: Checkpoint.stateDict(self).floats.map { ($0.name, $0.tensor) })
        for (name, target) in Checkpoint.stateDict(slim).floats {
            let layer = String(name[..<name.lastIndex(of: ".")!])
            Self.select(source[name]!, rows: rows[layer], columns: columns[layer], into: target)
        }
        for (a, b) in zip(batchNorms, slim.batchNorms) { b.layer.batchesTracked = a.layer.batchesTracked }
        for gate in maps where !gate.layout!.carriers.isEmpty {
            foldRemovedConstants(of: gate.layout!, keeping: Set(rows[gate.layout!.convolution]!), into: slim)
        }
        return slim
    }

    /// Copies `source` into `target`, keeping only the given indices of dimension 0 (rows) and
    /// of dimension 1 (columns, tensors of rank 2 and more); nil keeps a dimension whole.
    private static func select(_ source: Tensor, rows: [Int]?, columns: [Int]?, into target: Tensor) {
        let shape = source.shape
        let rowIndices = rows ?? Array(0..<shape[0])
        let columnIndices = shape.count >= 2 ? columns ?? Array(0..<shape[1]) : [0]
        let inner = shape.count >= 2 ? shape.dropFirst(2).reduce(1, *) : 1
        let sourceColumns = shape.count >= 2 ? shape[1] : 1
        precondition(target.count == rowIndices.count * columnIndices.count * inner, "\(shape) sliced does not fit \(target.shape)")
        var t = target.data
        for r in rowIndices {
            for c in columnIndices {
                t.update(from: source.data + (r * sourceColumns + c) * inner, count: inner)
                t += inner
            }
        }
    }

    /// For each channel of the map outside `keeping`: the constant the carriers output for a zero
    /// plane (a zero plane through a convolution is its bias; through the batch norm and its fused
    /// ReLU, the clamped offset), times the reader's 1x1 weights, subtracted from the running
    /// mean of the reader's batch norm in `slim` (BN(y + s) = BN'(y) with mean' = mean - s).
    private func foldRemovedConstants(of layout: MapLayout, keeping: Set<Int>, into slim: Network) {
        let reader = layer(at: layout.reader) as! Conv2d
        precondition(reader.kernel == 1 && reader.groups == 1, "a removed channel's constant is a bias only through a 1x1 convolution")
        let mean = (slim.layer(at: layout.readerNorm!) as! BatchNorm2d).runningMean
        let carriers = layout.carriers.map { layer(at: $0)! }
        for c in 0..<layout.channels where !keeping.contains(c) {
            var value: Float = 0
            for carrier in carriers {
                switch carrier {
                case let conv as Conv2d:
                    // A plane of any other constant is not constant after a padded convolution.
                    precondition(conv.isDepthwise && value == 0, "a convolution carries a removed channel first, as a zero plane")
                    value = conv.bias?.value[c] ?? 0
                case let bn as BatchNorm2d:
                    let scale = bn.weight.value[c] / (bn.runningVar[c] + bn.eps).squareRoot()
                    value = (value - bn.runningMean[c]) * scale + bn.bias.value[c]
                    if let cap = bn.cap { value = min(max(value, 0), cap) }
                default: preconditionFailure("carrier \(type(of: carrier)) is neither a convolution nor a batch norm")
                }
            }
            guard value != 0 else { continue }
            for o in 0..<reader.outChannels { mean[o] -= reader.weight.value[o * reader.inChannels + c] * value }
        }
    }
}
