import Foundation
import InstanceSparsity

enum InfoCommand: Command {
    static let name = "info"
    static let synopsis = "(MODEL | --model vgg16|resnet18|mobilenetv2 [--width W] [--stem imagenet|cifar] [--input-size S] [--input-channels C] [--classes K])"
    static let abstract = """
    Per-layer table of a network: output shape, parameters and MACs per image, with totals, the
    prunable maps, the data and the stored operating point ('isp tune') of a MODEL file, and the
    kernels in use.
    """
    static let options = [
        Option("--model", "vgg16|resnet18|mobilenetv2", "describe a freshly built network (required without MODEL)"),
        Option("--width", "W", "channel multiplier with --model (default 1)"),
        Option("--stem", "imagenet|cifar", "the variant with --model (default: imagenet above 64x64 inputs)"),
        Option("--input-size", "S", "input side with --model (default 32)"),
        Option("--input-channels", "C", "input channels with --model (default 1)"),
        Option("--classes", "K", "classes with --model (default 10)"),
        Option.json,
    ]

    static func run(_ a: inout Arguments, engine: Engine) throws {
        let json = try a.flag("--json")
        let modelName = try a.option("--model")
        let width: Float? = try a.optionalNumber("--width", in: 0.0625...4)
        let channels: Int? = try a.optionalNumber("--input-channels", in: 1...64)
        let classes: Int? = try a.optionalNumber("--classes", in: 2...100_000)
        let size: Int? = try a.optionalNumber("--input-size", in: 8...1024), stem = try a.stem()
        let path = a.positional()
        try a.finish()
        if path != nil && (modelName != nil || width != nil || channels != nil || classes != nil || size != nil || stem != nil) {
            throw UsageError(message: "a MODEL file describes itself: --model, --width, --stem, --input-size, --input-channels and --classes are for building one")
        }

        let network: Network
        var point: OperatingPoint?
        if let path {
            let loaded = try Checkpoint.load(path: path, engine: engine)
            network = loaded.network
            point = try OperatingPoint(metadata: loaded.metadata, network: network, path: path)
        } else if let modelName {
            guard ModelSpec.architectures.contains(modelName) else {
                throw UsageError(message: "unknown model '\(modelName)' (expected \(ModelSpec.architectures.joined(separator: ", ")))")
            }
            if let size { try checkInputSize(size, for: modelName) }
            network = try Network.make(ModelSpec(architecture: modelName, width: width ?? 1, stem: stem, inputChannels: channels ?? 1,
                                                 inputSize: size ?? 32, classes: classes ?? 10), engine: engine)
        } else {
            throw UsageError(message: "give a MODEL file or --model NAME")
        }
        let totalMACs = network.macsPerImage  // also runs the forward pass that fills in the shapes
        var rows: [[String]] = [], layers: [[String: Any]] = []
        network.root.visit { path, layer in
            guard layer.children.isEmpty, !(layer is ChannelGate) else { return }
            let params = layer.parameters.reduce(0) { $0 + $1.parameter.value.count }
            let kind = String(describing: type(of: layer))
            rows.append([path, kind, "\(layer.lastOutputShape.dropFirst().map(String.init).joined(separator: "x"))",
                         formatCount(params), formatCount(layer.macsPerImage)])
            layers.append(["name": path, "kind": kind, "output_shape": Array(layer.lastOutputShape.dropFirst()),
                           "params": params, "macs": layer.macsPerImage])
        }
        // Channels of the maps 'isp slim' can slim: removable one by one (not tied by residual adds).
        let slimmable = network.slimmableMaps.map { ["name": $0.label, "channels": $0.layout!.channels, "recorded": network.spec.channels[$0.label] != nil] as [String: Any] }
        if json {
            printJSON(["architecture": network.spec.architecture, "width": jsonNumber(network.spec.width),
                       "dataset": network.spec.dataset, "data_dir": network.spec.dataDirectory ?? NSNull(),
                       "stem": network.spec.stem.rawValue, "input_size": network.spec.inputSize,
                       "params": network.parameterCount, "macs": totalMACs, "layers": layers,
                       "prunable_maps": network.gates.map(\.label), "slimmable_maps": slimmable, "blas": BLASRuntime.summary(engine: engine),
                       "operating_point": point.map { ["policy": $0.policy.kind.rawValue, "alpha": jsonNumber($0.policy.alpha),
                                                       "maps": $0.layers, "measured": $0.measured.mapValues(InfoCommand.measuredValue)] as [String: Any] } ?? NSNull()])
        } else {
            print(BLASRuntime.summary(engine: engine))
            print("\(network.spec.summary), \(network.spec.stem.rawValue) stem, \(network.spec.inputChannels)x\(network.spec.inputSize)x\(network.spec.inputSize) input")
            printTable(["layer", "kind", "output", "params", "MACs"], rows)
            print("total: \(formatCount(network.parameterCount)) parameters (\(network.parameterCount)), \(formatCount(totalMACs)) MACs per image (\(totalMACs))")
            print("prunable maps (inputs of): \(network.gates.map(\.label).joined(separator: ", "))")
            print("slimmable maps (channels\(network.spec.channels.isEmpty ? "" : ", * recorded by isp slim")): "
                  + network.slimmableMaps.map { "\($0.label)=\($0.layout!.channels)\(network.spec.channels[$0.label] == nil ? "" : "*")" }.joined(separator: ", "))
            if path != nil {
                print("data: \(InfoCommand.dataLine(network.spec))")
                if let point {
                    let measured = point.measured.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                    print("stored operating point ('--prune stored'): \(point.policy.kind.rawValue) alpha \(jsonNumber(point.policy.alpha)) "
                          + "at \(point.layers.count) maps (\(point.layers.joined(separator: ", ")))\(measured.isEmpty ? "" : "; measured: " + measured)")
                } else {
                    print("stored operating point: none ('isp tune' stores one)")
                }
            }
        }
    }

    /// Where the data of a MODEL file is, as the data commands would find it.
    private static func dataLine(_ spec: ModelSpec) -> String {
        if let directory = spec.dataDirectory { return "\(spec.dataset) from \(directory)" }
        guard DatasetLoader.names.contains(spec.dataset) else {
            return "\(spec.dataset) (isp cannot read it: eval, sweep, analyze, tune, demo, slim and bench need --dataset and --data-dir; bench --random-inputs times it without data)"
        }
        if let place = DatasetLoader.defaultDirectory(for: spec.dataset) { return "\(spec.dataset) from \(place) (not recorded: the default)" }
        return "\(spec.dataset), directory not recorded (eval, sweep, analyze, tune, demo, slim and bench need --data-dir)"
    }

    /// A measured value as JSON: a number when it is one (accuracies, the FLOPs reduction), else
    /// the text (which images).
    private static func measuredValue(_ text: String) -> Any {
        if let number = Double(text), number.isFinite { return number }
        return text
    }
}
