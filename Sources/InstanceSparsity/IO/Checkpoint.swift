/// A network saved as safetensors with PyTorch's `state_dict()` names, the `ModelSpec` in the
/// metadata, and optionally the training state (optimizer velocity under `_optimizer.`, progress
/// in metadata) so `--resume` continues exactly.
public enum Checkpoint {
    public static let optimizerPrefix = "_optimizer."

    public struct Loaded {
        public let path: String
        public let network: Network
        public let metadata: [String: String]
        /// Optimizer velocity by parameter name (empty for inference-only files).
        public let velocity: [String: Tensor]
    }

    /// The state dict in module order: parameters, then buffers, then BN's batch counter.
    static func stateDict(_ network: Network) -> (floats: [(name: String, tensor: Tensor)], counters: [(name: String, shape: [Int], values: [Int64])]) {
        var floats: [(name: String, tensor: Tensor)] = [], counters: [(name: String, shape: [Int], values: [Int64])] = []
        network.root.visit { path, layer in
            func full(_ n: String) -> String { path.isEmpty ? n : path + "." + n }
            for (n, p) in layer.parameters { floats.append((full(n), p.value)) }
            for (n, t) in layer.buffers { floats.append((full(n), t)) }
        }
        for (path, bn) in network.batchNorms { counters.append((counterName(path), [], [bn.batchesTracked])) }
        return (floats, counters)
    }

    /// The name of a batch norm's step counter.
    static func counterName(_ path: String) -> String { path.isEmpty ? "num_batches_tracked" : path + ".num_batches_tracked" }

    /// `velocity`: optimizer state by parameter name (a training checkpoint), written in parameter order.
    public static func save(_ network: Network, to path: String, metadata extra: [String: String] = [:],
                            velocity: [String: Tensor] = [:]) throws {
        var (floats, counters) = stateDict(network)
        for (name, _) in network.parameters {
            if let v = velocity[name] { floats.append((optimizerPrefix + name, v)) }
        }
        let metadata = network.spec.metadata.merging(extra) { _, new in new }
        try SafeTensors.write(path: path, tensors: floats, int64: counters, metadata: metadata.merging(["format": "pt"]) { a, _ in a })
    }

    /// About how large `save` makes the file (the JSON header is estimated generously), for
    /// checking free space before a run rather than failing at its first checkpoint.
    public static func estimatedBytes(_ network: Network, withOptimizer: Bool) -> Int {
        let (floats, counters) = stateDict(network)
        let velocity = withOptimizer ? network.parameters.map { $0.parameter.value.count } : []
        let values = floats.reduce(0) { $0 + $1.tensor.count } + velocity.reduce(0, +)
        let tensors = floats.count + counters.count + velocity.count
        return 4 * values + 8 * counters.count + 256 * tensors + 4096
    }

    /// The network in the file, running on `engine`.
    public static func load(path: String, engine: Engine = .default) throws -> Loaded {
        let contents = try SafeTensors.read(path: path)
        let spec = try ModelSpec(metadata: contents.metadata, path: path)
        let network = try makeNetwork(spec, fitting: contents, path: path, engine: engine)
        var expected = Set<String>()
        for (name, target) in stateDict(network).floats {
            expected.insert(name)
            guard let source = contents.tensors[name] else {
                throw InputError(path, "missing tensor '\(name)' needed by \(spec.summary)")
            }
            guard source.shape == target.shape else {
                throw InputError(path, "tensor '\(name)' has shape \(source.shape), but \(spec.summary) needs \(target.shape)")
            }
            // A NaN or infinity in a weight or a batch-norm statistic would answer every image with
            // NaN scores (exit 0, "nan%"); training never saves one (see Trainer.nonFiniteState).
            guard source.allFinite else { throw InputError(path, "tensor '\(name)' holds a NaN or infinite value") }
            target.copy(from: source)
        }
        for (path, bn) in network.batchNorms { bn.batchesTracked = contents.counters[counterName(path)] ?? 0 }  // PyTorch's default when missing
        var velocity: [String: Tensor] = [:]
        for name in contents.order where !expected.contains(name) {
            if name.hasPrefix(optimizerPrefix) {
                velocity[String(name.dropFirst(optimizerPrefix.count))] = contents.tensors[name]
            } else if contents.tensors[name] != nil {
                throw InputError(path, "unexpected tensor '\(name)' for \(spec.summary)")
            }
        }
        return Loaded(path: path, network: network, metadata: contents.metadata, velocity: velocity)
    }

