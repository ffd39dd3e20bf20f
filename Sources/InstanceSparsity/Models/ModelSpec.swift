import Foundation

/// What a checkpoint must say about its network so it can be rebuilt: stored in the safetensors
/// metadata, so a file is self-describing.
public struct ModelSpec: Equatable {
    public static let architectures = ["vgg16", "resnet18", "mobilenetv2"]

    /// Which variant of an architecture: the same weight names and (mostly) shapes, different
    /// strides and pooling, so a file must say which one its weights belong to.
    public enum Stem: String, CaseIterable {
        /// torchvision's networks as they are (224x224 ImageNet): ResNet-18's 7x7 stride-2
        /// convolution and 3x3 max pool, MobileNetV2's stride-2 stem and second stage, VGG16's
        /// 7x7 average pool and three-layer classifier with dropout.
        case imagenet
        /// The 32x32 variants: no early downsampling, one linear classifier on VGG16.
        case cifar

        /// What a network gets when nobody chose: the ImageNet variants above 64x64 (they reduce a
        /// 32x32 image to 1x1 by the last stage), the CIFAR ones below.
        public static func standard(inputSize: Int) -> Stem { inputSize > 64 ? .imagenet : .cifar }
    }

    public var architecture: String
    public var width: Float
    public var stem: Stem
    public var inputChannels: Int
    public var inputSize: Int
    public var classes: Int
    /// Per-channel normalisation from the training split: x' = (x - mean) / std.
    public var mean: [Float]
    public var std: [Float]
    public var dataset: String
    /// Names of the classes in label order ([] when a checkpoint predates them).
    public var classNames: [String]
    /// How images are turned into inputs, for data sets that need it (class folders); nil for
    /// the fixed-size in-memory data sets and older checkpoints.
    public var preprocessing: Preprocessing.Recipe?
    /// Where the training data was read from (absolute), so later commands find it; nil when not
    /// recorded (files from other tools, or from before it was), meaning the dataset's default place.
    public var dataDirectory: String?
    /// Channel counts of slimmed maps (`isp slim`) by map name, as `Network.gates` labels them;
    /// every map not named here has the count the width gives it. Recorded as "channels" =
    /// "name=count,..." in network order.
    public var channels: [String: Int] = [:]

    /// `stem` nil: `Stem.standard(inputSize:)`.
    public init(architecture: String, width: Float = 1, stem: Stem? = nil, inputChannels: Int = 1, inputSize: Int = 32,
                classes: Int = 10, mean: [Float]? = nil, std: [Float]? = nil, dataset: String = "fashion-mnist",
                classNames: [String] = [], preprocessing: Preprocessing.Recipe? = nil, dataDirectory: String? = nil) {
        precondition(classNames.isEmpty || classNames.count == classes, "\(classNames.count) class names for \(classes) classes")
        self.architecture = architecture; self.width = width
        self.stem = stem ?? Stem.standard(inputSize: inputSize)
        self.inputChannels = inputChannels; self.inputSize = inputSize; self.classes = classes
        self.mean = mean ?? [Float](repeating: 0, count: inputChannels)
        self.std = std ?? [Float](repeating: 1, count: inputChannels)
        self.dataset = dataset
        self.classNames = classNames; self.preprocessing = preprocessing; self.dataDirectory = dataDirectory
    }

    /// What each class is called: the recorded names, else those of the fixed data set the model
    /// was trained on (checkpoints from before names were recorded), else the class numbers.
    public var labelNames: [String] {
        if !classNames.isEmpty { return classNames }
        let known = dataset == "fashion-mnist" ? FashionMNIST.classNames : dataset == "cifar10" ? CIFAR10.classNames : []
        return known.count == classes ? known : (0..<classes).map(String.init)
    }

    public var metadata: [String: String] {
        func list(_ v: [Float]) -> String { "[" + v.map { "\($0)" }.joined(separator: ",") + "]" }
        var m = ["architecture": architecture, "width": "\(width)", "stem": stem.rawValue, "input_channels": "\(inputChannels)",
                 "input_size": "\(inputSize)", "classes": "\(classes)", "mean": list(mean), "std": list(std),
                 "dataset": dataset]
        if !classNames.isEmpty, let json = try? JSONSerialization.data(withJSONObject: classNames) {
            m["class_names"] = String(decoding: json, as: UTF8.self)
        }
        if let preprocessing {
            m["preprocessing"] = preprocessing.rawValue
            m["preprocessing_summary"] = Preprocessing(inputSize: inputSize, channels: inputChannels, recipe: preprocessing).summary
        }
        if let dataDirectory { m["data_dir"] = dataDirectory }
        if !channels.isEmpty {
            m["channels"] = channels.keys.sorted { $0.compare($1, options: .numeric) == .orderedAscending }
                .map { "\($0)=\(channels[$0]!)" }.joined(separator: ",")
        }
        return m
    }

