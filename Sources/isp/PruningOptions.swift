import Foundation
import InstanceSparsity

/// The flags shared by `eval --prune`, `sweep`, `analyze` and `bench`: policy, alpha, which layers,
/// and the calibration set (first N images of the training split, never the test split).
struct PruningOptions {
    var policy: ThresholdPolicy.Kind?
    var alpha: Float
    var layers: String
    var calibration: Int
    var cvMin: Double?
    var topK: Int?

    static let usage = "[--prune mean|max|energy|absolute|static-topk --alpha A] [--layers auto|all|LIST] [--calibration N] [--cv-min KAPPA | --top-k K]"

    init(_ a: inout Arguments, defaultPolicy: String? = nil, defaultAlpha: Float = 0.5, defaultLayers: String = "auto") throws {
        if let name = try a.option("--prune") ?? defaultPolicy {
            guard let kind = ThresholdPolicy.Kind(rawValue: name) else {
                throw UsageError(message: "--prune must be one of \(ThresholdPolicy.Kind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
            }
            policy = kind
        }
        alpha = try a.number("--alpha", default: defaultAlpha, in: 0...1000)
        layers = try a.option("--layers") ?? defaultLayers
        calibration = try a.number("--calibration", default: 1000, in: 1...1_000_000)
        cvMin = try a.optionalNumber("--cv-min", in: 0...1000)
        topK = try a.optionalNumber("--top-k", in: 1...10_000)
    }

    /// Calibration statistics and the gates to prune under `--layers`.
    func selectLayers(_ network: Network, calibration data: Dataset) throws -> (stats: [LayerSaliency], gates: Set<Int>) {
        let stats = try ChannelSaliency.analyze(network, on: data, count: calibration)
        switch layers {
        case "auto": return (stats, Set(ChannelSaliency.select(stats, cvMin: cvMin, topK: topK)))
        case "all": return (stats, Set(stats.indices))
        case "lowest-cv":
            let k = topK ?? (stats.count + 1) / 2
            return (stats, Set(stats.indices.sorted { stats[$0].cv < stats[$1].cv }.prefix(k)))
        default:
            var chosen = Set<Int>()
            for label in layers.split(separator: ",").map(String.init) {
                guard let i = stats.firstIndex(where: { $0.label == label }) else {
                    throw UsageError(message: "--layers: '\(label)' is not a prunable map; valid: \(stats.map(\.label).joined(separator: ","))")
                }
                chosen.insert(i)
            }
            return (stats, chosen)
        }
    }

    func plan(_ kind: ThresholdPolicy.Kind, alpha: Float, stats: [LayerSaliency], gates: Set<Int>) -> PruningPlan {
        PruningPlan(policy: ThresholdPolicy(kind, alpha: alpha), gates: gates,
                    ranking: kind == .staticTopK ? stats.map(\.ranking) : nil)
    }
}

/// A checkpoint with its test split and calibration split, checked to fit each other.
struct LoadedModel {
    let path: String
    let network: Network
    let test: Dataset

    init(_ a: inout Arguments, defaultPath: String? = nil) throws {
        let datasetName = try a.option("--dataset")
        dataDirectory = try a.option("--data-dir")
        let limit: Int? = try a.optionalNumber("--test-limit", in: 1...Int.max)
        guard let path = a.positional() ?? defaultPath else { throw UsageError(message: "MODEL (a .safetensors checkpoint) is required") }
        // Callers read all their options before this: leftovers (typos) are usage errors, found
        // before loading anything rather than after the model and data sets are in memory.
        try a.finish()
        self.path = path
        network = try Checkpoint.load(path: path).network
        datasetName_ = datasetName ?? network.spec.dataset
        test = try DatasetLoader.load(name: datasetName_, directory: dataDirectory, split: .test, limit: limit)
        try EvalCommand.checkCompatible(network.spec, test, path: path)
    }

    private init(path: String, network: Network, test: Dataset, dataDirectory: String?, datasetName: String) {
        self.path = path; self.network = network; self.test = test
        self.dataDirectory = dataDirectory; datasetName_ = datasetName
    }

    /// The same model with only the first `n` test images (for quick sweeps).
    func withTestImages(_ n: Int) -> LoadedModel {
        LoadedModel(path: path, network: network, test: LoadedModel.slice(test, from: 0, count: n),
                    dataDirectory: dataDirectory, datasetName: datasetName_)
    }

    /// The same model evaluated on the last `n` training images instead of the test split: for
    /// choosing an operating point without looking at the test set (the model has seen these
    /// images, so their accuracy is optimistic; the change under pruning is what matters).
    func onTrainingTail(_ n: Int) throws -> LoadedModel {
        let train = try DatasetLoader.load(name: datasetName_, directory: dataDirectory, split: .train, limit: nil)
        let k = min(n, train.count)
        return LoadedModel(path: path, network: network, test: LoadedModel.slice(train, from: train.count - k, count: k),
                           dataDirectory: dataDirectory, datasetName: datasetName_)
    }

    private static func slice(_ data: Dataset, from start: Int, count n: Int) -> Dataset {
        let k = min(n, data.count - start), size = data.images.count / max(data.count, 1)
        let images = Tensor(shape: [k] + data.images.shape.dropFirst())
        images.data.update(from: data.images.data + start * size, count: k * size)
        return Dataset(images: images, labels: Array(data.labels[start..<(start + k)]), classes: data.classes, name: data.name)
    }

    private let dataDirectory: String?
    private let datasetName_: String

    func calibrationSet(_ count: Int) throws -> Dataset {
        try DatasetLoader.load(name: datasetName_, directory: dataDirectory, split: .train, limit: count)
    }
}