    /// Builds the network the metadata describes, but never one with more weights than the file
    /// holds: the metadata is untrusted, and an edited "width" or "classes" would otherwise make us
    /// allocate (and randomly initialise) gigabytes before the first shape check. Networks only
    /// grow with the width, so we build at doubling widths and stop at the first that needs more
    /// weights than the file has; each build is at most a few times the size of the file. Recorded
    /// channel counts are capped by each trial width's, so the trials grow up to the real network.
    private static func makeNetwork(_ spec: ModelSpec, fitting contents: SafeTensors.Contents, path: String,
                                    engine: Engine) throws -> Network {
        let available = contents.tensors.reduce(0) { $0 + ($1.key.hasPrefix(optimizerPrefix) ? 0 : $1.value.count) }
        var trial = min(spec.width, 0.0625)
        while true {
            var smaller = spec
            smaller.width = trial
            let network = try Network.build(smaller, seed: 0, engine: engine)
            let floats = stateDict(network).floats
            let needed = floats.reduce(0) { $0 + $1.tensor.count }
            guard needed <= available else {
                // The names do not depend on the width: a missing tensor is the clearer diagnosis.
                if let missing = floats.first(where: { contents.tensors[$0.name] == nil }) {
                    throw InputError(path, "missing tensor '\(missing.name)' needed by \(spec.summary)")
                }
                throw InputError(path, "holds \(available) weights, but \(spec.summary) with \(spec.classes) classes needs \(trial < spec.width ? "more than " : "")\(needed)")
            }
            if trial >= spec.width {
                try network.checkRecordedChannels(naming: path)
                return network
            }
            trial = min(trial * 2, spec.width)
        }
    }
}

/// What fine-tuning does with a checkpoint's classifier (its last Linear layer).
public enum ClassifierTransfer: Equatable {
    /// Copied as it is: the same classes in the same order (or, where the file names none, as many).
    case copied
    /// Not copied: the network keeps its own fresh classifier (other classes).
    case fresh
    /// Output i (its weight row and bias) from the file's output `rows[i]`: the same classes in
    /// another order.
    case reordered([Int])

    /// How a model trained on `source`'s classes fine-tunes on `target`'s. Kept as it is, a
    /// classifier for other or reordered classes would silently give each new class the weights
    /// of the old class at its index (a new user fine-tuned a 7-class file on class folders whose
    /// sorted order differed: 'cat' became 'bird' with no word said).
    public init(from source: ModelSpec, to target: ModelSpec) {
        let was = source.labelNames, now = target.labelNames
        let named = !source.classNames.isEmpty || was != (0..<source.classes).map(String.init)
        if was == now || (!named && source.classes == target.classes) {
            self = .copied
        } else if was.count == now.count, Set(was) == Set(now), Set(now).count == now.count {
            let row = Dictionary(uniqueKeysWithValues: was.enumerated().map { ($1, $0) })
            self = .reordered(now.map { row[$0]! })
        } else {
            self = .fresh
        }
    }
}

extension Network {
    /// Starts from the weights of a checkpoint (fine-tuning): every parameter and batch-norm
    /// statistic is copied from it, the classifier as `classifier` says (`.copied` needs the same
    /// class count). The two networks must otherwise be the same: a different stem, width or input
    /// would give weights of the right shapes a different meaning (MobileNetV2's stems differ only
    /// in strides).
    public func loadWeights(from checkpoint: Checkpoint.Loaded, classifier transfer: ClassifierTransfer) throws {
        let source = checkpoint.network.spec
        func describe(_ s: ModelSpec) -> String {
            "\(s.summary) with the \(s.stem.rawValue) stem and \(s.inputChannels) input channels"
        }
        guard source.architecture == spec.architecture, source.width == spec.width, source.stem == spec.stem,
              source.inputChannels == spec.inputChannels, source.channels == spec.channels else {
            throw InputError(checkpoint.path, "holds \(describe(source)), but the network to train is \(describe(spec))")
        }
        var classifier = ""
        root.visit { path, layer in if layer is Linear { classifier = path } }
        if source.classes != spec.classes && transfer != .fresh {
            throw InputError(checkpoint.path, "has \(source.classes) classes, the network \(spec.classes)")
        }
        let weights = Dictionary(uniqueKeysWithValues: Checkpoint.stateDict(checkpoint.network).floats.map { ($0.name, $0.tensor) })
        for (name, target) in Checkpoint.stateDict(self).floats {
            guard name.hasPrefix(classifier + ".") else {
                target.copy(from: weights[name]!)  // same architecture, width, stem and input: same names and shapes
                continue
            }
            switch transfer {
            case .copied: target.copy(from: weights[name]!)
            case .fresh: break
            case .reordered(let rows):  // weight [classes, features] or bias [classes]: whole rows
                precondition(rows.count == spec.classes && rows.allSatisfy { (0..<source.classes).contains($0) },
                             "reordered rows \(rows) for \(spec.classes) of \(source.classes) classes")
                let from = weights[name]!, width = target.count / rows.count
                for (i, r) in rows.enumerated() { (target.data + i * width).update(from: from.data + r * width, count: width) }
            }
        }
    }
}