    /// The channels of the map named `map`: the recorded count, never more than `standard` (the
    /// width's count; `Network.make` refuses a larger record, and `Checkpoint.load` builds at
    /// smaller widths first, where the width's count bounds it).
    func channels(of map: String, standard: Int) -> Int { min(channels[map] ?? standard, standard) }

    /// "vgg16 width 0.5", with "slimmed" when maps have recorded channel counts: for messages.
    public var summary: String { "\(architecture) width \(width)\(channels.isEmpty ? "" : " slimmed to its recorded channels")" }

    /// Rebuilds a spec from checkpoint metadata; `path` names the file in errors.
    public init(metadata m: [String: String], path: String) throws {
        func field(_ key: String) throws -> String {
            guard let v = m[key] else { throw InputError(path, "metadata has no '\(key)' (not an isp checkpoint?)") }
            return v
        }
        func number<T: LosslessStringConvertible>(_ key: String, _ valid: (T) -> Bool) throws -> T {
            let text = try field(key)
            guard let v = T(text), valid(v) else { throw InputError(path, "metadata '\(key)' has a bad value '\(text)'") }
            return v
        }
        func floats(_ key: String, count: Int) throws -> [Float] {
            let text = try field(key)
            guard let data = text.data(using: .utf8),
                  let values = try? JSONSerialization.jsonObject(with: data) as? [NSNumber], values.count == count
            else { throw InputError(path, "metadata '\(key)' should be a list of \(count) numbers, is '\(text)'") }
            return values.map { $0.floatValue }
        }
        let arch = try field("architecture")
        guard ModelSpec.architectures.contains(arch) else {
            throw InputError(path, "unknown architecture '\(arch)' (expected \(ModelSpec.architectures.joined(separator: ", ")))")
        }
        // Files written before the ImageNet variants existed have no stem, and are CIFAR networks.
        let stemText = m["stem"] ?? Stem.cifar.rawValue
        guard let stem = Stem(rawValue: stemText) else {
            throw InputError(path, "metadata 'stem' has a bad value '\(stemText)' (expected \(Stem.allCases.map(\.rawValue).joined(separator: " or ")))")
        }
        let channels: Int = try number("input_channels") { $0 > 0 && $0 <= 64 }
        self.init(architecture: arch, width: try number("width") { $0 > 0 && $0 <= 8 }, stem: stem,
                  inputChannels: channels, inputSize: try number("input_size") { $0 >= 8 && $0 <= 1024 },
                  classes: try number("classes") { $0 > 1 && $0 <= 100_000 },
                  mean: try floats("mean", count: channels), std: try floats("std", count: channels),
                  dataset: m["dataset"] ?? "unknown")
        if let text = m["class_names"] {
            guard let names = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String], names.count == classes else {
                throw InputError(path, "metadata 'class_names' should be a list of \(classes) strings, is '\(text.prefix(200))'")
            }
            // Two outputs of one name could not be told apart (and fine-tuning matches classes by name).
            var first: [String: Int] = [:]
            for (i, name) in names.enumerated() {
                if let j = first[name] { throw InputError(path, "metadata 'class_names' names class \(j) and class \(i) both '\(name)'") }
                first[name] = i
            }
            classNames = names
        }
        if let text = m["preprocessing"] {
            guard let recipe = Preprocessing.Recipe(rawValue: text) else {
                throw InputError(path, "metadata 'preprocessing' is '\(text)' (expected \(Preprocessing.Recipe.allCases.map(\.rawValue).joined(separator: " or ")))")
            }
            guard inputChannels == 1 || inputChannels == 3 else {
                throw InputError(path, "metadata 'preprocessing' needs 1 or 3 input channels, not \(inputChannels)")
            }
            preprocessing = recipe
        }
        dataDirectory = m["data_dir"]
        if let text = m["channels"] {
            for entry in text.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = entry.split(separator: "=", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, let count = Int(parts[1]), (1...65_536).contains(count),
                      self.channels.updateValue(count, forKey: String(parts[0])) == nil else {
                    throw InputError(path, "metadata 'channels' should be distinct NAME=COUNT pairs (1 to 65536 channels) separated by commas, has '\(entry.prefix(100))'")
                }
            }
        }
        guard std.allSatisfy({ $0 > 0 }) else { throw InputError(path, "metadata 'std' must be positive") }
        guard inputSize >= Network.smallestInput(for: arch) else {
            throw InputError(path, "metadata 'input_size' \(inputSize) is too small for \(arch) (needs at least \(Network.smallestInput(for: arch)))")
        }
    }
}
