import Foundation
import InstanceSparsity

/// A checkpoint with its test split, checked to fit each other, and where its data comes from.
struct LoadedModel {
    let path: String
    let network: Network
    let test: any DataSplit
    let data: DataSource
    /// The pruning stored by `isp tune`, if any.
    let operatingPoint: OperatingPoint?

    static let options = [DataSource.datasetOption, DataSource.directoryOption,
                          Option("--test-limit", "N", "use N test images: the first N (class folders: N evenly spaced) (default: all)")]

    /// What the command line says about the model and its data, read before anything is loaded:
    /// every leftover is then a usage error (callers read their own options first), and output
    /// paths can be checked before minutes of loading.
    struct Request {
        let path: String
        let dataset: String?, directory: String?, limit: Int?

        init(_ a: inout Arguments, defaultPath: (() throws -> String)? = nil) throws {
            dataset = try a.optionalChoice("--dataset", from: DatasetLoader.names)
            directory = try a.option("--data-dir")
            limit = a.declares("--test-limit") ? try a.optionalNumber("--test-limit", in: 1...Int.max) : nil
            let given = a.positional()
            try a.finish()
            guard let path = try given ?? defaultPath?() else { throw UsageError(message: "MODEL (a .safetensors checkpoint) is required") }
            self.path = path
        }

        /// Loads the checkpoint (its network running on `engine`) and its test split, and says (on
        /// stderr) which data it is.
        func load(engine: Engine) throws -> LoadedModel {
            let loaded = try Checkpoint.load(path: path, engine: engine)
            let network = loaded.network
            let point = try OperatingPoint(metadata: loaded.metadata, network: network, path: path)
            let data = try DataSource(dataset: dataset, directory: directory, model: network.spec, path: path,
                                      skipBad: loaded.metadata["train.skip_bad"] == "true")
            let test = try data.open(.test, limit: limit)
            try LoadedModel.checkCompatible(network.spec, test, path: path)
            try LoadedModel.checkClassNames(network.spec, test, path: path)
            note("data: \(data.description)")
            return LoadedModel(path: path, network: network, test: test, data: data, operatingPoint: point)
        }
    }

    init(_ a: inout Arguments, engine: Engine) throws {
        self = try Request(&a).load(engine: engine)
    }

    private init(path: String, network: Network, test: any DataSplit, data: DataSource, operatingPoint: OperatingPoint?) {
        self.path = path; self.network = network; self.test = test; self.data = data; self.operatingPoint = operatingPoint
    }

    /// Inputs and classes match. Not fewer classes in the data than in the model either: a class
    /// folder's labels are its folders' order, which means nothing to a model trained on other
    /// classes (a 10-class Fashion-MNIST model scored 90% on a 3-class folder of other images).
    static func checkCompatible(_ spec: ModelSpec, _ data: any DataSplit, path: String) throws {
        guard spec.inputChannels == data.channels, spec.inputSize == data.height, spec.classes == data.classes else {
            throw InputError(path, "model expects \(spec.inputChannels)x\(spec.inputSize)x\(spec.inputSize) inputs and \(spec.classes) classes; dataset \(data.name) has \(data.channels)x\(data.height)x\(data.width) inputs and \(data.classes) classes")
        }
    }

    /// Labels mean what they meant in training: a class folder added, removed or renamed since
    /// would shift every label silently.
    static func checkClassNames(_ spec: ModelSpec, _ data: any DataSplit, path: String) throws {
        guard !spec.classNames.isEmpty, data.classNames != spec.classNames else { return }
        let i = zip(spec.classNames, data.classNames).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(spec.classNames.count, data.classNames.count)
        let was = i < spec.classNames.count ? "'\(spec.classNames[i])'" : "nothing", now = i < data.classNames.count ? "'\(data.classNames[i])'" : "nothing"
        throw InputError(path, "was trained with class \(i) = \(was), but the data's class \(i) is \(now) (\(data.classNames.count) classes now, \(spec.classNames.count) then)")
    }

    /// The same model with only `n` of its test images (for quick sweeps): see `sample`.
    func withTestImages(_ n: Int) -> LoadedModel {
        LoadedModel(path: path, network: network, test: DataSubset(test, indices: LoadedModel.sample(test, n, tail: false)), data: data,
                    operatingPoint: operatingPoint)
    }

    /// The same model evaluated on `n` training images instead of the test split: for choosing an
    /// operating point without looking at the test set (the model has usually seen these images,
    /// so their accuracy is optimistic; the change under pruning is what matters).
    func onTrainingTail(_ n: Int, of loaded: (any DataSplit)? = nil) throws -> LoadedModel {
        let train = try loaded ?? data.open(.train, limit: nil)
        return LoadedModel(path: path, network: network, test: DataSubset(train, indices: LoadedModel.sample(train, n, tail: true)),
                           data: data, operatingPoint: operatingPoint)
    }

    /// Which `n` examples stand for a split: the first (or last) `n` of an in-memory data set, as
    /// `--train-limit` and `--test-limit` take the first; `n` evenly spaced files of a class folder,
    /// whose files are sorted by class (its first or last files would be one or two classes), the
    /// tail ones half a step after the files `--train-limit` keeps.
    static func sample(_ data: any DataSplit, _ n: Int, tail: Bool) -> [Int] {
        let k = min(n, data.count), count = data.count
        guard data is ImageFolder else { return tail ? Array((count - k)..<count) : Array(0..<k) }
        return (0..<k).map { i in tail ? ((2 * i + 1) * count) / (2 * k) : (i * count) / k }
    }

    /// How `sample` picks `n` of `data`, for messages: "the first 1000", "1000 evenly spaced".
    static func describeSample(_ data: any DataSplit, _ n: Int, tail: Bool) -> String {
        let k = min(n, data.count)
        return data is ImageFolder ? "\(k) evenly spaced" : "the \(tail ? "last" : "first") \(k)"
    }

    func calibrationSet(_ count: Int) throws -> any DataSplit {
        try data.open(.train, limit: count)
    }

    /// For JSON results: which data the figures are on.
    var dataJSON: [String: Any] { ["dataset": data.dataset, "data_dir": data.directory] }
}
