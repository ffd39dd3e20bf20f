/// A learnable tensor with its gradient. `decays` says whether weight decay applies
/// (convolution and linear weights yes; biases and batch-norm affine terms no).
public final class Parameter {
    public let value: Tensor
    public let grad: Tensor
    public let decays: Bool

    public init(_ value: Tensor, decays: Bool) {
        self.value = value
        grad = Tensor(shape: value.shape)
        self.decays = decays
    }
}

/// One step of a network with an explicit forward and backward pass (the llm.c style):
/// `forward` keeps what `backward` needs, `backward` takes dL/d(output), accumulates parameter
/// gradients and returns dL/d(input).
public protocol Layer: AnyObject {
    func forward(_ x: Tensor, training: Bool) -> Tensor
    func backward(_ dy: Tensor) -> Tensor
    /// Parameters and persistent buffers under the names PyTorch's `state_dict()` uses.
    var parameters: [(name: String, parameter: Parameter)] { get }
    var buffers: [(name: String, tensor: Tensor)] { get }
    var children: [(name: String, layer: Layer)] { get }
    /// Multiply-accumulates for one image, given the shapes seen by the last forward pass.
    var macsPerImage: Int { get }
    /// Output shape of the last forward pass (for the per-layer table).
    var lastOutputShape: [Int] { get }
}

/// A layer whose loops run on an engine (its threads, workspaces and instruction set). Made on its
/// own it runs on `Engine.default`; a `Network` hands it the network's engine when it is built,
/// before any pass (per-thread state is sized by the engine's threads on first use).
public protocol RunsOnEngine: AnyObject {
    var engine: Engine { get set }
}

public extension Layer {
    var parameters: [(name: String, parameter: Parameter)] { [] }
    var buffers: [(name: String, tensor: Tensor)] { [] }
    var children: [(name: String, layer: Layer)] { [] }
    var macsPerImage: Int { 0 }

    /// Visits this layer and every descendant with its dotted path, parents first.
    func visit(prefix: String = "", _ body: (String, Layer) -> Void) {
        body(prefix, self)
        for (name, child) in children {
            child.visit(prefix: prefix.isEmpty ? name : prefix + "." + name, body)
        }
    }

    /// All parameters in the tree with their full dotted names.
    var namedParameters: [(name: String, parameter: Parameter)] {
        var result: [(String, Parameter)] = []
        visit { path, layer in
            for (n, p) in layer.parameters { result.append((path.isEmpty ? n : path + "." + n, p)) }
        }
        return result
    }

    var namedBuffers: [(name: String, tensor: Tensor)] {
        var result: [(String, Tensor)] = []
        visit { path, layer in
            for (n, t) in layer.buffers { result.append((path.isEmpty ? n : path + "." + n, t)) }
        }
        return result
    }
}

/// Layers applied one after another; children keep PyTorch's names ("0", "1", ... or given ones).
public final class Sequential: Layer {
    public let children: [(name: String, layer: Layer)]
    private var outputShape: [Int] = []

    /// A ReLU directly after a batch norm is fused into it (`BatchNorm2d.cap`).
    public init(_ named: [(String, Layer)]) {
        children = named.map { (name: $0.0, layer: $0.1) }
        for (a, b) in zip(children, children.dropFirst()) {
            if let bn = a.layer as? BatchNorm2d, let relu = b.layer as? ReLU { bn.fuse(relu) }
        }
    }
    public convenience init(_ layers: [Layer]) { self.init(layers.enumerated().map { ("\($0.offset)", $0.element) }) }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        var h = x
        for (_, layer) in children { h = layer.forward(h, training: training) }
        outputShape = h.shape
        return h
    }

    public func backward(_ dy: Tensor) -> Tensor {
        var g = dy
        for (_, layer) in children.reversed() { g = layer.backward(g) }
        return g
    }

    public var lastOutputShape: [Int] { outputShape }
}
