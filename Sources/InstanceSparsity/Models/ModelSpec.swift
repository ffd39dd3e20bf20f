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

    /// `stem` nil: `Stem.standard(inputSize:)`.
    public init(architecture: String, width: Float = 1, stem: Stem? = nil, inputChannels: Int = 1, inputSize: Int = 32,
                classes: Int = 10, mean: [Float]? = nil, std: [Float]? = nil, dataset: String = "fashion-mnist") {
        self.architecture = architecture; self.width = width
        self.stem = stem ?? Stem.standard(inputSize: inputSize)
        self.inputChannels = inputChannels; self.inputSize = inputSize; self.classes = classes
        self.mean = mean ?? [Float](repeating: 0, count: inputChannels)
        self.std = std ?? [Float](repeating: 1, count: inputChannels)
        self.dataset = dataset
    }

    public var metadata: [String: String] {
        func list(_ v: [Float]) -> String { "[" + v.map { "\($0)" }.joined(separator: ",") + "]" }
        return ["architecture": architecture, "width": "\(width)", "stem": stem.rawValue, "input_channels": "\(inputChannels)",
                "input_size": "\(inputSize)", "classes": "\(classes)", "mean": list(mean), "std": list(std),
                "dataset": dataset]
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
        guard std.allSatisfy({ $0 > 0 }) else { throw InputError(path, "metadata 'std' must be positive") }
        guard arch != "vgg16" || inputSize >= 32 else {
            throw InputError(path, "metadata 'input_size' \(inputSize) is too small for vgg16 (needs at least 32)")
        }
    }
}
