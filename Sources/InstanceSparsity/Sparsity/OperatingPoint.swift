import Foundation

/// The pruning a model ships with: policy, alpha and the maps it prunes (by name, so deployment
/// needs no calibration images), the static ranking for `static-topk`, and what was measured when
/// it was chosen. Stored in the checkpoint's metadata under `prune.`; `isp tune` writes it.
public struct OperatingPoint: Equatable {
    public var policy: ThresholdPolicy
    /// Labels of the pruned maps (see `Network.gates`).
    public var layers: [String]
    /// Per gate of the network, channels by decreasing calibration saliency (`static-topk` only).
    public var ranking: [[Int32]]?
    /// How it was chosen and what it gave there, for people reading the file: the images it was
    /// measured on, dense and pruned accuracy, FLOPs reduction, the accuracy budget.
    public var measured: [String: String]

    public init(policy: ThresholdPolicy, layers: [String], ranking: [[Int32]]? = nil, measured: [String: String] = [:]) {
        self.policy = policy; self.layers = layers; self.ranking = ranking; self.measured = measured
    }

    public static let prefix = "prune."

    public var metadata: [String: String] {
        var m = ["prune.policy": policy.kind.rawValue, "prune.alpha": "\(policy.alpha)", "prune.layers": layers.joined(separator: ",")]
        if let ranking {
            m["prune.ranking"] = "[" + ranking.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }.joined(separator: ",") + "]"
        }
        for (key, value) in measured { m["prune.measured." + key] = value }
        return m
    }

    /// The stored operating point of a checkpoint, or nil if it has none. `network` checks the
    /// names and ranking against the model; `path` names the file in errors.
    public init?(metadata m: [String: String], network: Network, path: String) throws {
        guard let kindName = m["prune.policy"] else { return nil }
        guard let kind = ThresholdPolicy.Kind(rawValue: kindName) else {
            throw InputError(path, "metadata 'prune.policy' is '\(kindName)', not a policy (\(ThresholdPolicy.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let alphaText = m["prune.alpha"], let alpha = Float(alphaText), alpha.isFinite, alpha >= 0 else {
            throw InputError(path, "metadata 'prune.alpha' is missing or not a number >= 0")
        }
        let labels = (m["prune.layers"] ?? "").split(separator: ",").map(String.init)
        let known = network.gates.map(\.label)
        if let bad = labels.first(where: { !known.contains($0) }) {
            throw InputError(path, "metadata 'prune.layers' names '\(bad)', which is not a prunable map of this network")
        }
        var ranking: [[Int32]]? = nil
        if kind == .staticTopK {
            let channels = network.gateChannels
            guard let text = m["prune.ranking"], let rows = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[Int]],
                  rows.count == channels.count,
                  zip(rows, channels).allSatisfy({ row, c in row.count == c && Set(row) == Set(0..<c) })
            else { throw InputError(path, "metadata 'prune.ranking' must list every channel of every map once (static-topk)") }
            ranking = rows.map { $0.map(Int32.init) }
        }
        var measured: [String: String] = [:]
        for (key, value) in m where key.hasPrefix("prune.measured.") { measured[String(key.dropFirst("prune.measured.".count))] = value }
        self.init(policy: ThresholdPolicy(kind, alpha: alpha), layers: labels, ranking: ranking, measured: measured)
    }

    /// This point for `network` with the channels of its maps in `order` (`Network.reordered`): a
    /// static ranking names channels by index, so each moves with its channel; the rest holds as it is.
    public func reordered(_ order: ChannelSlimming.Selection, in network: Network) -> OperatingPoint {
        guard var ranking else { return self }
        for (g, gate) in network.gates.enumerated() {
            guard let channels = order[gate.label] else { continue }
            var place = [Int32](repeating: 0, count: channels.count)
            for (new, old) in channels.enumerated() { place[old] = Int32(new) }
            ranking[g] = ranking[g].map { place[Int($0)] }
        }
        return OperatingPoint(policy: policy, layers: layers, ranking: ranking, measured: measured)
    }

    /// The executor's form: gate indices instead of names.
    public func plan(for network: Network) throws -> PruningPlan {
        let labels = network.gates.map(\.label)
        return try PruningPlan(policy: policy, gates: Set(layers.compactMap { labels.firstIndex(of: $0) }), ranking: ranking)
    }
}
