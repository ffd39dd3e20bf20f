/// A classifier built from a `ModelSpec`: the layer tree (named as PyTorch names the same modules)
/// plus the channel gates where the method regularises and prunes.
public final class Network {
    public let spec: ModelSpec
    public let root: Sequential
    /// Every feature map that feeds a convolution, in network order.
    public let gates: [ChannelGate]
    /// What its layers, its executors and its optimiser run on.
    public let engine: Engine

    init(spec: ModelSpec, root: Sequential, engine: Engine) {
        self.spec = spec
        self.root = root
        self.engine = engine
        root.visit { _, layer in (layer as? RunsOnEngine)?.engine = engine }
        var found: [ChannelGate] = []
        root.visit { _, layer in if let g = layer as? ChannelGate { found.append(g) } }
        gates = found
        var first: Layer = root
        while let child = first.children.first?.layer { first = child }
        (first as? Conv2d)?.propagatesGradient = false
    }

    /// Builds a freshly initialised network running on `engine`; weights depend only on `seed`.
    public static func make(_ spec: ModelSpec, seed: UInt64 = 0, engine: Engine = .default) throws -> Network {
        let network = try build(spec, seed: seed, engine: engine)
        try network.checkRecordedChannels(naming: spec.architecture)
        return network
    }

    /// The smallest input side `architecture` takes: VGG16's five 2x2 pools leave nothing of a map
    /// under 32x32; the others end in an adaptive pool.
    public static func smallestInput(for architecture: String) -> Int { architecture == "vgg16" ? 32 : 1 }

    /// `make` without checking the recorded channel counts (`Checkpoint.load` builds at smaller
    /// widths first, where the width's counts cap the recorded ones).
    static func build(_ spec: ModelSpec, seed: UInt64, engine: Engine) throws -> Network {
        var rng = SeededGenerator(seed: seed)
        switch spec.architecture {
        case "vgg16":
            let smallest = smallestInput(for: "vgg16")
            guard spec.inputSize >= smallest else {
                throw InputError(spec.architecture, "needs images of at least \(smallest)x\(smallest) (it halves them five times), got \(spec.inputSize)x\(spec.inputSize)")
            }
            return Network(spec: spec, root: VGG16.make(spec, rng: &rng), engine: engine)
        case "resnet18": return Network(spec: spec, root: ResNet18.make(spec, rng: &rng), engine: engine)
        case "mobilenetv2": return Network(spec: spec, root: MobileNetV2.make(spec, rng: &rng), engine: engine)
        default:
            throw InputError(spec.architecture, "unknown model (expected \(ModelSpec.architectures.joined(separator: ", ")))")
        }
    }

    /// The recorded channel counts (`spec.channels`) name slimmable maps of this network, none
    /// more than the width gives it (a slimmed network only ever loses channels). `path` names
    /// the file or network in the error.
    func checkRecordedChannels(naming path: String) throws {
        let maps = Dictionary(uniqueKeysWithValues: slimmableMaps.map { ($0.label, $0.layout!.channels) })
        for (name, count) in spec.channels.sorted(by: { $0.key < $1.key }) {
            guard let built = maps[name] else {
                throw InputError(path, "metadata 'channels' names '\(name)', not a map whose channels can be removed (those of \(spec.architecture): \(slimmableMaps.map(\.label).joined(separator: ",")))")
            }
            guard count == built else {
                throw InputError(path, "metadata 'channels' gives '\(name)' \(count) channels, more than the \(built) of \(spec.architecture) width \(spec.width)")
            }
        }
    }

    /// The maps whose channels can be removed for good (those with a `MapLayout`), in network order.
    public var slimmableMaps: [ChannelGate] { gates.filter { $0.layout != nil } }

    /// The layer at a dotted path (as `visit` names them), nil if there is none.
    public func layer(at path: String) -> Layer? {
        var found: Layer?
        root.visit { p, layer in if p == path { found = layer } }
        return found
    }

    /// Logits for a normalised batch N x C x H x W.
    public func forward(_ x: Tensor, training: Bool) -> Tensor { root.forward(x, training: training) }

    /// Backpropagates dL/dlogits, accumulating parameter gradients (not the images' gradient).
    public func backward(_ dLogits: Tensor) { _ = root.backward(dLogits) }

    public var parameters: [(name: String, parameter: Parameter)] { root.namedParameters }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.parameter.value.count } }

    public func zeroGradients() { for (_, p) in parameters { p.grad.zero() } }

    public var batchNorms: [(name: String, layer: BatchNorm2d)] {
        var result: [(String, BatchNorm2d)] = []
        root.visit { path, layer in if let bn = layer as? BatchNorm2d { result.append((path, bn)) } }
        return result
    }

    /// Channels of each gate's map, in `gates` order (runs one forward pass to learn shapes).
    public var gateChannels: [Int] {
        _ = forward(Tensor(shape: [1, spec.inputChannels, spec.inputSize, spec.inputSize]), training: false)
        return gates.map { $0.saliency.shape[1] }
    }

    /// Multiply-accumulates per image of the dense network (runs one forward pass to learn shapes).
    public var macsPerImage: Int {
        _ = forward(Tensor(shape: [1, spec.inputChannels, spec.inputSize, spec.inputSize]), training: false)
        var total = 0
        root.visit { _, layer in total += layer.macsPerImage }
        return total
    }
}

/// Channel count after applying the width multiplier (at least 8, rounded half up).
func scaled(_ channels: Int, _ width: Float) -> Int { max(8, Int(Float(channels) * width + 0.5)) }
