import Foundation
import InstanceSparsity

enum InfoCommand: Command {
    static let name = "info"
    static let usage = "isp info (MODEL | --model vgg16|resnet18|mobilenetv2 [--width W] [--stem imagenet|cifar] [--input-size S] [--input-channels C] [--classes K]) [--json]"
    static let help = "Per-layer table of a network: output shape, parameters and MACs per image, with totals, and the BLAS kernel in use."

    static func run(_ a: inout Arguments) throws {
        let json = try a.flag("--json")
        let modelName = try a.option("--model")
        let width: Float = try a.number("--width", default: 1, in: 0.0625...4)
        let channels = try a.number("--input-channels", default: 1, in: 1...64)
        let classes = try a.number("--classes", default: 10, in: 2...100_000)
        let size = try a.number("--input-size", default: 32, in: 8...1024), stem = try a.stem()
        let path = a.positional()
        try a.finish()

        let network: Network
        if let path {
            network = try Checkpoint.load(path: path).network
        } else if let modelName {
            guard ModelSpec.architectures.contains(modelName) else {
                throw UsageError(message: "unknown model '\(modelName)' (expected \(ModelSpec.architectures.joined(separator: ", ")))")
            }
            network = try Network.make(ModelSpec(architecture: modelName, width: width, stem: stem,
                                                   inputChannels: channels, inputSize: size, classes: classes))
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
        if json {
            printJSON(["architecture": network.spec.architecture, "width": Double(network.spec.width),
                       "stem": network.spec.stem.rawValue, "input_size": network.spec.inputSize,
                       "params": network.parameterCount, "macs": totalMACs, "layers": layers,
                       "prunable_maps": network.gates.map(\.label), "blas": BLASRuntime.summary])
        } else {
            print(BLASRuntime.summary)
            print("\(network.spec.architecture) width \(network.spec.width), \(network.spec.stem.rawValue) stem, \(network.spec.inputChannels)x\(network.spec.inputSize)x\(network.spec.inputSize) input")
            printTable(["layer", "kind", "output", "params", "MACs"], rows)
            print("total: \(formatCount(network.parameterCount)) parameters (\(network.parameterCount)), \(formatCount(totalMACs)) MACs per image (\(totalMACs))")
            print("prunable maps (inputs of): \(network.gates.map(\.label).joined(separator: ", "))")
        }
    }
}
