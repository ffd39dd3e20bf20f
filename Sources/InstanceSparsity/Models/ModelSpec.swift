import Foundation

/// What a checkpoint must say about its network so it can be rebuilt: stored in the safetensors
/// metadata, so a file is self-describing.
public struct ModelSpec: Equatable {
    public static let architectures = ["vgg16", "resnet18", "mobilenetv2"]

    public var architecture: String
    public var width: Float
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

    public init(architecture: String, width: Float = 1, inputChannels: Int = 1, inputSize: Int = 32,
                classes: Int = 10, mean: [Float]? = nil, std: [Float]? = nil, dataset: String = "fashion-mnist",
                classNames: [String] = [], preprocessing: Preprocessing.Recipe? = nil, dataDirectory: String? = nil) {
        precondition(classNames.isEmpty || classNames.count == classes, "\(classNames.count) class names for \(classes) classes")
        self.architecture = architecture; self.width = width
        self.inputChannels = inputChannels; self.inputSize = inputSize; self.classes = classes
        self.mean = mean ?? [Float](repeating: 0, count: inputChannels)
        self.std = std ?? [Float](repeating: 1, count: inputChannels)
        self.dataset = dataset
        self.classNames = classNames; self.preprocessing = preprocessing; self.dataDirectory = dataDirectory
    }

    public var metadata: [String: String] {
        func list(_ v: [Float]) -> String { "[" + v.map { "\($0)" }.joined(separator: ",") + "]" }
        var m = ["architecture": architecture, "width": "\(width)", "input_channels": "\(inputChannels)",
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
        return m
    }

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
        let channels: Int = try number("input_channels") { $0 > 0 && $0 <= 64 }
        self.init(architecture: arch, width: try number("width") { $0 > 0 && $0 <= 8 },
                  inputChannels: channels, inputSize: try number("input_size") { $0 >= 8 && $0 <= 1024 },
                  classes: try number("classes") { $0 > 1 && $0 <= 100_000 },
                  mean: try floats("mean", count: channels), std: try floats("std", count: channels),
                  dataset: m["dataset"] ?? "unknown")
        if let text = m["class_names"] {
            guard let names = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String], names.count == classes else {
                throw InputError(path, "metadata 'class_names' should be a list of \(classes) strings, is '\(text.prefix(200))'")
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
        guard std.allSatisfy({ $0 > 0 }) else { throw InputError(path, "metadata 'std' must be positive") }
        guard arch != "vgg16" || inputSize >= 32 else {
            throw InputError(path, "metadata 'input_size' \(inputSize) is too small for vgg16 (needs at least 32)")
        }
    }
}
