import Foundation

/// One image's answer: the best classes with their probabilities, the logits, and the work done.
public struct Classification {
    public var top: [(index: Int, label: String, probability: Double)]
    public var logits: [Float]
    public var macsExecuted: Int
    public var macsDense: Int
    public var seconds: Double

    /// For JSON answers (`isp predict --json`, `isp serve`); non-finite values become null.
    public var jsonObject: [String: Any] {
        func number(_ v: Double) -> Any { v.isFinite ? v : NSNull() }
        return ["class": index, "label": label, "probability": number(probability),
                "top": top.map { ["class": $0.index, "label": $0.label, "probability": number($0.probability)] as [String: Any] },
                "logits": logits.map { number(Double("\($0)") ?? Double($0)) }, "macs_executed": macsExecuted,
                "macs_dense": macsDense, "latency_ms": (1e6 * seconds).rounded() / 1000]
    }

    public var index: Int { top[0].index }
    public var label: String { top[0].label }
    public var probability: Double { top[0].probability }
}

/// A trained model ready to classify images one at a time, pruned per image at its operating
/// point: the library's entry point for applications.
///
///     let classifier = try Classifier(path: "models/vgg16-fd.safetensors")   // stored operating point
///     let result = try classifier.classify(path: "shoe.png")
///     print(result.label, result.probability, result.macsExecuted)
///
/// One classifier runs one image at a time; `copy(splitAcrossCores:)` gives another over the same
/// weights for another thread.
public final class Classifier {
    public enum Pruning {
        /// Every channel, every image.
        case dense
        /// The operating point stored in the model (`isp tune`); an error if it has none.
        case stored
        /// The stored operating point if the model has one, else dense.
        case storedIfAny
        case plan(PruningPlan)
    }

    public let network: Network
    public let plan: PruningPlan?
    public let input: ImageInput
    public let macsDense: Int
    private let executor: SparseExecutor
    private let buffer: Tensor

    /// Loads a checkpoint, to run on `engine`. `splitAcrossCores`: each image uses every core
    /// (lowest latency for one caller); turn it off when several classifiers run side by side, one
    /// per core.
    public convenience init(path: String, pruning: Pruning = .storedIfAny, splitAcrossCores: Bool = true,
                            engine: Engine = .default) throws {
        let loaded = try Checkpoint.load(path: path, engine: engine)
        let stored = try OperatingPoint(metadata: loaded.metadata, network: loaded.network, path: path)
        let plan: PruningPlan?
        switch pruning {
        case .dense: plan = nil
        case .stored:
            guard let stored else { throw InputError(path, "has no stored operating point (run 'isp tune')") }
            plan = try stored.plan(for: loaded.network)
        case .storedIfAny: plan = try stored?.plan(for: loaded.network)
        case .plan(let given): plan = given
        }
        try self.init(network: loaded.network, plan: plan, input: ImageInput(spec: loaded.network.spec, path: path),
                      splitAcrossCores: splitAcrossCores)
    }

    /// `macsDense`: the dense network's MACs per image if known (a copy passes it on rather than
    /// running the training network once more to count them).
    public init(network: Network, plan: PruningPlan?, input: ImageInput, splitAcrossCores: Bool = true, macsDense: Int? = nil) {
        self.network = network; self.plan = plan; self.input = input
        self.macsDense = macsDense ?? network.macsPerImage
        executor = SparseExecutor(network)
        executor.useAllCores = splitAcrossCores
        plan?.apply(to: executor)
        buffer = Tensor(shape: [network.spec.inputChannels, network.spec.inputSize, network.spec.inputSize])
        executor.warmUp()  // so that the first image's latency is the model's, not the setup's
    }

    /// Another classifier over the same weights and plan, for another thread.
    public func copy(splitAcrossCores: Bool, maxPixels: Int? = nil) -> Classifier {
        var input = self.input
        if let maxPixels { input.maxPixels = maxPixels }
        return Classifier(network: network, plan: plan, input: input, splitAcrossCores: splitAcrossCores, macsDense: macsDense)
    }

    /// `top`: how many classes the answer lists (at least 1).
    public func classify(path: String, top k: Int = 5) throws -> Classification {
        try classify(encoded: try InputFile(path).readAll(), name: path, top: k)
    }

    /// PNG or JPEG bytes; `name` names the image in errors.
    public func classify(encoded bytes: [UInt8], name: String, top k: Int = 5) throws -> Classification {
        guard !bytes.isEmpty else { throw InputError(name, "empty file (0 bytes)") }
        try input.prepare(encoded: bytes, name: name, into: buffer.data)
        return try classify(prepared: buffer.data, top: k)
    }

    /// An already normalised C x S x S input (channels, then rows), every value finite.
    public func classify(input x: [Float], top k: Int = 5) throws -> Classification {
        guard x.count == buffer.count else {
            let s = network.spec
            throw InputError("input", "has \(x.count) values; the model takes \(s.inputChannels) x \(s.inputSize) x \(s.inputSize) = \(buffer.count)")
        }
        // A NaN or infinity would come out as a class with a NaN probability, not as an error.
        if let i = x.firstIndex(where: { !$0.isFinite }) { throw InputError("input", "value \(i) is \(x[i]); every value must be finite") }
        return try x.withUnsafeBufferPointer { try classify(prepared: $0.baseAddress!, top: k) }
    }

    private func classify(prepared x: UnsafePointer<Float>, top k: Int) throws -> Classification {
        guard k >= 1 else { throw InputError("top", "must be at least 1, got \(k)") }
        let start = DispatchTime.now().uptimeNanoseconds
        let r = executor.run(x)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let names = network.spec.labelNames
        let probabilities = Self.softmax(r.logits)
        let order = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(k)
        return Classification(top: order.map { ($0, names[$0], probabilities[$0]) }, logits: r.logits,
                              macsExecuted: r.macs, macsDense: macsDense, seconds: seconds)
    }

    static func softmax(_ logits: [Float]) -> [Double] {
        let m = Double(logits.max() ?? 0)
        let e = logits.map { exp(Double($0) - m) }
        let total = e.reduce(0, +)
        return e.map { $0 / total }
    }
}
